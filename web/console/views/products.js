// Products (#/products): the catalog the search suggests beside articles.
// A list with paging, a JSON feed upload (POST /api/v1/products with
// {products:[...]}: what was created, updated, and each refused row with the
// path of its field), and delete. Administrators write; agents read.
import { h } from '/console/dom.js';
import { i18n, timeEl } from '/console/i18n.js';
import {
  announce, banner, dataTable, errorMessage, field, loadState, pageHeader, setFieldError, setMessage,
} from '/console/ui.js';
import { fmtMoney } from '/console/views/live.js';

const PAGE = 50;
const MAX_FILE = 50 * 1024 * 1024;

/** The price with its currency, or a dash. */
export function priceText(p) {
  if (p?.price === null || p?.price === undefined || !Number.isFinite(Number(p.price))) return '–';
  return `${fmtMoney(Number(p.price))}${p.currency ? ` ${p.currency}` : ''}`;
}

function linkOrText(url, text) {
  const u = String(url ?? '');
  return /^https?:\/\//i.test(u) ? h('a', { href: u, target: '_blank', rel: 'noopener noreferrer' }, text) : text;
}

export function renderProducts({ api, me, signal }) {
  const isAdmin = me.role === 'admin';
  const listArea = h('div', { class: 'list-area' });
  const rowError = banner();
  const count = h('p', { class: 'muted products-count', role: 'status' });
  const site = h('select', { name: 'site' });
  const siteField = field('products.site', site);
  siteField.hidden = true;
  let cursor = null;
  let table = null;
  let shown = 0;

  // ---- the feed upload ----
  const file = h('input', { type: 'file', name: 'feed', accept: '.json,application/json' });
  const upload = h('button', { type: 'submit', class: 'btn primary products-upload', t: 'products.upload' });
  const err = banner();
  const report = h('div', { class: 'products-report', 'aria-live': 'polite' });
  const form = h('form', { class: 'card form-grid products-form', novalidate: true, 'aria-labelledby': 'products-form-title' },
    h('h2', { class: 'card-title', id: 'products-form-title', t: 'products.upload_title' }),
    field('products.file', file, 'products.file_hint'),
    err,
    h('div', { class: 'form-actions' }, upload),
    report);

  function showReport(res) {
    const errors = Array.isArray(res?.errors) ? res.errors : [];
    const created = Number(res?.created) || 0;
    const updated = Number(res?.updated) || 0;
    report.replaceChildren(
      h('p', { class: errors.length ? 'warning products-summary' : 'notice products-summary', t: 'products.result', tArgs: { created, updated, errors: errors.length } }),
      errors.length ? h('ul', { class: 'products-errors' }, errors.slice(0, 200).map((e) => h('li', null,
        h('code', { class: 'products-error-field' }, String(e.field ?? '')), ' ', h('span', null, String(e.message ?? ''))))) : null,
      errors.length > 200 ? h('p', { class: 'muted', t: 'products.more_errors', tArgs: { n: errors.length - 200 } }) : null);
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    setMessage(err, null);
    setFieldError(file, null);
    report.replaceChildren();
    const f = file.files?.[0];
    if (!f) { setFieldError(file, { key: 'products.pick_file' }); file.focus(); return; }
    if (f.size > MAX_FILE) { setFieldError(file, { key: 'products.too_big' }); return; }
    let list;
    try {
      const data = JSON.parse(await f.text());
      list = Array.isArray(data) ? data : data?.products;
      if (!Array.isArray(list)) throw new Error('no list');
    } catch {
      setFieldError(file, { key: 'products.bad_json' });
      file.focus();
      return;
    }
    upload.disabled = true;
    try {
      const body = { products: list };
      if (site.value) body.site = site.value;
      const res = await api.post('/products', body);
      showReport(res);
      announce('products.uploaded', { created: Number(res?.created) || 0, updated: Number(res?.updated) || 0 });
      loadState(listArea, () => load(false));
    } catch (e) {
      setMessage(err, errorMessage(e));
    } finally {
      upload.disabled = false;
    }
  });

  // ---- the list ----
  function actions(p) {
    const wrap = h('span', { class: 'confirm' });
    const del = h('button', { type: 'button', class: 'btn small ghost', t: 'products.delete' });
    i18n.attr(del, 'aria-label', 'products.delete_named', { sku: p.sku });
    del.addEventListener('click', () => {
      const sure = h('button', { type: 'button', class: 'btn small danger', t: 'products.delete_confirm' });
      const cancel = h('button', { type: 'button', class: 'btn small ghost', t: 'common.cancel' });
      cancel.addEventListener('click', () => { wrap.replaceChildren(del); del.focus(); });
      sure.addEventListener('click', async () => {
        sure.disabled = cancel.disabled = true;
        setMessage(rowError, null);
        try {
          const q = site.value ? `?site=${encodeURIComponent(site.value)}` : '';
          await api.del(`/products/${encodeURIComponent(p.sku)}${q}`);
          wrap.closest('tr')?.remove();
          shown = Math.max(0, shown - 1);
          i18n.text(count, 'products.count', { n: shown });
          announce('products.deleted', { sku: p.sku });
        } catch (e) {
          setMessage(rowError, errorMessage(e));
          wrap.replaceChildren(del);
        }
      });
      wrap.replaceChildren(sure, cancel);
      sure.focus();
    });
    wrap.append(del);
    return wrap;
  }

  const columns = [
    { label: 'products.col.sku', cell: (p) => h('code', null, String(p.sku ?? '')) },
    { label: 'products.col.name', cell: (p) => linkOrText(p.url, String(p.name || p.sku || '')) },
    { label: 'products.col.category', cell: (p) => String(p.category ?? '') },
    { label: 'products.col.price', class: 'num', cell: (p) => priceText(p) },
    { label: 'products.col.availability', cell: (p) => (p.availability ? h('span', { class: 'badge', t: `products.avail.${['in_stock', 'out_of_stock', 'preorder'].includes(p.availability) ? p.availability : 'unknown'}` }) : '') },
    { label: 'products.col.source', cell: (p) => h('span', { class: 'muted', t: `products.source.${['feed', 'api', 'event'].includes(p.source) ? p.source : 'api'}` }) },
    { label: 'products.col.updated', cell: (p) => timeEl(p.updated) },
  ];
  if (isAdmin) columns.push({ label: 'products.col.actions', cell: actions });

  async function load(more) {
    const p = new URLSearchParams({ limit: String(PAGE) });
    if (site.value) p.set('site', site.value);
    if (more && cursor) p.set('cursor', cursor);
    const res = await api.get(`/products?${p}`, { signal });
    const list = Array.isArray(res?.products) ? res.products : [];
    cursor = res?.next_cursor || null;
    if (!more || !table) {
      shown = 0;
      table = dataTable(columns, [], { captionKey: 'products.title', rowAttrs: (x) => ({ 'data-sku': String(x.sku) }) });
      const moreBtn = h('button', { type: 'button', class: 'btn products-more', t: 'products.more' });
      moreBtn.addEventListener('click', async () => {
        moreBtn.disabled = true;
        try { await load(true); } catch (e) { setMessage(rowError, errorMessage(e)); } finally { moreBtn.disabled = false; }
      });
      listArea.replaceChildren(rowError, list.length ? table.el : h('p', { class: 'muted', t: 'products.none' }), h('div', { class: 'form-actions' }, moreBtn));
    }
    for (const x of list) table.addRow(x);
    shown += list.length;
    listArea.querySelector('.products-more').hidden = !cursor;
    i18n.text(count, 'products.count', { n: shown });
  }

  site.addEventListener('change', () => loadState(listArea, () => load(false)));
  api.get('/sites', { signal }).then((res) => {
    const sites = Array.isArray(res?.sites) ? res.sites : [];
    site.replaceChildren(...sites.map((s) => h('option', { value: String(s.key) }, String(s.name || s.key))));
    if ([...site.options].some((o) => o.value === 'default')) site.value = 'default';
    siteField.hidden = sites.length < 2;
  }).catch(() => {}).finally(() => { if (!signal.aborted) loadState(listArea, () => load(false)); });

  return h('section', { class: 'page page-wide products-page' },
    pageHeader('products.title', 'products.intro'),
    isAdmin ? form : h('p', { class: 'notice', t: 'products.read_only' }),
    siteField,
    h('h2', { class: 'section-title', t: 'products.list' }), count, listArea);
}

