// Settings → Sites: the shops this server tracks, their tracking tag and the
// domains whose pages may send. Everyone may look; administrators add, change
// and delete (a site with data cannot be deleted). Backed by /api/v1/sites.
import { h } from '/console/dom.js';
import { i18n, timeEl } from '/console/i18n.js';
import {
  announce, banner, clearFormErrors, dataTable, errorMessage, field, loadState, pageHeader,
  setFieldError, setMessage, showFormError, validate,
} from '/console/ui.js';

const lines = (text) => text.split('\n').map((s) => s.trim()).filter(Boolean);

function tagFor(key) {
  const src = `${location.origin}/emma.js`;
  return `<script async src="${src}" data-site="${key}"></script>`;
}

export function renderSites({ api, me, signal }) {
  const isAdmin = me?.role === 'admin';
  const listArea = h('div', { class: 'list-area' });
  const rowError = banner();
  let editing = null;

  const key = h('input', { name: 'key', required: true, maxlength: 64, pattern: '[a-z0-9_\\-]{1,64}', autocomplete: 'off', spellcheck: 'false' });
  const name = h('input', { name: 'name', maxlength: 127, autocomplete: 'off' });
  const domains = h('textarea', { name: 'allowed_domains', rows: 3, autocomplete: 'off', spellcheck: 'false' });
  const submit = h('button', { type: 'submit', class: 'btn primary', t: 'sites.add' });
  const cancel = h('button', { type: 'button', class: 'btn', t: 'common.cancel', hidden: true });
  const err = banner();
  const formTitle = h('h2', { id: 'site-form-title', class: 'card-title', t: 'sites.add_title' });
  const form = h('form', { class: 'card form-grid site-form', novalidate: true, 'aria-labelledby': 'site-form-title' },
    formTitle,
    field('sites.key', key, 'sites.key_hint'),
    field('sites.name', name),
    field('sites.domains', domains, 'sites.domains_hint'),
    err,
    h('div', { class: 'form-actions' }, submit, cancel));

  function reset() {
    editing = null;
    form.reset();
    clearFormErrors(form, err);
    key.disabled = false;
    i18n.text(formTitle, 'sites.add_title');
    i18n.text(submit, 'sites.add');
    cancel.hidden = true;
  }
  cancel.addEventListener('click', () => { reset(); key.focus(); });

  // The server names a bad domain as allowed_domains[i]: show it at the
  // textarea with its line number.
  function showError(e) {
    const m = /^allowed_domains\[(\d+)\]$/.exec(e?.field || '');
    if (m) {
      setMessage(err, null);
      const base = errorMessage(e);
      setFieldError(domains, { key: 'sites.domain_line', params: { n: Number(m[1]) + 1, message: base.text ?? i18n.t(base.key, base.params) } });
      domains.focus();
      return;
    }
    showFormError(form, err, e, { conflict: 'sites.exists' });
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFormErrors(form, err);
    if (!validate(form)) return;
    const body = { allowed_domains: lines(domains.value) };
    if (name.value.trim()) body.name = name.value.trim();
    submit.disabled = true;
    try {
      let res;
      if (editing) {
        res = await api.patch(`/sites/${encodeURIComponent(editing.key)}`, body);
        announce('sites.saved', { name: res.site.name });
      } else {
        body.key = key.value.trim();
        res = await api.post('/sites', body);
        announce('sites.added', { name: res.site.name });
      }
      reset();
      loadState(listArea, load);
    } catch (e) {
      showError(e);
    } finally {
      submit.disabled = false;
    }
  });

  function actions(s) {
    const edit = h('button', { type: 'button', class: 'btn small', t: 'sites.edit' });
    i18n.attr(edit, 'aria-label', 'sites.edit_named', { name: s.name });
    const del = h('button', { type: 'button', class: 'btn small ghost', t: 'sites.delete' });
    i18n.attr(del, 'aria-label', 'sites.delete_named', { name: s.name });
    const wrap = h('span', { class: 'confirm' }, edit, s.key === 'default' ? null : del);
    edit.addEventListener('click', () => {
      editing = s;
      clearFormErrors(form, err);
      key.value = s.key;
      key.disabled = true;
      name.value = s.name ?? '';
      domains.value = (s.allowed_domains || []).join('\n');
      i18n.text(formTitle, 'sites.edit_title', { name: s.name });
      i18n.text(submit, 'sites.save');
      cancel.hidden = false;
      name.focus();
    });
    del.addEventListener('click', async () => {
      del.disabled = true;
      setMessage(rowError, null);
      try {
        await api.del(`/sites/${encodeURIComponent(s.key)}`);
        wrap.closest('tr')?.remove();
        announce('sites.deleted', { name: s.name });
      } catch (e) {
        del.disabled = false;
        setMessage(rowError, errorMessage(e, { conflict: 'sites.has_data' }));
      }
    });
    return wrap;
  }

  const columns = [
    { label: 'sites.key', cell: (s) => h('code', null, String(s.key)) },
    { label: 'sites.name', cell: (s) => String(s.name ?? '') },
    {
      label: 'sites.domains',
      cell: (s) => (s.allowed_domains?.length ? s.allowed_domains.join(', ') : h('span', { class: 'muted', t: 'sites.any_domain' })),
    },
    { label: 'sites.tag', cell: (s) => h('code', { class: 'site-tag' }, tagFor(s.key)) },
    { label: 'sites.created', cell: (s) => timeEl(s.created_at) },
  ];
  if (isAdmin) columns.push({ label: 'sites.actions', cell: actions });

  async function load() {
    const res = await api.get('/sites', { signal });
    const list = Array.isArray(res?.sites) ? res.sites : [];
    if (!list.length) {
      listArea.replaceChildren(rowError, h('p', { class: 'muted', t: 'sites.none' }));
      return;
    }
    listArea.replaceChildren(rowError, dataTable(columns, list, { captionKey: 'sites.title', rowAttrs: (s) => ({ 'data-key': String(s.key) }) }).el);
  }
  loadState(listArea, load);

  return h('section', { class: 'page' }, pageHeader('sites.title', 'sites.intro'), isAdmin ? form : null,
    h('h2', { class: 'section-title', t: 'sites.list' }), listArea);
}
