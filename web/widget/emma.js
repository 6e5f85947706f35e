/* Emma tracker: reports pageviews, active time and shop events to the Emma server that
   served this file (see README.md). A classic script, not a module: only classic scripts
   see document.currentScript, which carries the site key and tells us the server. */
(function (w, d, nav) {
  'use strict';
  if (w.emma && w.emma._v) return; // included twice
  const s = d.currentScript || d.querySelector('script[data-site]') || { dataset: {} };
  const cfg = s.dataset;
  const site = cfg.site;
  const base = (s.src || '').replace(/[^/?#]*([?#].*)?$/, ''); // directory of emma.js
  const T = base + 't';
  const P = (+cfg.ping || 15) * 1e3; // a ping per P ms of active time
  const need = cfg.consent == 'required';
  const off = !site || nav.doNotTrack == '1' || w.doNotTrack == '1' || !!nav.globalPrivacyControl;
  const MAXB = 6e4; // bytes of events per request: the server takes 64 KiB, keepalive 64 KiB in all
  const MAXQ = 200; // unsent events kept
  const now = () => Date.now();
  const warn = (m) => console.warn('emma: ' + m);
  const get = (k, ss) => {
    try { return (ss ? sessionStorage : localStorage).getItem(k); } catch (e) { return null; }
  };
  const put = (k, v, ss) => {
    try {
      const S = ss ? sessionStorage : localStorage;
      v == null ? S.removeItem(k) : S.setItem(k, v);
    } catch (e) { /* storage blocked: keep going without it */ }
  };
  const str = (x) => (x == null ? undefined : String(x));
  const num = (x) => (x == null || isNaN(x) ? undefined : +x);

  // ok: ids and the queue may be stored. Without it nothing is written to the browser.
  let ok = need ? get('emma_consent') == '1' : get('emma_consent') != '0';
  let vid = (ok && get('emma_vid')) || '';
  let Q = []; // events not yet sent
  const F = []; // batches in flight
  let fails = 0, tm = 0, warned = 0, url = '', xi = 0;
  let act = 0, last = now(), input = last, on = d.visibilityState != 'hidden';
  const loads = {};

  if (!site) warn('the script tag has no data-site');
  if (ok && !off) {
    try {
      const q = JSON.parse(get('emma_q', 1));
      if (Array.isArray(q)) Q = q; // left over from the previous page
    } catch (e) { /* ignore a damaged copy */ }
  }

  const size = (e) => new Blob([JSON.stringify(e)]).size;
  const trim = () => Q.length > MAXQ && Q.splice(0, Q.length - MAXQ);

  // Persist what is unsent. When the page goes away while the server is healthy the batches
  // in flight are left out: keepalive delivers them, and a copy would be sent twice.
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
      return warn(e.type + ' event dropped: too large or not JSON');
    }
    Q.push(e);
    trim();
    save();
    if (Q.length >= 20 && !fails) flush();
    else if (!tm) tm = setTimeout(flush, 1e3);
  }

  // The next batch: at most 100 events and MAXB bytes.
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
    const body = JSON.stringify({ site, vid: (ok && vid) || undefined, events: b });
    if (beacon && nav.sendBeacon && nav.sendBeacon(T, new Blob([body], { type: 'text/plain' }))) return;
    F.push(b);
    fetch(T, {
      method: 'POST', body, keepalive: true, credentials: 'omit',
      headers: { 'Content-Type': 'text/plain' },
    }).then((r) => {
      if (r.status == 429 || r.status > 499) throw r;
      done(b); // stored, or refused for good: a 4xx is never retried
      fails = 0;
      return r.json().catch(() => ({})).then((j) => {
        if (r.ok) {
          if (ok && j.vid && j.vid != vid) put('emma_vid', (vid = String(j.vid)));
        } else if (!warned++) {
          warn('batch refused: ' + r.status + ' ' + ((j.error && j.error.message) || ''));
        }
      });
    }).catch(() => {
      // Network error, 5xx or 429: back off 2, 4, 8 ... 60 s with jitter, then resend.
      done(b);
      Q = b.concat(Q);
      trim();
      save();
      clearTimeout(tm);
      tm = setTimeout(flush, Math.min(6e4, 1e3 * 2 ** ++fails) * (0.5 + Math.random() / 2));
    });
  }

  // Active time: visible, with input in the last 60 s.
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

  // Page goes away or out of sight: send everything now, by beacon.
  function hide() {
    tick();
    ping();
    if (fails) return save(); // server unreachable: keep all for the next page
    clearTimeout(tm);
    tm = 0;
    while (Q.length) send(take(), 1);
    save(1);
  }

  function pv() {
    const u = location.href;
    if (u == url) return;
    tick();
    ping(); // the time so far belongs to the previous page
    add({ type: 'pageview', url: u, title: d.title, ref: url || d.referrer });
    url = u;
    xi = 0;
  }

  function start() {
    const soon = () => setTimeout(pv); // after the app has switched the route
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
      if (e.persisted) { url = ''; pv(); } // back from the bfcache
    });
    w.addEventListener('pagehide', hide);
    d.addEventListener('visibilitychange', () => {
      tick();
      on = d.visibilityState == 'visible';
      if (on) input = now();
      else hide();
    });
    const poke = () => { input = now(); };
    for (const e of ['pointermove', 'pointerdown', 'keydown', 'scroll', 'wheel']) {
      w.addEventListener(e, poke, { capture: true, passive: true });
    }
    // Exit intent: the mouse leaves through the top edge (desktop pointers only).
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
      add({ type: 'search', query: String(query), results: num(results) });
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
      if (off || !g == !ok) return; // no change
      ok = !!g;
      if (ok) {
        put('emma_consent', need ? '1' : null);
        save();
      } else {
        vid = '';
        put('emma_vid');
        put('emma_q', null, 1);
        put('emma_consent', need ? null : '0'); // without the mode, remember the refusal
      }
      add({ type: 'consent', granted: ok });
    },
    // Loads {server}/widget/NAME.js as a module, once; resolves when it has run.
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

  // emma('track', ...) and emma.track(...) both work; calls queued before load run now.
  const E = (m, ...a) => (api[m] ? api[m](...a) : warn('unknown command ' + m));
  Object.assign(E, api, { _v: 1 });
  const q = (w.emma && w.emma.q) || [];
  w.emma = E;
  if (!off) start();
  for (const a of q) E(...a);
})(window, document, navigator);
