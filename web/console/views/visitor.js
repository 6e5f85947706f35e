// A visitor's profile (#/visitors/{vid}?site=KEY): who they are, whether they
// are on the site now (from the live store, so it moves as they do), and every
// visit, newest first, with its page path and other events as a timeline.
// Data from GET /api/v1/visitors/{vid}; everything is inserted as text.
import { h, tx } from '/console/dom.js';
import { i18n, timeEl } from '/console/i18n.js';
import { errorMessage, setMessage } from '/console/ui.js';
import {
  countryName, deviceLabel, fmtDuration, fmtMoney, fmtNumber, profileHref, refHost,
  urlPath, visitorKey, visitorStore,
} from '/console/views/live.js';

const EVENT_TYPES = new Set(['cart', 'search', 'order', 'identify', 'consent', 'event']);

const ms = (iso) => {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
};

/** A definition-list entry; value may be a node, text or null (then left out). */
function item(labelKey, value) {
  if (value === null || value === undefined || value === '') return null;
  return h('div', { class: 'vp-item' }, h('dt', { t: labelKey }), h('dd', null, value));
}

// "key: value · key: value" for an event's extra data, as text.
function dataText(data, skip = []) {
  if (!data || typeof data !== 'object') return '';
  return Object.entries(data)
    .filter(([k, v]) => !skip.includes(k) && v !== null && v !== undefined && v !== '')
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' · ');
}

function money(n) {
  return n === null || n === undefined || n === '' ? '' : fmtMoney(n);
}

// One event of the timeline: a translated kind and a line of details.
function eventEntry(e) {
  const type = EVENT_TYPES.has(e.type) ? e.type : 'event';
  const d = e.data && typeof e.data === 'object' ? e.data : {};
  let what;
  switch (type) {
    case 'cart': {
      const action = ['add', 'remove', 'set'].includes(d.action) ? d.action : 'set';
      const item = [d.sku, d.qty !== undefined ? `× ${d.qty}` : ''].filter((x) => x !== undefined && x !== null && x !== '').join(' ');
      const parts = [item, d.price !== undefined ? money(d.price) : ''].filter(Boolean);
      what = h('span', null, tx(`visitor.cart.${action}`), parts.length ? ` ${parts.join(' · ')}` : '',
        d.total !== undefined ? h('span', { class: 'muted' }, ' · ', tx('visitor.cart.total', { total: money(d.total) })) : null);
      break;
    }
    case 'search':
      what = h('span', null, tx('visitor.search.query', { query: e.name ?? d.query ?? '' }),
        d.results !== undefined ? h('span', { class: 'muted' }, ' · ', tx('visitor.search.results', { n: Number(d.results) || 0 })) : null);
      break;
    case 'order':
      what = h('span', null, tx('visitor.order.line', { id: e.name ?? d.id ?? '', total: money(d.total) }),
        Array.isArray(d.items) && d.items.length
          ? h('span', { class: 'muted' }, ' · ', d.items.map((i) => `${i?.sku ?? ''} × ${i?.qty ?? 1}`).join(', '))
          : null);
      break;
    case 'identify':
      what = h('span', null, tx('visitor.identify.line'), d && Object.keys(d).length ? ` ${dataText(d)}` : '');
      break;
    case 'consent':
      what = d.granted === undefined ? tx('visitor.consent.line')
        : tx(d.granted ? 'visitor.consent.granted' : 'visitor.consent.withdrawn');
      break;
    default:
      what = h('span', null, h('code', null, String(e.name ?? e.type ?? '')),
        dataText(d) ? h('span', { class: 'muted' }, ` ${dataText(d)}`) : null);
  }
  return h('li', { class: `vp-ev vp-ev-${type}` },
    h('span', { class: 'vp-at' }, clock(e.at)),
    h('span', { class: `badge vp-kind vp-kind-${type}`, t: `visitor.kind.${type}` }),
    h('span', { class: 'vp-what' }, what));
}

// A time of day; the full date and time are in the title.
const clocks = new Map();
function clock(iso) {
  const el = timeEl(iso);
  const t = ms(iso);
  if (t === null) return el;
  let f = clocks.get(i18n.lang);
  if (!f) {
    f = new Intl.DateTimeFormat(i18n.lang === 'de' ? 'de-DE' : 'en-GB', { timeStyle: 'medium' });
    clocks.set(i18n.lang, f);
  }
  // A time element without data-time keeps its text on a language change (digits only).
  delete el.dataset.time;
  el.textContent = f.format(new Date(t));
  return el;
}

function pageEntry(p, next, visitEnd) {
  const at = ms(p.at);
  const until = next ? ms(next.at) : visitEnd;
  const spent = at !== null && until !== null && until > at ? (until - at) / 1000 : null;
  return h('li', { class: 'vp-ev vp-pv' },
    h('span', { class: 'vp-at' }, clock(p.at)),
    h('span', { class: 'badge vp-kind vp-kind-page', t: 'visitor.kind.page' }),
    h('span', { class: 'vp-what' },
      h('span', { class: 'vp-page-title' }, p.title || urlPath(p.url)),
      h('span', { class: 'vp-page-url', title: p.url || '' }, urlPath(p.url))),
    spent !== null
      ? h('span', { class: 'vp-spent' }, tx(next ? 'visitor.spent' : 'visitor.spent_last', { d: fmtDuration(spent) }))
      : null);
}

function visitBlock(v, open) {
  const started = ms(v.started);
  const last = ms(v.last_at);
  const pages = Array.isArray(v.pages) ? v.pages : [];
  const events = Array.isArray(v.events) ? v.events : [];
  const items = [
    ...pages.map((p, i) => ({ at: ms(p.at) ?? 0, seq: i, node: () => pageEntry(p, pages[i + 1], last) })),
    ...events.map((e, i) => ({ at: ms(e.at) ?? 0, seq: pages.length + i, node: () => eventEntry(e) })),
  ].sort((a, b) => a.at - b.at || a.seq - b.seq);
  const duration = started !== null && last !== null ? Math.max(0, (last - started) / 1000) : 0;
  const ref = refHost(v.referrer);
  const utm = v.utm || {};
  const campaign = [utm.source, utm.medium, utm.campaign].filter(Boolean).join(' / ');

  const summary = h('summary', { class: 'vp-visit-head' },
    h('span', { class: 'vp-visit-when' }, timeEl(v.started)),
    h('span', { class: 'vp-visit-facts' },
      h('span', null, tx('visitor.pageviews_n', { n: Number(v.pageviews) || pages.length })),
      h('span', null, tx('visitor.duration', { d: fmtDuration(duration) })),
      ref ? h('span', { title: v.referrer }, ref) : h('span', { class: 'muted', t: 'visitors.direct' })));
  const meta = h('dl', { class: 'vp-meta' },
    item('visitor.entry', v.entry_url ? h('span', { title: v.entry_url }, urlPath(v.entry_url)) : null),
    item('visitor.referrer', v.referrer ? h('span', { class: 'vp-break' }, String(v.referrer)) : tx('visitors.direct')),
    item('visitor.campaign', campaign),
    item('visitor.active', fmtDuration(v.active_s)),
    item('visitor.device', h('span', null, deviceLabel(v.device), ' ', [v.browser, v.os].filter(Boolean).join(' · '))),
    item('visitor.country', v.country ? `${countryName(v.country)} (${String(v.country).toUpperCase()})` : null),
    item('visitor.source', v.source ? h('span', { t: `visitor.source.${v.source === 'log' ? 'log' : 'beacon'}` }) : null));
  const list = items.length
    ? h('ol', { class: 'vp-timeline' }, items.map((x) => x.node()))
    : h('p', { class: 'muted', t: 'visitor.no_pages' });
  return h('details', { class: 'card vp-visit', open }, summary, meta, list);
}

export function renderVisitor({ api, signal, params }) {
  let vid = params.path.slice('/visitors/'.length);
  try { vid = decodeURIComponent(vid); } catch { /* shown as it is */ }
  const site = params.query.get('site') || '';
  // Without ?site= the live entry is the one with this id on any site.
  let key = visitorKey(site || 'default', vid);
  if (!site) for (const e of visitorStore.values()) if (e.v.vid === vid) { key = e.key; break; }

  const title = h('h1', { tabindex: '-1', t: 'visitor.title' });
  const sub = h('p', { class: 'intro vp-sub' }, h('code', null, vid));
  const back = h('a', { class: 'vp-back', href: '#/live', t: 'visitor.back' });
  const body = h('div', { class: 'vp-body' }, h('p', { class: 'muted loading', t: 'common.loading' }));

  // ---- live status: follows the store ----
  const liveBox = h('section', { class: 'card vp-live', 'aria-labelledby': 'vp-live-title' });
  let liveRefs = null;
  function drawLive() {
    const e = visitorStore.get(key);
    if (!e) {
      liveRefs = null;
      const lastSeen = drawLive.lastSeen;
      liveBox.dataset.state = 'away';
      liveBox.replaceChildren(
        h('h2', { id: 'vp-live-title', class: 'card-title' }, h('span', { class: 'lv-dot', 'aria-hidden': 'true' }), ' ', tx('visitor.live.away')),
        lastSeen ? h('p', { class: 'muted' }, tx('visitor.last_seen'), ' ', timeEl(lastSeen)) : null);
      return;
    }
    const v = e.v;
    liveBox.dataset.state = 'here';
    liveRefs = { top: h('strong', { class: 'vp-top' }), tos: h('strong', { class: 'vp-tos' }) };
    liveBox.replaceChildren(
      h('h2', { id: 'vp-live-title', class: 'card-title' }, h('span', { class: 'lv-dot on', 'aria-hidden': 'true' }), ' ', tx('visitor.live.here')),
      h('p', { class: 'vp-live-page' },
        h('span', { class: 'vp-page-title' }, v.title || urlPath(v.current_url)),
        h('span', { class: 'vp-page-url', title: v.current_url || '' }, urlPath(v.current_url))),
      h('dl', { class: 'vp-meta' },
        item('visitors.col.time_on_page', liveRefs.top),
        item('visitors.col.time_on_site', liveRefs.tos),
        item('visitors.col.pages', String(Number(v.pages) || 0)),
        item('visitors.col.cart', fmtMoney(v.cart_total))));
    tickLive();
  }
  function tickLive() {
    const e = visitorStore.get(key);
    if (!e || !liveRefs) return;
    const now = Date.now();
    const top = Math.max(0, (now - e.pageStart) / 1000);
    liveRefs.top.textContent = fmtDuration(top);
    liveRefs.tos.textContent = fmtDuration(e.sinceMs === null ? top : Math.max(top, (now - e.sinceMs) / 1000));
  }
  drawLive.lastSeen = null;
  const unsubscribe = visitorStore.subscribe((keys) => {
    if (keys === null || keys.has(key)) drawLive();
  });
  const timer = setInterval(tickLive, 1000);
  signal.addEventListener('abort', () => { unsubscribe(); clearInterval(timer); }, { once: true });
  drawLive();

  function identity(vis) {
    const name = vis.name || vis.email || vis.external_id || '';
    if (name) {
      delete title.dataset.i18n;
      title.textContent = name;
    } else {
      i18n.text(title, 'visitor.anonymous');
    }
  }

  function show(res) {
    const vis = res?.visitor || {};
    const visits = Array.isArray(res?.visits) ? res.visits : [];
    identity(vis);
    drawLive.lastSeen = vis.last_seen;
    drawLive();
    const returning = !!vis.returning || Number(vis.visits) > 1;
    const facts = h('section', { class: 'card vp-facts', 'aria-labelledby': 'vp-facts-title' },
      h('h2', { id: 'vp-facts-title', class: 'card-title', t: 'visitor.about' }),
      h('dl', { class: 'vp-meta' },
        item('visitor.status', h('span', { class: returning ? 'badge lv-ret' : 'badge badge-on lv-new', t: returning ? 'visitors.returning' : 'visitors.new' })),
        item('visitor.email', vis.email || null),
        item('visitor.name', vis.name || null),
        item('visitor.external_id', vis.external_id || null),
        item('visitor.first_seen', timeEl(vis.first_seen)),
        item('visitor.last_seen', timeEl(vis.last_seen)),
        item('visitor.visits', fmtNumber(vis.visits)),
        item('visitor.pageviews', fmtNumber(vis.pageviews)),
        item('visitor.cart', fmtMoney(vis.cart_total)),
        item('visitor.consent', h('span', { t: vis.consent ? 'visitor.consent_yes' : 'visitor.consent_no' })),
        item('visitor.site', vis.site || site || null)));
    const merged = vis.merged_into
      ? h('p', { class: 'notice' }, tx('visitor.merged'), ' ',
        h('a', { href: profileHref(vis.site || site, vis.merged_into) }, String(vis.merged_into)))
      : null;
    const visitsHead = h('h2', { class: 'section-title', id: 'vp-visits' }, tx('visitor.visits_title', { n: visits.length }));
    const visitList = visits.length
      ? h('ol', { class: 'vp-visits', 'aria-labelledby': 'vp-visits' },
        visits.map((v, i) => h('li', null, visitBlock(v, i === 0))))
      : h('p', { class: 'muted', t: 'visitor.no_visits' });
    const crm = h('div', { class: 'vp-crm' },
      h('section', { class: 'card vp-soon', 'aria-labelledby': 'vp-contact-title' },
        h('h2', { id: 'vp-contact-title', class: 'card-title', t: 'visitor.contact_title' }),
        h('p', { class: 'muted', t: res?.contact ? 'visitor.contact_linked' : 'visitor.contact_soon' })),
      h('section', { class: 'card vp-soon', 'aria-labelledby': 'vp-notes-title' },
        h('h2', { id: 'vp-notes-title', class: 'card-title', t: 'visitor.notes_title' }),
        h('p', { class: 'muted', t: 'visitor.notes_soon' })));
    body.replaceChildren(...[merged].filter(Boolean), h('div', { class: 'vp-top-grid' }, facts, liveBox), visitsHead, visitList, crm);
  }

  async function load() {
    body.replaceChildren(h('p', { class: 'muted loading', t: 'common.loading' }));
    const q = site ? `?site=${encodeURIComponent(site)}` : '';
    try {
      show(await api.get(`/visitors/${encodeURIComponent(vid)}${q}`, { signal }));
    } catch (err) {
      if (err?.name === 'AbortError') return;
      const p = h('p', { class: 'form-error', role: 'alert' });
      setMessage(p, errorMessage(err, { not_found: 'visitor.not_found' }));
      body.replaceChildren(p, liveBox, h('button', { type: 'button', class: 'btn', t: 'common.retry', on: { click: load } }));
    }
  }
  load();

  return h('section', { class: 'page vp-page' },
    h('header', { class: 'page-head' }, back, title, sub),
    body);
}
