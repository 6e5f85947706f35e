// A console's live socket lasts only as long as its sign-in: signing out, a
// disabled operator or revoked sessions close the operator WebSockets opened
// with them (close code 4401), and nothing more is sent to them; other
// sessions' sockets carry on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startEmma, login, api, sleep } from './lib/emma.mjs';

const AGENT_PW = 'agent-password-123';

function open(port, cookie) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/operator`, { headers: { cookie } });
  ws.inbox = [];
  ws.on('message', (d) => ws.inbox.push(JSON.parse(d.toString())));
  ws.opened = new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  ws.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return ws;
}

function upgradeStatus(port, cookie) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/operator`, { headers: { cookie } });
    ws.on('unexpected-response', (req, res) => { resolve(res.statusCode); ws.terminate(); });
    ws.on('open', () => { resolve(101); ws.close(); });
    ws.on('error', () => {});
  });
}

const within = (p, ms, what) => Promise.race([p, sleep(ms).then(() => { throw new Error(`timeout: ${what}`); })]);

test('signing out, disabling an operator and revoking close their live sockets', async (t) => {
  const emma = await startEmma({ t });
  const admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
  let r = await api(emma.url, 'POST', '/api/v1/operators', {
    ...admin, body: { email: 'agent@example.com', role: 'agent', password: AGENT_PW, name: 'Agent' },
  });
  assert.equal(r.status, 201, r.text);
  const agentId = r.json.operator.id;

  // Two tabs signed in separately, and the admin's own console.
  const a = await login(emma.url, 'agent@example.com', AGENT_PW);
  const b = await login(emma.url, 'agent@example.com', AGENT_PW);
  const wsA = open(emma.port, a.cookie);
  const wsB = open(emma.port, b.cookie);
  const wsAdmin = open(emma.port, admin.cookie);
  await Promise.all([wsA.opened, wsB.opened, wsAdmin.opened]);

  // Signing out in tab A closes A's socket at once, not B's.
  r = await api(emma.url, 'POST', '/api/v1/logout', { ...a, body: {} });
  assert.equal(r.status, 204, r.text);
  const closedA = await within(wsA.closed, 3000, 'socket of the signed-out session');
  assert.equal(closedA.code, 4401);
  assert.equal(await upgradeStatus(emma.port, a.cookie), 401);
  await sleep(300);
  assert.equal(wsB.readyState, WebSocket.OPEN, 'the other session keeps its socket');

  // B still receives what operators are sent: a visitor arriving.
  const before = wsB.inbox.length;
  r = await api(emma.url, 'POST', '/t', {
    headers: { 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) Chrome/122.0 Safari/537.36' },
    body: { site: 'default', vid: 'v-sockets-1', events: [{ type: 'pageview', url: 'https://shop.example/' }] },
  });
  assert.equal(r.status, 200, r.text);
  await within((async () => { while (wsB.inbox.length === before) await sleep(20); })(), 3000, 'a delta on the open socket');

  // Disabling the agent ends every sign-in of theirs: B closes, the admin's stays.
  r = await api(emma.url, 'PATCH', `/api/v1/operators/${agentId}`, { ...admin, body: { disabled: true } });
  assert.equal(r.status, 200, r.text);
  const closedB = await within(wsB.closed, 3000, 'socket of the disabled operator');
  assert.equal(closedB.code, 4401);
  assert.equal(await upgradeStatus(emma.port, b.cookie), 401);
  await sleep(300);
  assert.equal(wsAdmin.readyState, WebSocket.OPEN);
  wsAdmin.close();
  await wsAdmin.closed;
});
