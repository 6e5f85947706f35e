// Live visitors (#/live): everyone on the shop right now, kept up to date from
// the operator WebSocket. The server sends one snapshot ("visitors") per
// connection and then only deltas (visitor_enter / visitor_update /
// visitor_leave); the console never polls.
//
// The list lives in a store that is attached once at start-up (app.js), so it
// stays complete while the operator is on other pages; the profile and site
// pages read it too. The page keeps one row per visitor (keyed Map), batches
// deltas into one animation frame and touches only the cells that changed, so
// a thousand live visitors stay smooth.
import { h } from '/console/dom.js';
import { i18n } from '/console/i18n.js';
import { errorMessage, pageHeader, setMessage } from '/console/ui.js';

const ACTIVE_MS = 30_000; // the status dot is green this long after activity
const LEAVE_MS = 700;     // fade-out of a leaving row (matches style.css)
const ENTER_MS = 1600;    // highlight of a new row
const FLASH_MAX = 30;     // more arrivals than this in one frame are not highlighted
const ROWS_PER_FRAME = 150; // new rows drawn per frame at most...
const FRAME_BUDGET_MS = 8;  // ...or as many as fit in this time

// ---- store ---------------------------------------------------------------------

/** Visitors are keyed by site and id: the same id may exist on two sites. */
export const visitorKey = (site, vid) => `${site}\n${vid}`;

let unlisted = 0; // live visitors not in the snapshot (see 'visitors')
const entries = new Map(); // key → {key, v, pageStart, sinceMs, activeAt}
const invitations = new Map(); // vid → {id, status, message, rule, operator} (the latest per visitor)
const listeners = new Set();
let ready = false;
let socket = null; // the shell's operator socket, for its connection state

function parseTime(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

// fresh: the V came with a delta, i.e. the visitor did something just now.
function upsert(v, fresh) {
  if (!v || typeof v.vid !== 'string') return null;
  const site = String(v.site ?? '');
  const key = visitorKey(site, v.vid);
  const now = Date.now();
  const lastSeen = parseTime(v.last_seen);
  const e = {
    key,
    v,
    // time_on_page_s is as of sending; the page started that long before now.
    pageStart: now - Math.max(0, Number(v.time_on_page_s) || 0) * 1000,
    sinceMs: parseTime(v.since),
    activeAt: fresh ? now : Math.min(now, lastSeen ?? now),
  };
  entries.set(key, e);
  return key;
}

function emit(keys) {
  for (const fn of listeners) fn(keys);
}

/** Subscribes the store to the operator socket. Called once by app.js. */
export function attachVisitors(live) {
  if (socket) return;
  socket = live;
  live.on('visitors', (m) => {
    entries.clear();
    const list = Array.isArray(m.visitors) ? m.visitors : [];
    for (const v of list) upsert(v, false);
    // With very many visitors the server sends the most recent ones only;
    // the others appear as they move and are counted meanwhile.
    unlisted = Math.max(0, (Number.isInteger(m.total) ? m.total : list.length) - list.length);
    ready = true;
    emit(null); // null: everything may have changed
  });
  const delta = (m) => {
    const known = m.visitor && entries.has(visitorKey(String(m.visitor.site ?? ''), String(m.visitor.vid ?? '')));
    if (!known && m.type === 'visitor_update' && unlisted > 0) unlisted--;
    const key = upsert(m.visitor, true);
    if (key) emit(new Set([key]));
  };
  live.on('visitor_enter', delta);
  live.on('visitor_update', delta);
  // Invitations offered to visitors (manual or by a rule) and what became of them.
  live.on('invitation', (m) => {
    const inv = m.invitation;
    if (!inv || typeof inv.vid !== 'string') return;
    invitations.set(inv.vid, { ...(invitations.get(inv.vid) || {}), ...inv });
    const keys = new Set();
    for (const e of entries.values()) if (e.v.vid === inv.vid) keys.add(e.key);
    if (keys.size) emit(keys);
  });
  live.on('visitor_leave', (m) => {
    const key = visitorKey(String(m.site ?? ''), String(m.vid ?? ''));
    if (entries.delete(key)) emit(new Set([key]));
    else if (unlisted > 0) { unlisted--; emit(null); }
  });
}

export const visitorStore = {
  get ready() { return ready; },
  get(key) { return entries.get(key); },
  keys() { return entries.keys(); },
  values() { return entries.values(); },
  get size() { return entries.size; },
  /** The latest invitation of a visitor, or undefined. */
  invitation(vid) { return invitations.get(vid); },
  noteInvitation(vid, inv) {
    invitations.set(vid, { ...(invitations.get(vid) || {}), ...inv, vid });
    const keys = new Set();
    for (const e of entries.values()) if (e.v.vid === vid) keys.add(e.key);
    if (keys.size) emit(keys);
  },
  /** fn(keys): a Set of changed keys, or null after a new snapshot. Returns the unsubscribe. */
  subscribe(fn) { listeners.add(fn); return () => listeners.delete(fn); },
  countFor(site) {
    if (!site) return entries.size + unlisted;
    let n = 0;
    for (const e of entries.values()) if (e.v.site === site) n++;
    return n;
  },
  sites() {
    const s = new Set();
    for (const e of entries.values()) s.add(e.v.site);
    return s;
  },
};

// ---- formatting (shared with the profile and site pages) --------------------------

/** 65 → "1:05", 3725 → "1:02:05". Digits only, so the same in both languages. */
export function fmtDuration(sec) {
  sec = Math.max(0, Math.floor(Number(sec) || 0));
  const hh = Math.floor(sec / 3600);
  const mm = Math.floor((sec % 3600) / 60);
  const ss = String(sec % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

const numFormats = new Map();
function numberFormat(digits) {
  const k = `${i18n.lang}/${digits}`;
  let f = numFormats.get(k);
  if (!f) {
    f = new Intl.NumberFormat(i18n.lang === 'de' ? 'de-DE' : 'en-GB',
      { minimumFractionDigits: digits, maximumFractionDigits: digits });
    numFormats.set(k, f);
  }
  return f;
}

/** A cart value: currency-neutral, two decimals, in the chosen language. */
export const fmtMoney = (n) => numberFormat(2).format(Number(n) || 0);
export const fmtNumber = (n, digits = 0) => numberFormat(digits).format(Number(n) || 0);

/** "https://www.google.com/search?q=x" → "www.google.com"; '' for none. */
export function refHost(ref) {
  if (!ref) return '';
  try { return new URL(ref).hostname.replace(/^www\./, '') || String(ref); } catch { return String(ref); }
}

/** The path, query and fragment of a URL (the host is the shop's own). */
export function urlPath(url) {
  if (!url) return '';
  try {
    const u = new URL(url);
    return (u.pathname + u.search + u.hash) || '/';
  } catch { return String(url); }
}

const regionNames = new Map();
/** "DE" → "Germany" / "Deutschland"; the code itself when unknown. */
export function countryName(code) {
  if (!code) return '';
  let f = regionNames.get(i18n.lang);
  if (!f) {
    try { f = new Intl.DisplayNames([i18n.lang], { type: 'region' }); } catch { f = null; }
    regionNames.set(i18n.lang, f);
  }
  try { return f?.of(String(code).toUpperCase()) || String(code); } catch { return String(code); }
}

const DEVICES = new Set(['desktop', 'mobile', 'tablet', 'bot', 'other']);
/** A translated device label element ("Desktop", "Handy"...). */
export function deviceLabel(device) {
  const d = DEVICES.has(device) ? device : 'other';
  return h('span', { class: `badge lv-device lv-device-${d}`, t: `device.${d}` });
}

/** Link to a visitor's profile. */
export function profileHref(site, vid) {
  return `#/visitors/${encodeURIComponent(vid)}?site=${encodeURIComponent(site)}`;
}

/** The visitor's name: the contact (name or e-mail) when known, else "Anonymous". */
export function contactText(contact) {
  if (!contact) return '';
  if (typeof contact === 'string') return contact;
  return String(contact.name || contact.email || contact.id || '');
}

// ---- the page ------------------------------------------------------------------------

const SORTS = {
  activity: (a, b) => b.activeAt - a.activeAt,
  time: (a, b) => (a.sinceMs ?? Infinity) - (b.sinceMs ?? Infinity),
  pages: (a, b) => (Number(b.v.pages) || 0) - (Number(a.v.pages) || 0),
  cart: (a, b) => (Number(b.v.cart_total) || 0) - (Number(a.v.cart_total) || 0),
};
// The operator's choices survive leaving the page.
const prefs = { sort: 'activity', site: '' };

const COLUMNS = [
  { id: 'status', label: 'visitors.col.status', class: 'lv-status', srOnly: true },
  { id: 'visitor', label: 'visitors.col.visitor', class: 'lv-visitor' },
  { id: 'page', label: 'visitors.col.page', class: 'lv-page' },
  { id: 'top', label: 'visitors.col.time_on_page', class: 'num lv-top' },
  { id: 'tos', label: 'visitors.col.time_on_site', class: 'num lv-tos', sort: 'time' },
  { id: 'pages', label: 'visitors.col.pages', class: 'num lv-pages', sort: 'pages' },
  { id: 'visits', label: 'visitors.col.visits', class: 'lv-visits' },
  { id: 'cart', label: 'visitors.col.cart', class: 'num lv-cart', sort: 'cart' },
  { id: 'device', label: 'visitors.col.device', class: 'lv-dev' },
  { id: 'ref', label: 'visitors.col.referrer', class: 'lv-ref' },
  { id: 'country', label: 'visitors.col.country', class: 'lv-country' },
  { id: 'invite', label: 'visitors.col.invite', class: 'lv-inv' },
];
const INVITE_STATES = new Set(['offered', 'shown', 'accepted', 'dismissed', 'ignored']);

const setText = (node, text) => { if (node.textContent !== text) node.textContent = text; };

export function renderLive({ api, signal }) {
  const rows = new Map(); // key → row {tr, cells..., shown: {...}}
  const leaving = new Map(); // key → tr still fading out
  let entered = 0;          // rows created in the current frame
  let dirty = new Set();
  let resetPending = true;
  let frame = 0;
  let needOrder = false;
  let hold = false;      // pointer or focus in the table: do not move rows
  const quiet = new Set(); // rows of a snapshot: not highlighted as arrivals

  // Header: count, site filter, sort.
  const count = h('p', { class: 'lv-count', role: 'status' });
  const siteSel = h('select', { name: 'site', class: 'compact', id: 'lv-site' });
  const siteField = h('div', { class: 'lv-control', hidden: true },
    h('label', { for: 'lv-site', t: 'visitors.site' }), siteSel);
  const sortSel = h('select', { name: 'sort', class: 'compact', id: 'lv-sort' },
    Object.keys(SORTS).map((s) => h('option', { value: s, t: `visitors.sort.${s}` })));
  sortSel.value = prefs.sort;
  const toolbar = h('div', { class: 'lv-toolbar' }, count,
    h('div', { class: 'lv-controls' }, siteField,
      h('div', { class: 'lv-control' }, h('label', { for: 'lv-sort', t: 'visitors.sort_by' }), sortSel)));
  const stale = h('p', { class: 'warning lv-stale', t: 'visitors.stale', hidden: true });

  // The table.
  // The rows are CSS grids (see style.css), so the table roles are spelled out.
  const ths = COLUMNS.map((c) => h('th', { scope: 'col', role: 'columnheader', class: c.class },
    c.srOnly ? h('span', { class: 'sr-only', t: c.label }) : h('span', { t: c.label })));
  const tbody = h('tbody', { role: 'rowgroup' });
  const table = h('table', { class: 'data lv-table', role: 'table', tAttr: { 'aria-label': 'visitors.caption' } },
    h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' }, ths)), tbody);
  const wrap = h('div', { class: 'table-wrap lv-wrap', hidden: true }, table);

  const snippet = h('code', { class: 'lv-snippet' },
    `<script async src="${location.origin}/emma.js" data-site="default"></script>`);
  const empty = h('div', { class: 'empty lv-empty', hidden: true },
    h('p', { class: 'empty-title', t: 'visitors.empty' }),
    h('p', { class: 'muted', t: 'visitors.empty_hint' }),
    snippet);
  const waiting = h('p', { class: 'muted loading', t: 'visitors.waiting' });

  function showSortState() {
    for (const [i, c] of COLUMNS.entries()) {
      if (c.sort && c.sort === prefs.sort) ths[i].setAttribute('aria-sort', c.sort === 'time' ? 'ascending' : 'descending');
      else ths[i].removeAttribute('aria-sort');
    }
  }
  showSortState();

  // ---- rows ----

  function makeRow(e) {
    const v = e.v;
    const tr = h('tr', { role: 'row', 'data-key': e.key, 'data-site': v.site, 'data-vid': v.vid, class: 'lv-row' });
    const td = {};
    for (const c of COLUMNS) {
      td[c.id] = h('td', { role: 'cell', class: c.class });
      td[c.id].dataset.label = labels[c.id];
      tr.append(td[c.id]);
    }
    const row = { tr, key: e.key, shown: {} };
    row.dot = h('span', { class: 'lv-dot', 'aria-hidden': 'true' });
    row.dotText = h('span', { class: 'sr-only' });
    td.status.append(row.dot, row.dotText);

    row.link = h('a', { class: 'lv-link', href: profileHref(v.site, v.vid) });
    row.name = h('span', { class: 'lv-name' });
    row.vid = h('span', { class: 'lv-vid' }, String(v.vid).slice(0, 8));
    row.link.append(row.name, ' ', row.vid);
    row.siteBadge = h('span', { class: 'badge lv-site' }, String(v.site));
    td.visitor.append(row.link, row.siteBadge);

    row.title = h('span', { class: 'lv-title' });
    row.url = h('span', { class: 'lv-url' });
    td.page.append(row.title, row.url);

    row.top = td.top;
    row.tos = td.tos;
    row.pages = td.pages;
    row.visits = h('span', { class: 'lv-visits-n' });
    row.badge = h('span', { class: 'badge' });
    td.visits.append(row.visits, row.badge);
    row.cart = td.cart;
    row.dev = td.device;
    row.ref = td.ref;
    row.country = td.country;
    // Clicks reach openInvite through the table's one listener (below).
    row.invBtn = h('button', { type: 'button', class: 'btn small lv-invite', t: 'invite.button' });
    i18n.attr(row.invBtn, 'aria-label', 'invite.button_named', { id: String(v.vid).slice(0, 8) });
    row.invState = h('span', { class: 'badge lv-inv-state', hidden: true });
    td.invite.append(row.invBtn, row.invState);
    updateRow(row, e, Date.now());
    return row;
  }

  // Writes only what changed since the row was last drawn.
  function updateRow(row, e, now) {
    const v = e.v;
    const s = row.shown;
    const contact = contactText(v.contact);
    if (s.contact !== contact) {
      s.contact = contact;
      if (contact) {
        delete row.name.dataset.i18n;
        row.name.textContent = contact;
        row.name.title = contact;
        row.link.classList.remove('anon');
      } else {
        i18n.text(row.name, 'visitors.anonymous');
        row.name.removeAttribute('title');
        row.link.classList.add('anon');
      }
    }
    const url = v.current_url || '';
    const title = v.title || '';
    if (s.url !== url || s.titleText !== title) {
      s.url = url;
      s.titleText = title;
      setText(row.title, title || urlPath(url));
      setText(row.url, urlPath(url));
      row.url.hidden = !title;
      row.title.title = title ? `${title}\n${url}` : url;
    }
    const pages = String(Number(v.pages) || 0);
    if (s.pages !== pages) { s.pages = pages; setText(row.pages, pages); }
    const visits = Number(v.visits) || 0;
    if (s.visits !== visits || s.returning !== !!v.returning) {
      s.visits = visits;
      s.returning = !!v.returning;
      setText(row.visits, String(visits));
      const ret = !!v.returning || visits > 1;
      i18n.text(row.badge, ret ? 'visitors.returning' : 'visitors.new');
      row.badge.className = ret ? 'badge lv-ret' : 'badge badge-on lv-new';
    }
    const cart = Number(v.cart_total) || 0;
    if (s.cart !== cart || s.lang !== i18n.lang) {
      s.cart = cart;
      setText(row.cart, cart ? fmtMoney(cart) : '–');
      row.cart.classList.toggle('muted', !cart);
    }
    const dev = `${v.device || ''}\n${v.browser || ''}`;
    if (s.dev !== dev) {
      s.dev = dev;
      row.dev.replaceChildren(deviceLabel(v.device), v.browser ? h('span', { class: 'lv-browser' }, String(v.browser)) : null);
    }
    const ref = refHost(v.referrer);
    if (s.ref !== ref) {
      s.ref = ref;
      if (ref) {
        delete row.ref.dataset.i18n;
        row.ref.textContent = ref;
        row.ref.title = String(v.referrer);
      } else {
        i18n.text(row.ref, 'visitors.direct');
        row.ref.removeAttribute('title');
      }
      row.ref.classList.toggle('muted', !ref);
    }
    const country = v.country || '';
    if (s.country !== country || s.lang !== i18n.lang) {
      s.country = country;
      setText(row.country, country.toUpperCase());
      if (country) row.country.title = countryName(country);
      else row.country.removeAttribute('title');
    }
    const inv = invitations.get(v.vid);
    const invState = inv && INVITE_STATES.has(inv.status) ? inv.status : '';
    if (s.inv !== invState || s.lang !== i18n.lang) {
      s.inv = invState;
      row.invState.hidden = !invState;
      if (invState) {
        i18n.text(row.invState, `invite.status.${invState}`);
        row.invState.className = `badge lv-inv-state lv-inv-${invState}`;
        row.invState.title = String(inv.message ?? '');
      }
      // One invitation per visit: no second one while the first is open.
      row.invBtn.disabled = invState === 'offered' || invState === 'shown' || invState === 'accepted';
    }
    s.lang = i18n.lang;
    tick(row, e, now);
  }

  // The parts that change with the clock.
  function tick(row, e, now) {
    const top = Math.max(0, (now - e.pageStart) / 1000);
    const tos = e.sinceMs === null ? top : Math.max(top, (now - e.sinceMs) / 1000);
    setText(row.top, fmtDuration(top));
    setText(row.tos, fmtDuration(tos));
    const active = now - e.activeAt < ACTIVE_MS;
    if (row.shown.active !== active) {
      row.shown.active = active;
      row.dot.classList.toggle('on', active);
      i18n.text(row.dotText, active ? 'visitors.active' : 'visitors.idle');
      row.tr.classList.toggle('lv-idle', !active);
    }
  }

  function leave(row) {
    rows.delete(row.key);
    seen.unobserve(row.tr);
    if (!row.tr.isConnected) return;
    leaving.set(row.key, row.tr);
    row.tr.classList.remove('entering');
    row.tr.classList.add('leaving');
    row.link.tabIndex = -1;
    row.tr.setAttribute('aria-hidden', 'true');
    setTimeout(() => {
      if (leaving.get(row.key) === row.tr) leaving.delete(row.key);
      row.tr.remove();
      if (!signal.aborted) updateHeader();
    }, LEAVE_MS);
  }

  function enter(e, flash) {
    leaving.get(e.key)?.remove();
    leaving.delete(e.key);
    const row = makeRow(e);
    rows.set(e.key, row);
    seen.observe(row.tr);
    if (flash && ++entered <= FLASH_MAX) {
      row.tr.classList.add('entering');
      setTimeout(() => row.tr.classList.remove('entering'), ENTER_MS);
    }
    return row;
  }

  const matches = (e) => !prefs.site || e.v.site === prefs.site;

  // Puts the rows of the chosen site into the chosen order, moving as few as possible.
  function reorder() {
    needOrder = false;
    const cmp = SORTS[prefs.sort] || SORTS.activity;
    const want = [];
    for (const e of visitorStore.values()) if (matches(e) && rows.has(e.key)) want.push(e);
    want.sort((a, b) => cmp(a, b) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const wanted = new Set(want.map((e) => rows.get(e.key).tr));
    for (const tr of [...tbody.children]) if (!tr.classList.contains('leaving') && !wanted.has(tr)) tr.remove();
    let cur = tbody.firstElementChild;
    for (const e of want) {
      const tr = rows.get(e.key).tr;
      while (cur && cur.classList.contains('leaving')) cur = cur.nextElementSibling;
      if (cur === tr) { cur = cur.nextElementSibling; continue; }
      tbody.insertBefore(tr, cur);
    }
  }

  function updateHeader() {
    const n = visitorStore.countFor(prefs.site);
    i18n.text(count, 'visitors.count', { n, count: fmtNumber(n) });
    // The site filter appears once visitors of more than one site are live.
    const sites = visitorStore.sites();
    if (prefs.site) sites.add(prefs.site);
    const list = [...sites].sort();
    const have = [...siteSel.options].slice(1).map((o) => o.value).join('\n');
    if (have !== list.join('\n')) {
      siteSel.replaceChildren(h('option', { value: '', t: 'visitors.all_sites' }),
        list.map((s) => h('option', { value: s }, s)));
      siteSel.value = prefs.site;
    }
    siteField.hidden = list.length < 2;
    table.classList.toggle('lv-multi', list.length > 1);
    if (!visitorStore.ready) {
      waiting.hidden = false;
      wrap.hidden = empty.hidden = true;
      count.hidden = true;
      return;
    }
    waiting.hidden = true;
    count.hidden = false;
    empty.hidden = n > 0;
    wrap.hidden = n === 0 && !tbody.querySelector('tr.leaving');
  }

  function flush() {
    frame = 0;
    entered = 0;
    if (signal.aborted) return;
    const now = Date.now();
    if (resetPending) {
      // A new snapshot: rows that are not in it leave, all others are redrawn.
      resetPending = false;
      for (const row of [...rows.values()]) if (!visitorStore.get(row.key)) leave(row);
      for (const key of visitorStore.keys()) { dirty.add(key); quiet.add(key); }
    }
    // New rows cost the most; a burst of them is spread over several frames.
    const started = performance.now();
    let made = 0;
    for (const key of dirty) {
      if (made >= ROWS_PER_FRAME || (made && performance.now() - started > FRAME_BUDGET_MS)) break;
      dirty.delete(key);
      const e = visitorStore.get(key);
      const row = rows.get(key);
      const flash = !quiet.delete(key);
      if (!e) { if (row) leave(row); continue; }
      if (row) updateRow(row, e, now);
      else { enter(e, flash); made++; }
      needOrder = true;
    }
    if (dirty.size) schedule();
    else quiet.clear();
    if (needOrder) {
      if (!hold) reorder();
      else {
        // Keep rows still under the pointer or focus; new ones go to the top.
        for (const row of rows.values()) if (!row.tr.isConnected && matches(visitorStore.get(row.key))) tbody.prepend(row.tr);
      }
    }
    updateHeader();
  }


  function schedule() {
    if (!frame) frame = requestAnimationFrame(flush);
  }

  const unsubscribe = visitorStore.subscribe((keys) => {
    if (keys === null) resetPending = true;
    else for (const k of keys) dirty.add(k);
    schedule();
  });

  // Rows open the profile on click anywhere in them; the link inside is the keyboard way.
  tbody.addEventListener('click', (ev) => {
    const inv = ev.target.closest('button.lv-invite');
    if (inv) {
      const tr = inv.closest('tr.lv-row');
      if (tr && !tr.classList.contains('leaving')) openInvite(tr.dataset.key, inv);
      return;
    }
    if (ev.target.closest('a, button')) return;
    const tr = ev.target.closest('tr.lv-row');
    if (!tr || tr.classList.contains('leaving')) return;
    const link = tr.querySelector('a.lv-link');
    if (link) location.hash = link.getAttribute('href');
  });
  // Column labels for the stacked (phone) layout, in the current language.
  const labels = {};
  const setLabels = () => { for (const c of COLUMNS) labels[c.id] = i18n.t(c.label); };
  setLabels();

  // Only rows on screen (or near it) tick; the others catch up when they scroll in.
  const seen = new IntersectionObserver((list) => {
    const now = Date.now();
    for (const it of list) {
      const row = rows.get(it.target.dataset.key);
      if (!row) continue;
      row.visible = it.isIntersecting;
      const e = row.visible && visitorStore.get(row.key);
      if (e) tick(row, e, now);
    }
  }, { rootMargin: '300px 0px' });

  const setHold = (on) => {
    hold = on;
    if (!hold && needOrder) { reorder(); updateHeader(); }
  };
  wrap.addEventListener('pointerenter', () => setHold(true));
  wrap.addEventListener('pointerleave', () => setHold(wrap.contains(document.activeElement)));
  wrap.addEventListener('focusin', () => setHold(true));
  wrap.addEventListener('focusout', (ev) => { if (!wrap.contains(ev.relatedTarget)) setHold(wrap.matches(':hover')); });

  sortSel.addEventListener('change', () => {
    prefs.sort = sortSel.value;
    showSortState();
    reorder();
  });
  siteSel.addEventListener('change', () => {
    prefs.site = siteSel.value;
    reorder();
    updateHeader();
  });

  // The clock: time on page / on site and the status dots, once a second.
  const timer = setInterval(() => {
    stale.hidden = !visitorStore.ready || !socket || socket.state === 'live';
    if (document.hidden) return;
    const now = Date.now();
    for (const row of rows.values()) {
      if (!row.visible || !row.tr.isConnected) continue;
      const e = visitorStore.get(row.key);
      if (e) tick(row, e, now);
    }
  }, 1000);
  const offLang = i18n.onChange(() => {
    const now = Date.now();
    setLabels();
    for (const row of rows.values()) {
      for (const td of row.tr.cells) td.dataset.label = labels[COLUMNS[td.cellIndex].id];
      const e = visitorStore.get(row.key);
      if (e) updateRow(row, e, now);
    }
    updateHeader();
  });
  signal.addEventListener('abort', () => {
    unsubscribe();
    seen.disconnect();
    clearInterval(timer);
    offLang();
    if (frame) cancelAnimationFrame(frame);
  }, { once: true });

  updateHeader();
  flush();

  // ---- manual invitation: a small dialog with the text ----
  const invText = h('textarea', { name: 'message', rows: 3, maxlength: 1000, required: true, id: 'lv-invite-text', class: 'lv-invite-text' });
  const invErr = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const invWho = h('p', { class: 'muted lv-invite-who' });
  const invSend = h('button', { type: 'submit', class: 'btn primary', t: 'invite.send' });
  const invCancel = h('button', { type: 'button', class: 'btn', t: 'common.cancel' });
  const invForm = h('form', { method: 'dialog', class: 'lv-invite-form', novalidate: true },
    h('h2', { id: 'lv-invite-title', t: 'invite.title' }), invWho,
    h('div', { class: 'field' }, h('label', { for: 'lv-invite-text', t: 'invite.message' }), invText,
      h('p', { class: 'hint', t: 'invite.message_hint' })),
    invErr,
    h('div', { class: 'form-actions' }, invSend, invCancel));
  const dialog = h('dialog', { class: 'lv-invite-dialog', 'aria-labelledby': 'lv-invite-title' }, invForm);
  let invTarget = null; // {key, site, vid, button}

  function openInvite(key, button) {
    const e = visitorStore.get(key);
    if (!e) return;
    invTarget = { key, site: String(e.v.site ?? ''), vid: e.v.vid, button };
    setMessage(invErr, null);
    const who = contactText(e.v.contact) || i18n.t('visitors.anonymous');
    i18n.text(invWho, 'invite.to', { name: who, page: e.v.title || urlPath(e.v.current_url) });
    if (!invText.value) invText.value = i18n.t('invite.default_text');
    dialog.showModal();
    invText.focus();
    invText.select();
  }
  invCancel.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => { invTarget?.button?.isConnected && invTarget.button.focus(); });
  invForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const t = invTarget;
    const message = invText.value.trim();
    if (!t) return;
    if (!message) { setMessage(invErr, { key: 'form.required' }); invText.focus(); return; }
    invSend.disabled = true;
    setMessage(invErr, null);
    try {
      const res = await api.post(`/visitors/${encodeURIComponent(t.vid)}/invite`, { message, site: t.site });
      visitorStore.noteInvitation(t.vid, { status: 'offered', message, ...(res?.invitation || {}) });
      invText.value = '';
      dialog.close();
    } catch (err) {
      setMessage(invErr, err.status === 409 ? { key: 'invite.not_now' } : errorMessage(err));
    } finally {
      invSend.disabled = false;
    }
  });
  signal.addEventListener('abort', () => { if (dialog.open) dialog.close(); }, { once: true });

  return h('section', { class: 'page page-wide lv-page' },
    pageHeader('nav.live'),
    toolbar, stale, waiting, empty, wrap, dialog);
}

