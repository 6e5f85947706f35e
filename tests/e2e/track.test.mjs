// Tracking ingest against the real binary: valid batches become visitors,
// visits and live presence; bad batches answer 400/413/422 and store nothing;
// operators see visitors enter, move and leave over /ws/operator.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startEmma, login, api } from './lib/emma.mjs';

const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
let emma, s;
before(async () => {
  emma = await startEmma({ env: { EMMA_TRACK_LIVE_TIMEOUT_S: '10' } });
  s = await login(emma.url, 'admin@localhost', emma.adminPassword);
});
after(async () => { await emma?.stop(); });

async function track(body, { ua = CHROME, headers = {}, server = emma } = {}) {
  const res = await fetch(`${server.url}/t`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain', 'user-agent': ua, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: res.status, json, headers: res.headers };
}

async function eventsStored(server = emma) {
  const m = await (await fetch(`${server.url}/metrics`)).text();
  return Number(m.match(/^emma_track_events_total (\d+)/m)[1]);
}

test('a batch creates a visitor with a visit, pages and a cart', async () => {
  const r = await track({ site: 'default', events: [
    { type: 'pageview', url: 'https://shop.example/', title: 'Home', ref: 'https://search.example/?q=tea' },
    { type: 'pageview', url: 'https://shop.example/tea/green', title: 'Green tea' },
    { type: 'cart', action: 'add', sku: 'T-1', qty: 2, price: 4.5 },
    { type: 'ping', active_s: 12 },
  ] });
  assert.equal(r.status, 200);
  assert.match(r.json.vid, /^[A-Za-z0-9_-]{8,63}$/);
  const live = await api(emma.url, 'GET', '/api/v1/visitors/live', s);
  const v = live.json.visitors.find((x) => x.vid === r.json.vid);
  assert.ok(v, 'visitor is live');
  assert.equal(v.current_url, 'https://shop.example/tea/green');
  assert.equal(v.title, 'Green tea');
  assert.equal(v.pages, 2);
  assert.equal(v.cart_total, 9);
  assert.equal(v.browser, 'Chrome');
  assert.equal(v.device, 'desktop');
  assert.equal(v.returning, false);
  assert.equal(v.referrer, 'https://search.example/?q=tea');
  const p = await api(emma.url, 'GET', `/api/v1/visitors/${r.json.vid}`, s);
  assert.equal(p.status, 200);
  assert.equal(p.json.visits.length, 1);
  assert.deepEqual(p.json.visits[0].pages.map((x) => x.title), ['Home', 'Green tea']);
  assert.equal(p.json.visits[0].active_s, 12);
  assert.equal(p.json.visits[0].events[0].type, 'cart');
});

test('bad batches answer with the field and store nothing', async () => {
  const before = await eventsStored();
  let r = await track('{"site":"default","events":[{"type":"pageview","url":"/a"},]}');
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'invalid_json');
  assert.match(r.json.error.message, /line 1 column \d+/);
  r = await track({ site: 'default', events: [{ type: 'pageview', url: '/ok' }, { type: 'teleport' }] });
  assert.equal(r.status, 422);
  assert.equal(r.json.error.field, 'events[1].type');
  r = await track({ site: 'default', events: [{ type: 'pageview', url: '/ok' }, { type: 'pageview', url: 42 }] });
  assert.equal(r.json.error.field, 'events[1].url');
  r = await track({ site: 'default', events: [{ type: 'cart', action: 'steal', sku: 'x' }] });
  assert.equal(r.json.error.field, 'events[0].action');
  r = await track({ site: 'default', events: Array.from({ length: 101 }, () => ({ type: 'pageview', url: '/x' })) });
  assert.equal(r.status, 422);
  assert.equal(r.json.error.field, 'events');
  r = await track({ site: 'default', events: [{ type: 'pageview', url: '/x', title: 'y'.repeat(70000) }] });
  assert.equal(r.status, 413);
  r = await track({ site: 'nope', events: [{ type: 'pageview', url: '/x' }] });
  assert.equal(r.status, 422);
  assert.equal(r.json.error.field, 'site');
  r = await track({ site: 'default', vid: 'has spaces', events: [{ type: 'pageview', url: '/x' }] });
  assert.equal(r.json.error.field, 'vid');
  assert.equal(await eventsStored(), before, 'nothing of a rejected batch was stored');
});

test('bots are answered but not recorded', async () => {
  const before = await eventsStored();
  const r = await track({ site: 'default', events: [{ type: 'pageview', url: '/robots-love-this' }] },
    { ua: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)' });
  assert.equal(r.status, 200);
  assert.equal(r.json.vid, null);
  assert.equal(await eventsStored(), before);
});

test('one vid on two sites: the profile is of the first site unless ?site= names one', async () => {
  const c = await api(emma.url, 'POST', '/api/v1/sites', { ...s, body: { key: 'second-shop' } });
  assert.equal(c.status, 201, c.text);
  const vid = 'shared-vid-1';
  assert.equal((await track({ site: 'second-shop', vid, events: [{ type: 'pageview', url: '/b', title: 'On B' }] })).status, 200);
  assert.equal((await track({ site: 'default', vid, events: [{ type: 'pageview', url: '/a', title: 'On A' }] })).status, 200);
  const first = await api(emma.url, 'GET', `/api/v1/visitors/${vid}`, s);
  assert.equal(first.status, 200, first.text);
  assert.equal(first.json.visitor.site, 'second-shop');
  assert.deepEqual(first.json.visits.flatMap((v) => v.pages.map((x) => x.title)), ['On B']);
  const onA = await api(emma.url, 'GET', `/api/v1/visitors/${vid}?site=default`, s);
  assert.equal(onA.json.visitor.site, 'default');
  assert.deepEqual(onA.json.visits.flatMap((v) => v.pages.map((x) => x.title)), ['On A']);
  assert.equal((await api(emma.url, 'GET', '/api/v1/visitors/no-such-vid', s)).status, 404);
});

test('a new campaign starts a new visit; the visitor becomes returning', async () => {
  const a = await track({ site: 'default', events: [{ type: 'pageview', url: 'https://shop.example/' }] });
  const vid = a.json.vid;
  const b = await track({ site: 'default', vid, events: [{ type: 'pageview', url: 'https://shop.example/?utm_source=newsletter&utm_campaign=nov' }] });
  assert.equal(b.json.vid, vid);
  const p = await api(emma.url, 'GET', `/api/v1/visitors/${vid}`, s);
  assert.equal(p.json.visits.length, 2);
  assert.equal(p.json.visits[0].utm.source, 'newsletter');
  assert.equal(p.json.visitor.returning, true);
});

test('identify links two browsers of one person and merges their history', async () => {
  const a = await track({ site: 'default', events: [{ type: 'pageview', url: '/laptop', title: 'On the laptop' },
    { type: 'identify', email: 'erika@example.com', name: 'Erika Muster' }] });
  const b = await track({ site: 'default', events: [{ type: 'pageview', url: '/phone', title: 'On the phone' },
    { type: 'identify', email: 'erika@example.com' }] });
  const p = await api(emma.url, 'GET', `/api/v1/visitors/${b.json.vid}`, s);
  assert.equal(p.json.visitor.email, 'erika@example.com');
  const titles = p.json.visits.flatMap((v) => v.pages.map((x) => x.title)).sort();
  assert.deepEqual(titles, ['On the laptop', 'On the phone']);
  const old = await api(emma.url, 'GET', `/api/v1/visitors/${a.json.vid}`, s);
  assert.equal(old.json.visitor.merged_into, b.json.vid);
  const live = await api(emma.url, 'GET', '/api/v1/visitors/live', s);
  assert.equal(live.json.visitors.find((x) => x.vid === b.json.vid).contact, 'erika@example.com');
});

test('the noscript pixel records a pageview from the Referer', async () => {
  const res = await fetch(`${emma.url}/t.gif?site=default&type=pageview`, {
    headers: { referer: 'https://shop.example/noscript-page', 'user-agent': CHROME },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'image/gif');
  const live = await api(emma.url, 'GET', '/api/v1/visitors/live', s);
  assert.ok(live.json.visitors.some((v) => v.current_url === 'https://shop.example/noscript-page'));
});

test('CORS: the shop origin may read the answer', async () => {
  const r = await track({ site: 'default', events: [{ type: 'pageview', url: '/c' }] }, { headers: { origin: 'https://shop.example' } });
  assert.equal(r.headers.get('access-control-allow-origin'), 'https://shop.example');
  const pre = await fetch(`${emma.url}/t`, { method: 'OPTIONS', headers: { origin: 'https://shop.example', 'access-control-request-method': 'POST' } });
  assert.equal(pre.status, 204);
});

test('operators see visitors enter, move and leave', async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${emma.port}/ws/operator`, { headers: { cookie: s.cookie } });
  const msgs = [];
  const waiters = [];
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    msgs.push(m);
    for (const w of [...waiters]) if (w.pred(m)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(m); }
  });
  const next = (pred, ms = 5000) => {
    const hit = msgs.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no such message in time')), ms);
      waiters.push({ pred, resolve: (m) => { clearTimeout(t); resolve(m); } });
    });
  };
  await next((m) => m.type === 'visitors');
  const t0 = Date.now();
  const r = await track({ site: 'default', events: [{ type: 'pageview', url: 'https://shop.example/live-1', title: 'Live one' }] });
  const vid = r.json.vid;
  const enter = await next((m) => m.type === 'visitor_enter' && m.visitor.vid === vid);
  assert.ok(Date.now() - t0 < 1000, 'delta within a second');
  assert.equal(enter.visitor.title, 'Live one');
  await track({ site: 'default', vid, events: [{ type: 'pageview', url: 'https://shop.example/live-2', title: 'Live two' }] });
  const upd = await next((m) => m.type === 'visitor_update' && m.visitor.vid === vid && m.visitor.title === 'Live two');
  assert.equal(upd.visitor.pages, 2);
  assert.equal(msgs.filter((m) => m.type === 'visitors').length, 1, 'the whole list came once');
  const leave = await next((m) => m.type === 'visitor_leave' && m.vid === vid, 15000);
  assert.equal(leave.site, 'default');
  ws.close();
});

test('live visitors are restored after a restart', async () => {
  const other = await startEmma({ env: { EMMA_TRACK_LIVE_TIMEOUT_S: '300' } });
  try {
    const r = await track({ site: 'default', events: [{ type: 'pageview', url: '/before-restart', title: 'Before' }] }, { server: other });
    await other.stop();
    const again = await other.restart();
    const s2 = await login(again.url, 'admin@localhost', other.adminPassword);
    const live = await api(again.url, 'GET', '/api/v1/visitors/live', s2);
    const v = live.json.visitors.find((x) => x.vid === r.json.vid);
    assert.ok(v, 'visitor restored');
    assert.equal(v.title, 'Before');
  } finally {
    await other.stop();
  }
});

test('per-IP rate limit answers 429 with Retry-After', async () => {
  const small = await startEmma({ env: { EMMA_TRACK_RATE_PER_S: '1', EMMA_TRACK_RATE_BURST: '3' } });
  try {
    const statuses = [];
    for (let i = 0; i < 5; i++) {
      const r = await track({ site: 'default', events: [{ type: 'pageview', url: `/r${i}` }] }, { server: small });
      statuses.push(r.status);
      if (r.status === 429) assert.ok(Number(r.headers.get('retry-after')) >= 1);
    }
    assert.deepEqual(statuses.slice(0, 3), [200, 200, 200]);
    assert.ok(statuses.slice(3).includes(429));
  } finally {
    await small.stop();
  }
});

test('with consent required, ids are cookieless until consent is given', async () => {
  const c = await startEmma({ env: { EMMA_PRIVACY_CONSENT_REQUIRED: 'true' } });
  try {
    const sc = await login(c.url, 'admin@localhost', c.adminPassword);
    const a = await track({ site: 'default', events: [{ type: 'pageview', url: '/p1' }] }, { server: c });
    const b = await track({ site: 'default', events: [{ type: 'pageview', url: '/p2' }] }, { server: c });
    assert.equal(a.json.vid, null, 'no id handed to the browser');
    assert.equal(b.json.vid, null);
    const live = await api(c.url, 'GET', '/api/v1/visitors/live', sc);
    assert.equal(live.json.visitors.length, 1, 'same browser, same day: one visitor');
    assert.equal(live.json.visitors[0].pages, 2);
    const g = await track({ site: 'default', events: [{ type: 'consent', granted: true }] }, { server: c });
    assert.match(g.json.vid, /^v/);
  } finally {
    await c.stop();
  }
});
