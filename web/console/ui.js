// Shared pieces of the console's pages: form fields with translated
// validation, error messages for API errors, tables that stack on narrow
// screens, and the polite live region for "saved" style announcements.
import { h, nextId } from '/console/dom.js';
import { i18n } from '/console/i18n.js';
import { ApiError } from '/console/api.js';

// Error codes that have their own translation under error.<code>.
const KNOWN_CODES = new Set([
  'invalid_credentials', 'unauthorized', 'forbidden', 'not_found', 'conflict',
  'csrf', 'too_large', 'unavailable',
]);

/** A message is {key, params} (translated) or {text} (from the server, shown as text). */
export function setMessage(el, msg) {
  if (!msg) {
    delete el.dataset.i18n;
    delete el.dataset.i18nArgs;
    el.textContent = '';
    el.hidden = true;
    return;
  }
  if (msg.key) i18n.text(el, msg.key, msg.params);
  else {
    delete el.dataset.i18n;
    delete el.dataset.i18nArgs;
    el.textContent = msg.text;
  }
  el.hidden = false;
}

/** Turns anything thrown by the API client into a message; overrides maps code → key. */
export function errorMessage(err, overrides = {}) {
  if (!(err instanceof ApiError)) return { key: 'error.unexpected' };
  if (overrides[err.code]) return { key: overrides[err.code] };
  if (err.code === 'network') return { key: 'error.network' };
  if (err.code === 'rate_limited' || err.status === 429)
    return err.retryAfter ? { key: 'error.rate_limited_wait', params: { n: err.retryAfter } } : { key: 'error.rate_limited' };
  if (KNOWN_CODES.has(err.code)) return { key: `error.${err.code}` };
  if (err.code === 'missing_field') return { key: 'form.required' };
  if (err.code === 'csrf_failed') return { key: 'error.csrf' };
  if (err.status === 503) return { key: 'error.unavailable' };
  if (err.status >= 500) return { key: 'error.server' };
  if (err.detail) return { text: err.detail };
  if (err.status === 403) return { key: 'error.forbidden' };
  if (err.status === 404) return { key: 'error.not_found' };
  return { key: 'error.unexpected' };
}

/** A labelled form control with an optional hint and a slot for its error. */
export function field(labelKey, control, hintKey) {
  control.id ||= nextId(control.name || 'f');
  const id = control.id;
  const hint = hintKey ? h('p', { class: 'hint', id: `${id}-hint`, t: hintKey }) : null;
  const err = h('p', { class: 'field-error', id: `${id}-err`, hidden: true });
  control.setAttribute('aria-describedby', [hint?.id, err.id].filter(Boolean).join(' '));
  return h('div', { class: 'field' }, h('label', { for: id, t: labelKey }), control, hint, err);
}

export function setFieldError(control, msg) {
  const err = control.closest('.field')?.querySelector('.field-error');
  if (msg) control.setAttribute('aria-invalid', 'true');
  else control.removeAttribute('aria-invalid');
  if (err) setMessage(err, msg);
}

/**
 * Checks a form's controls against their constraints and shows translated
 * messages (the browser's own bubbles would be in the browser's language).
 * Focuses the first invalid control; returns true when all are valid.
 */
export function validate(form) {
  let first = null;
  for (const c of form.elements) {
    if (!c.name || !c.willValidate) continue;
    const v = c.validity;
    const len = c.value.trim().length;
    let msg = null;
    if (c.required && len === 0) msg = { key: 'form.required' };
    else if (v.typeMismatch && c.type === 'email') msg = { key: 'form.email' };
    else if (c.minLength > 0 && len > 0 && c.value.length < c.minLength) msg = { key: 'form.too_short', params: { n: c.minLength } };
    else if (v.badInput || v.rangeUnderflow || v.rangeOverflow || v.stepMismatch)
      msg = { key: 'form.range', params: { min: c.min, max: c.max } };
    else if (!v.valid) msg = { key: 'form.invalid' };
    setFieldError(c, msg);
    if (msg && !first) first = c;
  }
  first?.focus();
  return !first;
}

/** Shows an API error at the field it names, or in the form's banner. */
export function showFormError(form, banner, err, overrides) {
  const msg = errorMessage(err, overrides);
  const control = err instanceof ApiError && err.field ? form.elements.namedItem(err.field) : null;
  if (control && control.closest?.('.field')) {
    setMessage(banner, null);
    setFieldError(control, msg);
    control.focus();
  } else {
    setMessage(banner, msg);
  }
}

export function clearFormErrors(form, banner) {
  for (const c of form.elements) if (c.name) setFieldError(c, null);
  if (banner) setMessage(banner, null);
}

export function banner() {
  return h('p', { class: 'form-error', role: 'alert', hidden: true });
}

/** Polite announcement for screen readers ("Operator added"). */
export function announce(key, params) {
  const region = document.getElementById('announce');
  if (!region) return;
  region.textContent = '';
  // A fresh text node after a tick makes repeated messages be read again.
  setTimeout(() => { region.textContent = i18n.t(key, params); }, 50);
}

/**
 * columns: [{label: key, cell: row => Node|string|null, class?}]
 * Each cell carries its column label for the stacked mobile layout.
 */
export function dataTable(columns, rows, { captionKey, rowAttrs } = {}) {
  const tbody = h('tbody');
  const table = h('table', { class: 'data' },
    captionKey ? h('caption', { class: 'sr-only', t: captionKey }) : null,
    h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.class, t: c.label })))),
    tbody);
  const makeRow = (row) => {
    const tr = h('tr', rowAttrs?.(row));
    for (const c of columns) {
      const td = h('td', { class: c.class }, c.cell(row));
      i18n.attr(td, 'data-label', c.label);
      tr.append(td);
    }
    return tr;
  };
  const addRow = (row, where = 'end') => {
    const tr = makeRow(row);
    if (where === 'start') tbody.prepend(tr);
    else tbody.append(tr);
    return tr;
  };
  for (const r of rows) addRow(r);
  return { el: h('div', { class: 'table-wrap' }, table), tbody, addRow, makeRow };
}

/** A loading / failed placeholder that can retry. */
export function loadState(target, load) {
  const run = async () => {
    target.replaceChildren(h('p', { class: 'muted loading', t: 'common.loading' }));
    try {
      await load();
    } catch (err) {
      if (err?.name === 'AbortError') return;
      const p = h('p', { class: 'form-error', role: 'alert' });
      setMessage(p, errorMessage(err));
      target.replaceChildren(p, h('button', { type: 'button', class: 'btn', t: 'common.retry', on: { click: run } }));
    }
  };
  run();
}

export function pageHeader(titleKey, introKey) {
  return h('header', { class: 'page-head' },
    h('h1', { tabindex: '-1', t: titleKey }),
    introKey ? h('p', { class: 'intro', t: introKey }) : null);
}
