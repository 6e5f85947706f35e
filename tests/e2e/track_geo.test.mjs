// GeoIP country against the real binary and libmaxminddb, with a small
// MaxMind DB written by tests/e2e/lib/mmdb.mjs (203.0.113.0/24 -> DE,
// 2001:db8::/32 -> FR). The country is looked up from the full client
// address (before anonymisation) for beacons, for --tail and for import-log,
// and shows in the live list and the visitor profile.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmma, login, api, waitFor } from './lib/emma.mjs';
import { writeMmdb } from './lib/mmdb.mjs';

const BIN = path.resolve(process.env.EMMA_BIN || './emma');
const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emma-geo-'));
const DB = writeMmdb(path.join(dir, 'country.mmdb'), [
  ['203.0.113.0/24', { country: { iso_code: 'DE', names: { en: 'Germany' } } }],
  ['2001:db8::/32', { country: { iso_code: 'FR' } }],
]);
const GEO_ENV = { EMMA_TRACK_GEOIP_DB: DB, EMMA_SERVER_TRUSTED_PROXIES: '127.0.0.1,::1' };

let emma, s;
before(async () => {
  emma = await startEmma({ env: GEO_ENV });
  s = await login(emma.url, 'admin@localhost', emma.adminPassword);
});
after(async () => {
  await emma?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function track(server, url, xff) {
  const headers = { 'content-type': 'text/plain', 'user-agent': CHROME };
  if (xff) headers['x-forwarded-for'] = xff;
  const res = await fetch(`${server.url}/t`, {
    method: 'POST', headers, body: JSON.stringify({ site: 'default', events: [{ type: 'pageview', url }] }),
  });
  assert.equal(res.status, 200);
  return (await res.json()).vid;
}

async function liveVisitor(server, sess, vid) {
  const live = await api(server.url, 'GET', '/api/v1/visitors/live', sess);
  return live.json.visitors.find((v) => v.vid === vid);
}

test('a beacon through a trusted proxy gets the country of the forwarded address', async () => {
  const de = await track(emma, '/de', '198.18.0.1, 203.0.113.50');
  const v = await liveVisitor(emma, s, de);
  assert.equal(v.country, 'DE');
  const p = await api(emma.url, 'GET', `/api/v1/visitors/${de}`, s);
  assert.equal(p.json.visits[0].country, 'DE');
  // The stored address is anonymised (203.0.0.0 is in no network of the
  // database): the lookup used the full address.
  const fr = await track(emma, '/fr', '2001:db8:1::5');
  assert.equal((await liveVisitor(emma, s, fr)).country, 'FR');
  const none = await track(emma, '/none', '198.51.100.1');
  assert.equal((await liveVisitor(emma, s, none)).country, '');
  const peer = await track(emma, '/peer');
  assert.equal((await liveVisitor(emma, s, peer)).country, '', 'loopback has no country');
});

test('without trusted_proxies, X-Forwarded-For cannot choose the country', async () => {
  const plain = await startEmma({ env: { EMMA_TRACK_GEOIP_DB: DB } });
  try {
    const ps = await login(plain.url, 'admin@localhost', plain.adminPassword);
    const vid = await track(plain, '/spoof', '203.0.113.50');
    assert.equal((await liveVisitor(plain, ps, vid)).country, '');
  } finally {
    await plain.stop();
  }
});

function clf(date) {
  const m = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n) => String(n).padStart(2, '0');
  return `${p(date.getUTCDate())}/${m[date.getUTCMonth()]}/${date.getUTCFullYear()}:${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())} +0000`;
}
const line = (ip, p) => `${ip} - - [${clf(new Date())}] "GET ${p} HTTP/1.1" 200 512 "-" "${CHROME}"\n`;

test('access-log hits get the country too: --tail and import-log', async () => {
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'emma-geo-log-'));
  const tailed = path.join(logDir, 'tail.log');
  fs.writeFileSync(tailed, '');
  const t = await startEmma({ env: GEO_ENV, args: ['--tail', tailed] });
  try {
    const ts = await login(t.url, 'admin@localhost', t.adminPassword);
    fs.appendFileSync(tailed, line('203.0.113.9', '/tailed-page'));
    const v = await waitFor(async () => {
      const live = await api(t.url, 'GET', '/api/v1/visitors/live', ts);
      return live.json.visitors.find((x) => x.current_url === '/tailed-page');
    }, { timeoutMs: 10000, what: 'the tailed visitor' });
    assert.equal(v.country, 'DE');

    // import-log, with the server stopped; the visitor is live on restart.
    await t.stop();
    const imported = path.join(logDir, 'import.log');
    fs.writeFileSync(imported, line('2001:db8::77', '/imported-page'));
    const r = spawnSync(BIN, ['import-log', '--data', t.dataDir, imported], {
      encoding: 'utf8', timeout: 60000, env: { ...process.env, ...GEO_ENV },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /imported 1 page views/);
    await t.restart();
    const ts2 = await login(t.url, 'admin@localhost', t.adminPassword);
    const live = await api(t.url, 'GET', '/api/v1/visitors/live', ts2);
    const iv = live.json.visitors.find((x) => x.current_url === '/imported-page');
    assert.ok(iv, 'the imported visitor is live after the restart');
    assert.equal(iv.country, 'FR');
    assert.equal(live.json.visitors.find((x) => x.current_url === '/tailed-page').country, 'DE',
      'the country survives the restart');
  } finally {
    await t.stop();
    fs.rmSync(logDir, { recursive: true, force: true });
  }
});

test('a geoip_db that cannot be opened stops serve and import-log with the reason', async () => {
  const missing = path.join(dir, 'missing.mmdb');
  const bad = path.join(dir, 'bad.mmdb');
  fs.writeFileSync(bad, 'this is not a MaxMind DB');
  for (const file of [missing, bad]) {
    const r = spawnSync(BIN, ['serve', '--listen', '127.0.0.1:0', '--data', fs.mkdtempSync(path.join(dir, 'd-'))], {
      encoding: 'utf8', timeout: 20000, env: { ...process.env, EMMA_TRACK_GEOIP_DB: file },
    });
    assert.notEqual(r.status, 0);
    assert.ok(r.stderr.includes(`track.geoip_db: ${file}: `), r.stderr);
  }
  const r = spawnSync(BIN, ['import-log', '--data', fs.mkdtempSync(path.join(dir, 'd-')), DB], {
    encoding: 'utf8', timeout: 20000, env: { ...process.env, EMMA_TRACK_GEOIP_DB: missing },
  });
  assert.equal(r.status, 1);
  assert.ok(r.stderr.includes(`track.geoip_db: ${missing}: `), r.stderr);
});
