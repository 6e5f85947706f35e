// The operator WebSocket (/ws/operator). It drives the "live"/"offline"
// indicator; the areas subscribe to its message types (visitor_enter,
// conversation events, ...) with live.on(type, fn) and write frames with
// live.send(obj). Unknown types are ignored. Reconnects with capped,
// jittered backoff; every connection starts with a fresh "hello".

const MIN_DELAY = 1000;
const MAX_DELAY = 30000;

export function createLive({ onState, beforeReconnect } = {}) {
  const target = new EventTarget();
  let ws = null;
  let timer = 0;
  let attempt = 0;
  let running = false;
  let state = 'offline';

  function setState(next) {
    if (next === state) return;
    state = next;
    onState?.(state);
  }

  function url() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}/ws/operator`;
  }

  function connect() {
    if (!running) return;
    setState('connecting');
    let sock;
    try {
      sock = new WebSocket(url());
    } catch {
      schedule();
      return;
    }
    ws = sock;
    sock.onopen = () => {
      if (ws !== sock) return;
      attempt = 0;
      setState('live');
    };
    sock.onmessage = (ev) => {
      if (ws !== sock || typeof ev.data !== 'string') return;
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg && typeof msg.type === 'string') target.dispatchEvent(new CustomEvent(msg.type, { detail: msg }));
    };
    sock.onclose = () => {
      if (ws !== sock) return;
      ws = null;
      schedule();
    };
    // onerror is always followed by onclose, which handles the retry.
  }

  function schedule() {
    if (!running) return;
    setState('offline');
    clearTimeout(timer);
    const base = Math.min(MAX_DELAY, MIN_DELAY * 2 ** attempt);
    attempt++;
    const delay = base / 2 + Math.random() * (base / 2);
    timer = setTimeout(async () => {
      // Lets the app notice an expired session (a 401) instead of retrying forever.
      if (beforeReconnect) {
        try { if ((await beforeReconnect()) === false) return; } catch { /* try the socket anyway */ }
      }
      connect();
    }, delay);
  }

  function onOnline() {
    if (running && !ws) {
      clearTimeout(timer);
      attempt = 0;
      connect();
    }
  }

  return {
    start() {
      if (running) return;
      running = true;
      attempt = 0;
      addEventListener('online', onOnline);
      connect();
    },
    stop() {
      running = false;
      clearTimeout(timer);
      removeEventListener('online', onOnline);
      const sock = ws;
      ws = null;
      if (sock) sock.close(1000);
      setState('offline');
    },
    on(type, fn) {
      const wrapped = (ev) => fn(ev.detail);
      target.addEventListener(type, wrapped);
      return () => target.removeEventListener(type, wrapped);
    },
    /** Sends one frame; false when the socket is not open (the caller keeps it for later). */
    send(obj) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      try { ws.send(JSON.stringify(obj)); } catch { return false; }
      return true;
    },
    get state() { return state; },
  };
}
