// Settings → Audit log (admins): who did what, newest first, paged with
// the API's opaque cursor.
import { h } from '/console/dom.js';
import { timeEl } from '/console/i18n.js';
import { banner, dataTable, errorMessage, loadState, pageHeader, setMessage } from '/console/ui.js';

const PAGE = 50;

// Operator ids → names, filled from GET /operators so ids read as people.
let names = new Map();

// The operator may come as a string or as {id,email,name}.
function who(op) {
  if (op === null || op === undefined || op === '') return h('span', { class: 'muted', t: 'audit.system' });
  if (typeof op === 'object') return names.get(op.id) || op.name || op.email || op.id || '';
  return names.get(op) || String(op);
}

function target(t) {
  if (t === null || t === undefined) return '';
  if (typeof t === 'object') return JSON.stringify(t);
  const name = names.get(t);
  return name ? h('span', { title: String(t) }, name) : String(t);
}

function detail(d) {
  if (d === null || d === undefined || d === '') return '';
  const text = typeof d === 'string' ? d : JSON.stringify(d);
  return h('code', { class: 'detail' }, text);
}

export function renderAudit({ api, signal }) {
  const listArea = h('div', { class: 'list-area' });
  const moreError = banner();
  const more = h('button', { type: 'button', class: 'btn', t: 'audit.more', hidden: true });
  const empty = h('p', { class: 'muted empty-inline', t: 'audit.none', hidden: true });
  let cursor = null;
  let table = null;

  const columns = [
    { label: 'audit.col.at', cell: (e) => timeEl(e.at) },
    { label: 'audit.col.operator', cell: (e) => who(e.operator) },
    { label: 'audit.col.action', cell: (e) => h('code', null, e.action ?? '') },
    { label: 'audit.col.target', cell: (e) => target(e.target) },
    { label: 'audit.col.ip', cell: (e) => e.ip ?? '' },
    { label: 'audit.col.detail', cell: (e) => detail(e.detail) },
  ];

  async function fetchPage() {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (cursor) q.set('cursor', cursor);
    const res = await api.get(`/audit?${q}`, { signal });
    cursor = res?.next_cursor || null;
    more.hidden = !cursor;
    return res?.entries || [];
  }

  more.addEventListener('click', async () => {
    setMessage(moreError, null);
    more.disabled = true;
    try {
      const entries = await fetchPage();
      const firstNew = entries.length ? table.addRow(entries[0]) : null;
      for (const e of entries.slice(1)) table.addRow(e);
      // Keep keyboard users where the new rows begin.
      if (firstNew && more.hidden) { firstNew.tabIndex = -1; firstNew.focus(); }
    } catch (e) {
      if (e?.name !== 'AbortError') setMessage(moreError, errorMessage(e));
    } finally {
      more.disabled = false;
    }
  });

  loadState(listArea, async () => {
    cursor = null;
    const [entries, ops] = await Promise.all([fetchPage(), api.get('/operators', { signal }).catch(() => null)]);
    names = new Map((ops?.operators || []).map((op) => [op.id, op.name || op.email]));
    table = dataTable(columns, entries, { captionKey: 'audit.title' });
    empty.hidden = entries.length > 0;
    table.el.hidden = entries.length === 0;
    listArea.replaceChildren(empty, table.el, moreError, h('div', { class: 'form-actions' }, more));
  });

  return h('section', { class: 'page' }, pageHeader('audit.title', 'audit.intro'), listArea);
}
