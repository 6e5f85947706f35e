// The ingest journal (docs/storage.md): a beacon is answered once its batch
// is in the journal, before the COMMIT; what was answered survives kill -9
// and is applied at the next start, exactly once. The database is held
// locked by a real sqlite3 process, so nothing can commit while the
// beacons are answered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startEmma, login, api, waitFor } from './lib/emma.mjs';

const UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0';

async function beacon(url, vid, page) {
  const res = await fetch(`${url}/t`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain', 'user-agent': UA },
    body: JSON.stringify({ site: 'default', vid, events: [{ type: 'pageview', url: `https://shop.example/${page}`, title: page }] }),
  });
  return { status: res.status, json: await res.json() };
}

// A sqlite3 shell that holds the database's write lock until it is ended.
async function holdWriteLock(dbFile) {
  const sh = spawn('sqlite3', [dbFile], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  sh.stdout.on('data', (d) => { out += d; });
  sh.stderr.on('data', (d) => { out += d; });
  sh.stdin.write('.timeout 5000\nBEGIN IMMEDIATE;\nSELECT \'locked\';\n');
  await waitFor(() => out.includes('locked') || out.toLowerCase().includes('error'), { what: 'the sqlite3 lock' });
  assert.match(out, /locked/, out);
  return {
    release: () => new Promise((resolve) => { sh.on('exit', resolve); sh.stdin.end('ROLLBACK;\n'); }),
  };
}

function countRows(dbFile, sql) {
  const sh = spawn('sqlite3', [dbFile, sql]);
  let out = '';
  sh.stdout.on('data', (d) => { out += d; });
  return new Promise((resolve, reject) => {
    sh.on('exit', (code) => (code === 0 ? resolve(Number(out.trim())) : reject(new Error(`sqlite3 exited ${code}`))));
  });
}

test('beacons answered before their COMMIT survive kill -9 and are applied once at the next start', async () => {
  const emma = await startEmma();
  const dbFile = path.join(emma.dataDir, 'emma.db');
  // One visitor the normal way, so the site and its tables are warm.
  const first = await beacon(emma.url, undefined, 'home');
  assert.equal(first.status, 200);
  const vidKnown = first.json.vid;

  const lock = await holdWriteLock(dbFile);
  const vids = [];
  for (let i = 0; i < 12; i++) {
    const r = await beacon(emma.url, i % 2 ? vidKnown : undefined, `p${i}`);
    assert.equal(r.status, 200, 'answered while the database is locked: from the journal');
    if (!(i % 2)) vids.push(r.json.vid);
  }
  const journal = path.join(emma.dataDir, 'ingest-journal');
  const files = fs.readdirSync(journal).filter((f) => f.endsWith('.log'));
  assert.ok(files.some((f) => fs.statSync(path.join(journal, f)).size > 0), 'the batches are in the journal');
  assert.equal(await countRows(dbFile, "SELECT count(*) FROM event WHERE url LIKE 'https://shop.example/p%'"), 0,
    'nothing committed yet');

  await emma.kill9();
  await lock.release();
  await emma.restart();
  assert.match(emma.logs(), /ingest journal: replayed/);
  assert.equal(await countRows(dbFile, "SELECT count(*) FROM event WHERE url LIKE 'https://shop.example/p%'"), 12,
    'every answered pageview, once');
  const s = await login(emma.url, 'admin@localhost', emma.adminPassword);
  for (const vid of vids) {
    const p = await api(emma.url, 'GET', `/api/v1/visitors/${vid}`, s);
    assert.equal(p.status, 200, vid);
  }
  const known = await api(emma.url, 'GET', `/api/v1/visitors/${vidKnown}`, s);
  const pages = known.json.visits.flatMap((v) => v.pages.map((x) => x.title));
  assert.deepEqual(pages, ['home', 'p1', 'p3', 'p5', 'p7', 'p9', 'p11'], 'in the order they were sent');

  // A clean stop after that leaves nothing to replay, and the numbering goes on.
  const again = await beacon(emma.url, vidKnown, 'after');
  assert.equal(again.status, 200);
  await emma.restart();
  assert.doesNotMatch(emma.logs().split('----- restart -----').pop(), /ingest journal: replayed/);
  assert.equal(await countRows(dbFile, "SELECT count(*) FROM event WHERE url LIKE 'https://shop.example/%'"), 14);
  await emma.stop();
});

test('what a visitor was answered is in the live list and the counters at once', async () => {
  const emma = await startEmma();
  const s = await login(emma.url, 'admin@localhost', emma.adminPassword);
  for (let i = 0; i < 20; i++) {
    const r = await beacon(emma.url, undefined, `q${i}`);
    assert.equal(r.status, 200);
    const live = await api(emma.url, 'GET', '/api/v1/visitors/live', s);
    assert.ok(live.json.visitors.some((v) => v.vid === r.json.vid), 'the visitor is live');
    const p = await api(emma.url, 'GET', `/api/v1/visitors/${r.json.vid}`, s);
    assert.equal(p.status, 200, 'the profile is there');
  }
  const m = await (await fetch(`${emma.url}/metrics`)).text();
  assert.equal(Number(m.match(/^emma_track_events_total (\d+)/m)[1]), 20);
  await emma.stop();
});
