// Areas that later work fills (live visitors, chats, contacts, callbacks,
// help centre). Until then each says plainly what will appear there.
import { h } from '/console/dom.js';
import { pageHeader } from '/console/ui.js';

export function placeholder(area) {
  return () => h('section', { class: 'page' },
    pageHeader(`nav.${area}`),
    h('div', { class: 'empty' },
      h('p', { class: 'empty-title', t: 'empty.soon' }),
      h('p', { class: 'muted', t: `empty.${area}.text` })));
}
