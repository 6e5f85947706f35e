// A tiny element builder. Strings passed as children become text nodes, so
// data from users and the server can never turn into markup (rule 12).
import { i18n } from '/console/i18n.js';

// Always set as attributes: their properties differ in name or type.
const ATTRS = new Set(['role', 'for', 'spellcheck', 'autocapitalize', 'inputmode', 'tabindex', 'lang']);

/**
 * h('button', {class:'primary', t:'signin.submit', on:{click: fn}}, child...)
 *   t / tArgs   translated text content (relabelled on language change)
 *   tAttr       {attribute: key} translated attributes
 *   on          {event: handler}
 *   other keys  set as properties when the element has them (value, disabled,
 *               hidden, type...), otherwise as attributes; null/false are skipped.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 't') i18n.text(el, v, props.tArgs);
      else if (k === 'tArgs') continue;
      else if (k === 'tAttr') for (const [a, key] of Object.entries(v)) i18n.attr(el, a, key);
      else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
      else if (k === 'class') el.className = v;
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (ATTRS.has(k) || k.startsWith('aria-') || k.startsWith('data-') || !(k in el)) el.setAttribute(k, v === true ? '' : String(v));
      else el[k] = v;
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Translated text in a span, for mixing into other content. */
export function tx(key, params) {
  return i18n.text(document.createElement('span'), key, params);
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

let uid = 0;
export function nextId(prefix) {
  return `${prefix}-${++uid}`;
}
