// The console's chat state (docs/chat.md): conversations, their messages, the
// operators and their status, canned responses, and the alerts for new chats.
// Attached once at start-up (app.js) to the operator socket, so the queue,
// the badge in the navigation and the sound work whatever page is open.
//
// Messages are kept per conversation by seq: a message is shown once however
// often it arrives (socket, REST catch-up after a reconnect). Own messages
// wait in an outbox under their client id until the server acknowledges them
// (stored); after a reconnect the unacknowledged ones are sent again and the
// server's dedup by client id keeps them single. On every new connection the
// conversations already loaded fetch what they missed with ?after=last seq.
import { i18n } from '/console/i18n.js';

const convs = new Map();      // id → record (see record())
const operators = new Map();  // id → {id,name,status,chats,max_chats}
const listeners = new Set();
let live = null;
let api = null;
let getMe = () => null;
let connections = 0;          // hello frames seen: more than one means a reconnect
let snapshot = false;         // the first "conversations" frame has arrived
let canned = null;            // [{id,shortcut,title,body}] once loaded
let cannedLoading = null;

/** An id as a string, from a value that may be an id or an object with one. */
export const idOf = (x) => (x && typeof x === 'object' ? (x.id ?? null) : x ?? null);
const sameId = (a, b) => a !== null && a !== undefined && b !== null && b !== undefined && String(a) === String(b);

/** The operator a conversation is assigned to (its id), or null. */
export const operatorOf = (c) => idOf(c?.operator ?? c?.operator_id ?? null);

function record(c) {
  return {
    id: String(c.id),
    c,
    messages: [],        // sorted by seq
    seqs: new Set(),
    lastSeq: 0,          // the highest seq seen (internal ones included)
    loaded: false,       // the history has been fetched
    loading: null,
    outbox: new Map(),   // client_id → {client_id, body, internal, created, state:'sending'|'failed', error}
    typing: false,       // the visitor is typing
    typingTimer: 0,
    unread: 0,
    draft: '',
    draftInternal: false,
    arrived: Date.now(),
  };
}

function emit(kind, id) {
  for (const fn of listeners) {
    try { fn(kind, id); } catch (e) { console.error(e); }
  }
}

function myId() { return getMe()?.id ?? null; }
function isAdmin() { return getMe()?.role === 'admin'; }

// ---- alerts -----------------------------------------------------------------------

let audio = null;
function audioContext() {
  const AC = globalThis.AudioContext || globalThis.webkitAudioContext;
  if (!AC) return null;
  if (!audio) {
    try { audio = new AC(); } catch { audio = null; }
  }
  return audio;
}
// Browsers let a page make sound only after a user gesture; the first click
// or key press prepares the audio context.
function unlockAudio() {
  const ctx = audioContext();
  if (ctx && ctx.state === 'suspended') ctx.resume().catch(() => {});
}
if (typeof document !== 'undefined') {
  document.addEventListener('pointerdown', unlockAudio, { once: true, capture: true });
  document.addEventListener('keydown', unlockAudio, { once: true, capture: true });
}

/** Two short tones, made on the spot (no sound file). */
export function playChime() {
  const ctx = audioContext();
  if (!ctx) return false;
  if (ctx.state === 'suspended') ctx.resume().catch(() => {});
  const t0 = ctx.currentTime + 0.01;
  [[880, 0], [1175, 0.16]].forEach(([freq, at]) => {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'sine';
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, t0 + at);
    gain.gain.exponentialRampToValueAtTime(0.2, t0 + at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t0 + at + 0.15);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t0 + at);
    osc.stop(t0 + at + 0.16);
  });
  return true;
}

export const notifications = {
  get supported() { return typeof globalThis.Notification === 'function'; },
  get permission() { return this.supported ? globalThis.Notification.permission : 'denied'; },
  /** Must run from a click: browsers ignore the request otherwise. */
  async request() {
    if (!this.supported) return 'denied';
    try { return await globalThis.Notification.requestPermission(); } catch { return 'denied'; }
  },
};

function alertNew(rec) {
  playChime();
  if (notifications.permission !== 'granted') return;
  try {
    const n = new globalThis.Notification(i18n.t('chat.notify_title'), {
      body: i18n.t('chat.notify_body', { name: displayName(rec) }),
      tag: `emma-chat-${rec.id}`,
    });
    n.onclick = () => {
      window.focus();
      location.hash = `#/chats?c=${encodeURIComponent(rec.id)}`;
      n.close();
    };
  } catch { /* some browsers allow notifications only from a service worker */ }
}

// ---- conversations -----------------------------------------------------------------

function visible(c) {
  if (c.status === 'closed') return false;
  if (c.status === 'pending') return true;
  return isAdmin() || sameId(operatorOf(c), myId());
}

// A conversation that newly needs this operator: waiting in the queue, or
// assigned straight to them by the routing.
function needsAlert(rec, before) {
  const c = rec.c;
  if (c.status === 'pending') return !before || before.status !== 'pending';
  if (c.status === 'open' && sameId(operatorOf(c), myId()))
    return !before || !sameId(operatorOf(before), myId()) || before.status !== 'open';
  return false;
}

function upsertConversation(c, { alert }) {
  if (!c || c.id === undefined || c.id === null) return null;
  const id = String(c.id);
  let rec = convs.get(id);
  const before = rec ? rec.c : null;
  if (!rec) {
    rec = record(c);
    convs.set(id, rec);
  } else {
    rec.c = { ...rec.c, ...c };
  }
  if (Number(c.last_seq) > 0 && !rec.loaded) rec.knownSeq = Number(c.last_seq);
  if (alert && visible(rec.c) && needsAlert(rec, before)) alertNew(rec);
  return rec;
}

function addMessage(rec, m) {
  const seq = Number(m.seq);
  if (!Number.isFinite(seq) || seq <= 0) return false;
  if (m.client_id && rec.outbox.has(m.client_id)) rec.outbox.delete(m.client_id);
  if (seq > rec.lastSeq) rec.lastSeq = seq;
  if (rec.seqs.has(seq)) {
    // Known: the fuller copy wins (an ack makes a message before its frame arrives).
    const i = rec.messages.findIndex((x) => x.seq === seq);
    if (i >= 0 && rec.messages[i].local) rec.messages[i] = { ...m, seq };
    return false;
  }
  rec.seqs.add(seq);
  const msg = { ...m, seq };
  let i = rec.messages.length;
  while (i > 0 && rec.messages[i - 1].seq > seq) i--;
  rec.messages.splice(i, 0, msg);
  return true;
}

function messagesOf(res) {
  if (Array.isArray(res?.messages)) return res.messages;
  if (Array.isArray(res?.conversation?.messages)) return res.conversation.messages;
  return [];
}

/** Fetches a conversation with its messages (once; later calls reuse it). */
function load(rec) {
  if (rec.loaded) return Promise.resolve(rec);
  if (rec.loading) return rec.loading;
  rec.loading = api.get(`/conversations/${encodeURIComponent(rec.id)}`)
    .then((res) => {
      if (res?.conversation) {
        const { messages, ...c } = res.conversation;
        rec.c = { ...rec.c, ...c };
      }
      for (const m of messagesOf(res)) addMessage(rec, m);
      rec.loaded = true;
      emit('messages', rec.id);
      return rec;
    })
    .finally(() => { rec.loading = null; });
  return rec.loading;
}

const PAGE = 200;
/** Everything after the last seq seen; used after a reconnect. */
async function catchUp(rec) {
  for (let guard = 0; guard < 50; guard++) {
    const res = await api.get(`/conversations/${encodeURIComponent(rec.id)}/messages?after=${rec.lastSeq}&limit=${PAGE}`);
    const list = messagesOf(res);
    let added = false;
    for (const m of list) added = addMessage(rec, m) || added;
    if (added) emit('messages', rec.id);
    if (list.length < PAGE) break;
  }
}

function resendOutbox(rec) {
  for (const o of rec.outbox.values()) {
    if (o.state !== 'sending') continue;
    live.send({ type: 'msg', conversation: rec.c.id, client_id: o.client_id, body: o.body, internal: o.internal });
  }
}

function clientId() {
  if (globalThis.crypto?.randomUUID) return globalThis.crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

// ---- socket ------------------------------------------------------------------------

/** Subscribes to the operator socket. Called once by app.js. */
export function attachChat(liveSocket, restApi, me) {
  if (live) return;
  live = liveSocket;
  api = restApi;
  getMe = me;

  live.on('hello', () => { connections++; });

  live.on('conversations', (m) => {
    const list = Array.isArray(m.conversations) ? m.conversations : [];
    const ids = new Set();
    for (const c of list) {
      // After the first snapshot, conversations new in a later one (missed
      // while disconnected) are announced like live ones.
      const rec = upsertConversation(c, { alert: snapshot && !convs.has(String(c?.id)) });
      if (rec) ids.add(rec.id);
    }
    // Those not in the snapshot were closed or taken by someone else meanwhile.
    for (const [id, rec] of convs) {
      if (!ids.has(id) && rec.c.status !== 'closed') rec.c = { ...rec.c, status: rec.c.status === 'pending' ? 'gone' : 'closed' };
    }
    snapshot = true;
    emit('list');
    if (connections > 1) {
      for (const rec of convs.values()) {
        if (!ids.has(rec.id)) continue;
        resendOutbox(rec);
        if (rec.loaded) catchUp(rec).catch(() => {});
      }
    }
  });

  live.on('conversation', (m) => {
    const rec = upsertConversation(m.conversation, { alert: true });
    if (rec) emit('list', rec.id);
  });

  live.on('msg', (m) => {
    const id = String(idOf(m.conversation) ?? '');
    const rec = convs.get(id);
    if (!rec) return;
    const added = addMessage(rec, m);
    if (m.author === 'visitor') {
      rec.typing = false;
      clearTimeout(rec.typingTimer);
    }
    const own = m.author === 'operator' && sameId(m.author_operator, myId());
    if (added && !own && (active !== rec.id || document.hidden)) rec.unread++;
    if (added) emit('messages', rec.id);
    if (added && rec.unread) emit('list', rec.id);
  });

  live.on('ack', (m) => {
    const rec = convs.get(String(idOf(m.conversation) ?? ''));
    if (!rec) {
      // The ack may not name the conversation: find the outbox that holds the id.
      for (const r of convs.values()) if (r.outbox.has(m.client_id)) return ack(r, m);
      return;
    }
    ack(rec, m);
  });

  live.on('error', (m) => {
    if (!m.client_id) return;
    for (const rec of convs.values()) {
      const o = rec.outbox.get(m.client_id);
      if (!o) continue;
      o.state = 'failed';
      o.error = m.error?.message || m.error?.code || '';
      emit('messages', rec.id);
    }
  });

  live.on('typing', (m) => {
    const rec = convs.get(String(idOf(m.conversation) ?? ''));
    if (!rec || m.author !== 'visitor') return;
    rec.typing = !!m.typing;
    // What the visitor has typed so far, when the server passes it on.
    rec.preview = rec.typing && typeof m.preview === 'string' ? m.preview : '';
    clearTimeout(rec.typingTimer);
    // A visitor who closes the page stops typing without saying so.
    if (rec.typing) rec.typingTimer = setTimeout(() => { rec.typing = false; emit('typing', rec.id); }, 8000);
    emit('typing', rec.id);
  });

  live.on('operators', (m) => {
    operators.clear();
    for (const op of Array.isArray(m.operators) ? m.operators : []) if (op?.id !== undefined) operators.set(String(op.id), op);
    emit('operators');
  });

  live.on('operator_status', (m) => {
    const op = m.operator;
    if (!op || op.id === undefined) return;
    operators.set(String(op.id), { ...(operators.get(String(op.id)) || {}), ...op });
    emit('operators');
  });
}

function ack(rec, m) {
  const o = rec.outbox.get(m.client_id);
  if (!o) return;
  rec.outbox.delete(m.client_id);
  // Stored: shown as a message with its seq until (or unless) the echo arrives.
  addMessage(rec, {
    local: true, conversation: rec.c.id, seq: m.seq, author: 'operator', author_operator: myId(),
    body: o.body, internal: o.internal, client_id: o.client_id, created: o.created,
  });
  emit('messages', rec.id);
}

// ---- what the pages use -------------------------------------------------------------

let active = null; // the conversation open in the chat page

/** The visitor's name for lists and headings. */
export function displayName(rec) {
  const c = rec.c || rec;
  return String(c.name || c.email || c.visitor?.name || c.visitor?.email || '') || i18n.t('visitors.anonymous');
}

export const chatStore = {
  get ready() { return snapshot; },
  get(id) { return convs.get(String(id)); },
  /** Waiting conversations, longest waiting first. */
  queue() {
    return [...convs.values()].filter((r) => r.c.status === 'pending')
      .sort((a, b) => created(a) - created(b));
  },
  /** Open conversations of this operator (admins: everyone's, own first). */
  open() {
    const me = myId();
    return [...convs.values()].filter((r) => r.c.status === 'open' && visible(r.c))
      .sort((a, b) => (sameId(operatorOf(b.c), me) - sameId(operatorOf(a.c), me)) || created(a) - created(b));
  },
  isMine(rec) { return sameId(operatorOf(rec.c), myId()); },
  get pendingCount() {
    let n = 0;
    for (const r of convs.values()) if (r.c.status === 'pending') n++;
    return n;
  },
  get unreadCount() {
    let n = 0;
    for (const r of convs.values()) if (r.c.status === 'open' && sameId(operatorOf(r.c), myId())) n += r.unread;
    return n;
  },
  operators() { return [...operators.values()].sort((a, b) => String(a.name || '').localeCompare(String(b.name || ''))); },
  operator(id) { return operators.get(String(id)); },
  get myStatus() { return operators.get(String(myId()))?.status || null; },
  subscribe(fn) { listeners.add(fn); return () => listeners.delete(fn); },

  setActive(id) {
    active = id ? String(id) : null;
    const rec = active && convs.get(active);
    if (rec && rec.unread) { rec.unread = 0; emit('list', rec.id); }
  },
  get active() { return active; },
  load(rec) { return load(rec); },

  /** Sends a message or an internal note over the socket; returns its client id. */
  send(rec, body, internal) {
    const o = { client_id: clientId(), body, internal: !!internal, created: new Date().toISOString(), state: 'sending' };
    rec.outbox.set(o.client_id, o);
    // Not connected: it stays in the outbox and goes out after the reconnect.
    live.send({ type: 'msg', conversation: rec.c.id, client_id: o.client_id, body, internal: o.internal });
    emit('messages', rec.id);
    return o.client_id;
  },
  retry(rec, clientIdToRetry) {
    const o = rec.outbox.get(clientIdToRetry);
    if (!o) return;
    o.state = 'sending';
    o.error = '';
    live.send({ type: 'msg', conversation: rec.c.id, client_id: o.client_id, body: o.body, internal: o.internal });
    emit('messages', rec.id);
  },
  typing(rec, on) {
    return live.send({ type: 'typing', conversation: rec.c.id, typing: !!on });
  },

  /** Accept from the queue; a 409 means someone else was faster. */
  async accept(rec) {
    try {
      const res = await api.post(`/conversations/${encodeURIComponent(rec.id)}/accept`, {});
      if (res?.conversation) upsertConversation(res.conversation, { alert: false });
      else rec.c = { ...rec.c, status: 'open', operator: myId() };
      emit('list', rec.id);
      return rec;
    } catch (e) {
      if (e.status === 409 || e.status === 404) {
        rec.c = { ...rec.c, status: 'gone' };
        emit('list', rec.id);
      }
      throw e;
    }
  },
  async transfer(rec, to) {
    const res = await api.post(`/conversations/${encodeURIComponent(rec.id)}/transfer`, to);
    if (res?.conversation) upsertConversation(res.conversation, { alert: false });
    emit('list', rec.id);
  },
  async close(rec, outcome) {
    const res = await api.post(`/conversations/${encodeURIComponent(rec.id)}/close`, { outcome });
    upsertConversation(res?.conversation || { id: rec.c.id, status: 'closed', outcome }, { alert: false });
    emit('list', rec.id);
  },
  async setStatus(status) {
    await api.put('/me/status', { status });
    const me = myId();
    if (me !== null) {
      operators.set(String(me), { ...(operators.get(String(me)) || { id: me, name: getMe()?.name }), status });
      emit('operators');
    }
  },

  /** Canned responses, loaded once per page view (force after an edit). */
  async canned(force) {
    if (canned && !force) return canned;
    if (!cannedLoading) {
      cannedLoading = api.get('/canned').then((res) => {
        const list = res?.canned ?? res?.responses ?? res?.items ?? [];
        canned = Array.isArray(list) ? list : [];
        return canned;
      }).finally(() => { cannedLoading = null; });
    }
    return cannedLoading;
  },
  cannedChanged() { canned = null; },
};

function created(rec) {
  const t = Date.parse(rec.c.created ?? rec.c.created_at ?? '');
  return Number.isNaN(t) ? rec.arrived : t;
}

/** When the conversation started (ms), for wait times. */
export const startedAt = created;

/**
 * Fills a canned response's placeholders. Unknown values become empty, so a
 * greeting never shows a raw "{name}" to the visitor.
 */
export function fillPlaceholders(body, values) {
  return String(body).replace(/\{(name|email|operator|page)\}/g, (_, k) => String(values[k] ?? ''));
}
