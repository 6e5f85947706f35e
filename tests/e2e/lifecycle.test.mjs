// Process lifecycle and the command line: graceful SIGTERM, durability across
// kill -9, backup while serving, user add, migrate, usage errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { startEmma, login, api } from './lib/emma.mjs';

const BIN = process.env.EMMA_BIN || './emma';
const run = (args, opts = {}) => spawnSync(BIN, args, { encoding: 'utf8', timeout: 30000, ...opts });

test('SIGTERM closes WebSockets with 1001 and exits 0', async () => {
  const emma = await startEmma();
  const s = await login(emma.url, 'admin@localhost', emma.adminPassword);
  const ws = new WebSocket(`ws://127.0.0.1:${emma.port}/ws/operator`, { headers: { cookie: s.cookie } });
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  const closed = new Promise((r) => ws.once('close', (code) => r(code)));
  const exited = emma.stop('SIGTERM');
  assert.equal(await closed, 1001);
  const { code } = await exited;
  assert.equal(code, 0);
  assert.match(emma.logs(), /msg=stopped/);
});

test('acknowledged writes survive kill -9', async () => {
  const emma = await startEmma();
  const s = await login(emma.url, 'admin@localhost', emma.adminPassword);
  const created = [];
  for (let i = 0; i < 20; i++) {
    const email = `agent${i}@shop.example`;
    const r = await api(emma.url, 'POST', '/api/v1/operators', {
      ...s, body: { email, name: `Agent ${i}`, role: 'agent', password: 'correct horse battery' },
    });
    assert.equal(r.status, 201, r.text);
    created.push(email);
  }
  await emma.kill9();
  const again = await emma.restart();
  const s2 = await login(again.url, 'admin@localhost', emma.adminPassword);
  const list = await api(again.url, 'GET', '/api/v1/operators', s2);
  assert.equal(list.status, 200);
  const emails = list.json.operators.map((o) => o.email);
  for (const e of created) assert.ok(emails.includes(e), `${e} survived`);
  await again.stop();
});

test('emma backup copies the database while serving', async () => {
  const emma = await startEmma();
  const file = path.join(os.tmpdir(), `emma-backup-${process.pid}-${Date.now()}.db`);
  const r = run(['backup', file, '--data', emma.dataDir]);
  assert.equal(r.status, 0, r.stderr);
  const head = fs.readFileSync(file).subarray(0, 16).toString('latin1');
  assert.equal(head, 'SQLite format 3\0');
  await emma.stop();
  // The copy is a working data directory of its own.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emma-restore-'));
  fs.copyFileSync(file, path.join(dir, 'emma.db'));
  const restored = await startEmma({ dataDir: dir });
  const s = await login(restored.url, 'admin@localhost', emma.adminPassword);
  assert.ok(s.csrf);
  await restored.stop();
});

test('emma user add creates an operator who can sign in', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emma-cli-'));
  let r = run(['user', 'add', 'clerk@shop.example', '--role', 'agent', '--password-stdin', '--data', dir],
    { input: 'a long enough password\n' });
  assert.equal(r.status, 0, r.stderr);
  r = run(['user', 'add', 'clerk@shop.example', '--password-stdin', '--data', dir], { input: 'another password!\n' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /exists|already/i);
  const emma = await startEmma({ dataDir: dir });
  const s = await login(emma.url, 'clerk@shop.example', 'a long enough password');
  const me = await api(emma.url, 'GET', '/api/v1/me', s);
  assert.equal(me.json.operator.role, 'agent');
  await emma.stop();
});

test('usage errors exit 2 with a one-line reason; help exits 0', () => {
  let r = run(['--help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /serve/);
  for (const cmd of ['serve', 'user', 'migrate', 'backup']) {
    r = run([cmd, '--help']);
    assert.equal(r.status, 0, `${cmd} --help`);
    assert.match(r.stdout, /Usage: emma/);
  }
  r = run(['frobnicate']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
  r = run(['serve', '--bogus']);
  assert.equal(r.status, 2);
  r = run(['backup']);
  assert.equal(r.status, 2);
  r = run(['version']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^emma \d+\.\d+\.\d+/);
});

test('a bad config file stops start-up with file, line and what was expected', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emma-conf-'));
  const conf = path.join(dir, 'emma.ini');
  fs.writeFileSync(conf, '[server]\nlisten = 127.0.0.1:0\nmax_connections = lots\n');
  let r = run(['serve', '--config', conf, '--data', dir]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, new RegExp(`${conf.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: .*max_connections.*integer`));
  fs.writeFileSync(conf, '[server]\nlisten = 127.0.0.1:0\n[store]\ncolour = blue\n');
  r = run(['serve', '--config', conf, '--data', dir]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /:4: unknown setting 'colour' in section \[store\]/);
});

test('emma migrate applies migrations once', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emma-mig-'));
  let r = run(['migrate', '--data', dir]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Applied [1-9]\d* migration/);
  r = run(['migrate', '--data', dir]);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /Applied 0 migrations/);
});
