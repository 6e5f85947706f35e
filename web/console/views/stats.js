// Site statistics (#/stats): visitors now (from the live store, so it moves),
// today's visitors / visits / pageviews, pages per visit, top pages and
// referrers, and a chart of visits and pageviews over 24 hours or 7 days.
// Data from GET /api/v1/stats; loaded when the page opens, when the range or
// site changes, or on "Refresh" (the console never polls). The chart is uPlot
// (web/console/vendor/, MIT), loaded only when this page is first opened.
import { h } from '/console/dom.js';
import { i18n } from '/console/i18n.js';
import { errorMessage, pageHeader, setMessage } from '/console/ui.js';
import { fmtNumber, refHost, urlPath, visitorStore } from '/console/views/live.js';

const RANGES = { day: '24h', week: '7d' };
const prefs = { range: 'day', site: '' };

let uPlotLoad = null;
/** uPlot's module and stylesheet, once. */
function loadUPlot() {
  if (!uPlotLoad) {
    if (!document.querySelector('link[data-uplot]')) {
      document.head.append(h('link', { rel: 'stylesheet', href: '/console/vendor/uPlot.min.css', 'data-uplot': true }));
    }
    uPlotLoad = import('/console/vendor/uPlot.esm.js').then((m) => m.default).catch((e) => {
      uPlotLoad = null;
      throw e;
    });
  }
  return uPlotLoad;
}

const locale = () => (i18n.lang === 'de' ? 'de-DE' : 'en-GB');

function kpi(labelKey, value, cls = '') {
  const v = h('span', { class: 'st-kpi-value' }, value);
  return { el: h('div', { class: `card st-kpi ${cls}` }, h('span', { class: 'st-kpi-label', t: labelKey }), v), value: v };
}

// A ranked list as a small table with proportional bars.
function topTable(captionKey, colKey, numKey, rows, label, count) {
  if (!rows.length) return h('p', { class: 'muted', t: 'stats.none' });
  const max = Math.max(1, ...rows.map((r) => Number(count(r)) || 0));
  return h('table', { class: 'data st-top' },
    h('caption', { class: 'sr-only', t: captionKey }),
    h('thead', null, h('tr', null, h('th', { scope: 'col', t: colKey }), h('th', { scope: 'col', class: 'num', t: numKey }))),
    h('tbody', null, rows.map((r) => {
      const n = Number(count(r)) || 0;
      const bar = h('span', { class: 'st-bar', 'aria-hidden': 'true' });
      bar.style.width = `${Math.round((n / max) * 100)}%`;
      const td = h('td', { class: 'st-label' }, bar, label(r));
      i18n.attr(td, 'data-label', colKey);
      const num = h('td', { class: 'num' }, fmtNumber(n));
      i18n.attr(num, 'data-label', numKey);
      return h('tr', null, td, num);
    })));
}

export function renderStats({ api, signal }) {
  const page = h('section', { class: 'page st-page' });
  const status = h('div', { class: 'st-status' });
  const content = h('div', { class: 'st-content' });
  let last = null;   // the last answer, redrawn on a language change
  let chart = null;  // the uPlot instance
  let resize = null; // its ResizeObserver
  let loadSeq = 0;

  // Range toggle, site choice, refresh.
  const rangeBtns = Object.keys(RANGES).map((r) => {
    const b = h('button', { type: 'button', class: 'btn small st-range', 'data-range': r, t: `stats.range.${r}` });
    b.addEventListener('click', () => {
      if (prefs.range === r) return;
      prefs.range = r;
      showRange();
      load();
    });
    return b;
  });
  function showRange() {
    for (const b of rangeBtns) b.setAttribute('aria-pressed', String(b.dataset.range === prefs.range));
  }
  showRange();
  const siteSel = h('select', { name: 'site', class: 'compact', id: 'st-site' });
  const siteField = h('div', { class: 'lv-control', hidden: true }, h('label', { for: 'st-site', t: 'visitors.site' }), siteSel);
  siteSel.addEventListener('change', () => { prefs.site = siteSel.value; load(); });
  const refresh = h('button', { type: 'button', class: 'btn small ghost', t: 'stats.refresh', on: { click: () => load() } });
  const toolbar = h('div', { class: 'st-toolbar' },
    h('div', { class: 'st-ranges', role: 'group', tAttr: { 'aria-label': 'stats.range_label' } }, rangeBtns),
    siteField, refresh);

  function fillSites() {
    const sites = visitorStore.sites();
    sites.add('default');
    if (prefs.site) sites.add(prefs.site);
    const list = [...sites].sort();
    if ([...siteSel.options].map((o) => o.value).join('\n') !== list.join('\n')) {
      siteSel.replaceChildren(...list.map((s) => h('option', { value: s }, s)));
    }
    siteSel.value = prefs.site || 'default';
    siteField.hidden = list.length < 2;
  }
  fillSites();

  // "Visitors now" follows the live store between loads.
  const now = kpi('stats.now', '–', 'st-kpi-now');
  function drawNow() {
    if (visitorStore.ready) now.value.textContent = fmtNumber(visitorStore.countFor(prefs.site || 'default'));
    else if (last && typeof last.live === 'number') now.value.textContent = fmtNumber(last.live);
  }
  const unsubscribe = visitorStore.subscribe(() => { drawNow(); fillSites(); });

  function destroyChart() {
    resize?.disconnect();
    resize = null;
    chart?.destroy();
    chart = null;
  }

  async function drawChart(holder, series, range) {
    destroyChart();
    let uPlot;
    try {
      uPlot = await loadUPlot();
    } catch {
      holder.replaceChildren(h('p', { class: 'form-error', role: 'alert', t: 'stats.chart_failed' }));
      return;
    }
    if (signal.aborted || !holder.isConnected) return;
    const css = getComputedStyle(page);
    const color = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
    const c1 = color('--st-visits', '#1762a8');
    const c2 = color('--st-pageviews', '#c05621');
    const muted = color('--muted', '#5b6675');
    const line = color('--line', '#dde2e8');
    const tick = new Intl.DateTimeFormat(locale(), range === 'day'
      ? { hour: '2-digit', minute: '2-digit' }
      : { weekday: 'short', day: 'numeric', month: 'numeric' });
    const full = new Intl.DateTimeFormat(locale(), range === 'day'
      ? { weekday: 'short', hour: '2-digit', minute: '2-digit' }
      : { weekday: 'short', day: 'numeric', month: 'short' });
    const xs = series.map((p) => Math.floor((Date.parse(p.t) || 0) / 1000));
    const data = [xs, series.map((p) => Number(p.visits) || 0), series.map((p) => Number(p.pageviews) || 0)];
    const axis = { stroke: muted, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 }, font: '12px system-ui, sans-serif' };
    const width = () => Math.max(240, Math.floor(holder.getBoundingClientRect().width));
    const height = () => (width() < 500 ? 200 : 260);
    chart = new uPlot({
      width: width(),
      height: height(),
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(4, Math.ceil(max * 1.1))] } },
      series: [
        { label: i18n.t('stats.col.time'), value: (u, ts) => (ts === null ? '–' : full.format(new Date(ts * 1000))) },
        { label: i18n.t('stats.visits'), stroke: c1, width: 2, fill: `${c1}22`, points: { size: 5 },
          value: (u, v) => (v === null ? '–' : fmtNumber(v)) },
        { label: i18n.t('stats.pageviews'), stroke: c2, width: 2, dash: [6, 3], points: { size: 5 },
          value: (u, v) => (v === null ? '–' : fmtNumber(v)) },
      ],
      axes: [
        { ...axis, values: (u, splits) => splits.map((ts) => tick.format(new Date(ts * 1000))) },
        { ...axis, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6],
          values: (u, splits) => splits.map((v) => fmtNumber(v)), size: 50 },
      ],
      legend: { live: true },
      padding: [12, 40, 0, 0], // room for the last time label
      cursor: { points: { size: 7 } },
    }, data, holder);
    resize = new ResizeObserver(() => {
      if (chart && holder.isConnected) chart.setSize({ width: width(), height: height() });
    });
    resize.observe(holder);
  }

  function show(res, range) {
    last = res;
    const today = res?.today || {};
    const series = Array.isArray(res?.series) ? res.series : [];
    const pages = Array.isArray(res?.top_pages) ? res.top_pages : [];
    const refs = Array.isArray(res?.top_referrers) ? res.top_referrers : [];
    drawNow();
    const cards = h('div', { class: 'st-kpis' },
      now.el,
      kpi('stats.today_visitors', fmtNumber(today.visitors)).el,
      kpi('stats.today_visits', fmtNumber(today.visits)).el,
      kpi('stats.today_pageviews', fmtNumber(today.pageviews)).el,
      kpi('stats.pages_per_visit', fmtNumber(res?.pages_per_visit, 1)).el);

    const holder = h('div', { class: 'st-chart' });
    const chartLabel = range === 'day' ? 'stats.chart_day' : 'stats.chart_week';
    const rowFmt = new Intl.DateTimeFormat(locale(), range === 'day'
      ? { weekday: 'short', hour: '2-digit', minute: '2-digit' }
      : { weekday: 'short', day: 'numeric', month: 'short' });
    const dataTableEl = h('details', { class: 'st-data' },
      h('summary', { t: 'stats.show_table' }),
      h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
        h('caption', { class: 'sr-only', t: chartLabel }),
        h('thead', null, h('tr', null,
          h('th', { scope: 'col', t: 'stats.col.time' }),
          h('th', { scope: 'col', class: 'num', t: 'stats.visits' }),
          h('th', { scope: 'col', class: 'num', t: 'stats.pageviews' }))),
        h('tbody', null, series.map((p) => h('tr', null,
          h('td', null, Number.isNaN(Date.parse(p.t)) ? String(p.t ?? '') : rowFmt.format(new Date(p.t))),
          h('td', { class: 'num' }, fmtNumber(p.visits)),
          h('td', { class: 'num' }, fmtNumber(p.pageviews))))))));
    const chartCard = h('section', { class: 'card st-chart-card', 'aria-labelledby': 'st-chart-title' },
      h('h2', { id: 'st-chart-title', class: 'card-title', t: chartLabel }),
      h('div', { class: 'st-chart-wrap', role: 'img', tAttr: { 'aria-label': chartLabel } }, holder),
      dataTableEl);

    const topPages = h('section', { class: 'card st-list', 'aria-labelledby': 'st-pages-title' },
      h('h2', { id: 'st-pages-title', class: 'card-title', t: 'stats.top_pages' }),
      topTable('stats.top_pages', 'stats.col.page', 'stats.pageviews', pages,
        (r) => h('span', { class: 'st-text', title: r.url || '' }, urlPath(r.url)), (r) => r.pageviews));
    const topRefs = h('section', { class: 'card st-list', 'aria-labelledby': 'st-refs-title' },
      h('h2', { id: 'st-refs-title', class: 'card-title', t: 'stats.top_referrers' }),
      topTable('stats.top_referrers', 'stats.col.referrer', 'stats.visits', refs,
        (r) => (r.referrer
          ? h('span', { class: 'st-text', title: r.referrer }, refHost(r.referrer))
          : h('span', { class: 'muted st-text', t: 'visitors.direct' })), (r) => r.visits));

    content.replaceChildren(cards, chartCard, h('div', { class: 'st-lists' }, topPages, topRefs));
    drawChart(holder, series, range);
  }

  async function load() {
    const seq = ++loadSeq;
    const range = prefs.range;
    refresh.disabled = true;
    status.replaceChildren(h('p', { class: 'muted loading', t: 'common.loading' }));
    const q = new URLSearchParams({ site: prefs.site || 'default', range: RANGES[range] });
    try {
      const res = await api.get(`/stats?${q}`, { signal });
      if (seq !== loadSeq) return;
      status.replaceChildren();
      show(res, range);
    } catch (err) {
      if (err?.name === 'AbortError' || seq !== loadSeq) return;
      const p = h('p', { class: 'form-error', role: 'alert' });
      setMessage(p, errorMessage(err));
      status.replaceChildren(p, h('button', { type: 'button', class: 'btn', t: 'common.retry', on: { click: () => load() } }));
      destroyChart();
      content.replaceChildren();
    } finally {
      if (seq === loadSeq) refresh.disabled = false;
    }
  }

  const offLang = i18n.onChange(() => { if (last) show(last, prefs.range); });
  signal.addEventListener('abort', () => { unsubscribe(); offLang(); destroyChart(); }, { once: true });
  load();

  page.append(pageHeader('stats.title', 'stats.intro'), toolbar, status, content);
  return page;
}
