// The console's translator: the shared helper over the console's string
// table, plus date formatting that follows the chosen language.
import { createI18n, pickLang } from '/shared/i18n.js';
import { strings } from '/console/strings.js';

const STORE_KEY = 'emma.lang';

function storedLang() {
  try { return localStorage.getItem(STORE_KEY); } catch { return null; }
}

export const i18n = createI18n(strings, pickLang(storedLang()));
export const t = i18n.t;

const formats = new Map();
function dateFormat() {
  let f = formats.get(i18n.lang);
  if (!f) {
    f = new Intl.DateTimeFormat(i18n.lang === 'de' ? 'de-DE' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short' });
    formats.set(i18n.lang, f);
  }
  return f;
}

/** Formats an RFC 3339 string for display; returns '' for null and the raw text when unparsable. */
export function formatTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : dateFormat().format(d);
}

/** A <time> element that is re-formatted when the language changes. */
export function timeEl(iso) {
  const el = document.createElement('time');
  if (iso) {
    el.dateTime = String(iso);
    el.dataset.time = String(iso);
    el.title = String(iso);
  }
  el.textContent = formatTime(iso);
  return el;
}

/** Switches the language: relabels the page in place and remembers the choice. */
export function applyLang(lang) {
  i18n.setLang(pickLang(lang));
  document.documentElement.lang = i18n.lang;
  i18n.relabel(document);
  for (const el of document.querySelectorAll('time[data-time]')) el.textContent = formatTime(el.dataset.time);
  for (const sel of document.querySelectorAll('select[data-lang-switch]')) sel.value = i18n.lang;
  try { localStorage.setItem(STORE_KEY, i18n.lang); } catch { /* private mode: not remembered */ }
}
