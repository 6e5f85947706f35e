// Shared pieces of the customer pages (contacts, callbacks, webhooks,
// import): stage names, a confirm dialog, the operator list, and what
// follows the socket on every page: the toast for new leads and the
// number of overdue callbacks beside "Callbacks" in the navigation.
import { h, tx } from '/console/dom.js';
import { i18n } from '/console/i18n.js';
import { playChime } from '/console/chat.js';

export const STAGES = ['lead', 'customer', 'lost', 'won_back'];

/** The name to show for a contact: name, else e-mail, else phone, else the id. */
export function contactLabel(c) {
  if (!c) return '';
  return c.name || c.email || c.phone || c.id || '';
}

export function stageBadge(stage) {
  return h('span', { class: `badge crm-stage crm-stage-${STAGES.includes(stage) ? stage : 'lead'}`, t: `crm.stage.${STAGES.includes(stage) ? stage : 'lead'}` });
}

export function contactLink(c) {
  if (!c?.id) return h('span', { class: 'muted', t: 'crm.unknown' });
  return h('a', { href: `#/contacts/${encodeURIComponent(c.id)}`, class: 'crm-contact-link' }, contactLabel(c));
}

/** Operators (id → name); one request per page load, shared by the pages. */
let opsPromise = null;
export function loadOperators(api) {
  if (!opsPromise) {
    opsPromise = api.get('/operators')
      .then((res) => (res?.operators || []).map((o) => ({ id: o.id, name: o.name || o.email, email: o.email })))
      .catch(() => { opsPromise = null; return []; });
  }
  return opsPromise;
}

/**
 * A modal dialog that asks before something that cannot be undone.
 * paragraphs: [key | {key, params}]; confirmText: the text to type before the
 * button works (the contact's name for an erase). Resolves true or false.
 */
export function confirmDialog({ titleKey, titleArgs, paragraphs = [], confirmKey, danger = false, confirmText = null }) {
  return new Promise((resolve) => {
    const titleId = `crm-dlg-${Math.random().toString(36).slice(2)}`;
    const ok = h('button', { type: 'button', class: `btn ${danger ? 'danger' : 'primary'}`, t: confirmKey });
    const cancel = h('button', { type: 'button', class: 'btn ghost', t: 'common.cancel' });
    let input = null;
    let typeField = null;
    if (confirmText !== null) {
      input = h('input', { type: 'text', name: 'confirm_text', autocomplete: 'off', spellcheck: 'false', id: `${titleId}-in` });
      typeField = h('div', { class: 'field' },
        h('label', { for: input.id }, tx('crm.type_to_confirm'), ' ', h('strong', { class: 'crm-confirm-text' }, confirmText)),
        input);
      ok.disabled = true;
      input.addEventListener('input', () => { ok.disabled = input.value.trim() !== confirmText.trim(); });
    }
    const dlg = h('dialog', { class: 'crm-dialog', 'aria-labelledby': titleId },
      h('h2', { id: titleId, class: 'card-title', t: titleKey, tArgs: titleArgs }),
      paragraphs.map((p) => (typeof p === 'string' ? h('p', { t: p }) : h('p', { t: p.key, tArgs: p.params }))),
      typeField,
      h('div', { class: 'form-actions' }, ok, cancel));
    let answer = false;
    ok.addEventListener('click', () => { answer = true; dlg.close(); });
    cancel.addEventListener('click', () => dlg.close());
    dlg.addEventListener('close', () => { dlg.remove(); resolve(answer); });
    document.body.append(dlg);
    dlg.showModal();
    (input || cancel).focus();
  });
}

/** "2026-11-23T14:00" for a datetime-local input, in local time. */
export function toLocalInput(iso) {
  const d = iso ? new Date(iso) : new Date();
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Calls fn at most once per `ms` (the last call wins). */
export function debounce(fn, ms) {
  let t = 0;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

// ---- on every page: lead toasts and the overdue badge ----------------------------

let toastBox = null;
function toastArea() {
  if (!toastBox || !toastBox.isConnected) {
    toastBox = h('div', { class: 'crm-toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(toastBox);
  }
  return toastBox;
}

/** A toast with a link, e.g. "New lead: Erika — from the business card". */
export function linkToast(key, params, href, linkKey) {
  const close = h('button', { type: 'button', class: 'btn small ghost crm-toast-close', t: 'crm.toast_close' });
  const el = h('div', { class: 'crm-toast' },
    h('p', { t: key, tArgs: params }),
    href ? h('a', { href, t: linkKey }) : null,
    close);
  const remove = () => el.remove();
  close.addEventListener('click', remove);
  el.querySelector('a')?.addEventListener('click', () => setTimeout(remove, 0));
  toastArea().append(el);
  setTimeout(remove, 15000);
  return el;
}

let badgeTimer = 0;
let badgeApi = null;
let badgeMe = null;

/** Re-counts the overdue callbacks for the badge beside "Callbacks". */
export async function refreshCallbackBadge() {
  if (!badgeApi || !badgeMe?.()) return;
  const el = document.querySelector('nav a[data-path="/callbacks"] .nav-badge');
  if (!el) return;
  try {
    const res = await badgeApi.get('/callbacks?overdue=true&limit=200');
    const n = res?.callbacks?.length || 0;
    const more = !!res?.next_cursor;
    el.hidden = n === 0;
    el.textContent = more ? `${n}+` : String(n);
    el.classList.toggle('nav-badge-waiting', n > 0);
    i18n.attr(el, 'title', 'callbacks.badge_hint', { n });
  } catch { /* the badge stays as it was */ }
}

function scheduleBadge(ms = 300) {
  clearTimeout(badgeTimer);
  badgeTimer = setTimeout(refreshCallbackBadge, ms);
}

export function attachCrm(live, api, getMe) {
  badgeApi = api;
  badgeMe = getMe;
  live.on('lead', (m) => {
    if (!getMe()) return;
    const c = m?.contact || {};
    const source = m?.source === 'card' ? 'crm.source.card' : `crm.source.${m?.source || 'api'}`;
    linkToast('crm.lead_toast', { name: contactLabel(c), source: i18n.t(source) },
      c.id ? `#/contacts/${encodeURIComponent(c.id)}` : null, 'crm.lead_open');
  });
  live.on('callback', (m) => {
    scheduleBadge();
    // A request that just became overdue: a chime and a message for those who
    // would call (the one who took it, or everyone while nobody has).
    const cb = m?.callback;
    const me = getMe();
    if (m?.action !== 'overdue' || !cb || !me) return;
    if (cb.assigned && cb.assigned.id !== me.id) return;
    playChime();
    linkToast('callbacks.overdue_toast', { name: cb.name || cb.contact?.name || cb.phone || '' }, '#/callbacks', 'callbacks.open_queue');
  });
  // Requests become overdue as time passes; the server also says so with an
  // "overdue" event, this catches a missed one.
  setInterval(() => { if (getMe()) refreshCallbackBadge(); }, 60000);
}
