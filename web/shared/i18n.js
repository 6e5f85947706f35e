// Emma's translation helper, shared by the console and (later) the widget and
// help centre. Every visible string goes through a table keyed by language
// (CONVENTIONS rule 12). Elements created with translated text remember their
// key, so a language switch relabels the page in place without losing form
// input or re-fetching data.

export const LANGS = ['de', 'en'];
const FALLBACK = 'en';

/** Picks 'de' or 'en' from a preferred value, then the browser's languages. */
export function pickLang(preferred, navLangs = globalThis.navigator?.languages || []) {
  for (const l of [preferred, ...navLangs]) {
    const base = String(l || '').toLowerCase().slice(0, 2);
    if (LANGS.includes(base)) return base;
  }
  return FALLBACK;
}

/**
 * Creates a translator over `tables` ({de:{key:text}, en:{...}}).
 * Texts may hold {name} placeholders, filled from `params`; a value of the
 * form {n, one, other} in a table picks a plural form by params.n.
 */
export function createI18n(tables, lang = FALLBACK) {
  let current = LANGS.includes(lang) ? lang : FALLBACK;
  const listeners = new Set();

  function lookup(key) {
    const hit = tables[current]?.[key] ?? tables[FALLBACK]?.[key];
    return hit === undefined ? key : hit;
  }

  function t(key, params) {
    let text = lookup(key);
    if (text && typeof text === 'object') {
      const n = Number(params?.n);
      text = new Intl.PluralRules(current).select(n) === 'one' ? text.one : text.other;
    }
    if (!params) return text;
    return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
  }

  // Sets el's text from a key and records the key so relabel() can redo it.
  function text(el, key, params) {
    el.dataset.i18n = key;
    if (params) el.dataset.i18nArgs = JSON.stringify(params);
    else delete el.dataset.i18nArgs;
    el.textContent = t(key, params);
    return el;
  }

  // Sets a translated attribute (placeholder, aria-label, title) the same way.
  function attr(el, name, key, params) {
    const map = el.dataset.i18nAttr ? JSON.parse(el.dataset.i18nAttr) : {};
    map[name] = params ? [key, params] : [key];
    el.dataset.i18nAttr = JSON.stringify(map);
    el.setAttribute(name, t(key, params));
    return el;
  }

  function relabel(root = document) {
    for (const el of root.querySelectorAll('[data-i18n]')) {
      const args = el.dataset.i18nArgs ? JSON.parse(el.dataset.i18nArgs) : undefined;
      el.textContent = t(el.dataset.i18n, args);
    }
    for (const el of root.querySelectorAll('[data-i18n-attr]')) {
      for (const [name, [key, params]] of Object.entries(JSON.parse(el.dataset.i18nAttr)))
        el.setAttribute(name, t(key, params));
    }
  }

  return {
    t, text, attr, relabel,
    get lang() { return current; },
    setLang(next) {
      next = LANGS.includes(next) ? next : FALLBACK;
      if (next === current) return;
      current = next;
      for (const fn of listeners) fn(current);
    },
    onChange(fn) { listeners.add(fn); return () => listeners.delete(fn); },
  };
}
