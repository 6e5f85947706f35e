// Callbacks: the queue of "please call me back" requests, earliest due time
// first. Overdue requests are marked with the word "Overdue" (not colour
// alone). Operators take a request, record the call (reached, no answer:
// tried again later), finish or cancel it, or move its due time.
import { h, tx } from '/console/dom.js';
import { timeEl } from '/console/i18n.js';
import { announce, banner, dataTable, errorMessage, loadState, pageHeader, setMessage } from '/console/ui.js';
import { contactLink, debounce, refreshCallbackBadge, toLocalInput } from '/console/views/crm.js';
import { cbStatus } from '/console/views/contact.js';

const PAGE = 100;
const STATUS_FILTERS = {
  waiting: 'open,no_answer',
  called: 'called',
  done: 'done',
  cancelled: 'cancelled',
  all: '',
};

export function renderCallbacks({ api, me, live, signal, params }) {
  const query = params?.query || new URLSearchParams();
  const listArea = h('div', { class: 'list-area' });
  const rowError = banner();
  const more = h('button', { type: 'button', class: 'btn', t: 'callbacks.more', hidden: true });
  let cursor = null;
  let table = null;

  const who = h('select', { name: 'assigned' },
    h('option', { value: '', t: 'callbacks.filter_all' }),
    h('option', { value: 'me', t: 'callbacks.filter_mine' }),
    h('option', { value: 'none', t: 'callbacks.filter_unassigned' }));
  who.value = ['', 'me', 'none'].includes(query.get('assigned')) ? query.get('assigned') : '';
  const status = h('select', { name: 'status' },
    Object.keys(STATUS_FILTERS).map((k) => h('option', { value: k, t: `callbacks.filter_status_${k}` })));
  status.value = STATUS_FILTERS[query.get('status')] !== undefined ? query.get('status') : 'waiting';

  function syncUrl() {
    const f = new URLSearchParams();
    if (who.value) f.set('assigned', who.value);
    if (status.value !== 'waiting') f.set('status', status.value);
    history.replaceState(null, '', `#/callbacks${f.toString() ? `?${f}` : ''}`);
  }

  async function change(cb, changes, doneKey, tr) {
    setMessage(rowError, null);
    if (tr) tr.setAttribute('aria-busy', 'true');
    try {
      const res = await api.patch(`/callbacks/${encodeURIComponent(cb.id)}`, changes);
      Object.assign(cb, res.callback);
      tr?.replaceWith(table.makeRow(cb));
      announce(doneKey, { name: cb.name || cb.phone });
      refreshCallbackBadge();
    } catch (e) {
      tr?.removeAttribute('aria-busy');
      setMessage(rowError, errorMessage(e));
    }
  }

  function dueCell(cb) {
    const wrap = h('span', { class: 'cb-due' }, timeEl(cb.due_at));
    if (cb.overdue) wrap.prepend(h('span', { class: 'badge cb-overdue' }, '⚠ ', tx('callbacks.overdue')), ' ');
    if (cb.window_end) wrap.append(h('span', { class: 'muted cb-window' }, ' ', tx('callbacks.until'), ' ', timeEl(cb.window_end)));
    return wrap;
  }

  function actionsCell(cb) {
    const wrap = h('div', { class: 'cb-actions' });
    const btn = (key, fn, cls = 'btn small') => {
      const b = h('button', { type: 'button', class: cls, t: key });
      b.addEventListener('click', () => fn(b));
      wrap.append(b);
      return b;
    };
    const active = cb.status === 'open' || cb.status === 'no_answer';
    const tr = () => wrap.closest('tr');
    if (active && cb.assigned?.id !== me.id) btn('callbacks.assign_me', () => change(cb, { assigned: me.id }, 'callbacks.assigned_done', tr()));
    if (active) {
      btn('callbacks.called', () => change(cb, { status: 'called' }, 'callbacks.called_done', tr()), 'btn small primary');
      btn('callbacks.no_answer', () => change(cb, { status: 'no_answer' }, 'callbacks.no_answer_done', tr()));
    }
    if (cb.status !== 'done' && cb.status !== 'cancelled') btn('callbacks.done', () => change(cb, { status: 'done' }, 'callbacks.done_done', tr()));
    if (active) btn('callbacks.cancel', () => change(cb, { status: 'cancelled' }, 'callbacks.cancel_done', tr()), 'btn small ghost');
    if (!active && cb.status !== 'open') btn('callbacks.reopen', () => change(cb, { status: 'open' }, 'callbacks.reopen_done', tr()), 'btn small ghost');
    if (active) {
      btn('callbacks.edit_due', (b) => {
        const input = h('input', { type: 'datetime-local', name: 'due_at', value: toLocalInput(cb.due_at), id: `cb-due-${cb.id}` });
        const save = h('button', { type: 'submit', class: 'btn small primary', t: 'callbacks.save_due' });
        const cancel = h('button', { type: 'button', class: 'btn small ghost', t: 'common.cancel' });
        const form = h('form', { class: 'cb-due-form', novalidate: true },
          h('label', { for: input.id, t: 'callbacks.due_label' }), input, save, cancel);
        cancel.addEventListener('click', () => { form.remove(); b.hidden = false; b.focus(); });
        form.addEventListener('submit', (ev) => {
          ev.preventDefault();
          const d = new Date(input.value);
          if (Number.isNaN(d.getTime())) { input.setAttribute('aria-invalid', 'true'); input.focus(); return; }
          change(cb, { due_at: d.toISOString() }, 'callbacks.due_saved', tr());
        });
        b.hidden = true;
        wrap.append(form);
        input.focus();
      }, 'btn small ghost');
    }
    return wrap;
  }

  const columns = [
    { label: 'callbacks.col.due', cell: dueCell },
    { label: 'callbacks.col.who', cell: (cb) => h('span', null, cb.contact ? contactLink({ ...cb.contact, name: cb.contact.name || cb.name || cb.phone }) : (cb.name || '—')) },
    { label: 'callbacks.col.phone', cell: (cb) => (cb.phone ? h('a', { href: `tel:${cb.phone}` }, cb.phone) : '') },
    { label: 'callbacks.col.topic', cell: (cb) => cb.topic || '' },
    { label: 'callbacks.col.status', cell: (cb) => h('span', { class: `badge cb-status-${cbStatus(cb.status)}`, t: `callbacks.status.${cbStatus(cb.status)}` }) },
    { label: 'callbacks.col.attempts', class: 'num', cell: (cb) => String(cb.attempts || 0) },
    { label: 'callbacks.col.assigned', cell: (cb) => (cb.assigned ? cb.assigned.name : h('span', { class: 'muted', t: 'callbacks.nobody' })) },
    { label: 'callbacks.col.actions', cell: actionsCell },
  ];

  async function fetchPage() {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (who.value) q.set('assigned', who.value);
    if (STATUS_FILTERS[status.value]) q.set('status', STATUS_FILTERS[status.value]);
    if (cursor) q.set('cursor', cursor);
    const res = await api.get(`/callbacks?${q}`, { signal });
    cursor = res?.next_cursor || null;
    more.hidden = !cursor;
    return res?.callbacks || [];
  }

  async function reload() {
    cursor = null;
    const rows = await fetchPage();
    table = dataTable(columns, rows, {
      captionKey: 'callbacks.title',
      rowAttrs: (cb) => ({ 'data-id': cb.id, class: cb.overdue ? 'cb-row-overdue' : null }),
    });
    const empty = h('p', { class: 'muted empty-inline', t: 'callbacks.none', hidden: rows.length > 0 });
    table.el.hidden = rows.length === 0;
    listArea.replaceChildren(rowError, empty, table.el, h('div', { class: 'form-actions' }, more));
  }

  more.addEventListener('click', async () => {
    more.disabled = true;
    try { for (const cb of await fetchPage()) table.addRow(cb); } catch (e) { setMessage(rowError, errorMessage(e)); }
    more.disabled = false;
  });
  for (const s of [who, status]) s.addEventListener('change', () => { syncUrl(); loadState(listArea, reload); });

  // Every change (from the widget, another operator, or a request becoming
  // overdue) arrives on the socket; reload the queue shortly after.
  const off = live?.on('callback', debounce(() => {
    if (!listArea.querySelector('.cb-due-form')) reload().catch(() => {});
  }, 300));
  // The overdue mark depends on the clock: look again every minute.
  const tick = setInterval(() => { if (!listArea.querySelector('.cb-due-form')) reload().catch(() => {}); }, 60000);
  signal?.addEventListener('abort', () => { off?.(); clearInterval(tick); });

  loadState(listArea, reload);
  refreshCallbackBadge();

  return h('section', { class: 'page page-wide' },
    pageHeader('callbacks.title', 'callbacks.intro'),
    h('div', { class: 'crm-toolbar cb-toolbar' },
      h('div', { class: 'field' }, h('label', { for: (who.id = 'cb-who'), t: 'callbacks.filter_who' }), who),
      h('div', { class: 'field' }, h('label', { for: (status.id = 'cb-status'), t: 'callbacks.filter_status' }), status)),
    listArea);
}
