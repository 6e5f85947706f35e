/* Emma tracker; see docs/tracking.md. A classic script: modules get no currentScript. */
(function (w, d, nav) {
  'use strict';
  if (w.emma && w.emma._v) return;
  const s = d.currentScript || d.querySelector('script[data-site]') || { dataset: {} };
  const cfg = s.dataset;
  const site = cfg.site;
  const base = (s.src || '').replace(/[^/?#]*([?#].*)?$/, '');
  const T = base + 't';
  const P = (+cfg.ping || 15) * 1e3; // ms of active time per ping
  const need = cfg.consent == 'required';
  const off = !site || nav.doNotTrack == '1' || w.doNotTrack == '1' || !!nav.globalPrivacyControl;
  const MAXB = 6e4; // bytes per request: server and keepalive take 64 KiB
  const MAXQ = 200;
  const enc = new TextEncoder();
  const now = () => Date.now();
  const warn = (m) => console.warn('emma: ' + m);
  const size = (e) => enc.encode(JSON.stringify(e)).length;
  // The first n UTF-8 bytes of x
  const cut = (x, n) => x && new TextDecoder().decode(enc.encode(x).slice(0, n)).replace(/\uFFFD$/, '');
  const str = (x) => (x == null ? undefined : String(x));
  const num = (x) => (x == null || isNaN(x) ? undefined : +x);
  const okVid = (v) => typeof v == 'string' && /^[\w-]{1,63}$/.test(v);
  const get = (k, ss) => {
    try { return (ss ? sessionStorage : localStorage).getItem(k); } catch (e) { return null; }
  };
  const put = (k, v, ss) => {
    try {
      const S = ss ? sessionStorage : localStorage;
      v == null ? S.removeItem(k) : S.setItem(k, v);
    } catch (e) { /* blocked */ }
  };

  // ok: may store ids and the queue
  let ok = need ? get('emma_consent') == '1' : get('emma_consent') != '0';
  let vid = ok && get('emma_vid');
  if (!okVid(vid)) vid = '';
  let Q = []; // unsent
  const F = []; // in flight
  let fails = 0, tm = 0, warned = 0, url = '', xi = 0, gen = 0;
  let act = 0, last = now(), input = last, on = d.visibilityState != 'hidden';
  const loads = {};
  const chatOn = site && cfg.chat != 'off';
  let H; // host of the chat's shadow DOM

  function chat(x) {
    if (chatOn) api._load('chat').then(() => E._c(H, x), warn);
  }

  function launcher() {
    H = d.createElement('emma-chat');
    H.id = 'emma-chat';
    H.style.cssText = 'all:initial!important';
    const r = H.attachShadow({ mode: 'open' });
    r.innerHTML = '<button aria-label="' + (/^de/i.test(cfg.lang || nav.language) ? 'Chat öffnen' : 'Open chat') +
      '" style="position:fixed;z-index:2147483000;right:20px;bottom:20px;width:56px;height:56px;border:0;' +
      'border-radius:50%;background:var(--emma-c)"><svg width="28" viewBox="0 0 24 24" fill="#fff">' +
      '<path d="M4 4h16v12H8l-4 4z"/></svg></button>';
    r.lastChild.onclick = () => chat(1);
    H.style.setProperty('--emma-c', cfg.color || '#1f5fbf');
    d.body.append(H);
    if (get('emma_chat', 1)) chat();
  }

  if (!site) warn('the script tag has no data-site');
  if (ok && !off) {
    try {
      const q = JSON.parse(get('emma_q', 1));
      if (Array.isArray(q)) Q = q;
    } catch (e) { /* damaged */ }
  }

  const trim = () => Q.length > MAXQ && Q.splice(0, Q.length - MAXQ);

  // When hiding, batches in flight are left out: keepalive delivers them.
  function save(hiding) {
    if (!ok) return;
    const a = (hiding ? Q : F.flat().concat(Q)).slice(-MAXQ);
    put('emma_q', a.length ? JSON.stringify(a) : null, 1);
  }

  function add(e) {
    if (off) return;
    e.ts = now();
    try {
      if (size(e) > MAXB) throw 0;
    } catch (x) {
      return warn(e.type + ' dropped: too large or not JSON');
    }
    Q.push(e);
    trim();
    save();
    if (Q.length >= 20 && !fails) flush();
    else if (!tm) tm = setTimeout(flush, 1e3);
  }

  function take() {
    const b = [];
    let n = 0;
    while (Q.length && b.length < 100) {
      const l = size(Q[0]) + 1;
      if (b.length && n + l > MAXB) break;
      n += l;
      b.push(Q.shift());
    }
    return b;
  }

  function flush() {
    clearTimeout(tm);
    tm = 0;
    while (Q.length) send(take());
  }

  function done(b) {
    const i = F.indexOf(b);
    if (i >= 0) F.splice(i, 1);
    save();
  }

  function send(b, beacon) {
    const G = gen, body = JSON.stringify({ site, vid: (ok && vid) || undefined, events: b });
    if (beacon && nav.sendBeacon && nav.sendBeacon(T, body)) return;
    F.push(b);
    fetch(T, {
      method: 'POST', body, keepalive: true, credentials: 'omit',
      headers: { 'Content-Type': 'text/plain' },
    }).then((r) => {
      if (r.status == 429 || r.status > 499) throw r;
      done(b);
      fails = 0;
      return r.json().catch(() => ({})).then((j) => {
        if (G < gen) return;
        if (r.ok) {
          if (ok && okVid(j.vid)) put('emma_vid', (vid = j.vid));
          if (j.invite) chat(j);
          return;
        }
        // 4xx: not retried; nothing was stored, so resend without the event at fault.
        const e = j.error || {};
        const m = /^events\[(\d+)\]/.exec(e.field);
        if (!warned++) warn(`batch refused (${r.status}): ${e.message || ''} ${e.field || ''}`);
        if (m && b.length > 1) {
          b.splice(m[1], 1);
          Q = b.concat(Q);
          flush();
        }
      });
    }).catch(() => {
      // Network error, 5xx, 429: retry after 2, 4 .. 60 s
      done(b);
      if (G < gen) return;
      Q = b.concat(Q);
      trim();
      save();
      clearTimeout(tm);
      tm = setTimeout(flush, Math.min(6e4, 1e3 * 2 ** ++fails) * (0.5 + Math.random() / 2));
    });
  }

  // Active: visible, input in the last 60 s
  function tick() {
    const t = now();
    if (on) act += Math.max(0, Math.min(t, input + 6e4) - last);
    last = t;
    if (act >= P) ping();
  }

  function ping() {
    const n = Math.floor(act / 1e3);
    if (n > 0) {
      act -= n * 1e3;
      add({ type: 'ping', active_s: n });
    }
  }

  function hide() {
    tick();
    ping();
    if (fails) return save();
    clearTimeout(tm);
    tm = 0;
    while (Q.length) send(take(), 1);
    save(1);
  }

  function pv() {
    const u = location.href;
    if (u == url) return;
    tick();
    ping(); // for the previous page
    add({ type: 'pageview', url: cut(u, 2048), title: cut(d.title, 512), ref: cut(url || d.referrer, 2048) });
    url = u;
    xi = 0;
  }

  function start() {
    const soon = () => setTimeout(pv); // after the app set the title
    for (const k of ['pushState', 'replaceState']) {
      const f = history[k];
      history[k] = function () {
        const r = f.apply(this, arguments);
        soon();
        return r;
      };
    }
    w.addEventListener('popstate', soon);
    w.addEventListener('hashchange', soon);
    w.addEventListener('pageshow', (e) => {
      if (e.persisted) { url = ''; pv(); } // bfcache
    });
    w.addEventListener('pagehide', hide);
    d.addEventListener('visibilitychange', () => {
      tick();
      on = d.visibilityState == 'visible';
      if (on) input = now();
      else hide();
    });
    const poke = () => {
      if (now() - input > 6e4) tick(); // idle until now: count none of it
      input = now();
    };
    for (const e of ['pointermove', 'pointerdown', 'keydown', 'scroll', 'wheel']) {
      w.addEventListener(e, poke, { capture: true, passive: true });
    }
    d.addEventListener('mouseout', (e) => {
      if (!xi && !e.relatedTarget && e.clientY <= 0 && w.matchMedia('(pointer:fine)').matches) {
        xi = 1;
        add({ type: 'event', name: 'exit_intent' });
      }
    });
    setInterval(tick, 1e3);
    if (d.prerendering) d.addEventListener('prerenderingchange', pv, { once: true });
    else pv();
  }

  const api = {
    track(name, props) {
      add({ type: 'event', name: String(name), props: props && typeof props == 'object' ? props : undefined });
    },
    search(query, results) {
      add({ type: 'search', query: cut(String(query), 256), results: num(results) });
    },
    cart(action, o) {
      o = o || {};
      if (!/^(add|remove|set)$/.test(action)) return warn('cart action must be add, remove or set');
      add({ type: 'cart', action, sku: str(o.sku), qty: num(o.qty), price: num(o.price), total: num(o.total) });
    },
    order(o) {
      o = o || {};
      add({
        type: 'order', id: str(o.id), total: num(o.total),
        items: (o.items || []).map((i) => ({ sku: str(i.sku), qty: num(i.qty), price: num(i.price) })),
      });
    },
    identify(o) {
      o = o || {};
      add({ type: 'identify', email: str(o.email), external_id: str(o.external_id), name: str(o.name) });
    },
    consent(g) {
      if (off || !g == !ok) return;
      ok = !!g;
      if (ok) {
        put('emma_consent', need ? '1' : null);
        save();
      } else {
        vid = '';
        put('emma_vid');
        put('emma_q', null, 1);
        put('emma_consent', need ? null : '0');
      }
      add({ type: 'consent', granted: ok });
    },
    reset() {
      if (off) return;
      tick();
      ping();
      flush();
      gen++;
      vid = '';
      F.length = xi = 0;
      put('emma_vid');
      save();
      for (const k of ['emma_chat', 'emma_sent']) put(k, null, 1);
      E._x && E._x();
    },
    chat: () => chat(1),
    _vid: () => vid,
    _s: cfg,
    _load(name) {
      if (!/^[\w-]+$/.test(name)) return Promise.reject(Error('emma: bad widget name'));
      return (loads[name] = loads[name] || new Promise((res, rej) => {
        const e = d.createElement('script');
        e.type = 'module';
        e.src = base + 'widget/' + name + '.js';
        e.onload = res;
        e.onerror = rej;
        d.head.appendChild(e);
      }));
    },
  };

  const E = (m, ...a) => (api[m] ? api[m](...a) : warn('unknown command ' + m));
  Object.assign(E, api, { _v: 1 });
  const q = (w.emma && w.emma.q) || [];
  w.emma = E;
  if (!off) start();
  if (chatOn) d.body ? launcher() : d.addEventListener('DOMContentLoaded', launcher);
  for (const a of q) {
    try { E(...a); } catch (x) { warn(x); }
  }
})(window, document, navigator);
