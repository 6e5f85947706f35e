// HTTP/1.1 server behaviour against the real binary: keep-alive, pipelining,
// chunked bodies, every configured limit, error format, static assets, metrics.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startEmma, rawRequest } from './lib/emma.mjs';

let emma;
before(async () => {
  emma = await startEmma({
    env: {
      EMMA_SERVER_BODY_MAX: '4096',
      EMMA_SERVER_HEADER_MAX: '2048',
      EMMA_SERVER_HEADER_TIMEOUT_MS: '400',
      EMMA_SERVER_BODY_TIMEOUT_MS: '400',
      EMMA_SERVER_IDLE_TIMEOUT_MS: '600',
    },
  });
});
after(async () => { await emma?.stop(); });

// Splits a raw byte stream of HTTP responses into {status, headers, body}.
function parseResponses(raw) {
  const out = [];
  let s = raw.toString('latin1');
  while (s.length) {
    const end = s.indexOf('\r\n\r\n');
    if (end < 0) break;
    const head = s.slice(0, end).split('\r\n');
    const status = Number(head[0].split(' ')[1]);
    const headers = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
    const len = Number(headers['content-length'] ?? 0);
    const body = s.slice(end + 4, end + 4 + len);
    out.push({ status, headers, body });
    s = s.slice(end + 4 + len);
  }
  return out;
}

test('GET /healthz answers ok', async () => {
  const res = await fetch(`${emma.url}/healthz`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'ok\n');
});

test('keep-alive serves several requests on one connection', async () => {
  const sock = net.connect(emma.port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  let data = Buffer.alloc(0);
  sock.on('data', (d) => { data = Buffer.concat([data, d]); });
  for (let i = 0; i < 3; i++) {
    const before = parseResponses(data).length;
    sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    for (let t = 0; t < 100 && parseResponses(data).length === before; t++) await new Promise((r) => setTimeout(r, 10));
  }
  const rs = parseResponses(data);
  assert.equal(rs.length, 3);
  for (const r of rs) { assert.equal(r.status, 200); assert.equal(r.body, 'ok\n'); }
  assert.equal(sock.destroyed, false, 'connection stays open');
  sock.destroy();
});

test('pipelined requests are answered in order', async () => {
  let req = '';
  const want = [];
  for (let i = 0; i < 30; i++) {
    if (i % 3 === 0) { req += `GET /nope-${i} HTTP/1.1\r\nHost: x\r\n\r\n`; want.push(404); }
    else if (i % 3 === 1) { req += 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'; want.push(200); }
    else { req += 'DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n'; want.push(405); }
  }
  req += 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
  want.push(200);
  const raw = await rawRequest(emma.port, req, { timeoutMs: 3000 });
  const rs = parseResponses(raw);
  assert.deepEqual(rs.map((r) => r.status), want);
  const notFound = JSON.parse(rs[0].body);
  assert.equal(notFound.error.code, 'not_found');
  assert.equal(rs.at(-1).headers.connection, 'close');
});

test('chunked request bodies are decoded', async () => {
  const body = JSON.stringify({ email: 'nobody@example.com', password: 'wrong-password-123' });
  const a = body.slice(0, 10), b = body.slice(10);
  const req = 'POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
    'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
    `${a.length.toString(16)}\r\n${a}\r\n${b.length.toString(16)}\r\n${b}\r\n0\r\n\r\n`;
  const [r] = parseResponses(await rawRequest(emma.port, req, { timeoutMs: 5000 }));
  assert.equal(r.status, 401, r.body);
  assert.equal(JSON.parse(r.body).error.code, 'invalid_credentials');
});

test('malformed JSON gets 400 with line and column', async () => {
  const res = await fetch(`${emma.url}/api/v1/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email": "a@b.c",, }',
  });
  assert.equal(res.status, 400);
  const j = await res.json();
  assert.equal(j.error.code, 'invalid_json');
  assert.match(j.error.message, /line 1 column \d+/);
});

test('body over the limit gets 413 (Content-Length and chunked)', async () => {
  const big = 'x'.repeat(5000);
  let [r] = parseResponses(await rawRequest(emma.port,
    `POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${big.length}\r\n\r\n${big}`));
  assert.equal(r.status, 413);
  assert.equal(JSON.parse(r.body).error.code, 'too_large');
  const chunk = 'y'.repeat(3000);
  [r] = parseResponses(await rawRequest(emma.port,
    'POST /api/v1/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
    `${chunk.length.toString(16)}\r\n${chunk}\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`));
  assert.equal(r.status, 413);
});

test('headers over the limit get 431, a long target 414', async () => {
  let [r] = parseResponses(await rawRequest(emma.port,
    `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(3000)}\r\n\r\n`));
  assert.equal(r.status, 431);
  [r] = parseResponses(await rawRequest(emma.port, `GET /${'p'.repeat(3000)} HTTP/1.1\r\nHost: x\r\n\r\n`));
  assert.equal(r.status, 414);
});

test('slow headers and slow bodies get 408', async () => {
  let [r] = parseResponses(await rawRequest(emma.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n', { timeoutMs: 3000 }));
  assert.equal(r.status, 408);
  [r] = parseResponses(await rawRequest(emma.port,
    'POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"a":', { timeoutMs: 3000 }));
  assert.equal(r.status, 408);
});

test('idle keep-alive connections are closed', async () => {
  const t0 = Date.now();
  const raw = await rawRequest(emma.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 5000 });
  assert.equal(parseResponses(raw)[0].status, 200);
  assert.ok(Date.now() - t0 < 4000, 'server closed the idle connection before the client timeout');
});

test('garbage gets 400 and the connection closes', async () => {
  const [r] = parseResponses(await rawRequest(emma.port, 'HELLO\r\n\r\n'));
  assert.equal(r.status, 400);
  assert.equal(JSON.parse(r.body).error.code, 'bad_request');
});

test('console page is served with ETag, 304 and gzip', async () => {
  const res = await fetch(emma.url, { headers: { 'accept-encoding': 'gzip' } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /text\/html/);
  const etag = res.headers.get('etag');
  assert.ok(etag);
  assert.match(await res.text(), /<html/i);
  const again = await fetch(emma.url, { headers: { 'if-none-match': etag } });
  assert.equal(again.status, 304);
  const [r] = parseResponses(await rawRequest(emma.port,
    'GET /console/app.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n'));
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-encoding'], 'gzip');
});

test('metrics expose requests by status and store figures', async () => {
  const res = await fetch(`${emma.url}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.match(text, /emma_http_requests_total\{code="200"\} \d+/);
  assert.match(text, /emma_http_requests_total\{code="413"\} \d+/);
  assert.match(text, /emma_store_queue_depth \d+/);
  assert.match(text, /emma_store_commit_seconds_bucket\{le="\+Inf"\} \d+/);
  assert.match(text, /emma_connections_open \d+/);
});

test('connections past max_connections get 503', async () => {
  const small = await startEmma({ env: { EMMA_SERVER_MAX_CONNECTIONS: '2' } });
  try {
    const socks = [];
    for (let i = 0; i < 2; i++) {
      const s = net.connect(small.port, '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      socks.push(s);
    }
    await new Promise((r) => setTimeout(r, 100));
    const [r] = parseResponses(await rawRequest(small.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.equal(r.status, 503);
    assert.equal(JSON.parse(r.body).error.code, 'unavailable');
    socks.forEach((s) => s.destroy());
    await new Promise((r) => setTimeout(r, 100));
    const ok = await fetch(`${small.url}/healthz`);
    assert.equal(ok.status, 200);
  } finally {
    await small.stop();
  }
});
