// Sites API against the real binary: admins create, change and delete sites;
// agents only read; bad input answers 422 with the field path; /t sees an
// allowed_domains change at once (403 from a foreign Origin, with CORS, 200
// from an allowed one); a site with data cannot be deleted (409).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEmma, login, api } from './lib/emma.mjs';

const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
const AGENT_PW = 'agent-password-1';
let emma, admin, agent;

before(async () => {
  emma = await startEmma();
  admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
  const r = await api(emma.url, 'POST', '/api/v1/operators', {
    ...admin, body: { email: 'agent@example.com', name: 'Agent', role: 'agent', password: AGENT_PW },
  });
  assert.equal(r.status, 201, r.text);
  agent = await login(emma.url, 'agent@example.com', AGENT_PW);
});
after(async () => { await emma?.stop(); });

async function track(site, { origin, url = '/p' } = {}) {
  const headers = { 'content-type': 'text/plain', 'user-agent': CHROME };
  if (origin) headers.origin = origin;
  const res = await fetch(`${emma.url}/t`, {
    method: 'POST', headers, body: JSON.stringify({ site, events: [{ type: 'pageview', url }] }),
  });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text), headers: res.headers };
}

test('the default site is listed; admins create a site that tracking accepts at once', async () => {
  const list = await api(emma.url, 'GET', '/api/v1/sites', agent);
  assert.equal(list.status, 200);
  assert.deepEqual(list.json.sites.map((s) => s.key), ['default']);
  assert.deepEqual(list.json.sites[0].allowed_domains, []);

  // Unknown before it exists...
  assert.equal((await track('tea-shop')).status, 422);
  const c = await api(emma.url, 'POST', '/api/v1/sites', {
    ...admin, body: { key: 'tea-shop', name: 'Tea shop', allowed_domains: ['Tea.Example', '*.tea.example'] },
  });
  assert.equal(c.status, 201, c.text);
  assert.deepEqual(c.json.site, {
    key: 'tea-shop', name: 'Tea shop', allowed_domains: ['tea.example', '*.tea.example'],
    created_at: c.json.site.created_at,
  });
  assert.match(c.json.site.created_at, /^\d{4}-\d\d-\d\dT/);
  // ...and accepted by /t right after the 201, from its own domains only.
  let t = await track('tea-shop', { origin: 'https://tea.example' });
  assert.equal(t.status, 200);
  assert.equal(t.headers.get('access-control-allow-origin'), 'https://tea.example');
  t = await track('tea-shop', { origin: 'https://www.tea.example' });
  assert.equal(t.status, 200, 'the wildcard covers subdomains');
  t = await track('tea-shop', { origin: 'https://evil.example' });
  assert.equal(t.status, 403);
  assert.equal(t.json.error.code, 'forbidden');
  assert.equal(t.headers.get('access-control-allow-origin'), 'https://evil.example', 'the 403 is readable by the page');
  t = await track('tea-shop', { origin: 'https://nottea.example' });
  assert.equal(t.status, 403, 'a suffix that is not a subdomain does not match');

  const g = await api(emma.url, 'GET', '/api/v1/sites/tea-shop', agent);
  assert.equal(g.status, 200);
  assert.equal(g.json.site.name, 'Tea shop');
  assert.equal((await api(emma.url, 'GET', '/api/v1/sites/nope', agent)).status, 404);

  const dup = await api(emma.url, 'POST', '/api/v1/sites', { ...admin, body: { key: 'tea-shop' } });
  assert.equal(dup.status, 409);
  assert.equal(dup.json.error.field, 'key');
});

test('PATCH allowed_domains changes what /t accepts at once', async () => {
  const c = await api(emma.url, 'POST', '/api/v1/sites', { ...admin, body: { key: 'shop2' } });
  assert.equal(c.status, 201, c.text);
  assert.equal(c.json.site.name, 'shop2', 'name defaults to the key');
  // No domains: any page may send.
  assert.equal((await track('shop2', { origin: 'https://anything.example' })).status, 200);

  let p = await api(emma.url, 'PATCH', '/api/v1/sites/shop2', {
    ...admin, body: { allowed_domains: ['shop2.example'] },
  });
  assert.equal(p.status, 200, p.text);
  assert.deepEqual(p.json.site.allowed_domains, ['shop2.example']);
  let t = await track('shop2', { origin: 'https://anything.example' });
  assert.equal(t.status, 403);
  assert.equal(t.headers.get('access-control-allow-origin'), 'https://anything.example');
  assert.equal((await track('shop2', { origin: 'https://shop2.example' })).status, 200);
  assert.equal((await track('shop2', { origin: 'https://www.shop2.example' })).status, 403,
    'a plain host name allows exactly that host');
  // Without an Origin, the Referer decides; without either, a restricted site refuses.
  t = await fetch(`${emma.url}/t.gif?site=shop2&type=pageview`, { headers: { referer: 'https://shop2.example/x', 'user-agent': CHROME } });
  assert.equal(t.status, 200);
  t = await fetch(`${emma.url}/t.gif?site=shop2&type=pageview&url=/y`, { headers: { 'user-agent': CHROME } });
  assert.equal(t.status, 403);

  p = await api(emma.url, 'PATCH', '/api/v1/sites/shop2', { ...admin, body: { name: 'Shop Two', allowed_domains: [] } });
  assert.equal(p.status, 200);
  assert.equal(p.json.site.name, 'Shop Two');
  assert.deepEqual(p.json.site.allowed_domains, []);
  assert.equal((await track('shop2', { origin: 'https://anything.example' })).status, 200);
  // A PATCH without allowed_domains keeps them.
  await api(emma.url, 'PATCH', '/api/v1/sites/shop2', { ...admin, body: { allowed_domains: ['a.example'] } });
  p = await api(emma.url, 'PATCH', '/api/v1/sites/shop2', { ...admin, body: { name: 'Renamed' } });
  assert.deepEqual(p.json.site.allowed_domains, ['a.example']);
  assert.equal((await api(emma.url, 'PATCH', '/api/v1/sites/nope', { ...admin, body: { name: 'x' } })).status, 404);
});

test('bad input answers 422 with the field path and changes nothing', async () => {
  const cases = [
    [{ name: 'no key' }, 'key'],
    [{ key: '' }, 'key'],
    [{ key: 'Upper' }, 'key'],
    [{ key: 'has space' }, 'key'],
    [{ key: 'x'.repeat(65) }, 'key'],
    [{ key: 42 }, 'key'],
    [{ key: 'ok1', name: '' }, 'name'],
    [{ key: 'ok1', name: 'n'.repeat(128) }, 'name'],
    [{ key: 'ok1', allowed_domains: 'shop.example' }, 'allowed_domains'],
    [{ key: 'ok1', allowed_domains: ['shop.example', 'https://shop.example'] }, 'allowed_domains[1]'],
    [{ key: 'ok1', allowed_domains: ['shop.example:8080'] }, 'allowed_domains[0]'],
    [{ key: 'ok1', allowed_domains: ['shop.example/path'] }, 'allowed_domains[0]'],
    [{ key: 'ok1', allowed_domains: ['a.*.example'] }, 'allowed_domains[0]'],
    [{ key: 'ok1', allowed_domains: ['*'] }, 'allowed_domains[0]'],
    [{ key: 'ok1', allowed_domains: ['-bad.example'] }, 'allowed_domains[0]'],
    [{ key: 'ok1', allowed_domains: ['bad..example'] }, 'allowed_domains[0]'],
    [{ key: 'ok1', allowed_domains: ['ok.example', 'x_y.example'] }, 'allowed_domains[1]'],
    [{ key: 'ok1', allowed_domains: [`${'a'.repeat(64)}.example`] }, 'allowed_domains[0]'],
    [{ key: 'ok1', allowed_domains: ['ok.example', 'OK.example'] }, 'allowed_domains[1]'],
    [{ key: 'ok1', allowed_domains: [7] }, 'allowed_domains[0]'],
    [{ key: 'ok1', allowed_domains: Array.from({ length: 65 }, (_, i) => `d${i}.example`) }, 'allowed_domains'],
  ];
  for (const [body, field] of cases) {
    const r = await api(emma.url, 'POST', '/api/v1/sites', { ...admin, body });
    assert.equal(r.status, 422, `${JSON.stringify(body).slice(0, 80)} -> ${r.text}`);
    assert.ok(['invalid_field', 'missing_field'].includes(r.json.error.code), r.text);
    assert.equal(r.json.error.field, field, JSON.stringify(body).slice(0, 80));
    assert.ok(r.json.error.message.length > 5);
  }
  const bad = await api(emma.url, 'POST', '/api/v1/sites', { ...admin, body: '{"key":' , headers: { 'content-type': 'application/json' } });
  assert.equal(bad.status, 400);
  let r = await api(emma.url, 'PATCH', '/api/v1/sites/default', { ...admin, body: { key: 'other' } });
  assert.equal(r.status, 422);
  assert.equal(r.json.error.field, 'key');
  r = await api(emma.url, 'PATCH', '/api/v1/sites/default', { ...admin, body: { allowed_domains: ['ok.example', 'no way'] } });
  assert.equal(r.json.error.field, 'allowed_domains[1]');
  // A 64-character key is the longest allowed, and tracking accepts it.
  const long = 'k'.repeat(64);
  r = await api(emma.url, 'POST', '/api/v1/sites', { ...admin, body: { key: long } });
  assert.equal(r.status, 201, r.text);
  assert.equal((await track(long)).status, 200);
  const list = await api(emma.url, 'GET', '/api/v1/sites', admin);
  assert.ok(!list.json.sites.some((s) => s.key === 'ok1'), 'no rejected site was created');
  const d = await api(emma.url, 'GET', '/api/v1/sites/default', admin);
  assert.deepEqual(d.json.site.allowed_domains, [], 'rejected PATCHes changed nothing');
});

test('agents may read but not change sites', async () => {
  let r = await api(emma.url, 'POST', '/api/v1/sites', { ...agent, body: { key: 'agents-site' } });
  assert.equal(r.status, 403);
  r = await api(emma.url, 'PATCH', '/api/v1/sites/default', { ...agent, body: { name: 'x' } });
  assert.equal(r.status, 403);
  r = await api(emma.url, 'DELETE', '/api/v1/sites/tea-shop', agent);
  assert.equal(r.status, 403);
  assert.equal((await api(emma.url, 'GET', '/api/v1/sites/agents-site', admin)).status, 404);
  assert.equal((await api(emma.url, 'GET', '/api/v1/sites/tea-shop', admin)).status, 200);
  // Without a session at all: 401.
  assert.equal((await api(emma.url, 'GET', '/api/v1/sites')).status, 401);
});

test('a site is deleted only while it holds no data; every change is audited', async () => {
  let r = await api(emma.url, 'POST', '/api/v1/sites', { ...admin, body: { key: 'empty-site', name: 'Empty' } });
  assert.equal(r.status, 201);
  r = await api(emma.url, 'DELETE', '/api/v1/sites/empty-site', admin);
  assert.equal(r.status, 204, r.text);
  assert.equal((await api(emma.url, 'GET', '/api/v1/sites/empty-site', admin)).status, 404);
  assert.equal((await track('empty-site')).status, 422, 'tracking refuses a deleted site at once');
  // The key is free again.
  r = await api(emma.url, 'POST', '/api/v1/sites', { ...admin, body: { key: 'empty-site' } });
  assert.equal(r.status, 201);

  // tea-shop has visitors from the first test.
  r = await api(emma.url, 'DELETE', '/api/v1/sites/tea-shop', admin);
  assert.equal(r.status, 409);
  assert.equal(r.json.error.code, 'conflict');
  assert.match(r.json.error.message, /data/);
  assert.equal((await api(emma.url, 'GET', '/api/v1/sites/tea-shop', admin)).status, 200);
  r = await api(emma.url, 'DELETE', '/api/v1/sites/default', admin);
  assert.equal(r.status, 409);
  assert.equal((await api(emma.url, 'DELETE', '/api/v1/sites/nope', admin)).status, 404);

  const audit = await api(emma.url, 'GET', '/api/v1/audit?limit=200', admin);
  assert.equal(audit.status, 200, audit.text);
  const acts = audit.json.entries.map((e) => `${e.action} ${e.target}`);
  for (const want of ['site.created tea-shop', 'site.updated shop2', 'site.deleted empty-site'])
    assert.ok(acts.includes(want), `audit has ${want}`);
  const upd = audit.json.entries.filter((e) => e.action === 'site.updated' && e.target === 'shop2');
  assert.ok(upd.every((e) => e.operator.email === 'admin@localhost'), 'the actor is recorded');
  assert.ok(upd.some((e) => e.detail === 'allowed_domains=a.example'), 'the change is recorded');
});

test('the live figure of /api/v1/stats counts only the requested site', async () => {
  for (const key of ['stats-a', 'stats-b'])
    assert.equal((await api(emma.url, 'POST', '/api/v1/sites', { ...admin, body: { key } })).status, 201);
  for (const [site, n] of [['stats-a', 2], ['stats-b', 1]])
    for (let i = 0; i < n; i++) assert.equal((await track(site, { url: `/s${i}` })).status, 200);
  const a = await api(emma.url, 'GET', '/api/v1/stats?site=stats-a', agent);
  const b = await api(emma.url, 'GET', '/api/v1/stats?site=stats-b', agent);
  const d = await api(emma.url, 'GET', '/api/v1/stats?site=default', agent);
  assert.equal(a.status, 200, a.text);
  assert.equal(a.json.live, 2);
  assert.equal(b.json.live, 1);
  const live = await api(emma.url, 'GET', '/api/v1/visitors/live', agent);
  const all = live.json.visitors.length;
  assert.ok(all >= 3 + d.json.live && all > a.json.live + b.json.live, `all sites together: ${all}`);
  assert.equal(d.json.live, live.json.visitors.filter((v) => v.site === 'default').length);
});

test('sites and their domains survive a restart', async () => {
  await emma.restart();
  admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
  const g = await api(emma.url, 'GET', '/api/v1/sites/tea-shop', admin);
  assert.deepEqual(g.json.site.allowed_domains, ['tea.example', '*.tea.example']);
  assert.equal((await track('tea-shop', { origin: 'https://evil.example' })).status, 403);
  assert.equal((await track('tea-shop', { origin: 'https://tea.example' })).status, 200);
  const list = await api(emma.url, 'GET', '/api/v1/sites', admin);
  assert.deepEqual(list.json.sites.map((s) => s.key).sort(),
    ['default', 'empty-site', 'k'.repeat(64), 'shop2', 'stats-a', 'stats-b', 'tea-shop'].sort());
});
