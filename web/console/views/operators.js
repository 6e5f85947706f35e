// Settings → Operators: everyone sees the team; admins add operators,
// change roles and enable or disable accounts.
import { h, tx } from '/console/dom.js';
import { i18n, timeEl } from '/console/i18n.js';
import {
  announce, banner, clearFormErrors, dataTable, errorMessage, field, loadState,
  pageHeader, setMessage, showFormError, validate,
} from '/console/ui.js';

const ROLES = ['agent', 'admin'];

export function renderOperators({ api, me, signal }) {
  const isAdmin = me.role === 'admin';
  const listArea = h('div', { class: 'list-area' });
  const rowError = banner();
  const page = h('section', { class: 'page' },
    pageHeader('operators.title', isAdmin ? 'operators.intro_admin' : 'operators.intro_agent'));
  let table = null;

  function nameCell(op) {
    return h('span', { class: 'op-name' },
      op.name || '',
      op.id === me.id ? h('span', { class: 'badge', t: 'operators.you' }) : null);
  }

  function statusBadge(op) {
    return h('span', { class: op.disabled ? 'badge badge-off' : 'badge badge-on', t: op.disabled ? 'operators.disabled' : 'operators.active' });
  }

  async function update(op, changes, tr) {
    setMessage(rowError, null);
    tr.setAttribute('aria-busy', 'true');
    try {
      const res = await api.patch(`/operators/${encodeURIComponent(op.id)}`, changes);
      Object.assign(op, res?.operator || changes);
      announce('operators.saved', { name: op.name || op.email });
    } catch (e) {
      setMessage(rowError, errorMessage(e));
    } finally {
      // Redraw the row from what the server holds; keep focus on the same control.
      const focusTag = tr.contains(document.activeElement) ? document.activeElement.tagName : null;
      const fresh = table.makeRow(op);
      tr.replaceWith(fresh);
      if (focusTag) fresh.querySelector(focusTag)?.focus();
    }
  }

  function roleCell(op) {
    if (!isAdmin || op.id === me.id) return h('span', { t: `role.${op.role}` });
    const sel = h('select', { name: 'role', class: 'compact' },
      ROLES.map((r) => h('option', { value: r, t: `role.${r}` })));
    sel.value = op.role;
    i18n.attr(sel, 'aria-label', 'operators.role_of', { name: op.name || op.email });
    sel.addEventListener('change', () => update(op, { role: sel.value }, sel.closest('tr')));
    return sel;
  }

  function actionCell(op) {
    if (op.id === me.id) return h('span', { class: 'muted', t: 'operators.self_hint' });
    const btn = h('button', { type: 'button', class: 'btn small', t: op.disabled ? 'operators.enable' : 'operators.disable' });
    i18n.attr(btn, 'aria-label', op.disabled ? 'operators.enable_named' : 'operators.disable_named', { name: op.name || op.email });
    btn.addEventListener('click', () => update(op, { disabled: !op.disabled }, btn.closest('tr')));
    return btn;
  }

  const columns = [
    { label: 'operators.col.name', cell: nameCell },
    { label: 'operators.col.email', cell: (op) => op.email },
    { label: 'operators.col.role', cell: roleCell },
    { label: 'operators.col.max_chats', cell: (op) => String(op.max_chats ?? ''), class: 'num' },
    { label: 'operators.col.lang', cell: (op) => (op.lang ? tx(`lang.${op.lang}`) : '') },
    { label: 'operators.col.status', cell: statusBadge },
    { label: 'operators.col.created', cell: (op) => timeEl(op.created_at) },
  ];
  if (isAdmin) columns.push({ label: 'operators.col.actions', cell: actionCell });

  function showList(ops) {
    table = dataTable(columns, ops, {
      captionKey: 'operators.title',
      rowAttrs: (op) => ({ 'data-id': op.id, class: op.disabled ? 'row-off' : null }),
    });
    listArea.replaceChildren(rowError, table.el);
  }

  if (isAdmin) page.append(addForm());
  page.append(h('h2', { class: 'section-title', t: 'operators.list' }), listArea);

  loadState(listArea, async () => {
    const res = await api.get('/operators', { signal });
    showList(res?.operators || []);
  });

  function addForm() {
    const email = h('input', { name: 'email', type: 'email', required: true, autocomplete: 'off', spellcheck: 'false', maxlength: 254 });
    const name = h('input', { name: 'name', type: 'text', required: true, autocomplete: 'off', maxlength: 127 });
    const password = h('input', { name: 'password', type: 'password', required: true, autocomplete: 'new-password', minlength: 10, maxlength: 1024 });
    const role = h('select', { name: 'role' }, ROLES.map((r) => h('option', { value: r, t: `role.${r}` })));
    const maxChats = h('input', { name: 'max_chats', type: 'number', min: 1, max: 50, step: 1, inputmode: 'numeric' });
    const lang = h('select', { name: 'lang' }, ['de', 'en'].map((l) => h('option', { value: l, t: `lang.${l}` })));
    lang.value = i18n.lang;
    const submit = h('button', { type: 'submit', class: 'btn primary', t: 'operators.add_submit' });
    const err = banner();
    const form = h('form', { class: 'card form-grid', novalidate: true, 'aria-labelledby': 'add-op-title' },
      h('h2', { id: 'add-op-title', class: 'card-title', t: 'operators.add_title' }),
      field('operators.col.name', name),
      field('operators.col.email', email),
      field('operators.password', password, 'operators.password_hint'),
      field('operators.col.role', role),
      field('operators.col.max_chats', maxChats, 'operators.max_chats_hint'),
      field('operators.col.lang', lang),
      err,
      h('div', { class: 'form-actions' }, submit));

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearFormErrors(form, err);
      if (!validate(form)) return;
      const body = { email: email.value.trim(), name: name.value.trim(), role: role.value, password: password.value, lang: lang.value };
      if (maxChats.value !== '') body.max_chats = Number(maxChats.value);
      submit.disabled = true;
      try {
        const res = await api.post('/operators', body);
        const op = res.operator;
        if (table) table.addRow(op).classList.add('row-new');
        form.reset();
        lang.value = i18n.lang;
        announce('operators.added', { name: op.name || op.email });
        name.focus();
      } catch (e) {
        showFormError(form, err, e, { conflict: 'operators.exists' });
      } finally {
        submit.disabled = false;
      }
    });
    return form;
  }

  return page;
}
