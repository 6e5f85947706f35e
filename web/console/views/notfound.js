// Shown for a hash route the console does not know, and for admin-only pages
// opened by an agent.
import { h } from '/console/dom.js';
import { pageHeader } from '/console/ui.js';

export function notFound() {
  return h('section', { class: 'page' },
    pageHeader('notfound.title', 'notfound.text'),
    h('p', null, h('a', { href: '#/live', t: 'notfound.back' })));
}

export function adminOnly() {
  return h('section', { class: 'page' },
    pageHeader('adminonly.title', 'adminonly.text'));
}
