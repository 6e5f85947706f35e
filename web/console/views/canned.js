// Settings → Canned responses: short answers an operator inserts in a chat by
// typing "/" and the shortcut, or from the list beside the message field.
// {name}, {email}, {operator} and {page} are filled in when inserted.
import { h, tx } from '/console/dom.js';
import { i18n } from '/console/i18n.js';
import {
  announce, banner, clearFormErrors, dataTable, errorMessage, field, loadState, pageHeader,
  setMessage, showFormError, validate,
} from '/console/ui.js';
import { chatStore } from '/console/chat.js';

const listOf = (res) => {
  const l = res?.canned ?? res?.responses ?? res?.items ?? [];
  return Array.isArray(l) ? l : [];
};

export function renderCanned({ api, me, signal }) {
  const isAdmin = me.role === 'admin';
  const listArea = h('div', { class: 'list-area' });
  const rowError = banner();
  let table = null;
  let editing = null;

  const shortcut = h('input', { name: 'shortcut', required: true, maxlength: 32, autocomplete: 'off', spellcheck: 'false', pattern: '[a-z0-9_\\-]+' });
  // Shared responses are written by administrators; everyone may keep their own.
  const personal = h('input', { type: 'checkbox', name: 'personal', id: 'canned-personal', checked: !isAdmin, disabled: !isAdmin });
  const title = h('input', { name: 'title', maxlength: 100, autocomplete: 'off' });
  const body = h('textarea', { name: 'body', required: true, rows: 4, maxlength: 4000 });
  const submit = h('button', { type: 'submit', class: 'btn primary', t: 'canned.add' });
  const cancel = h('button', { type: 'button', class: 'btn', t: 'common.cancel', hidden: true });
  const err = banner();
  const formTitle = h('h2', { id: 'canned-form-title', class: 'card-title', t: 'canned.add_title' });
  const bodyField = field('canned.body', body, 'canned.body_hint');
  bodyField.classList.add('canned-body-field');
  const form = h('form', { class: 'card form-grid canned-form', novalidate: true, 'aria-labelledby': 'canned-form-title' },
    formTitle,
    field('canned.shortcut', shortcut, 'canned.shortcut_hint'),
    field('canned.title_label', title),
    bodyField,
    h('div', { class: 'field' }, h('label', { class: 'check', for: 'canned-personal' }, personal, tx('canned.personal')),
      h('p', { class: 'hint', t: isAdmin ? 'canned.personal_hint' : 'canned.personal_agent' })),
    err,
    h('div', { class: 'form-actions' }, submit, cancel));

  function reset() {
    editing = null;
    form.reset();
    personal.checked = !isAdmin;
    personal.disabled = !isAdmin;
    clearFormErrors(form, err);
    i18n.text(formTitle, 'canned.add_title');
    i18n.text(submit, 'canned.add');
    cancel.hidden = true;
  }
  cancel.addEventListener('click', () => { reset(); shortcut.focus(); });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFormErrors(form, err);
    shortcut.value = shortcut.value.trim().replace(/^\//, '').toLowerCase();
    if (!validate(form)) return;
    const data = { shortcut: shortcut.value, title: title.value.trim(), body: body.value.trim() };
    submit.disabled = true;
    try {
      if (editing) {
        await api.patch(`/canned/${encodeURIComponent(editing.id)}`, data);
        announce('canned.saved', { shortcut: data.shortcut });
      } else {
        await api.post('/canned', { ...data, personal: personal.checked });
        announce('canned.added', { shortcut: data.shortcut });
      }
      chatStore.cannedChanged();
      reset();
      loadState(listArea, load);
      shortcut.focus();
    } catch (e) {
      showFormError(form, err, e, { conflict: 'canned.exists' });
    } finally {
      submit.disabled = false;
    }
  });

  function actions(item) {
    if (!item.personal && !isAdmin) return h('span', { class: 'muted', t: 'canned.shared_hint' });
    const edit = h('button', { type: 'button', class: 'btn small', t: 'canned.edit' });
    i18n.attr(edit, 'aria-label', 'canned.edit_named', { shortcut: item.shortcut });
    const del = h('button', { type: 'button', class: 'btn small ghost', t: 'canned.delete' });
    i18n.attr(del, 'aria-label', 'canned.delete_named', { shortcut: item.shortcut });
    const wrap = h('span', { class: 'confirm' }, edit, del);
    edit.addEventListener('click', () => {
      editing = item;
      clearFormErrors(form, err);
      shortcut.value = item.shortcut ?? '';
      title.value = item.title ?? '';
      body.value = item.body ?? '';
      personal.checked = !!item.personal;
      personal.disabled = true; // shared or personal is chosen when it is made
      i18n.text(formTitle, 'canned.edit_title', { shortcut: item.shortcut });
      i18n.text(submit, 'canned.save');
      cancel.hidden = false;
      shortcut.focus();
    });
    del.addEventListener('click', async () => {
      del.disabled = true;
      setMessage(rowError, null);
      try {
        await api.del(`/canned/${encodeURIComponent(item.id)}`);
        chatStore.cannedChanged();
        wrap.closest('tr')?.remove();
        announce('canned.deleted', { shortcut: item.shortcut });
      } catch (e) {
        del.disabled = false;
        setMessage(rowError, errorMessage(e));
      }
    });
    return wrap;
  }

  const columns = [
    { label: 'canned.shortcut', cell: (c) => h('code', { class: 'canned-key' }, `/${c.shortcut ?? ''}`) },
    { label: 'canned.title_label', cell: (c) => String(c.title ?? '') },
    { label: 'canned.body', cell: (c) => h('span', { class: 'canned-text' }, String(c.body ?? '')) },
    { label: 'canned.scope', cell: (c) => h('span', { class: c.personal ? 'badge' : 'badge badge-on', t: c.personal ? 'canned.mine' : 'canned.shared' }) },
    { label: 'canned.actions', cell: actions },
  ];

  async function load() {
    const res = await api.get('/canned', { signal });
    const list = listOf(res).sort((a, b) => String(a.shortcut).localeCompare(String(b.shortcut)));
    if (!list.length) {
      table = null;
      listArea.replaceChildren(rowError, h('p', { class: 'muted', t: 'canned.none' }));
      return;
    }
    table = dataTable(columns, list, { captionKey: 'canned.title', rowAttrs: (c) => ({ 'data-id': String(c.id) }) });
    listArea.replaceChildren(rowError, table.el);
  }
  loadState(listArea, load);

  return h('section', { class: 'page' }, pageHeader('canned.title', 'canned.intro'), form,
    h('h2', { class: 'section-title', t: 'canned.list' }), listArea);
}
