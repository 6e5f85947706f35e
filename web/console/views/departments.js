// Settings → Departments (administrators): named groups of operators, for one
// site or all. A chat asked for a department is routed only to its members.
import { h } from '/console/dom.js';
import { i18n } from '/console/i18n.js';
import {
  announce, banner, clearFormErrors, dataTable, errorMessage, field, loadState, pageHeader,
  setMessage, showFormError, validate,
} from '/console/ui.js';

const ids = (d) => (Array.isArray(d?.operators) ? d.operators.map((o) => String(o && typeof o === 'object' ? o.id : o)) : []);

export function renderDepartments({ api, signal }) {
  const listArea = h('div', { class: 'list-area' });
  const rowError = banner();
  let operators = [];
  let editing = null;

  const name = h('input', { name: 'name', required: true, maxlength: 100, autocomplete: 'off' });
  const site = h('input', { name: 'site', maxlength: 64, autocomplete: 'off', spellcheck: 'false' });
  const members = h('fieldset', { class: 'dep-members field', name: 'operators' }, h('legend', { t: 'departments.members' }));
  const submit = h('button', { type: 'submit', class: 'btn primary', t: 'departments.add' });
  const cancel = h('button', { type: 'button', class: 'btn', t: 'common.cancel', hidden: true });
  const err = banner();
  const formTitle = h('h2', { id: 'dep-form-title', class: 'card-title', t: 'departments.add_title' });
  const form = h('form', { class: 'card form-grid dep-form', novalidate: true, 'aria-labelledby': 'dep-form-title' },
    formTitle,
    field('departments.name', name),
    field('departments.site', site, 'departments.site_hint'),
    members, err,
    h('div', { class: 'form-actions' }, submit, cancel));

  function showMembers(selected = []) {
    const chosen = new Set(selected);
    members.replaceChildren(h('legend', { t: 'departments.members' }),
      operators.length ? operators.map((op) => h('label', { class: 'check' },
        h('input', { type: 'checkbox', name: 'op', value: String(op.id), checked: chosen.has(String(op.id)) }),
        String(op.name || op.email))) : h('p', { class: 'muted', t: 'common.loading' }));
  }

  function reset() {
    editing = null;
    form.reset();
    clearFormErrors(form, err);
    showMembers();
    i18n.text(formTitle, 'departments.add_title');
    i18n.text(submit, 'departments.add');
    cancel.hidden = true;
  }
  cancel.addEventListener('click', () => { reset(); name.focus(); });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFormErrors(form, err);
    if (!validate(form)) return;
    const body = {
      name: name.value.trim(),
      operators: [...members.querySelectorAll('input[name="op"]:checked')].map((b) => b.value),
    };
    if (site.value.trim()) body.site = site.value.trim();
    submit.disabled = true;
    try {
      if (editing) {
        await api.patch(`/departments/${encodeURIComponent(editing.id)}`, body);
        announce('departments.saved', { name: body.name });
      } else {
        await api.post('/departments', body);
        announce('departments.added', { name: body.name });
      }
      reset();
      loadState(listArea, load);
    } catch (e) {
      showFormError(form, err, e, { conflict: 'departments.exists' });
    } finally {
      submit.disabled = false;
    }
  });

  const opName = (id) => {
    const op = operators.find((o) => String(o.id) === id);
    return op ? String(op.name || op.email) : id;
  };

  function actions(d) {
    const edit = h('button', { type: 'button', class: 'btn small', t: 'departments.edit' });
    i18n.attr(edit, 'aria-label', 'departments.edit_named', { name: d.name });
    const del = h('button', { type: 'button', class: 'btn small ghost', t: 'departments.delete' });
    i18n.attr(del, 'aria-label', 'departments.delete_named', { name: d.name });
    const wrap = h('span', { class: 'confirm' }, edit, del);
    edit.addEventListener('click', () => {
      editing = d;
      clearFormErrors(form, err);
      name.value = d.name ?? '';
      site.value = d.site ?? '';
      showMembers(ids(d));
      i18n.text(formTitle, 'departments.edit_title', { name: d.name });
      i18n.text(submit, 'departments.save');
      cancel.hidden = false;
      name.focus();
    });
    del.addEventListener('click', async () => {
      del.disabled = true;
      setMessage(rowError, null);
      try {
        await api.del(`/departments/${encodeURIComponent(d.id)}`);
        wrap.closest('tr')?.remove();
        announce('departments.deleted', { name: d.name });
      } catch (e) {
        del.disabled = false;
        setMessage(rowError, errorMessage(e));
      }
    });
    return wrap;
  }

  const columns = [
    { label: 'departments.name', cell: (d) => String(d.name ?? '') },
    { label: 'departments.site', cell: (d) => (d.site ? String(d.site) : h('span', { class: 'muted', t: 'departments.all_sites' })) },
    { label: 'departments.members', cell: (d) => ids(d).map(opName).join(', ') },
    { label: 'departments.actions', cell: actions },
  ];

  async function load() {
    const [res, ops] = await Promise.all([api.get('/departments', { signal }), api.get('/operators', { signal })]);
    operators = (ops?.operators || []).filter((o) => !o.disabled);
    if (!editing) showMembers();
    const list = Array.isArray(res?.departments) ? res.departments : [];
    if (!list.length) {
      listArea.replaceChildren(rowError, h('p', { class: 'muted', t: 'departments.none' }));
      return;
    }
    listArea.replaceChildren(rowError, dataTable(columns, list, { captionKey: 'departments.title', rowAttrs: (d) => ({ 'data-id': String(d.id) }) }).el);
  }
  showMembers();
  loadState(listArea, load);

  return h('section', { class: 'page' }, pageHeader('departments.title', 'departments.intro'), form,
    h('h2', { class: 'section-title', t: 'departments.list' }), listArea);
}
