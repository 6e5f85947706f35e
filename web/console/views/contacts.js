// Contacts: the people the shop knows. Search (name, e-mail, phone, company,
// tag), filters by stage, tag and owner, paging with the API's cursor, a form
// for a new contact, and for admins the CSV export and import.
import { h, tx } from '/console/dom.js';
import { i18n, timeEl } from '/console/i18n.js';
import {
  announce, banner, clearFormErrors, dataTable, errorMessage, field, loadState,
  pageHeader, setFieldError, setMessage, validate,
} from '/console/ui.js';
import { STAGES, contactLabel, debounce, loadOperators, stageBadge } from '/console/views/crm.js';

const PAGE = 50;

function money(v) {
  const n = Number(v || 0);
  return new Intl.NumberFormat(i18n.lang === 'de' ? 'de-DE' : 'en-GB', { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(n);
}
export { money };

export function renderContacts({ api, me, live, signal, params }) {
  const isAdmin = me.role === 'admin';
  const query = params?.query || new URLSearchParams();
  const listArea = h('div', { class: 'list-area' });
  const moreError = banner();
  const more = h('button', { type: 'button', class: 'btn', t: 'contacts.more', hidden: true });
  const count = h('p', { class: 'muted crm-count', role: 'status' });
  let cursor = null;
  let table = null;
  let seq = 0;

  // ---- filters ----
  const q = h('input', { type: 'search', name: 'q', value: query.get('q') || '', autocomplete: 'off', maxlength: 200 });
  const stage = h('select', { name: 'stage' },
    h('option', { value: '', t: 'contacts.filter_any_stage' }),
    STAGES.map((s) => h('option', { value: s, t: `crm.stage.${s}` })));
  stage.value = query.get('stage') || '';
  const tag = h('input', { type: 'text', name: 'tag', value: query.get('tag') || '', autocomplete: 'off', maxlength: 40 });
  const owner = h('select', { name: 'owner' },
    h('option', { value: '', t: 'contacts.filter_any_owner' }),
    h('option', { value: 'me', t: 'contacts.filter_mine' }),
    h('option', { value: 'none', t: 'contacts.filter_no_owner' }));
  const wantOwner = query.get('owner') || '';
  owner.value = ['', 'me', 'none'].includes(wantOwner) ? wantOwner : '';
  const exportLink = isAdmin ? h('a', { class: 'btn', href: '#', download: 'contacts-export.csv', t: 'contacts.export_csv' }) : null;

  loadOperators(api).then((ops) => {
    for (const o of ops) owner.append(h('option', { value: o.id }, o.name));
    if (wantOwner && ![...owner.options].some((o) => o.value === wantOwner)) return;
    owner.value = wantOwner;
  });

  function filters() {
    const f = new URLSearchParams();
    if (q.value.trim()) f.set('q', q.value.trim());
    if (stage.value) f.set('stage', stage.value);
    if (tag.value.trim()) f.set('tag', tag.value.trim());
    if (owner.value) f.set('owner', owner.value);
    return f;
  }

  function syncUrl() {
    const f = filters().toString();
    history.replaceState(null, '', `#/contacts${f ? `?${f}` : ''}`);
    if (exportLink) {
      const e = new URLSearchParams();
      if (stage.value) e.set('stage', stage.value);
      if (tag.value.trim()) e.set('tag', tag.value.trim());
      exportLink.href = `/api/v1/contacts/export.csv${e.toString() ? `?${e}` : ''}`;
    }
  }

  const ownerName = (c) => (c.owner ? c.owner.name || c.owner.id : h('span', { class: 'muted', t: 'contacts.no_owner' }));
  const columns = [
    { label: 'contacts.col.name', cell: (c) => h('a', { href: `#/contacts/${encodeURIComponent(c.id)}`, class: 'crm-contact-link' }, contactLabel(c)) },
    { label: 'contacts.col.email', cell: (c) => c.email || '' },
    { label: 'contacts.col.phone', cell: (c) => c.phone || '' },
    { label: 'contacts.col.company', cell: (c) => c.company || '' },
    { label: 'contacts.col.stage', cell: (c) => stageBadge(c.stage) },
    { label: 'contacts.col.owner', cell: ownerName },
    { label: 'contacts.col.value', class: 'num', cell: (c) => money(c.lifetime_value) },
    { label: 'contacts.col.updated', cell: (c) => timeEl(c.updated_at) },
  ];

  async function fetchPage() {
    const f = filters();
    f.set('limit', String(PAGE));
    if (cursor) f.set('cursor', cursor);
    const res = await api.get(`/contacts?${f}`, { signal });
    cursor = res?.next_cursor || null;
    more.hidden = !cursor;
    return res?.contacts || [];
  }

  async function reload() {
    const mine = ++seq;
    cursor = null;
    const rows = await fetchPage();
    if (mine !== seq) return;
    table = dataTable(columns, rows, { captionKey: 'contacts.title', rowAttrs: (c) => ({ 'data-id': c.id }) });
    const empty = h('p', { class: 'muted empty-inline', t: filters().toString() ? 'contacts.none_found' : 'contacts.none', hidden: rows.length > 0 });
    table.el.hidden = rows.length === 0;
    i18n.text(count, 'contacts.count', { n: rows.length, more: cursor ? '+' : '' });
    listArea.replaceChildren(empty, table.el, moreError, h('div', { class: 'form-actions' }, more));
  }

  const refresh = () => loadState(listArea, reload);
  const refreshSoon = debounce(() => { syncUrl(); reload().catch(() => {}); }, 250);
  q.addEventListener('input', refreshSoon);
  tag.addEventListener('input', refreshSoon);
  for (const s of [stage, owner]) s.addEventListener('change', () => { syncUrl(); refresh(); });

  more.addEventListener('click', async () => {
    setMessage(moreError, null);
    more.disabled = true;
    try {
      const rows = await fetchPage();
      const first = rows.length ? table.addRow(rows[0]) : null;
      for (const c of rows.slice(1)) table.addRow(c);
      i18n.text(count, 'contacts.count', { n: table.tbody.rows.length, more: cursor ? '+' : '' });
      if (first && more.hidden) { first.tabIndex = -1; first.focus(); }
    } catch (e) {
      if (e?.name !== 'AbortError') setMessage(moreError, errorMessage(e));
    } finally {
      more.disabled = false;
    }
  });

  // New leads arrive from the widget: show them when the list is the first page.
  const off = live?.on('lead', debounce(() => { if (!cursor || table?.tbody.rows.length <= PAGE) reload().catch(() => {}); }, 400));
  signal?.addEventListener('abort', () => off?.());

  const toolbar = h('form', { class: 'crm-toolbar', role: 'search', novalidate: true, on: { submit: (ev) => { ev.preventDefault(); syncUrl(); refresh(); } } },
    field('contacts.search', q, 'contacts.search_hint'),
    field('contacts.filter_stage', stage),
    field('contacts.filter_tag', tag),
    field('contacts.filter_owner', owner));

  syncUrl();
  refresh();

  const actions = h('div', { class: 'crm-actions' },
    h('a', { class: 'btn primary', href: '#/contacts/new', t: 'contacts.new' }),
    exportLink,
    isAdmin ? h('a', { class: 'btn', href: '#/contacts/import', t: 'contacts.import' }) : null);

  return h('section', { class: 'page page-wide' },
    pageHeader('contacts.title', 'contacts.intro'),
    actions,
    toolbar,
    count,
    listArea);
}

// ---- new contact -----------------------------------------------------------

/** The form for a new contact (#/contacts/new). */
export function renderNewContact({ api, me }) {
  const err = banner();
  const name = h('input', { name: 'name', type: 'text', maxlength: 127, autocomplete: 'off' });
  const email = h('input', { name: 'email', type: 'email', maxlength: 254, autocomplete: 'off' });
  const phone = h('input', { name: 'phone', type: 'tel', maxlength: 40, autocomplete: 'off' });
  const company = h('input', { name: 'company', type: 'text', maxlength: 127, autocomplete: 'off' });
  const stage = h('select', { name: 'stage' }, STAGES.map((s) => h('option', { value: s, t: `crm.stage.${s}` })));
  const tags = h('input', { name: 'tags', type: 'text', autocomplete: 'off' });
  const mine = h('input', { type: 'checkbox', name: 'owner_me', checked: true });
  const dupSlot = h('div', { class: 'crm-dup-slot' });
  const submit = h('button', { type: 'submit', class: 'btn primary', t: 'contacts.create' });
  let allowDuplicate = false;

  const form = h('form', { class: 'card form-grid crm-form', novalidate: true, 'aria-labelledby': 'new-contact-title' },
    h('h2', { id: 'new-contact-title', class: 'card-title', t: 'contacts.new_title' }),
    h('p', { class: 'hint', t: 'contacts.new_hint' }),
    field('contacts.col.name', name),
    field('contacts.col.email', email),
    field('contacts.col.phone', phone, 'contacts.phone_hint'),
    field('contacts.col.company', company),
    field('contacts.col.stage', stage),
    field('contacts.tags', tags, 'contacts.tags_hint'),
    h('div', { class: 'crm-check' }, h('label', { class: 'crm-check' }, mine, ' ', tx('contacts.owner_me'))),
    dupSlot,
    err,
    h('div', { class: 'form-actions' }, submit, h('a', { class: 'btn ghost', href: '#/contacts', t: 'common.cancel' })));

  function showDuplicate(e) {
    const id = e.existingId;
    dupSlot.replaceChildren(h('div', { class: 'notice crm-dup', role: 'alert' },
      h('p', { t: 'contacts.duplicate' }),
      id ? h('a', { href: `#/contacts/${encodeURIComponent(id)}`, t: 'contacts.duplicate_open' }) : null,
      ' ',
      h('button', { type: 'button', class: 'btn small', t: 'contacts.duplicate_keep_both', on: { click: () => { allowDuplicate = true; form.requestSubmit(); } } })));
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFormErrors(form, err);
    if (!validate(form)) return;
    if (!name.value.trim() && !email.value.trim() && !phone.value.trim()) {
      setFieldError(name, { key: 'contacts.need_one' });
      name.focus();
      return;
    }
    const body = {};
    for (const c of [name, email, phone, company]) if (c.value.trim()) body[c.name] = c.value.trim();
    body.stage = stage.value;
    const t = tags.value.split(',').map((s) => s.trim()).filter(Boolean);
    if (t.length) body.tags = t;
    if (mine.checked) body.owner = me.id;
    if (allowDuplicate) body.allow_duplicate = true;
    submit.disabled = true;
    try {
      const res = await rawPost(api, '/contacts', body);
      if (res.status === 409 && res.data?.error?.code === 'duplicate') {
        showDuplicate({ existingId: res.data.existing_id });
        return;
      }
      if (res.error) throw res.error;
      announce('contacts.created', { name: contactLabel(res.data.contact) });
      location.hash = `#/contacts/${encodeURIComponent(res.data.contact.id)}`;
    } catch (e) {
      showFieldError(form, err, e);
    } finally {
      submit.disabled = false;
      allowDuplicate = false;
    }
  });

  queueMicrotask(() => name.focus());
  return h('section', { class: 'page' },
    h('p', { class: 'vp-back' }, h('a', { href: '#/contacts', t: 'contact.back' })),
    pageHeader('contacts.new_title'),
    form);
}

/**
 * Shows an API error at its field: "tags[2]" and "custom.size" name the
 * control "tags" / "custom.size"; otherwise in the banner.
 */
export function showFieldError(form, bannerEl, e) {
  const msg = errorMessage(e);
  const path = e?.field || '';
  const base = path.replace(/\[\d+\]$/, '');
  const control = path ? (form.elements.namedItem(path) || form.elements.namedItem(base)) : null;
  if (control && control.closest?.('.field')) {
    setMessage(bannerEl, null);
    setFieldError(control, msg);
    control.focus();
  } else {
    setMessage(bannerEl, msg);
  }
}

/**
 * POST that also hands back the body of an error answer (the 409 duplicate
 * names the existing contact outside "error").
 */
export async function rawPost(api, path, body) {
  try {
    return { status: 200, data: await api.post(path, body) };
  } catch (e) {
    if (e?.status === 409 && e.code === 'duplicate') {
      const m = /\b(ct[0-9A-Za-z]{8,})\b/.exec(e.detail || '');
      return { status: 409, data: { error: { code: 'duplicate' }, existing_id: e.body?.existing_id || (m ? m[1] : null) } };
    }
    return { status: e?.status || 0, error: e };
  }
}
