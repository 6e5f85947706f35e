// Emma operator console: boot, sign-in, the shell (header, navigation,
// status) and hash routing. Pages live in views/; every visible string comes
// from strings.js; data from users and the server is only ever set as text.
import { h, clear } from '/console/dom.js';
import { i18n, applyLang } from '/console/i18n.js';
import { createApi } from '/console/api.js';
import { createLive } from '/console/live.js';
import { announce, errorMessage, setMessage } from '/console/ui.js';
import { renderSignIn } from '/console/views/signin.js';
import { langSwitch } from '/console/views/langswitch.js';
import { placeholder } from '/console/views/placeholder.js';
import { renderOperators } from '/console/views/operators.js';
import { renderTokens } from '/console/views/tokens.js';
import { renderAudit } from '/console/views/audit.js';
import { notFound, adminOnly } from '/console/views/notfound.js';
import { renderLive, attachVisitors } from '/console/views/live.js';
import { renderVisitor } from '/console/views/visitor.js';
import { renderStats } from '/console/views/stats.js';
import { attachChat, chatStore } from '/console/chat.js';
import { renderChats } from '/console/views/chats.js';
import { renderRules } from '/console/views/rules.js';
import { renderCanned } from '/console/views/canned.js';
import { renderDepartments } from '/console/views/departments.js';
import { renderSites } from '/console/views/sites.js';
import { renderKb } from '/console/views/kb.js';
import { renderProducts } from '/console/views/products.js';
import { renderContacts, renderNewContact } from '/console/views/contacts.js';
import { renderContact } from '/console/views/contact.js';
import { renderCallbacks } from '/console/views/callbacks.js';
import { renderWebhooks } from '/console/views/webhooks.js';
import { renderImport } from '/console/views/import.js';
import { attachCrm, refreshCallbackBadge } from '/console/views/crm.js';

const root = document.getElementById('app');

// Navigation: [hash path, label key, view, group, admin only]. A route with
// `prefix` also serves the paths below it (the view gets them as params);
// `navPath` names the navigation entry to highlight for a route not in it.
const ROUTES = [
  { path: '/live', label: 'nav.live', view: renderLive, group: 'work' },
  { path: '/stats', label: 'nav.stats', view: renderStats, group: 'work' },
  { path: '/visitors/', prefix: true, label: 'visitor.title', view: renderVisitor, navPath: '/live' },
  { path: '/chats', label: 'nav.chats', view: renderChats, group: 'work' },
  { path: '/rules', label: 'nav.rules', view: renderRules, group: 'work' },
  { path: '/contacts', label: 'nav.contacts', view: renderContacts, group: 'work' },
  { path: '/contacts/new', label: 'contacts.new_title', view: renderNewContact, navPath: '/contacts' },
  { path: '/contacts/import', label: 'import.title', view: renderImport, navPath: '/contacts', admin: true },
  { path: '/contacts/', prefix: true, label: 'contact.title', view: renderContact, navPath: '/contacts' },
  { path: '/callbacks', label: 'nav.callbacks', view: renderCallbacks, group: 'work' },
  { path: '/kb', prefix: true, label: 'nav.kb', view: renderKb, group: 'work', navPath: '/kb' },
  { path: '/products', label: 'nav.products', view: renderProducts, group: 'work' },
  { path: '/settings/operators', label: 'nav.operators', view: renderOperators, group: 'settings' },
  { path: '/settings/canned', label: 'nav.canned', view: renderCanned, group: 'settings' },
  { path: '/settings/departments', label: 'nav.departments', view: renderDepartments, group: 'settings', admin: true },
  { path: '/settings/sites', label: 'nav.sites', view: renderSites, group: 'settings' },
  { path: '/settings/tokens', label: 'nav.tokens', view: renderTokens, group: 'settings' },
  { path: '/settings/webhooks', label: 'nav.webhooks', view: renderWebhooks, group: 'settings', admin: true },
  { path: '/settings/audit', label: 'nav.audit', view: renderAudit, group: 'settings', admin: true },
];
const DEFAULT_ROUTE = '/live';

const state = {
  me: null,        // the signed-in operator
  shell: null,     // {main, nav, status, who} while signed in
  viewAbort: null, // aborts the current page's requests on navigation
};

const api = createApi({ onUnauthorized: () => signedOut('signin.expired') });

const live = createLive({
  onState: (s) => showLiveState(s),
  // Before reconnecting, make sure the session still exists; a 401 here
  // signs the console out through onUnauthorized.
  beforeReconnect: async () => {
    if (!state.me) return false;
    try { await api.get('/me'); } catch (e) { if (e.status === 401) return false; }
    return !!state.me;
  },
});
// The live-visitor list follows the socket from the start, whatever page is open.
attachVisitors(live);
// So do the chats: the queue, the alerts and the badge in the navigation.
attachChat(live, api, () => state.me);
chatStore.subscribe((kind) => {
  if (kind === 'list' || kind === 'messages') showChatBadge();
  if (kind === 'operators') showMyStatus();
});
// Customers: the toast for new leads and the overdue-callback badge.
attachCrm(live, api, () => state.me);

// The document title names the page; it follows the language.
let titleKey = 'signin.title';
function setTitle(key) {
  titleKey = key;
  document.title = i18n.t('app.title_page', { page: i18n.t(key) });
}
i18n.onChange(() => setTitle(titleKey));

function setLang(lang, { persist } = {}) {
  const before = i18n.lang;
  applyLang(lang);
  if (!persist || !state.me || i18n.lang === before || state.me.lang === i18n.lang) return;
  const id = state.me.id;
  api.patch(`/operators/${encodeURIComponent(id)}`, { lang: i18n.lang })
    .then(() => { if (state.me?.id === id) state.me.lang = i18n.lang; })
    .catch((e) => { if (e.status !== 401) showToast(errorMessage(e)); });
}

// ---- sign-in ---------------------------------------------------------------

function showSignIn(notice) {
  live.stop();
  state.viewAbort?.abort();
  state.me = null;
  state.shell = null;
  setTitle('signin.title');
  root.replaceChildren(renderSignIn({
    api,
    notice: notice ? { key: notice } : null,
    onLang: (l) => setLang(l),
    onSignedIn: (op) => signedIn(op),
  }));
}

function signedOut(noticeKey) {
  api.setCsrf('');
  if (state.me || !root.querySelector('.signin')) showSignIn(noticeKey);
}

function signedIn(op) {
  state.me = op;
  if (op.lang) setLang(op.lang);
  showShell();
  live.start();
}

async function signOut(btn) {
  btn.disabled = true;
  try {
    await api.post('/logout', {}, { expect401: true });
  } catch (e) {
    if (e.status !== 401) {
      btn.disabled = false;
      showToast(errorMessage(e));
      return;
    }
  }
  signedOut(null);
  announce('shell.signed_out');
}

// ---- shell -------------------------------------------------------------------

function navLink(r) {
  if (r.path === '/chats' || r.path === '/callbacks') {
    // The number of waiting chats (and unread messages in one's own) beside "Chats".
    return h('li', null, h('a', { href: `#${r.path}`, 'data-path': r.path },
      h('span', { t: r.label }), h('span', { class: 'nav-badge', hidden: true })));
  }
  return h('li', null, h('a', { href: `#${r.path}`, 'data-path': r.path, t: r.label }));
}

function showChatBadge() {
  const el = state.shell?.nav.querySelector('a[data-path="/chats"] .nav-badge');
  if (!el) return;
  const waiting = chatStore.pendingCount;
  const unread = chatStore.unreadCount;
  const n = waiting + unread;
  el.hidden = n === 0;
  el.textContent = String(n);
  el.classList.toggle('nav-badge-waiting', waiting > 0);
  if (n) i18n.attr(el, 'title', 'chat.badge_hint', { n: waiting, waiting, unread });
}

// Online / away, set by the operator; offline is what the others see when no console is open.
function statusSwitch() {
  const sel = h('select', { class: 'compact status-switch', name: 'my_status', id: 'my-status' },
    h('option', { value: 'online', t: 'chat.status.online' }),
    h('option', { value: 'away', t: 'chat.status.away' }));
  sel.addEventListener('change', async () => {
    const want = sel.value;
    sel.disabled = true;
    try {
      await chatStore.setStatus(want);
    } catch (e) {
      if (e.status !== 401) showToast(errorMessage(e));
      showMyStatus();
    } finally {
      sel.disabled = false;
    }
  });
  return h('div', { class: 'status-wrap' },
    h('span', { class: 'status-dot', 'aria-hidden': 'true' }),
    h('label', { for: 'my-status', class: 'sr-only', t: 'chat.my_status' }), sel);
}

function showMyStatus() {
  const wrap = state.shell?.statusSwitch;
  if (!wrap) return;
  const s = chatStore.myStatus === 'away' ? 'away' : chatStore.myStatus === 'online' ? 'online' : null;
  const sel = wrap.querySelector('select');
  if (s && !sel.disabled) sel.value = s;
  wrap.dataset.status = s || sel.value;
}

function showShell() {
  const me = state.me;
  const routes = ROUTES.filter((r) => !r.admin || me.role === 'admin');
  const status = h('span', { class: 'live-status', 'data-state': 'offline' },
    h('span', { class: 'dot', 'aria-hidden': 'true' }), h('span', { class: 'live-label', t: 'live.offline' }));
  const who = h('div', { class: 'who' },
    h('span', { class: 'who-name' }, me.name || me.email),
    h('span', { class: 'who-meta' },
      h('span', { class: 'who-email' }, me.email), h('span', { class: 'who-role', t: `role.${me.role}` })));
  const signOutBtn = h('button', { type: 'button', class: 'btn ghost small', t: 'shell.sign_out' });
  const myStatus = statusSwitch();
  signOutBtn.addEventListener('click', () => signOut(signOutBtn));
  const nav = h('nav', { class: 'sidebar', tAttr: { 'aria-label': 'nav.label' } },
    h('p', { class: 'nav-group', id: 'nav-work', t: 'nav.group_work' }),
    h('ul', { 'aria-labelledby': 'nav-work' }, routes.filter((r) => r.group === 'work').map(navLink)),
    h('p', { class: 'nav-group', id: 'nav-settings', t: 'nav.group_settings' }),
    h('ul', { 'aria-labelledby': 'nav-settings' }, routes.filter((r) => r.group === 'settings').map(navLink)));
  const main = h('main', { id: 'main', class: 'main', tabindex: '-1' });
  const toast = h('div', { class: 'toast', role: 'alert', hidden: true });

  root.replaceChildren(
    h('a', { class: 'skip', href: '#main', t: 'shell.skip', on: { click: (ev) => { ev.preventDefault(); main.focus(); } } }),
    h('header', { class: 'topbar' },
      h('a', { class: 'brand', href: `#${DEFAULT_ROUTE}` },
        h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), h('span', { t: 'app.name' })),
      status,
      h('div', { class: 'topbar-end' }, myStatus, langSwitch((l) => setLang(l, { persist: true })), who, signOutBtn)),
    h('div', { class: 'layout' }, nav, main),
    toast);
  state.shell = { main, nav, status, toast, statusSwitch: myStatus };
  showLiveState(live.state);
  showChatBadge();
  showMyStatus();
  refreshCallbackBadge();
  route();
}

function showLiveState(s) {
  const el = state.shell?.status;
  if (!el) return;
  el.dataset.state = s;
  const key = s === 'live' ? 'live.live' : s === 'connecting' ? 'live.connecting' : 'live.offline';
  i18n.text(el.querySelector('.live-label'), key);
  i18n.attr(el, 'title', `${key}_hint`);
}

let toastTimer = 0;
function showToast(msg) {
  const el = state.shell?.toast;
  if (!el) return;
  setMessage(el, msg);
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => setMessage(el, null), 6000);
}

// ---- routing -------------------------------------------------------------------

function currentPath() {
  const p = location.hash.replace(/^#/, '').replace(/\/+$/, '');
  return p || DEFAULT_ROUTE;
}

function route() {
  const shell = state.shell;
  if (!shell) return;
  const [path, query = ''] = currentPath().split('?', 2);
  if (!location.hash) history.replaceState(null, '', `#${DEFAULT_ROUTE}`);
  const r = ROUTES.find((x) => x.path === path || (x.prefix && path.startsWith(x.path) && path.length > x.path.length));
  state.viewAbort?.abort();
  const ctrl = new AbortController();
  state.viewAbort = ctrl;

  for (const a of shell.nav.querySelectorAll('a[data-path]')) {
    if (a.dataset.path === (r?.navPath || path)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  let page;
  if (!r) page = notFound();
  else if (r.admin && state.me.role !== 'admin') page = adminOnly();
  else page = r.view({ api, me: state.me, live, signal: ctrl.signal, params: { path, query: new URLSearchParams(query) } });
  clear(shell.main).append(page);
  setTitle(r ? r.label : 'notfound.title');
  // Move focus to the page heading so screen readers hear the new page,
  // but not on first load, where focus should start at the top.
  if (route.done) shell.main.querySelector('h1')?.focus();
  route.done = true;
}

window.addEventListener('hashchange', route);

// ---- boot ----------------------------------------------------------------------

async function boot() {
  applyLang(i18n.lang);
  try {
    const res = await api.get('/me', { expect401: true });
    if (res?.csrf) api.setCsrf(res.csrf);
    signedIn(res.operator);
  } catch (e) {
    if (e.status === 401) {
      api.setCsrf('');
      showSignIn();
    } else {
      showSignIn();
      const note = root.querySelector('.signin .notice');
      if (note) setMessage(note, errorMessage(e));
    }
  }
}

boot();
