// Knowledge base (#/kb): the help centre's articles with filters and a search
// box, the editor with a preview rendered by the server (exactly what
// visitors get), synonyms (#/kb/synonyms) and the content gaps (#/kb/gaps):
// what visitors searched for without finding it, articles voted unhelpful,
// and questions that still went to a chat. Administrators write; agents read.
//
// HTML from the server is never assigned as markup. The search's *_html
// fields (escaped text with <mark>) and the preview are parsed into an inert
// document and copied node by node, keeping only known-safe elements and
// attributes (safeFragment below); everything else becomes text or goes.
import { h, tx } from '/console/dom.js';
import { i18n, timeEl } from '/console/i18n.js';
import {
  announce, banner, clearFormErrors, dataTable, errorMessage, field, loadState, pageHeader,
  setFieldError, setMessage, showFormError, validate,
} from '/console/ui.js';

const PAGE = 50;
const LANGS = ['de', 'en'];
const PREVIEW_MS = 300;
const SEARCH_MS = 250;

// ---- server HTML, copied safely ------------------------------------------------

const PREVIEW_TAGS = new Set(['p', 'br', 'hr', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'ul', 'ol', 'li',
  'blockquote', 'pre', 'code', 'em', 'strong', 'del', 'a', 'img']);
const MARK_TAGS = new Set(['mark']);
const DROP_TAGS = new Set(['script', 'style', 'template', 'iframe', 'object', 'embed', 'noscript', 'svg', 'math', 'title', 'head']);

// Links keep http(s), mailto and relative addresses; images http(s) and relative.
function safeUrl(value, forImage) {
  const s = String(value ?? '').trim();
  if (!s) return null;
  if (/^https?:/i.test(s)) return s;
  if (!forImage && /^mailto:/i.test(s)) return s;
  if (/^[a-z][a-z0-9+.-]*:/i.test(s) || s.startsWith('//')) return null;
  return s;
}

function copySafe(from, allow, to) {
  for (const n of from.childNodes) {
    if (n.nodeType === Node.TEXT_NODE) { to.append(document.createTextNode(n.data)); continue; }
    if (n.nodeType !== Node.ELEMENT_NODE) continue; // comments ("raw HTML omitted") and the rest
    const tag = n.localName;
    if (DROP_TAGS.has(tag)) continue;
    if (!allow.has(tag)) { copySafe(n, allow, to); continue; }
    const el = document.createElement(tag);
    if (tag === 'a') {
      const href = safeUrl(n.getAttribute('href'), false);
      if (href) {
        el.setAttribute('href', href);
        el.setAttribute('rel', 'noopener noreferrer nofollow');
        el.setAttribute('target', '_blank');
      }
      if (n.hasAttribute('title')) el.setAttribute('title', n.getAttribute('title'));
    } else if (tag === 'img') {
      const src = safeUrl(n.getAttribute('src'), true);
      if (!src) continue;
      el.setAttribute('src', src);
      el.setAttribute('alt', n.getAttribute('alt') || '');
      if (n.hasAttribute('title')) el.setAttribute('title', n.getAttribute('title'));
    } else if (tag === 'ol' && /^\d{1,9}$/.test(n.getAttribute('start') || '')) {
      el.setAttribute('start', n.getAttribute('start'));
    } else if (tag === 'code' && /^language-[\w-]{1,40}$/.test(n.getAttribute('class') || '')) {
      el.className = n.getAttribute('class');
    }
    copySafe(n, allow, el);
    to.append(el);
  }
}

function parse(html) {
  return new DOMParser().parseFromString(`<!doctype html><body>${String(html ?? '')}`, 'text/html').body;
}

/** A fragment of the server's HTML with only the given elements kept. */
export function safeFragment(html, allow = MARK_TAGS) {
  const frag = document.createDocumentFragment();
  copySafe(parse(html), allow, frag);
  return frag;
}
/** Search fields (*_html): escaped text with <mark> around the matches. */
export const marked = (html) => safeFragment(html, MARK_TAGS);
/** The text of a *_html field, without its marks. */
export const plainText = (html) => parse(html).textContent || '';

/** The help-centre page of an article, as an absolute address. */
export function helpUrl(site, lang, slug) {
  return `${location.origin}/help/${encodeURIComponent(site || 'default')}/${encodeURIComponent(lang)}/${encodeURIComponent(slug)}`;
}

// ---- the page ------------------------------------------------------------------

const SECTIONS = [
  ['', 'kb.tab_articles'],
  ['/synonyms', 'kb.tab_synonyms'],
  ['/gaps', 'kb.tab_gaps'],
];

export function renderKb(ctx) {
  const sub = ctx.params.path.slice('/kb'.length);
  const isAdmin = ctx.me.role === 'admin';
  const body = sub === '/new' || sub.startsWith('/a/') ? editorView(ctx, sub.startsWith('/a/') ? decodeURIComponent(sub.slice(3)) : null, isAdmin)
    : sub === '/synonyms' ? synonymsView(ctx, isAdmin)
      : sub === '/gaps' ? gapsView(ctx, isAdmin)
        : articlesView(ctx, isAdmin);
  const current = sub === '/synonyms' || sub === '/gaps' ? sub : '';
  const tabs = h('nav', { class: 'kb-tabs', tAttr: { 'aria-label': 'kb.sections' } },
    h('ul', null, SECTIONS.map(([p, key]) => h('li', null,
      h('a', { href: `#/kb${p}`, t: key, 'aria-current': p === current ? 'page' : null })))));
  return h('section', { class: 'page page-wide kb-page' }, pageHeader('kb.title', 'kb.intro'), tabs, body);
}

// Sites (for filters and the editor); one site means no choice to show.
let sitesCache = null;
async function loadSites(api, signal) {
  if (sitesCache) return sitesCache;
  try {
    const res = await api.get('/sites', { signal });
    const list = Array.isArray(res?.sites) ? res.sites : [];
    sitesCache = list.length ? list : [{ key: 'default', name: 'default' }];
  } catch (e) {
    if (e?.name === 'AbortError') throw e;
    return [{ key: 'default', name: 'default' }];
  }
  return sitesCache;
}

function siteOptions(sel, sites, { all } = {}) {
  const keep = sel.value;
  sel.replaceChildren(all ? h('option', { value: '', t: 'kb.all_sites' }) : null,
    sites.map((s) => h('option', { value: String(s.key) }, String(s.name || s.key))));
  if (keep && [...sel.options].some((o) => o.value === keep)) sel.value = keep;
  sel.closest('.field')?.toggleAttribute('hidden', sites.length < 2);
}

// Existing categories, for the filter and the editor's suggestions.
async function loadCategories(api, signal) {
  const res = await api.get('/faq?limit=500', { signal });
  const set = new Set();
  for (const a of Array.isArray(res?.articles) ? res.articles : []) if (a.category) set.add(String(a.category));
  return [...set].sort((a, b) => a.localeCompare(b));
}

function statusBadge(status) {
  const pub = status === 'published';
  return h('span', { class: pub ? 'badge badge-on kb-status' : 'badge kb-status kb-draft', t: pub ? 'kb.status.published' : 'kb.status.draft' });
}

function langSelect(name, { all } = {}) {
  return h('select', { name },
    all ? h('option', { value: '', t: 'kb.all_langs' }) : null,
    LANGS.map((l) => h('option', { value: l, t: `lang.${l}` })));
}

// ---- articles: list, filters, search ---------------------------------------------

function articlesView({ api, signal, params }, isAdmin) {
  const q0 = params.query;
  const site = h('select', { name: 'site', class: 'kb-filter-site' });
  const lang = langSelect('lang', { all: true });
  const category = h('select', { name: 'category' }, h('option', { value: '', t: 'kb.all_categories' }));
  const status = h('select', { name: 'status' },
    h('option', { value: '', t: 'kb.all_status' }),
    h('option', { value: 'published', t: 'kb.status.published' }),
    h('option', { value: 'draft', t: 'kb.status.draft' }));
  const search = h('input', { type: 'search', name: 'q', autocomplete: 'off', maxlength: 200, class: 'kb-search' });
  i18n.attr(search, 'placeholder', 'kb.search_hint');
  lang.value = q0.get('lang') || '';
  status.value = q0.get('status') || '';
  search.value = q0.get('q') || '';
  const wantCategory = q0.get('category') || '';
  const wantSite = q0.get('site') || '';

  const filters = h('form', { class: 'kb-filters', role: 'search', novalidate: true },
    field('kb.search', search),
    field('kb.site', site), field('kb.lang', lang), field('kb.category', category), field('kb.status', status));
  site.closest('.field').hidden = true;
  const newBtn = isAdmin ? h('a', { class: 'btn primary kb-new', href: '#/kb/new', t: 'kb.new' }) : null;
  const readOnly = isAdmin ? null : h('p', { class: 'notice kb-readonly', t: 'kb.read_only' });
  const listArea = h('div', { class: 'list-area', 'aria-live': 'polite' });
  const count = h('p', { class: 'muted kb-count', role: 'status' });

  let cursor = null;
  let table = null;
  let seq = 0;

  function remember() {
    const p = new URLSearchParams();
    for (const [k, v] of [['q', search.value.trim()], ['site', site.value], ['lang', lang.value], ['category', category.value], ['status', status.value]]) if (v) p.set(k, v);
    const qs = p.toString();
    history.replaceState(null, '', `#/kb${qs ? `?${qs}` : ''}`);
  }

  const columns = [
    { label: 'kb.col.question', cell: (a) => h('a', { href: `#/kb/a/${encodeURIComponent(a.id)}`, class: 'kb-q' }, String(a.question ?? '')) },
    { label: 'kb.col.category', cell: (a) => String(a.category ?? '') },
    { label: 'kb.col.lang', cell: (a) => h('span', { class: 'badge', t: `lang.${a.lang === 'de' ? 'de' : 'en'}` }) },
    { label: 'kb.col.status', cell: (a) => statusBadge(a.status) },
    { label: 'kb.col.helpful', class: 'num', cell: (a) => `${Number(a.helpful_yes) || 0} / ${Number(a.helpful_no) || 0}` },
    { label: 'kb.col.views', class: 'num', cell: (a) => String(Number(a.views) || 0) },
    { label: 'kb.col.updated', cell: (a) => timeEl(a.updated) },
  ];
  const hitColumns = [
    {
      label: 'kb.col.question',
      cell: (a) => h('div', { class: 'kb-hit' },
        h('a', { href: `#/kb/a/${encodeURIComponent(a.id)}`, class: 'kb-q' }, marked(a.question_html)),
        a.snippet_html ? h('p', { class: 'kb-snippet' }, marked(a.snippet_html)) : null),
    },
    { label: 'kb.col.category', cell: (a) => String(a.category ?? '') },
    { label: 'kb.col.lang', cell: (a) => h('span', { class: 'badge', t: `lang.${a.lang === 'de' ? 'de' : 'en'}` }) },
    { label: 'kb.col.status', cell: (a) => statusBadge(a.status) },
  ];

  // The list asks the server for published ones only; drafts, and any filter
  // of the search results, are picked here.
  const keep = (a) => (!status.value || a.status === status.value) && (!category.value || a.category === category.value);

  async function loadList(more) {
    const my = ++seq;
    const p = new URLSearchParams({ limit: String(PAGE) });
    if (site.value) p.set('site', site.value);
    if (lang.value) p.set('lang', lang.value);
    if (category.value) p.set('category', category.value);
    if (status.value === 'published') p.set('status', 'published');
    if (more && cursor) p.set('cursor', cursor);
    const res = await api.get(`/faq?${p}`, { signal });
    if (my !== seq) return;
    const list = (Array.isArray(res?.articles) ? res.articles : []).filter(keep);
    cursor = res?.next_cursor || null;
    if (!more || !table) {
      table = dataTable(columns, list, { captionKey: 'kb.tab_articles', rowAttrs: (a) => ({ 'data-id': String(a.id) }) });
      const moreBtn = h('button', { type: 'button', class: 'btn kb-more', t: 'kb.more' });
      moreBtn.addEventListener('click', async () => {
        moreBtn.disabled = true;
        try { await loadList(true); } catch (e) { setMessage(count, errorMessage(e)); } finally { moreBtn.disabled = false; }
      });
      listArea.replaceChildren(table.el, h('div', { class: 'form-actions' }, moreBtn));
      table.el.hidden = list.length === 0;
      if (!list.length) listArea.prepend(h('p', { class: 'muted kb-none', t: 'kb.none' }));
    } else {
      for (const a of list) table.addRow(a);
    }
    listArea.querySelector('.kb-more').hidden = !cursor;
    const n = table.tbody.children.length;
    i18n.text(count, 'kb.count', { n });
  }

  async function runSearch(q) {
    const my = ++seq;
    const langs = lang.value ? [lang.value] : LANGS;
    const results = await Promise.all(langs.map((l) => {
      const p = new URLSearchParams({ q, lang: l, limit: '50', products: '0', drafts: '1' });
      if (site.value) p.set('site', site.value);
      return api.get(`/faq/search?${p}`, { signal });
    }));
    if (my !== seq) return;
    const hits = results.flatMap((r) => (Array.isArray(r?.articles) ? r.articles : []))
      .filter(keep).sort((a, b) => Number(b.score) - Number(a.score));
    cursor = null;
    table = dataTable(hitColumns, hits, { captionKey: 'kb.results', rowAttrs: (a) => ({ 'data-id': String(a.id) }) });
    listArea.replaceChildren(hits.length ? table.el : h('p', { class: 'muted kb-none', t: 'kb.no_results' }));
    i18n.text(count, 'kb.results_n', { n: hits.length });
  }

  function reload() {
    remember();
    const q = search.value.trim();
    loadState(listArea, () => (q ? runSearch(q) : loadList(false)));
  }

  let timer = 0;
  search.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(reload, SEARCH_MS); });
  filters.addEventListener('submit', (ev) => { ev.preventDefault(); clearTimeout(timer); reload(); });
  for (const sel of [site, lang, category, status]) sel.addEventListener('change', reload);
  signal.addEventListener('abort', () => clearTimeout(timer), { once: true });

  Promise.all([loadSites(api, signal), loadCategories(api, signal).catch(() => [])]).then(([sites, cats]) => {
    if (signal.aborted) return;
    siteOptions(site, sites, { all: true });
    if (wantSite) site.value = wantSite;
    category.append(...cats.map((c) => h('option', { value: c }, c)));
    if (wantCategory && !cats.includes(wantCategory)) category.append(h('option', { value: wantCategory }, wantCategory));
    category.value = wantCategory;
    reload();
  }).catch(() => {});

  return h('div', { class: 'kb-articles' },
    readOnly,
    h('div', { class: 'kb-toolbar' }, filters, newBtn),
    count, listArea);
}

// ---- the editor ---------------------------------------------------------------------

function editorView({ api, signal, params }, id, isAdmin) {
  const q0 = params.query;
  const question = h('input', { name: 'question', required: true, maxlength: 300, autocomplete: 'off' });
  const answer = h('textarea', { name: 'answer', required: true, rows: 14, class: 'kb-answer', spellcheck: 'true' });
  const category = h('input', { name: 'category', maxlength: 80, autocomplete: 'off' });
  category.setAttribute('list', 'kb-categories'); // a read-only property: set as the attribute
  const cats = h('datalist', { id: 'kb-categories' });
  const tags = h('input', { name: 'tags', autocomplete: 'off' });
  const lang = langSelect('lang');
  const site = h('select', { name: 'site' });
  const status = h('select', { name: 'status' },
    h('option', { value: 'draft', t: 'kb.status.draft' }),
    h('option', { value: 'published', t: 'kb.status.published' }));
  const slug = h('input', { name: 'slug', maxlength: 120, autocomplete: 'off', spellcheck: 'false', pattern: '[a-z0-9\\-]+' });
  const preview = h('div', { class: 'kb-preview-body', id: 'kb-preview' });
  const previewState = h('p', { class: 'hint kb-preview-state', role: 'status' });
  const err = banner();
  const saved = h('p', { class: 'kb-saved', role: 'status', hidden: true });
  const title = h('h2', { class: 'card-title', id: 'kb-editor-title', t: id ? (isAdmin ? 'kb.edit_title' : 'kb.view_title') : 'kb.new_title' });
  const save = h('button', { type: 'submit', class: 'btn primary kb-save', t: id ? 'kb.save' : 'kb.create' });
  const back = h('a', { class: 'btn', href: '#/kb', t: 'kb.back' });
  const delWrap = h('span', { class: 'confirm kb-delete' });
  const helpLink = h('p', { class: 'kb-help-link', hidden: true });

  lang.value = LANGS.includes(q0.get('lang')) ? q0.get('lang') : i18n.lang === 'de' ? 'de' : 'en';
  question.value = q0.get('question') || '';

  const answerField = field('kb.answer', answer, 'kb.answer_hint');
  answerField.classList.add('kb-answer-field');
  const form = h('form', { class: 'card kb-editor', novalidate: true, 'aria-labelledby': 'kb-editor-title' },
    title,
    isAdmin ? null : h('p', { class: 'notice kb-readonly', t: 'kb.read_only' }),
    h('div', { class: 'kb-editor-grid' },
      h('div', { class: 'kb-editor-fields' },
        field('kb.question', question),
        answerField,
        h('div', { class: 'form-grid kb-meta' },
          field('kb.category', category, 'kb.category_hint'),
          field('kb.tags', tags, 'kb.tags_hint'),
          field('kb.lang', lang),
          field('kb.site', site),
          field('kb.status', status),
          field('kb.slug', slug, 'kb.slug_hint')),
        cats),
      h('section', { class: 'kb-preview', 'aria-labelledby': 'kb-preview-title' },
        h('h3', { class: 'kb-preview-title', id: 'kb-preview-title', t: 'kb.preview' }),
        h('p', { class: 'hint', t: 'kb.preview_hint' }),
        previewState, preview)),
    helpLink, err,
    h('div', { class: 'form-actions' }, isAdmin ? save : null, back, saved, isAdmin && id ? delWrap : null));
  site.closest('.field').hidden = true;

  if (!isAdmin) {
    for (const c of [question, answer, category, tags, lang, site, status, slug]) c.disabled = true;
  }

  // The preview: the server's renderer, debounced while typing.
  let pTimer = 0;
  let pSeq = 0;
  async function showPreview() {
    const my = ++pSeq;
    const md = answer.value;
    if (!md.trim()) { preview.replaceChildren(h('p', { class: 'muted', t: 'kb.preview_empty' })); setMessage(previewState, null); return; }
    try {
      const res = await api.post('/faq/preview', { answer: md }, { signal });
      if (my !== pSeq) return;
      preview.replaceChildren(safeFragment(res?.html, PREVIEW_TAGS));
      setMessage(previewState, null);
    } catch (e) {
      if (e?.name === 'AbortError' || my !== pSeq) return;
      setMessage(previewState, errorMessage(e));
    }
  }
  answer.addEventListener('input', () => { clearTimeout(pTimer); pTimer = setTimeout(showPreview, PREVIEW_MS); });
  signal.addEventListener('abort', () => clearTimeout(pTimer), { once: true });

  let article = null;
  function fill(a) {
    article = a;
    question.value = a.question ?? '';
    answer.value = a.answer ?? '';
    category.value = a.category ?? '';
    tags.value = Array.isArray(a.tags) ? a.tags.join(', ') : '';
    lang.value = a.lang === 'de' ? 'de' : 'en';
    if (a.site) {
      if (![...site.options].some((o) => o.value === a.site)) site.append(h('option', { value: String(a.site) }, String(a.site)));
      site.value = a.site;
    }
    status.value = a.status === 'published' ? 'published' : 'draft';
    slug.value = a.slug ?? '';
    if (a.answer_html !== undefined) preview.replaceChildren(safeFragment(a.answer_html, PREVIEW_TAGS));
    else showPreview();
    showHelpLink();
  }
  function showHelpLink() {
    const pub = article && article.status === 'published';
    helpLink.hidden = !pub;
    if (pub) {
      const url = helpUrl(article.site, article.lang, article.slug);
      helpLink.replaceChildren(tx('kb.help_link'), ' ', h('a', { href: url, target: '_blank', rel: 'noopener' }, url));
    }
  }

  // Delete, asked once more.
  function showDelete() {
    const del = h('button', { type: 'button', class: 'btn ghost', t: 'kb.delete' });
    del.addEventListener('click', () => {
      const sure = h('button', { type: 'button', class: 'btn danger', t: 'kb.delete_confirm' });
      const cancel = h('button', { type: 'button', class: 'btn ghost', t: 'common.cancel' });
      cancel.addEventListener('click', () => { showDelete(); delWrap.querySelector('button')?.focus(); });
      sure.addEventListener('click', async () => {
        sure.disabled = cancel.disabled = true;
        try {
          await api.del(`/faq/${encodeURIComponent(id)}`);
          announce('kb.deleted', { question: article?.question ?? '' });
          location.hash = '#/kb';
        } catch (e) {
          setMessage(err, errorMessage(e));
          showDelete();
        }
      });
      delWrap.replaceChildren(sure, cancel);
      sure.focus();
    });
    delWrap.replaceChildren(del);
  }
  if (isAdmin && id) showDelete();

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!isAdmin) return;
    clearFormErrors(form, err);
    saved.hidden = true;
    if (!validate(form)) return;
    const data = {
      question: question.value.trim(),
      answer: answer.value,
      category: category.value.trim(),
      tags: tags.value.split(',').map((t) => t.trim()).filter(Boolean),
      lang: lang.value,
      status: status.value,
    };
    if (site.value) data.site = site.value;
    if (slug.value.trim()) data.slug = slug.value.trim();
    save.disabled = true;
    try {
      if (id) {
        const res = await api.patch(`/faq/${encodeURIComponent(id)}`, data);
        if (res?.article) fill(res.article);
        setMessage(saved, { key: 'kb.saved' });
        announce('kb.saved');
      } else {
        const res = await api.post('/faq', data);
        announce('kb.created_n', { question: data.question });
        location.hash = `#/kb/a/${encodeURIComponent(res.article.id)}`;
      }
    } catch (e) {
      // tags[2] → the tags field.
      if (e?.field) e.field = String(e.field).replace(/\[.*$/, '');
      showFormError(form, err, e, { conflict: 'kb.slug_taken' });
    } finally {
      save.disabled = false;
    }
  });

  const area = h('div', { class: 'kb-editor-area' });
  loadState(area, async () => {
    const [sites, categories, res] = await Promise.all([
      loadSites(api, signal), loadCategories(api, signal).catch(() => []),
      id ? api.get(`/faq/${encodeURIComponent(id)}`, { signal }) : null,
    ]);
    siteOptions(site, sites);
    if (!id && q0.get('site')) site.value = q0.get('site');
    cats.replaceChildren(...categories.map((c) => h('option', { value: c })));
    if (res?.article) fill(res.article);
    else showPreview();
    area.replaceChildren(form);
    (isAdmin ? question : back).focus();
  });
  return area;
}

// ---- synonyms ---------------------------------------------------------------------------

function synonymsView({ api, signal, params }, isAdmin) {
  const siteKey = params.query.get('site') || '';
  const listArea = h('div', { class: 'list-area' });
  const rowError = banner();
  const lang = langSelect('lang');
  lang.value = i18n.lang === 'de' ? 'de' : 'en';
  const terms = h('input', { name: 'terms', required: true, autocomplete: 'off' });
  const site = h('select', { name: 'site' });
  const submit = h('button', { type: 'submit', class: 'btn primary', t: 'kb.syn_add' });
  const err = banner();
  const form = h('form', { class: 'card form-grid kb-syn-form', novalidate: true, 'aria-labelledby': 'kb-syn-title' },
    h('h2', { class: 'card-title', id: 'kb-syn-title', t: 'kb.syn_add_title' }),
    field('kb.syn_terms', terms, 'kb.syn_terms_hint'),
    field('kb.lang', lang),
    field('kb.site', site),
    err,
    h('div', { class: 'form-actions' }, submit));
  site.closest('.field').hidden = true;

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFormErrors(form, err);
    if (!validate(form)) return;
    const words = terms.value.split(',').map((t) => t.trim()).filter(Boolean);
    if (words.length < 2 || words.length > 12) { setFieldError(terms, { key: 'kb.syn_count' }); terms.focus(); return; }
    if (words.some((w) => w.length > 40)) { setFieldError(terms, { key: 'kb.syn_long' }); terms.focus(); return; }
    submit.disabled = true;
    try {
      const body = { lang: lang.value, terms: words };
      if (site.value) body.site = site.value;
      await api.post('/faq/synonyms', body);
      announce('kb.syn_added', { terms: words.join(', ') });
      terms.value = '';
      loadState(listArea, load);
      terms.focus();
    } catch (e) {
      if (e?.field) e.field = String(e.field).replace(/\[.*$/, '');
      showFormError(form, err, e);
    } finally {
      submit.disabled = false;
    }
  });

  function actions(s) {
    const wrap = h('span', { class: 'confirm' });
    const del = h('button', { type: 'button', class: 'btn small ghost', t: 'kb.syn_delete' });
    i18n.attr(del, 'aria-label', 'kb.syn_delete_named', { terms: (s.terms || []).join(', ') });
    const ask = () => {
      const sure = h('button', { type: 'button', class: 'btn small danger', t: 'kb.delete_confirm' });
      const cancel = h('button', { type: 'button', class: 'btn small ghost', t: 'common.cancel' });
      cancel.addEventListener('click', () => { wrap.replaceChildren(del); del.focus(); });
      sure.addEventListener('click', async () => {
        sure.disabled = cancel.disabled = true;
        setMessage(rowError, null);
        try {
          await api.del(`/faq/synonyms/${encodeURIComponent(s.id)}`);
          wrap.closest('tr')?.remove();
          announce('kb.syn_deleted', { terms: (s.terms || []).join(', ') });
        } catch (e) {
          setMessage(rowError, errorMessage(e));
          wrap.replaceChildren(del);
        }
      });
      wrap.replaceChildren(sure, cancel);
      sure.focus();
    };
    del.addEventListener('click', ask);
    wrap.append(del);
    return wrap;
  }

  const columns = [
    { label: 'kb.syn_terms', cell: (s) => h('span', { class: 'kb-syn-terms' }, (Array.isArray(s.terms) ? s.terms : []).map(String).join(' · ')) },
    { label: 'kb.col.lang', cell: (s) => h('span', { class: 'badge', t: `lang.${s.lang === 'de' ? 'de' : 'en'}` }) },
  ];
  if (isAdmin) columns.push({ label: 'kb.col.actions', cell: actions });

  async function load() {
    const p = new URLSearchParams();
    if (site.value) p.set('site', site.value);
    const res = await api.get(`/faq/synonyms${p.toString() ? `?${p}` : ''}`, { signal });
    const list = Array.isArray(res?.synonyms) ? res.synonyms : [];
    if (!list.length) { listArea.replaceChildren(rowError, h('p', { class: 'muted', t: 'kb.syn_none' })); return; }
    listArea.replaceChildren(rowError, dataTable(columns, list, { captionKey: 'kb.tab_synonyms', rowAttrs: (s) => ({ 'data-id': String(s.id) }) }).el);
  }
  site.addEventListener('change', () => loadState(listArea, load));
  loadSites(api, signal).then((sites) => {
    siteOptions(site, sites);
    if (siteKey) site.value = siteKey;
    loadState(listArea, load);
  }).catch(() => {});

  return h('div', { class: 'kb-synonyms' },
    h('p', { class: 'intro muted', t: 'kb.syn_intro' }),
    isAdmin ? form : h('p', { class: 'notice kb-readonly', t: 'kb.read_only' }),
    h('h2', { class: 'section-title', t: 'kb.syn_list' }), listArea);
}

// ---- content gaps -------------------------------------------------------------------------

function gapsView({ api, signal, params }, isAdmin) {
  const site = h('select', { name: 'site' });
  const siteField = field('kb.site', site);
  siteField.hidden = true;
  const area = h('div', { class: 'kb-gaps-area' });

  const write = (query) => {
    if (!isAdmin) return null;
    const b = h('button', { type: 'button', class: 'btn small primary kb-write', t: 'kb.write' });
    i18n.attr(b, 'aria-label', 'kb.write_named', { query });
    b.addEventListener('click', () => {
      const p = new URLSearchParams({ question: query });
      if (site.value) p.set('site', site.value);
      location.hash = `#/kb/new?${p}`;
    });
    return b;
  };

  function section(titleKey, hintKey, columns, rows, cls) {
    return h('section', { class: `kb-gap ${cls}`, 'aria-labelledby': `${cls}-title` },
      h('h2', { class: 'section-title', id: `${cls}-title`, t: titleKey }),
      h('p', { class: 'hint', t: hintKey }),
      rows.length ? dataTable(columns, rows, { captionKey: titleKey }).el : h('p', { class: 'muted', t: 'kb.gaps_none' }));
  }

  async function load() {
    const p = new URLSearchParams();
    if (site.value) p.set('site', site.value);
    const res = await api.get(`/faq/gaps${p.toString() ? `?${p}` : ''}`, { signal });
    const searches = Array.isArray(res?.searches) ? res.searches : [];
    const unhelpful = Array.isArray(res?.unhelpful) ? res.unhelpful : [];
    const escalated = Array.isArray(res?.escalated) ? res.escalated : [];
    const act = isAdmin ? [{ label: 'kb.col.actions', cell: (g) => write(String(g.query ?? '')) }] : [];
    area.replaceChildren(
      section('kb.gaps_searches', 'kb.gaps_searches_hint', [
        { label: 'kb.col.query', cell: (g) => h('span', { class: 'kb-gap-query' }, String(g.query ?? '')) },
        { label: 'kb.col.without', class: 'num', cell: (g) => String(Number(g.without_results) || 0) },
        { label: 'kb.col.searches', class: 'num', cell: (g) => String(Number(g.searches) || 0) },
        { label: 'kb.col.last', cell: (g) => timeEl(g.last) },
        ...act,
      ], searches, 'kb-gap-searches'),
      section('kb.gaps_unhelpful', 'kb.gaps_unhelpful_hint', [
        { label: 'kb.col.question', cell: (g) => h('a', { href: `#/kb/a/${encodeURIComponent(g.id)}` }, String(g.question ?? '')) },
        { label: 'kb.col.unhelpful', class: 'num', cell: (g) => String(Number(g.helpful_no) || 0) },
        { label: 'kb.col.helpful_yes', class: 'num', cell: (g) => String(Number(g.helpful_yes) || 0) },
        ...(isAdmin ? [{ label: 'kb.col.actions', cell: (g) => h('a', { class: 'btn small', href: `#/kb/a/${encodeURIComponent(g.id)}`, t: 'kb.improve' }) }] : []),
      ], unhelpful, 'kb-gap-unhelpful'),
      section('kb.gaps_escalated', 'kb.gaps_escalated_hint', [
        { label: 'kb.col.query', cell: (g) => h('span', { class: 'kb-gap-query' }, String(g.query ?? '')) },
        { label: 'kb.col.chats', class: 'num', cell: (g) => String(Number(g.chats) || 0) },
        { label: 'kb.col.last', cell: (g) => timeEl(g.last) },
        ...act,
      ], escalated, 'kb-gap-escalated'));
  }

  site.addEventListener('change', () => loadState(area, load));
  loadSites(api, signal).then((sites) => {
    siteOptions(site, sites);
    if (params.query.get('site')) site.value = params.query.get('site');
    loadState(area, load);
  }).catch(() => {});
  return h('div', { class: 'kb-gaps' }, h('p', { class: 'intro muted', t: 'kb.gaps_intro' }), siteField, area);
}
