// Settings → API tokens: create read or write tokens for the shop's systems,
// show a new token's secret exactly once, revoke tokens.
import { h, tx } from '/console/dom.js';
import { i18n, timeEl } from '/console/i18n.js';
import {
  announce, banner, clearFormErrors, dataTable, errorMessage, field, loadState,
  pageHeader, setMessage, showFormError, validate,
} from '/console/ui.js';

export function renderTokens({ api, me, signal }) {
  const listArea = h('div', { class: 'list-area' });
  const rowError = banner();
  const secretSlot = h('div', { class: 'secret-slot' });
  let table = null;

  function statusCell(tok) {
    if (!tok.revoked_at) return h('span', { class: 'badge badge-on', t: 'tokens.active' });
    return h('span', { class: 'badge badge-off' }, tx('tokens.revoked'), ' ', timeEl(tok.revoked_at));
  }

  function actionCell(tok) {
    if (tok.revoked_at) return null;
    const wrap = h('span', { class: 'confirm' });
    const revoke = h('button', { type: 'button', class: 'btn small', t: 'tokens.revoke' });
    i18n.attr(revoke, 'aria-label', 'tokens.revoke_named', { name: tok.name });
    const sure = h('button', { type: 'button', class: 'btn small danger', t: 'tokens.revoke_confirm' });
    const cancel = h('button', { type: 'button', class: 'btn small ghost', t: 'common.cancel' });
    const ask = () => { wrap.replaceChildren(sure, cancel); sure.focus(); };
    const back = () => { wrap.replaceChildren(revoke); revoke.focus(); };
    revoke.addEventListener('click', ask);
    cancel.addEventListener('click', back);
    sure.addEventListener('click', async () => {
      setMessage(rowError, null);
      sure.disabled = cancel.disabled = true;
      const tr = wrap.closest('tr');
      try {
        await api.del(`/tokens/${encodeURIComponent(tok.id)}`);
        tok.revoked_at = new Date().toISOString();
        tr.replaceWith(table.makeRow(tok));
        announce('tokens.revoked_done', { name: tok.name });
      } catch (e) {
        setMessage(rowError, errorMessage(e));
        sure.disabled = cancel.disabled = false;
        back();
      }
    });
    wrap.append(revoke);
    return wrap;
  }

  const columns = [
    { label: 'tokens.col.name', cell: (tok) => tok.name },
    { label: 'tokens.col.scope', cell: (tok) => h('span', { class: 'badge', t: `scope.${tok.scope}` }) },
    { label: 'tokens.col.created', cell: (tok) => timeEl(tok.created_at) },
    { label: 'tokens.col.last_used', cell: (tok) => (tok.last_used_at ? timeEl(tok.last_used_at) : h('span', { class: 'muted', t: 'tokens.never' })) },
    { label: 'tokens.col.status', cell: statusCell },
    { label: 'tokens.col.actions', cell: actionCell },
  ];

  // Admins see every operator's tokens; name the owner (the API gives its id).
  let owners = null;
  if (me.role === 'admin') {
    columns.splice(2, 0, {
      label: 'tokens.col.operator',
      cell: (tok) => (tok.operator ? owners?.get(tok.operator) || tok.operator : ''),
    });
  }

  function showList(tokens) {
    table = dataTable(columns, tokens, {
      captionKey: 'tokens.title',
      rowAttrs: (tok) => ({ 'data-id': tok.id, class: tok.revoked_at ? 'row-off' : null }),
    });
    const empty = h('p', { class: 'muted empty-inline', t: 'tokens.none', hidden: tokens.length > 0 });
    listArea.replaceChildren(rowError, empty, table.el);
    table.el.hidden = tokens.length === 0;
  }

  function showSecret(tok, secret) {
    const input = h('input', { type: 'text', readonly: true, value: secret, class: 'secret', spellcheck: 'false', autocomplete: 'off', name: 'secret' });
    const copied = h('span', { class: 'copied', role: 'status' });
    const copy = h('button', { type: 'button', class: 'btn primary', t: 'tokens.copy' });
    copy.addEventListener('click', async () => {
      input.select();
      let ok = false;
      try { await navigator.clipboard.writeText(secret); ok = true; } catch {
        try { ok = document.execCommand('copy'); } catch { ok = false; }
      }
      i18n.text(copied, ok ? 'tokens.copied' : 'tokens.copy_failed');
    });
    const done = h('button', { type: 'button', class: 'btn ghost', t: 'tokens.done' });
    done.addEventListener('click', () => { secretSlot.replaceChildren(); nameInput.focus(); });
    input.addEventListener('focus', () => input.select());
    const panel = h('div', { class: 'card secret-panel', role: 'region', 'aria-labelledby': 'secret-title' },
      h('h2', { id: 'secret-title', class: 'card-title', t: 'tokens.secret_title', tArgs: { name: tok.name } }),
      h('p', { class: 'warning', t: 'tokens.secret_warning' }),
      field('tokens.secret_label', input),
      h('div', { class: 'form-actions' }, copy, done, copied));
    secretSlot.replaceChildren(panel);
    copy.focus();
  }

  const nameInput = h('input', { name: 'name', type: 'text', required: true, maxlength: 100, autocomplete: 'off' });
  const scope = h('select', { name: 'scope' },
    h('option', { value: 'read', t: 'scope.read_long' }),
    h('option', { value: 'write', t: 'scope.write_long' }));
  const submit = h('button', { type: 'submit', class: 'btn primary', t: 'tokens.create' });
  const err = banner();
  const form = h('form', { class: 'card form-grid', novalidate: true, 'aria-labelledby': 'new-token-title' },
    h('h2', { id: 'new-token-title', class: 'card-title', t: 'tokens.new_title' }),
    field('tokens.col.name', nameInput, 'tokens.name_hint'),
    field('tokens.col.scope', scope),
    err,
    h('div', { class: 'form-actions' }, submit));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFormErrors(form, err);
    if (!validate(form)) return;
    submit.disabled = true;
    try {
      const res = await api.post('/tokens', { name: nameInput.value.trim(), scope: scope.value });
      form.reset();
      if (table) {
        owners?.set(me.id, owners.get(me.id) || me.name || me.email);
        table.addRow(res.token, 'start').classList.add('row-new');
        table.el.hidden = false;
        listArea.querySelector('.empty-inline')?.setAttribute('hidden', '');
      }
      showSecret(res.token, res.secret);
    } catch (e) {
      showFormError(form, err, e);
    } finally {
      submit.disabled = false;
    }
  });

  loadState(listArea, async () => {
    const [res, ops] = await Promise.all([
      api.get('/tokens', { signal }),
      me.role === 'admin' ? api.get('/operators', { signal }).catch(() => null) : null,
    ]);
    owners = new Map((ops?.operators || []).map((op) => [op.id, op.name || op.email]));
    showList(res?.tokens || []);
  });

  return h('section', { class: 'page' },
    pageHeader('tokens.title', 'tokens.intro'),
    form,
    secretSlot,
    h('h2', { class: 'section-title', t: 'tokens.list' }),
    listArea);
}
