// Chats (#/chats): the queue of waiting visitors with their wait time, the
// operator's open chats as tabs, the chat itself (messages, internal notes,
// typing, canned responses), and beside it who the visitor is: the page they
// are on now (live), device, cart and past visits, and help-centre articles
// and products that match what the visitor last wrote, each inserted into the
// message field with one click (never sent by itself). Transfer and close with
// an outcome. State comes from chat.js; every text from visitors is set as text.
import { h, tx } from '/console/dom.js';
import { i18n, timeEl } from '/console/i18n.js';
import { errorMessage, pageHeader, setMessage } from '/console/ui.js';
import {
  chatStore, displayName, fillPlaceholders, notifications, operatorOf, startedAt,
} from '/console/chat.js';
import {
  deviceLabel, fmtDuration, fmtMoney, profileHref, urlPath, visitorKey, visitorStore,
} from '/console/views/live.js';
import { helpUrl, marked, plainText } from '/console/views/kb.js';
import { priceText } from '/console/views/products.js';

export const OUTCOMES = ['sale', 'support', 'lead', 'spam', 'other'];
const TYPING_EVERY_MS = 3000; // own "typing" is sent at most this often...
const TYPING_IDLE_MS = 4000;  // ...and "stopped" after this long without a key
const MAX_BODY = 4000;
const KB_MESSAGES = 3;     // suggestions search the visitor's last messages...
const KB_QUERY_BYTES = 200; // ...within the search's limit
const KB_WAIT_MS = 300;

const utf8 = new TextEncoder();
/** The newest of the visitor's last few messages, joined, within the query limit. */
export function suggestQuery(messages) {
  const texts = [];
  for (let i = messages.length - 1; i >= 0 && texts.length < KB_MESSAGES; i--) {
    const m = messages[i];
    const body = String(m?.body ?? '').trim();
    if (m?.author === 'visitor' && !m.internal && body) texts.push(body);
  }
  let q = '';
  for (const t of texts) { // newest first; older ones only while they fit
    const next = q ? `${t} ${q}` : t;
    if (utf8.encode(next).length <= KB_QUERY_BYTES) { q = next; continue; }
    if (!q) for (const ch of t) { if (utf8.encode(q + ch).length > KB_QUERY_BYTES) break; q += ch; }
    break;
  }
  return q;
}

const setText = (node, text) => { if (node.textContent !== text) node.textContent = text; };

// Clock time of a message; the full date is in the title.
const clocks = new Map();
function clock(iso) {
  const el = timeEl(iso);
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return el;
  let f = clocks.get(i18n.lang);
  if (!f) {
    f = new Intl.DateTimeFormat(i18n.lang === 'de' ? 'de-DE' : 'en-GB', { timeStyle: 'short' });
    clocks.set(i18n.lang, f);
  }
  delete el.dataset.time;
  el.textContent = f.format(new Date(t));
  return el;
}

export function renderChats({ api, me, signal, params }) {
  let activeId = null;
  let departments = null; // loaded on first use of the transfer control
  let pane = null;        // the open chat's parts (see openPane)

  // ---- left column: queue, chats, team ----
  const queueNote = h('p', { class: 'chat-note', role: 'status', hidden: true });
  const queueList = h('ul', { class: 'chat-queue-list' });
  const queueEmpty = h('p', { class: 'muted chat-none', t: 'chat.queue_empty' });
  const queueTitle = h('h2', { class: 'chat-side-title', id: 'chat-queue-title' });
  const tabs = h('div', { class: 'chat-tabs', role: 'tablist', 'aria-orientation': 'vertical', 'aria-labelledby': 'chat-mine-title' });
  const tabsEmpty = h('p', { class: 'muted chat-none', t: 'chat.mine_empty' });
  const teamList = h('ul', { class: 'chat-team-list' });
  const notifyBtn = h('button', { type: 'button', class: 'btn small chat-notify-btn', t: 'chat.notify_enable' });
  const notifyNote = h('p', { class: 'hint chat-notify-note', hidden: true });

  const side = h('aside', { class: 'chat-side' },
    h('section', { class: 'chat-queue', 'aria-labelledby': 'chat-queue-title' }, queueTitle, queueNote, queueEmpty, queueList),
    h('section', { class: 'chat-mine' },
      h('h2', { class: 'chat-side-title', id: 'chat-mine-title', t: 'chat.mine' }), tabsEmpty, tabs),
    h('section', { class: 'chat-team', 'aria-labelledby': 'chat-team-title' },
      h('h2', { class: 'chat-side-title', id: 'chat-team-title', t: 'chat.team' }), teamList),
    h('div', { class: 'chat-notify' }, notifyBtn, notifyNote));

  const paneEl = h('div', { class: 'chat-pane', id: 'chat-pane', role: 'tabpanel' });
  const infoEl = h('aside', { class: 'chat-info', tAttr: { 'aria-label': 'chat.about_visitor' } });
  const layout = h('div', { class: 'chat-layout' }, side, paneEl, infoEl);

  // Desktop notifications need the operator's permission, asked on a click.
  function showNotifyState() {
    const p = notifications.permission;
    notifyBtn.hidden = !notifications.supported || p !== 'default';
    notifyNote.hidden = p !== 'granted' && p !== 'denied';
    if (p === 'granted') i18n.text(notifyNote, 'chat.notify_on');
    else if (p === 'denied') i18n.text(notifyNote, 'chat.notify_denied');
  }
  notifyBtn.addEventListener('click', async () => {
    await notifications.request();
    showNotifyState();
  });
  showNotifyState();

  // ---- queue ----
  const queueRows = new Map(); // id → {li, wait}
  function renderQueue() {
    const list = chatStore.queue();
    i18n.text(queueTitle, 'chat.queue', { n: list.length });
    queueEmpty.hidden = list.length > 0 || !chatStore.ready;
    const keep = new Set();
    for (const rec of list) {
      keep.add(rec.id);
      let row = queueRows.get(rec.id);
      if (!row) {
        row = queueRow(rec);
        queueRows.set(rec.id, row);
      }
      queueList.append(row.li); // in order, longest waiting first
    }
    for (const [id, row] of queueRows) {
      if (!keep.has(id)) { row.li.remove(); queueRows.delete(id); }
    }
    tickQueue();
  }

  function queueRow(rec) {
    const c = rec.c;
    const wait = h('span', { class: 'chat-wait' });
    const accept = h('button', { type: 'button', class: 'btn small primary chat-accept', t: 'chat.accept' });
    i18n.attr(accept, 'aria-label', 'chat.accept_named', { name: displayName(rec) });
    const li = h('li', { class: 'chat-q', 'data-id': rec.id },
      h('div', { class: 'chat-q-main' },
        h('span', { class: 'chat-q-name' }, displayName(rec)),
        c.channel === 'offline' ? h('span', { class: 'badge chat-offline', t: 'chat.offline_message' }) : null,
        c.page_url ? h('span', { class: 'chat-q-page', title: String(c.page_url) }, urlPath(c.page_url)) : null),
      h('div', { class: 'chat-q-end' },
        h('span', { class: 'chat-wait-label' }, h('span', { class: 'sr-only', t: 'chat.waiting_for' }), wait),
        accept));
    accept.addEventListener('click', async () => {
      accept.disabled = true;
      setMessage(queueNote, null);
      try {
        await chatStore.accept(rec);
        select(rec.id, { focus: true });
      } catch (e) {
        accept.disabled = false;
        if (e.status === 409) setMessage(queueNote, { key: 'chat.taken', params: { name: displayName(rec) } });
        else setMessage(queueNote, errorMessage(e));
      }
      renderLists();
    });
    return { li, wait, rec };
  }

  function tickQueue() {
    const now = Date.now();
    for (const row of queueRows.values()) setText(row.wait, fmtDuration((now - startedAt(row.rec)) / 1000));
  }

  // ---- open chats as tabs ----
  function renderTabs() {
    const list = chatStore.open();
    tabsEmpty.hidden = list.length > 0;
    const nodes = list.map((rec) => {
      const mine = chatStore.isMine(rec);
      const op = mine ? null : chatStore.operator(operatorOf(rec.c));
      const tab = h('button', {
        type: 'button', role: 'tab', class: 'chat-tab', 'data-id': rec.id, id: `chat-tab-${rec.id}`,
        'aria-selected': rec.id === activeId ? 'true' : 'false', 'aria-controls': 'chat-pane',
        tabindex: rec.id === activeId || (!activeId && rec === list[0]) ? '0' : '-1',
      },
      h('span', { class: 'chat-tab-name' }, displayName(rec)),
      rec.typing ? h('span', { class: 'chat-tab-typing', t: 'chat.typing_short' }) : null,
      op ? h('span', { class: 'chat-tab-op' }, String(op.name || '')) : null,
      rec.unread ? h('span', { class: 'badge chat-unread', title: i18n.t('chat.unread', { n: rec.unread }) }, String(rec.unread)) : null);
      tab.addEventListener('click', () => select(rec.id));
      return tab;
    });
    const focused = tabs.contains(document.activeElement) ? document.activeElement.dataset.id : null;
    tabs.replaceChildren(...nodes);
    if (focused) tabs.querySelector(`[data-id="${CSS.escape(focused)}"]`)?.focus();
  }
  // Arrow keys move between tabs (the tablist pattern).
  tabs.addEventListener('keydown', (ev) => {
    const all = [...tabs.querySelectorAll('[role="tab"]')];
    const i = all.indexOf(document.activeElement);
    if (i < 0) return;
    let j = -1;
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowRight') j = (i + 1) % all.length;
    else if (ev.key === 'ArrowUp' || ev.key === 'ArrowLeft') j = (i - 1 + all.length) % all.length;
    else if (ev.key === 'Home') j = 0;
    else if (ev.key === 'End') j = all.length - 1;
    if (j < 0) return;
    ev.preventDefault();
    all[j].focus();
    select(all[j].dataset.id);
  });

  // ---- team ----
  function renderTeam() {
    const ops = chatStore.operators();
    teamList.replaceChildren(...ops.map((op) => {
      const status = ['online', 'away', 'offline'].includes(op.status) ? op.status : 'offline';
      return h('li', { class: 'chat-op', 'data-id': String(op.id), 'data-status': status },
        h('span', { class: `chat-op-dot chat-op-${status}`, 'aria-hidden': 'true' }),
        h('span', { class: 'chat-op-name' }, String(op.name || op.id),
          String(op.id) === String(me.id) ? h('span', { class: 'badge', t: 'operators.you' }) : null),
        h('span', { class: 'chat-op-status', t: `chat.status.${status}` }),
        op.max_chats ? h('span', { class: 'chat-op-load', title: i18n.t('chat.load_hint') }, `${Number(op.chats) || 0}/${op.max_chats}`) : null);
    }));
    if (!ops.length) teamList.replaceChildren(h('li', { class: 'muted', t: 'chat.team_empty' }));
    if (pane) fillTransfer();
  }

  function renderLists() {
    renderQueue();
    renderTabs();
  }

  // ---- the chat pane ----
  function select(id, { focus } = {}) {
    const rec = id && chatStore.get(id);
    if (!rec) return;
    activeId = rec.id;
    chatStore.setActive(rec.id);
    history.replaceState(null, '', `#/chats?c=${encodeURIComponent(rec.id)}`);
    renderTabs();
    openPane(rec);
    if (focus) pane?.input.focus();
  }

  function showEmptyPane() {
    pane = null;
    activeId = null;
    chatStore.setActive(null);
    paneEl.removeAttribute('aria-labelledby');
    paneEl.replaceChildren(h('div', { class: 'empty chat-empty' },
      h('p', { class: 'empty-title', t: 'chat.none_open' }),
      h('p', { class: 'muted', t: 'chat.none_open_hint' })));
    infoEl.replaceChildren();
    infoEl.hidden = true;
  }

  function openPane(rec) {
    stopTyping();
    const name = h('h2', { class: 'chat-title', id: 'chat-title' }, displayName(rec));
    const sub = h('p', { class: 'chat-sub' });
    const log = h('ol', { class: 'chat-log', role: 'log', 'aria-live': 'polite', tAttr: { 'aria-label': 'chat.messages' } });
    const loading = h('p', { class: 'muted loading', t: 'common.loading' });
    const typing = h('p', { class: 'chat-typing', 'aria-live': 'polite' });
    const closedNote = h('p', { class: 'notice chat-closed-note', hidden: true });
    const actionErr = h('p', { class: 'form-error', role: 'alert', hidden: true });

    // Transfer and close.
    const transferSel = h('select', { name: 'transfer', class: 'compact chat-transfer' });
    i18n.attr(transferSel, 'aria-label', 'chat.transfer_to');
    const transferBtn = h('button', { type: 'button', class: 'btn small', t: 'chat.transfer' });
    const outcomeSel = h('select', { name: 'outcome', class: 'compact chat-outcome' },
      h('option', { value: '', t: 'chat.outcome_pick' }),
      OUTCOMES.map((o) => h('option', { value: o, t: `chat.outcome.${o}` })));
    i18n.attr(outcomeSel, 'aria-label', 'chat.outcome_label');
    const closeBtn = h('button', { type: 'button', class: 'btn small danger chat-close', t: 'chat.close' });
    const actions = h('div', { class: 'chat-actions' },
      h('div', { class: 'chat-action' }, transferSel, transferBtn),
      h('div', { class: 'chat-action' }, outcomeSel, closeBtn));

    // Composer.
    const input = h('textarea', { name: 'body', class: 'chat-input', rows: 3, maxlength: MAX_BODY, id: 'chat-input' });
    i18n.attr(input, 'placeholder', 'chat.compose_hint');
    const internal = h('input', { type: 'checkbox', name: 'internal', class: 'chat-internal-toggle', id: 'chat-internal' });
    const cannedSel = h('select', { name: 'canned', class: 'compact chat-canned' });
    i18n.attr(cannedSel, 'aria-label', 'chat.canned_insert');
    const suggest = h('ul', { class: 'chat-suggest', role: 'listbox', id: 'chat-suggest', hidden: true, tAttr: { 'aria-label': 'chat.canned' } });
    const send = h('button', { type: 'submit', class: 'btn primary chat-send', t: 'chat.send' });
    const composeErr = h('p', { class: 'field-error', role: 'alert', hidden: true });
    input.setAttribute('aria-controls', 'chat-suggest');
    input.setAttribute('aria-autocomplete', 'list');
    const form = h('form', { class: 'chat-compose', novalidate: true },
      h('label', { for: 'chat-input', class: 'sr-only', t: 'chat.message' }),
      h('div', { class: 'chat-input-wrap' }, input, suggest),
      composeErr,
      h('div', { class: 'chat-compose-row' },
        h('label', { class: 'chat-internal-label', for: 'chat-internal' }, internal, tx('chat.internal')),
        cannedSel,
        send));

    paneEl.setAttribute('aria-labelledby', 'chat-title');
    paneEl.replaceChildren(
      h('header', { class: 'chat-head' }, h('div', { class: 'chat-head-text' }, name, sub), actions),
      actionErr, closedNote, loading, log, typing, form);
    pane = { rec, log, typing, input, internal, cannedSel, suggest, form, send, sub, closedNote, loading,
      transferSel, transferBtn, outcomeSel, closeBtn, actions, actionErr, composeErr, items: new Map(), sugg: [], suggIndex: -1 };

    input.value = rec.draft || '';
    internal.checked = !!rec.draftInternal;
    form.classList.toggle('is-internal', internal.checked);

    internal.addEventListener('change', () => {
      rec.draftInternal = internal.checked;
      form.classList.toggle('is-internal', internal.checked);
      i18n.attr(input, 'placeholder', internal.checked ? 'chat.note_hint' : 'chat.compose_hint');
    });
    input.addEventListener('input', () => {
      rec.draft = input.value;
      if (!internal.checked) typed(rec);
      updateSuggest();
    });
    input.addEventListener('keydown', onComposerKey);
    input.addEventListener('blur', () => setTimeout(() => { if (pane && document.activeElement !== input) hideSuggest(); }, 150));
    form.addEventListener('submit', (ev) => { ev.preventDefault(); submit(); });
    cannedSel.addEventListener('change', () => {
      const item = (cannedCache || []).find((c) => String(c.id) === cannedSel.value);
      cannedSel.value = '';
      if (item) insertCanned(item, null);
    });
    transferBtn.addEventListener('click', () => doTransfer());
    closeBtn.addEventListener('click', () => doClose());

    fillCanned();
    fillTransfer();
    updatePane();
    renderInfo(rec);
    chatStore.load(rec).then(() => {
      if (pane?.rec === rec) { loading.hidden = true; renderLog(); }
    }).catch((e) => {
      if (pane?.rec !== rec) return;
      loading.hidden = true;
      setMessage(actionErr, errorMessage(e));
    });
    if (rec.loaded) loading.hidden = true;
    renderLog();
  }

  // Header state: status, who has it, closed or not.
  function updatePane() {
    if (!pane) return;
    const { rec } = pane;
    const c = rec.c;
    const mine = chatStore.isMine(rec);
    const op = chatStore.operator(operatorOf(c));
    const parts = [];
    if (c.site) parts.push(h('span', { class: 'badge' }, String(c.site)));
    parts.push(h('span', { class: `badge chat-status chat-status-${c.status}`, t: `chat.conv_status.${['pending', 'open', 'closed'].includes(c.status) ? c.status : 'closed'}` }));
    if (op && !mine) parts.push(h('span', { class: 'chat-with' }, tx('chat.with_operator', { name: op.name || '' })));
    if (c.email) parts.push(h('span', { class: 'chat-email' }, String(c.email)));
    pane.sub.replaceChildren(...parts);
    const closed = c.status === 'closed' || c.status === 'gone';
    pane.closedNote.hidden = !closed;
    if (closed) {
      setMessage(pane.closedNote, c.outcome
        ? { key: 'chat.closed_with', params: { outcome: i18n.t(`chat.outcome.${OUTCOMES.includes(c.outcome) ? c.outcome : 'other'}`) } }
        : { key: 'chat.closed' });
    }
    pane.actions.hidden = closed;
    pane.input.disabled = closed;
    pane.send.disabled = closed;
    pane.internal.disabled = closed;
    pane.cannedSel.disabled = closed;
    // Someone else's chat: an admin may add notes but not answer in their name.
    if (!mine && !closed) {
      pane.internal.checked = true;
      pane.internal.disabled = true;
      pane.form.classList.add('is-internal');
    }
  }

  // ---- the message log: one element per message, reused across updates ----
  function itemsOf(rec) {
    const out = rec.messages.map((m) => ({ key: m.client_id ? `c:${m.client_id}` : `s:${m.seq}`, m, state: m.local || isOwn(m) ? 'sent' : null }));
    for (const o of rec.outbox.values()) {
      out.push({ key: `c:${o.client_id}`, m: { author: 'operator', author_operator: me.id, body: o.body, internal: o.internal, created: o.created, client_id: o.client_id }, state: o.state, error: o.error });
    }
    return out;
  }
  const isOwn = (m) => m.author === 'operator' && String(m.author_operator ?? '') === String(me.id);

  function authorName(rec, m) {
    if (m.author === 'visitor') return displayName(rec);
    if (m.author === 'system') return i18n.t('chat.system');
    if (isOwn(m)) return i18n.t('chat.you');
    return String(m.operator?.name || chatStore.operator(m.author_operator)?.name || i18n.t('chat.operator'));
  }

  function messageEl(rec, it) {
    const m = it.m;
    const own = it.state !== null;
    const author = ['visitor', 'operator', 'system'].includes(m.author) ? m.author : 'system';
    const li = h('li', {
      class: `chat-msg chat-from-${author}${m.internal ? ' chat-internal' : ''}${own ? ' chat-own' : ''}`,
      'data-seq': m.seq ? String(m.seq) : null, 'data-client-id': m.client_id || null,
    });
    const state = h('span', { class: 'chat-state' });
    li.append(
      h('div', { class: 'chat-meta' },
        h('span', { class: 'chat-author' }, authorName(rec, m)),
        m.internal ? h('span', { class: 'badge chat-note-badge', t: 'chat.internal_badge' }) : null,
        m.created ? clock(m.created) : null,
        own ? state : null),
      h('p', { class: 'chat-body' }, String(m.body ?? '')));
    const view = { li, state, shown: null };
    setState(view, it, rec);
    return view;
  }

  function setState(view, it, rec) {
    const sig = `${it.state}|${it.m.seq ?? ''}`;
    if (view.shown === sig || it.state === null) return;
    view.shown = sig;
    view.li.dataset.state = it.state;
    if (it.m.seq) view.li.dataset.seq = String(it.m.seq);
    view.state.replaceChildren();
    if (it.state === 'failed') {
      const retry = h('button', { type: 'button', class: 'btn ghost small chat-retry', t: 'chat.retry' });
      retry.addEventListener('click', () => chatStore.retry(rec, it.m.client_id));
      view.state.append(tx('chat.state.failed'), ' ', retry);
      if (it.error) view.state.title = it.error;
    } else {
      i18n.text(view.state, `chat.state.${it.state}`);
    }
  }

  function renderLog() {
    if (!pane) return;
    const { rec, log, items } = pane;
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    const want = itemsOf(rec);
    const keys = new Set();
    let cur = log.firstElementChild;
    for (const it of want) {
      keys.add(it.key);
      let view = items.get(it.key);
      if (!view) {
        view = messageEl(rec, it);
        items.set(it.key, view);
      } else {
        setState(view, it, rec);
      }
      if (cur === view.li) { cur = cur.nextElementSibling; continue; }
      log.insertBefore(view.li, cur);
    }
    for (const [k, view] of items) if (!keys.has(k)) { view.li.remove(); items.delete(k); }
    if (atBottom || want.length && want[want.length - 1].state) log.scrollTop = log.scrollHeight;
    showTyping();
  }

  function showTyping() {
    if (!pane) return;
    const on = pane.rec.typing && pane.rec.c.status !== 'closed';
    pane.typing.replaceChildren();
    if (on) {
      pane.typing.append(tx('chat.visitor_typing', { name: displayName(pane.rec) }));
      if (pane.rec.preview) pane.typing.append(' ', h('span', { class: 'chat-preview' }, `“${pane.rec.preview}”`));
    }
    pane.typing.classList.toggle('on', on);
  }

  // ---- own typing, throttled ----
  let typingRec = null;
  let typingSentAt = 0;
  let typingIdle = 0;
  function typed(rec) {
    const now = Date.now();
    if (typingRec !== rec || now - typingSentAt > TYPING_EVERY_MS) {
      if (typingRec && typingRec !== rec) chatStore.typing(typingRec, false);
      typingRec = rec;
      typingSentAt = now;
      chatStore.typing(rec, true);
    }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS);
  }
  function stopTyping() {
    clearTimeout(typingIdle);
    if (typingRec) chatStore.typing(typingRec, false);
    typingRec = null;
    typingSentAt = 0;
  }

  function submit() {
    if (!pane) return;
    const { rec, input, internal, composeErr } = pane;
    hideSuggest();
    const body = input.value.trim();
    if (!body) { setMessage(composeErr, { key: 'chat.empty_message' }); input.focus(); return; }
    if (body.length > MAX_BODY) { setMessage(composeErr, { key: 'chat.too_long', params: { n: MAX_BODY } }); return; }
    setMessage(composeErr, null);
    stopTyping();
    chatStore.send(rec, body, internal.checked);
    input.value = '';
    rec.draft = '';
    input.focus();
  }

  // ---- canned responses: the picker and "/shortcut" in the composer ----
  let cannedCache = null;
  async function fillCanned() {
    try { cannedCache = await chatStore.canned(); } catch { cannedCache = []; }
    if (!pane) return;
    pane.cannedSel.replaceChildren(h('option', { value: '', t: 'chat.canned_insert' }),
      cannedCache.map((c) => h('option', { value: String(c.id) }, `/${c.shortcut} · ${c.title || c.body}`.slice(0, 80))));
    pane.cannedSel.hidden = cannedCache.length === 0;
  }

  function placeholderValues(rec) {
    const c = rec.c;
    const e = visitorStore.get(visitorKey(String(c.site ?? ''), String(c.vid ?? '')));
    const contact = e?.v?.contact && typeof e.v.contact === 'object' ? e.v.contact : {};
    return {
      name: c.name || contact.name || '',
      email: c.email || contact.email || '',
      operator: me.name || '',
      page: e?.v?.current_url || c.page_url || '',
    };
  }

  // The "/word" being typed just before the cursor, if any.
  function slashToken() {
    const { input } = pane;
    const upto = input.value.slice(0, input.selectionStart ?? input.value.length);
    const m = /(^|\s)\/([\p{L}\p{N}_-]*)$/u.exec(upto);
    return m ? { word: m[2], start: upto.length - m[2].length - 1, end: upto.length } : null;
  }

  function updateSuggest() {
    if (!pane) return;
    const tok = slashToken();
    const list = tok && cannedCache ? cannedCache.filter((c) => String(c.shortcut).toLowerCase().startsWith(tok.word.toLowerCase())).slice(0, 8) : [];
    pane.sugg = list;
    pane.suggIndex = list.length ? 0 : -1;
    if (!list.length) return hideSuggest();
    pane.suggest.replaceChildren(...list.map((c, i) => {
      const li = h('li', { role: 'option', id: `chat-sugg-${i}`, class: 'chat-sugg', 'data-shortcut': String(c.shortcut) },
        h('span', { class: 'chat-sugg-key' }, `/${c.shortcut}`),
        h('span', { class: 'chat-sugg-text' }, String(c.title || c.body)));
      li.addEventListener('mousedown', (ev) => { ev.preventDefault(); insertCanned(c, slashToken()); });
      return li;
    }));
    pane.suggest.hidden = false;
    pane.input.setAttribute('aria-expanded', 'true');
    markSuggest();
  }
  function markSuggest() {
    [...pane.suggest.children].forEach((li, i) => li.setAttribute('aria-selected', i === pane.suggIndex ? 'true' : 'false'));
    if (pane.suggIndex >= 0) pane.input.setAttribute('aria-activedescendant', `chat-sugg-${pane.suggIndex}`);
    else pane.input.removeAttribute('aria-activedescendant');
  }
  function hideSuggest() {
    if (!pane) return;
    pane.suggest.hidden = true;
    pane.sugg = [];
    pane.suggIndex = -1;
    pane.input.setAttribute('aria-expanded', 'false');
    pane.input.removeAttribute('aria-activedescendant');
  }

  function insertCanned(item, tok) {
    const { input, rec } = pane;
    const text = fillPlaceholders(item.body, placeholderValues(rec));
    const start = tok ? tok.start : input.selectionStart ?? input.value.length;
    const end = tok ? tok.end : input.selectionEnd ?? input.value.length;
    input.value = input.value.slice(0, start) + text + input.value.slice(end);
    const at = start + text.length;
    input.setSelectionRange(at, at);
    rec.draft = input.value;
    hideSuggest();
    input.focus();
  }

  function onComposerKey(ev) {
    if (!pane) return;
    const open = !pane.suggest.hidden && pane.sugg.length;
    if (open && (ev.key === 'ArrowDown' || ev.key === 'ArrowUp')) {
      ev.preventDefault();
      const n = pane.sugg.length;
      pane.suggIndex = (pane.suggIndex + (ev.key === 'ArrowDown' ? 1 : n - 1)) % n;
      markSuggest();
    } else if (open && (ev.key === 'Enter' || ev.key === 'Tab')) {
      ev.preventDefault();
      insertCanned(pane.sugg[Math.max(0, pane.suggIndex)], slashToken());
    } else if (open && ev.key === 'Escape') {
      ev.preventDefault();
      hideSuggest();
    } else if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      // Enter sends, Shift+Enter makes a new line.
      ev.preventDefault();
      submit();
    }
  }

  // ---- transfer and close ----
  async function fillTransfer() {
    if (!pane) return;
    const sel = pane.transferSel;
    const keep = sel.value;
    const ops = chatStore.operators().filter((op) => String(op.id) !== String(me.id) && String(op.id) !== String(operatorOf(pane.rec.c)));
    sel.replaceChildren(h('option', { value: '', t: 'chat.transfer_to' }),
      ops.length ? h('optgroup', { label: i18n.t('chat.to_operator') }, ops.map((op) =>
        h('option', { value: `op:${op.id}`, disabled: op.status !== 'online' },
          `${op.name || op.id} (${i18n.t(`chat.status.${['online', 'away', 'offline'].includes(op.status) ? op.status : 'offline'}`)})`))) : null,
      departments?.length ? h('optgroup', { label: i18n.t('chat.to_department') }, departments.map((d) =>
        h('option', { value: `dep:${d.id}` }, String(d.name)))) : null);
    sel.value = keep;
    if (departments === null) {
      departments = [];
      try {
        const res = await api.get('/departments', { signal });
        departments = Array.isArray(res?.departments) ? res.departments : [];
      } catch { departments = []; }
      if (departments.length) fillTransfer();
    }
  }

  async function doTransfer() {
    const { rec, transferSel, actionErr, transferBtn } = pane;
    const v = transferSel.value;
    if (!v) { setMessage(actionErr, { key: 'chat.transfer_pick' }); transferSel.focus(); return; }
    setMessage(actionErr, null);
    const body = v.startsWith('op:') ? { operator: v.slice(3) } : { department: v.slice(4) };
    transferBtn.disabled = true;
    try {
      await chatStore.transfer(rec, body);
      setMessage(pane.closedNote, { key: 'chat.transferred' });
    } catch (e) {
      setMessage(actionErr, errorMessage(e));
    } finally {
      transferBtn.disabled = false;
    }
  }

  async function doClose() {
    const { rec, outcomeSel, actionErr, closeBtn } = pane;
    if (!outcomeSel.value) { setMessage(actionErr, { key: 'chat.outcome_required' }); outcomeSel.focus(); return; }
    setMessage(actionErr, null);
    closeBtn.disabled = true;
    try {
      stopTyping();
      await chatStore.close(rec, outcomeSel.value);
    } catch (e) {
      setMessage(actionErr, errorMessage(e));
      closeBtn.disabled = false;
    }
  }

  // ---- beside the chat: the visitor ----
  let infoFor = null;
  let infoLive = null;
  function renderInfo(rec) {
    const c = rec.c;
    const site = String(c.site ?? '');
    const vid = String(c.vid ?? '');
    infoEl.hidden = false;
    infoFor = rec;
    infoLive = h('div', { class: 'chat-live' });
    const history = h('div', { class: 'chat-history' }, h('p', { class: 'muted loading', t: 'common.loading' }));
    infoEl.replaceChildren(
      kbPanel(rec),
      h('h2', { class: 'chat-side-title', t: 'chat.about_visitor' }),
      vid ? h('p', { class: 'chat-profile-link' }, h('a', { href: profileHref(site, vid), t: 'chat.open_profile' })) : null,
      infoLive, history);
    updateLiveInfo();
    if (!vid) { history.replaceChildren(); return; }
    api.get(`/visitors/${encodeURIComponent(vid)}?site=${encodeURIComponent(site)}`, { signal }).then((res) => {
      if (infoFor !== rec) return;
      const visits = Array.isArray(res?.visits) ? res.visits : [];
      const v = res?.visitor || {};
      history.replaceChildren(
        v.email || v.name ? h('p', { class: 'chat-contact' }, [v.name, v.email].filter(Boolean).join(' · ')) : null,
        h('h3', { class: 'chat-info-title', t: 'chat.past_visits', tArgs: { n: visits.length } }),
        visits.length ? h('ol', { class: 'chat-visits' }, visits.slice(0, 8).map((vi) => h('li', null,
          timeEl(vi.started),
          h('span', { class: 'muted' }, ' · ', tx('visitor.pageviews_n', { n: Number(vi.pageviews) || 0 })),
          vi.entry_url ? h('span', { class: 'chat-visit-url', title: String(vi.entry_url) }, urlPath(vi.entry_url)) : null)))
          : h('p', { class: 'muted', t: 'visitor.no_visits' }));
    }).catch((e) => {
      if (infoFor !== rec || e?.name === 'AbortError') return;
      const p = h('p', { class: 'muted' });
      setMessage(p, e.status === 404 ? { key: 'visitor.not_found' } : errorMessage(e));
      history.replaceChildren(p);
    });
  }

  // ---- suggested articles and products for what the visitor last wrote ----
  let kbFor = null;   // the conversation the panel belongs to
  let kbSeen = 0;     // the visitor's newest seq already searched for
  let kbTimer = 0;
  let kbCtrl = null;
  let kbList = null;
  let kbNote = null;
  function kbPanel(rec) {
    kbFor = rec;
    kbSeen = 0;
    clearTimeout(kbTimer);
    kbCtrl?.abort();
    kbNote = h('p', { class: 'hint chat-kb-note', t: 'chat.kb_waiting' });
    kbList = h('ul', { class: 'chat-kb-list' });
    const panel = h('section', { class: 'chat-kb', 'aria-labelledby': 'chat-kb-title' },
      h('h2', { class: 'chat-side-title', id: 'chat-kb-title', t: 'chat.kb_title' }), kbNote, kbList);
    setTimeout(maybeSuggest, 0);
    return panel;
  }

  function maybeSuggest() {
    const rec = kbFor;
    if (!rec || !pane || pane.rec !== rec) return;
    let newest = 0;
    for (const m of rec.messages) if (m.author === 'visitor' && !m.internal && m.seq > newest) newest = m.seq;
    if (!newest || newest <= kbSeen) return;
    kbSeen = newest;
    clearTimeout(kbTimer);
    kbTimer = setTimeout(() => suggest(rec), KB_WAIT_MS);
  }

  async function suggest(rec) {
    const q = suggestQuery(rec.messages);
    if (!q || kbFor !== rec) return;
    kbCtrl?.abort();
    const ctrl = new AbortController();
    kbCtrl = ctrl;
    const c = rec.c;
    const l = String(c.lang || '').slice(0, 2).toLowerCase();
    const lang = l === 'de' || l === 'en' ? l : i18n.lang === 'de' ? 'de' : 'en';
    const site = String(c.site || 'default');
    const p = new URLSearchParams({ q, lang, site, limit: '3', products: '3' });
    i18n.text(kbNote, 'common.loading');
    kbNote.hidden = false;
    try {
      const res = await api.get(`/faq/search?${p}`, { signal: ctrl.signal });
      if (kbFor !== rec || ctrl.signal.aborted) return;
      showSuggestions(rec, site, Array.isArray(res?.articles) ? res.articles : [], Array.isArray(res?.products) ? res.products : []);
    } catch (e) {
      if (e?.name === 'AbortError' || kbFor !== rec) return;
      setMessage(kbNote, errorMessage(e));
    }
  }

  function showSuggestions(rec, site, articles, products) {
    const items = [
      ...articles.map((a) => {
        const text = `${plainText(a.question_html)}\n${helpUrl(site, a.lang === 'de' ? 'de' : 'en', String(a.slug ?? ''))}`;
        return kbItem('article', a.id, marked(a.question_html), a.snippet_html ? marked(a.snippet_html) : null, text, plainText(a.question_html));
      }),
      ...products.map((pr) => {
        const name = String(pr.name || pr.sku || '');
        const price = priceText(pr);
        const text = [price === '–' ? name : `${name} – ${price}`, pr.url ? String(pr.url) : ''].filter(Boolean).join('\n');
        return kbItem('product', pr.sku, pr.name_html ? marked(pr.name_html) : name, price === '–' ? null : price, text, name);
      }),
    ];
    kbList.replaceChildren(...items);
    if (items.length) kbNote.hidden = true;
    else i18n.text(kbNote, 'chat.kb_none');
  }

  function kbItem(kind, id, title, detail, text, name) {
    const insert = h('button', { type: 'button', class: 'btn small chat-kb-insert', t: 'chat.kb_insert' });
    i18n.attr(insert, 'aria-label', 'chat.kb_insert_named', { name });
    insert.addEventListener('click', () => insertText(text));
    return h('li', { class: `chat-kb-item chat-kb-${kind}`, 'data-kind': kind, 'data-id': String(id ?? '') },
      h('span', { class: 'badge chat-kb-kind', t: kind === 'article' ? 'chat.kb_article' : 'chat.kb_product' }),
      h('p', { class: 'chat-kb-name' }, title),
      detail ? h('p', { class: 'chat-kb-detail' }, detail) : null,
      insert);
  }

  // Puts text at the cursor in the message field (on its own line); the operator sends it.
  function insertText(text) {
    if (!pane || pane.input.disabled) return;
    const { input, rec } = pane;
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? input.value.length;
    const before = input.value.slice(0, start);
    const lead = before && !before.endsWith('\n') ? '\n' : '';
    input.value = before + lead + text + input.value.slice(end);
    const at = start + lead.length + text.length;
    input.setSelectionRange(at, at);
    rec.draft = input.value;
    input.focus();
  }

  function updateLiveInfo() {
    if (!infoFor || !infoLive) return;
    const c = infoFor.c;
    const e = visitorStore.get(visitorKey(String(c.site ?? ''), String(c.vid ?? '')));
    if (!e) {
      infoLive.replaceChildren(h('p', { class: 'muted chat-away', t: 'visitor.live.away' }),
        c.page_url ? h('p', { class: 'chat-page' }, h('span', { class: 'muted', t: 'chat.started_on' }), ' ', h('span', { class: 'chat-page-url' }, urlPath(c.page_url))) : null);
      return;
    }
    const v = e.v;
    const now = Date.now();
    const tos = e.sinceMs === null ? 0 : (now - e.sinceMs) / 1000;
    infoLive.replaceChildren(
      h('p', { class: 'chat-here', t: 'visitor.live.here' }),
      h('dl', { class: 'chat-facts' },
        h('div', null, h('dt', { t: 'visitors.col.page' }), h('dd', { class: 'chat-page' },
          h('span', { class: 'chat-page-title' }, String(v.title || urlPath(v.current_url))),
          h('span', { class: 'chat-page-url' }, urlPath(v.current_url)))),
        h('div', null, h('dt', { t: 'visitors.col.device' }), h('dd', null, deviceLabel(v.device), v.browser ? ` ${v.browser}` : '')),
        h('div', null, h('dt', { t: 'visitors.col.cart' }), h('dd', { class: 'chat-cart' }, Number(v.cart_total) ? fmtMoney(v.cart_total) : '–')),
        h('div', null, h('dt', { t: 'visitors.col.time_on_site' }), h('dd', null, fmtDuration(tos))),
        h('div', null, h('dt', { t: 'visitors.col.pages' }), h('dd', null, String(Number(v.pages) || 0)))));
  }

  // ---- wiring ----
  const page = h('section', { class: 'page page-wide chat-page' }, pageHeader('nav.chats'), layout);

  const offStore = chatStore.subscribe((kind, id) => {
    if (kind === 'list') {
      renderLists();
      if (pane && (!id || id === pane.rec.id)) updatePane();
    } else if (kind === 'messages' && pane && id === pane.rec.id) {
      renderLog();
      maybeSuggest();
    } else if (kind === 'typing') {
      if (pane && id === pane.rec.id) showTyping();
      renderTabs();
    } else if (kind === 'operators') {
      renderTeam();
      if (pane) updatePane();
    }
  });
  const offVisitors = visitorStore.subscribe(() => updateLiveInfo());
  const timer = setInterval(() => { tickQueue(); }, 1000);
  const liveTimer = setInterval(() => updateLiveInfo(), 5000);
  const offLang = i18n.onChange(() => { renderLists(); renderTeam(); if (pane) { updatePane(); fillTransfer(); } });
  signal.addEventListener('abort', () => {
    stopTyping();
    clearTimeout(kbTimer);
    kbCtrl?.abort();
    offStore();
    offVisitors();
    offLang();
    clearInterval(timer);
    clearInterval(liveTimer);
    chatStore.setActive(null);
  }, { once: true });

  renderLists();
  renderTeam();
  const want = params?.query?.get('c');
  if (want && chatStore.get(want)) select(want);
  else {
    showEmptyPane();
    // Opened from a notification before the list arrived: select when it does.
    if (want) {
      const off = chatStore.subscribe(() => {
        if (chatStore.get(want)) { off(); if (!signal.aborted) select(want); }
      });
      signal.addEventListener('abort', off, { once: true });
    }
  }
  return page;
}
