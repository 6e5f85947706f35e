// CORS on every answer of the tracking endpoints: a shop's page (another
// origin) must be able to read the error as well as the success, so the
// tracker can show the server's message and honour Retry-After. Each error
// class is produced for real: 400, 403, 413, 422, 429 and 503.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEmma, login, api } from './lib/emma.mjs';

const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
const ORIGIN = 'https://shop.example';
let emma;

before(async () => { emma = await startEmma(); });
after(async () => { await emma?.stop(); });

async function post(server, body, origin = ORIGIN) {
  const res = await fetch(`${server.url}/t`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain', 'user-agent': CHROME, origin },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch {}
  return { status: res.status, json, headers: res.headers };
}

function assertCors(r, origin = ORIGIN, what = '') {
  assert.equal(r.headers.get('access-control-allow-origin'), origin, `${what} ${r.status}: Access-Control-Allow-Origin`);
  assert.match(r.headers.get('vary') || '', /Origin/, `${what} ${r.status}: Vary`);
  assert.match(r.headers.get('access-control-expose-headers') || '', /Retry-After/i, `${what} ${r.status}: exposed headers`);
}

const ok = { site: 'default', events: [{ type: 'pageview', url: '/x' }] };

test('success and the validation errors 400, 413 and 422 carry CORS', async () => {
  let r = await post(emma, ok);
  assert.equal(r.status, 200);
  assertCors(r, ORIGIN, 'success');

  r = await post(emma, '{"site":"default","events":[');
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'invalid_json');
  assertCors(r);

  r = await post(emma, { site: 'default', events: [{ type: 'pageview', url: '/x', title: 'y'.repeat(70000) }] });
  assert.equal(r.status, 413);
  assertCors(r);

  r = await post(emma, { site: 'default', events: [{ type: 'teleport' }] });
  assert.equal(r.status, 422);
  assert.equal(r.json.error.field, 'events[0].type');
  assertCors(r);

  r = await post(emma, { site: 'no-such-site', events: [{ type: 'pageview', url: '/x' }] });
  assert.equal(r.status, 422);
  assert.equal(r.json.error.field, 'site');
  assertCors(r);
});

test('403 from a foreign origin carries CORS (and the pixel too)', async () => {
  const admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
  const c = await api(emma.url, 'POST', '/api/v1/sites', {
    ...admin, body: { key: 'locked', allowed_domains: ['shop.example'] },
  });
  assert.equal(c.status, 201, c.text);
  let r = await post(emma, { site: 'locked', events: [{ type: 'pageview', url: '/x' }] }, 'https://evil.example');
  assert.equal(r.status, 403);
  assert.equal(r.json.error.code, 'forbidden');
  assertCors(r, 'https://evil.example');
  r = await post(emma, { site: 'locked', events: [{ type: 'pageview', url: '/x' }] });
  assert.equal(r.status, 200);
  assertCors(r);

  // The pixel answers errors in the same way when a page fetches it.
  const g = await fetch(`${emma.url}/t.gif?site=locked&url=/z`, { headers: { origin: 'https://evil.example', 'user-agent': CHROME } });
  assert.equal(g.status, 403);
  assertCors({ status: 403, headers: g.headers }, 'https://evil.example', 'pixel');
  const g2 = await fetch(`${emma.url}/t.gif?site=&url=/z`, { headers: { origin: ORIGIN, 'user-agent': CHROME } });
  assert.equal(g2.status, 422);
  assertCors({ status: 422, headers: g2.headers }, ORIGIN, 'pixel');
  const g3 = await fetch(`${emma.url}/t.gif?site=locked&url=/z`, { headers: { origin: ORIGIN, 'user-agent': CHROME } });
  assert.equal(g3.status, 200);
  assertCors({ status: 200, headers: g3.headers }, ORIGIN, 'pixel');
});

test('429 carries CORS and a readable Retry-After', async () => {
  const small = await startEmma({ env: { EMMA_TRACK_RATE_PER_S: '1', EMMA_TRACK_RATE_BURST: '2' } });
  try {
    let limited = null;
    for (let i = 0; i < 6 && !limited; i++) {
      const r = await post(small, ok);
      if (r.status === 429) limited = r;
    }
    assert.ok(limited, 'the rate limit answered 429');
    assert.equal(limited.json.error.code, 'rate_limited');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assertCors(limited);
  } finally {
    await small.stop();
  }
});

test('503 (store queue full) carries CORS', async () => {
  // One queued write at most, and a long group-commit window: concurrent
  // batches find the queue full.
  const busy = await startEmma({ env: { EMMA_STORE_QUEUE_MAX: '1', EMMA_STORE_BATCH_MS: '300', EMMA_STORE_BATCH_MAX: '1' } });
  try {
    const all = await Promise.all(Array.from({ length: 40 }, (_, i) =>
      post(busy, { site: 'default', events: [{ type: 'pageview', url: `/b${i}` }] })));
    const unavailable = all.filter((r) => r.status === 503);
    assert.ok(unavailable.length > 0, `some answers were 503 (got ${all.map((r) => r.status).join(',')})`);
    for (const r of all) {
      assert.ok([200, 503].includes(r.status), `status ${r.status}`);
      assertCors(r);
    }
    assert.ok(Number(unavailable[0].headers.get('retry-after')) >= 1);
  } finally {
    await busy.stop();
  }
});
