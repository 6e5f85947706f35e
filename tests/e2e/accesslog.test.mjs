// Access logs against the real binary: emma import-log (summary, visitors
// from log lines) and emma serve --tail (live presence, rotation by rename and
// by copytruncate, a kill -9 in the middle): exactly one event per page line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmma, login, api } from './lib/emma.mjs';

const BIN = process.env.EMMA_BIN || './emma';
const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0';
const BOT = 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)';

function clf(date) {
  const m = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n) => String(n).padStart(2, '0');
  return `${p(date.getUTCDate())}/${m[date.getUTCMonth()]}/${date.getUTCFullYear()}:${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())} +0000`;
}
const line = (ip, p, ua = CHROME, { status = 200, when = new Date(), ref = '-' } = {}) =>
  `${ip} - - [${clf(when)}] "GET ${p} HTTP/1.1" ${status} 512 "${ref}" "${ua}"\n`;

async function pageviewsToday(emma, s) {
  const r = await api(emma.url, 'GET', '/api/v1/stats?range=24h', s);
  assert.equal(r.status, 200, r.text);
  return r.json.today.pageviews;
}

async function waitFor(fn, ms = 10000) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('import-log stores page views and reports what it skipped', async () => {
  const emma = await startEmma();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emma-log-'));
  const file = path.join(dir, 'access.log');
  const t = new Date(Date.now() - 3 * 3600 * 1000);
  let text = '';
  text += line('203.0.113.5', '/', CHROME, { when: t, ref: 'https://search.example/' });
  text += line('203.0.113.5', '/shoes', CHROME, { when: new Date(t.getTime() + 60000) });
  text += line('203.0.113.5', '/static/app.css', CHROME, { when: new Date(t.getTime() + 61000) });
  text += line('198.51.100.7', '/about', FIREFOX, { when: t });
  text += line('198.51.100.9', '/', BOT, { when: t });
  text += line('198.51.100.7', '/missing', FIREFOX, { when: t, status: 404 });
  text += 'this is not a log line\n';
  text += '198.51.100.7 - - [32/Foo/2024:99:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "x"\n';
  fs.writeFileSync(file, text);
  await emma.stop();
  const r = spawnSync(BIN, ['import-log', '--data', emma.dataDir, file], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /read 8 lines, imported 3 page views, 1 bots, 2 other hits .* skipped 2 \(/);
  assert.match(r.stderr, /format_mismatch: 1/);
  assert.match(r.stderr, /bad_time: 1/);
  const again = await emma.restart();
  const s = await login(again.url, 'admin@localhost', emma.adminPassword);
  assert.equal(await pageviewsToday(again, s) >= 0, true);
  const stats = await api(again.url, 'GET', '/api/v1/stats?range=24h', s);
  const total = stats.json.series.reduce((a, b) => a + b.pageviews, 0);
  assert.equal(total, 3);
  assert.equal(stats.json.top_referrers[0].referrer, 'https://search.example/');
  const bad = spawnSync(BIN, ['import-log', '--data', emma.dataDir, '--format', '$remote_addr $', file], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  const missing = spawnSync(BIN, ['import-log', '--data', emma.dataDir, path.join(dir, 'nope.log')], { encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /nope\.log: cannot open/);
  await again.stop();
});

test('--tail follows a live log through rotation and a kill -9, one event per line', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emma-tail-'));
  const file = path.join(dir, 'access.log');
  fs.writeFileSync(file, '');
  let emma = await startEmma({ args: ['--tail', `${file}:combined`] });
  let s = await login(emma.url, 'admin@localhost', emma.adminPassword);
  let sent = 0;
  const append = (ip, p) => { fs.appendFileSync(file, line(ip, p)); sent++; };

  append('192.0.2.10', '/live-page');
  const seen = await waitFor(async () => {
    const live = await api(emma.url, 'GET', '/api/v1/visitors/live', s);
    return live.json.visitors.find((v) => v.current_url === '/live-page');
  });
  assert.equal(seen.browser, 'Chrome');
  for (let i = 0; i < 20; i++) append(`192.0.2.${20 + (i % 5)}`, `/p${i}`);
  await waitFor(async () => (await pageviewsToday(emma, s)) === sent);

  // logrotate's default: rename, then the server writes a new file.
  fs.renameSync(file, `${file}.1`);
  fs.writeFileSync(file, '');
  for (let i = 0; i < 10; i++) append('192.0.2.30', `/after-rename-${i}`);
  await waitFor(async () => (await pageviewsToday(emma, s)) === sent);

  // copytruncate: copy away, truncate in place, keep writing.
  fs.copyFileSync(file, `${file}.2`);
  fs.truncateSync(file, 0);
  await new Promise((r) => setTimeout(r, 500));
  for (let i = 0; i < 10; i++) append('192.0.2.31', `/after-truncate-${i}`);
  await waitFor(async () => (await pageviewsToday(emma, s)) === sent);

  // A crash in the middle: lines written while emma is down are read once.
  await emma.kill9();
  for (let i = 0; i < 15; i++) append('192.0.2.32', `/while-down-${i}`);
  emma = await emma.restart();
  s = await login(emma.url, 'admin@localhost', emma.adminPassword);
  await waitFor(async () => (await pageviewsToday(emma, s)) === sent);
  for (let i = 0; i < 5; i++) append('192.0.2.33', `/after-restart-${i}`);
  await waitFor(async () => (await pageviewsToday(emma, s)) === sent);
  // Nothing more trickles in later: exactly one event per line.
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(await pageviewsToday(emma, s), sent);
  await emma.stop();
});
