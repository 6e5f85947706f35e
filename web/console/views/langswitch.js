// The language switch. Option labels are each language's own name, so they
// do not change with the language.
import { h, nextId } from '/console/dom.js';
import { i18n } from '/console/i18n.js';

const NAMES = { de: 'Deutsch', en: 'English' };

export function langSwitch(onChange) {
  const select = h('select', { name: 'lang', 'data-lang-switch': true, on: { change: () => onChange(select.value) } },
    Object.entries(NAMES).map(([code, name]) => h('option', { value: code, lang: code }, name)));
  select.value = i18n.lang;
  select.id = nextId('lang');
  return h('div', { class: 'lang-switch' },
    h('label', { for: select.id, class: 'sr-only', t: 'shell.language' }), select);
}
