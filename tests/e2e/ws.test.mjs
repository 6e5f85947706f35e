// WebSocket behaviour of /ws/operator against the real binary: who may
// upgrade, echo/ping/close, message-size limit, server pings, silent peers,
// and a stalled reader being cut off while other sockets carry on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import WebSocket from 'ws';
import { startEmma, login } from './lib/emma.mjs';

let emma, session;
before(async () => {
  emma = await startEmma({
    env: {
      EMMA_WS_MESSAGE_MAX: '65536',
      EMMA_WS_PING_INTERVAL_S: '1',
      EMMA_WS_SILENT_CLOSE_S: '3',
      EMMA_WS_OUT_SOFT: '65536',
      EMMA_WS_OUT_HARD: '1048576',
      EMMA_WS_OUT_SOFT_SECONDS: '1',
    },
  });
  session = await login(emma.url, 'admin@localhost', emma.adminPassword);
});
after(async () => { await emma?.stop(); });

const wsUrl = () => `ws://127.0.0.1:${emma.port}/ws/operator`;

function open(headers = {}) {
  const ws = new WebSocket(wsUrl(), { headers: { cookie: session.cookie, ...headers } });
  const inbox = [];
  const waiters = [];
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    const w = waiters.findIndex((x) => x.pred(msg));
    if (w >= 0) waiters.splice(w, 1)[0].resolve(msg); else inbox.push(msg);
  });
  ws.next = (pred = () => true, ms = 5000) => {
    const i = inbox.findIndex(pred);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('timeout waiting for message')), ms);
      waiters.push({ pred, resolve: (m) => { clearTimeout(t); resolve(m); } });
    });
  };
  ws.opened = new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  ws.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return ws;
}

function upgradeStatus(headers) {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl(), { headers });
    ws.on('unexpected-response', (req, res) => { resolve(res.statusCode); ws.terminate(); });
    ws.on('open', () => { resolve(101); ws.close(); });
    ws.on('error', () => {});
  });
}

test('no session, a bad session or a foreign origin is refused before the upgrade', async () => {
  assert.equal(await upgradeStatus({}), 401);
  assert.equal(await upgradeStatus({ cookie: 'emma_session=forged' }), 401);
  assert.equal(await upgradeStatus({ cookie: session.cookie, origin: 'https://evil.example' }), 403);
  assert.equal(await upgradeStatus({ cookie: session.cookie, origin: `http://127.0.0.1:${emma.port}` }), 101);
});

test('plain GET on the WebSocket endpoint gets 426', async () => {
  const res = await fetch(wsUrl().replace('ws:', 'http:'), { headers: { cookie: session.cookie } });
  assert.equal(res.status, 426);
});

test('hello, echo, ping and a clean close', async () => {
  const ws = open();
  await ws.opened;
  const hello = await ws.next((m) => m.type === 'hello');
  assert.equal(hello.operator.email, 'admin@localhost');
  ws.send(JSON.stringify({ type: 'echo', n: 42, text: 'Grüß Gott' }));
  const echo = await ws.next((m) => m.type === 'echo');
  assert.deepEqual(echo, { type: 'echo', n: 42, text: 'Grüß Gott' });
  ws.send(JSON.stringify({ type: 'ping' }));
  assert.equal((await ws.next((m) => m.type === 'pong')).type, 'pong');
  ws.send('not json');
  const err = await ws.next((m) => m.type === 'error');
  assert.equal(err.error.code, 'invalid_json');
  ws.close(1000, 'bye');
  const closed = await ws.closed;
  assert.equal(closed.code, 1000);
});

test('fragmented messages are reassembled', async () => {
  const ws = open();
  await ws.opened;
  await ws.next((m) => m.type === 'hello');
  const text = JSON.stringify({ type: 'echo', part: 'x'.repeat(3000) });
  ws.send(text.slice(0, 1000), { fin: false });
  ws.send(text.slice(1000, 2000), { fin: false });
  ws.send(text.slice(2000), { fin: true });
  const echo = await ws.next((m) => m.type === 'echo');
  assert.equal(echo.part.length, 3000);
  ws.close();
});

test('a message over the limit closes with 1009', async () => {
  const ws = open();
  await ws.opened;
  ws.send(JSON.stringify({ type: 'echo', big: 'z'.repeat(70000) }));
  const closed = await ws.closed;
  assert.equal(closed.code, 1009);
});

test('the server pings idle sockets', async () => {
  const ws = open();
  await ws.opened;
  const pinged = await new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), 4000);
    ws.once('ping', () => { clearTimeout(t); resolve(true); });
  });
  assert.ok(pinged, 'a ping frame arrived');
  ws.close();
});

// A raw client that upgrades and then says nothing, not even pongs.
async function rawUpgrade() {
  const sock = net.connect(emma.port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  const key = crypto.randomBytes(16).toString('base64');
  sock.write(`GET /ws/operator HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nCookie: ${session.cookie}\r\n\r\n`);
  await new Promise((resolve) => sock.once('data', (d) => {
    assert.match(d.toString('latin1'), /^HTTP\/1.1 101/);
    resolve();
  }));
  return sock;
}

function maskedText(payload) {
  const data = Buffer.from(payload);
  const mask = crypto.randomBytes(4);
  let head;
  if (data.length < 126) head = Buffer.from([0x81, 0x80 | data.length]);
  else if (data.length < 65536) { head = Buffer.alloc(4); head[0] = 0x81; head[1] = 0x80 | 126; head.writeUInt16BE(data.length, 2); }
  else { head = Buffer.alloc(10); head[0] = 0x81; head[1] = 0x80 | 127; head.writeBigUInt64BE(BigInt(data.length), 2); }
  const body = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) body[i] = data[i] ^ mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

test('a silent peer is closed', async () => {
  const sock = await rawUpgrade();
  const t0 = Date.now();
  await new Promise((resolve) => sock.on('close', resolve));
  const waited = Date.now() - t0;
  assert.ok(waited >= 2000, `closed after ${waited} ms, not before the silence limit`);
});

test('a reader that stops reading is cut off; others are unaffected', async () => {
  const slow = await rawUpgrade();
  slow.pause(); // never read again: the server's queue for it must not grow without bound
  slow.on('error', () => {}); // the server resets it: that is the point
  const slowClosed = new Promise((resolve) => slow.on('close', resolve));
  const fast = open();
  await fast.opened;
  await fast.next((m) => m.type === 'hello');
  const frame = maskedText(JSON.stringify({ type: 'echo', pad: 'p'.repeat(32000) }));
  let cut = false;
  slowClosed.then(() => { cut = true; });
  for (let i = 0; i < 2000 && !cut; i++) {
    if (!slow.write(frame)) await new Promise((r) => { slow.once('drain', r); setTimeout(r, 50); });
    if (i % 100 === 0) {
      fast.send(JSON.stringify({ type: 'echo', i }));
      const e = await fast.next((m) => m.type === 'echo' && m.i === i);
      assert.equal(e.i, i);
    }
  }
  await Promise.race([slowClosed, new Promise((_, rej) => setTimeout(() => rej(new Error('slow reader was not cut off')), 15000))]);
  fast.send(JSON.stringify({ type: 'echo', after: true }));
  assert.equal((await fast.next((m) => m.type === 'echo' && m.after)).after, true);
  fast.close();
  const metrics = await (await fetch(`${emma.url}/metrics`)).text();
  assert.match(metrics, /emma_websocket_slow_closed_total [1-9]/);
});
