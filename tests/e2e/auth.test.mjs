// Sign-in, sessions, CSRF, roles, API tokens, the login rate limit and the audit log,
// against the real binary (DESIGN.md §5 REST; docs/api.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_EMAIL, api, auditEntries, login, startEmma } from './lib/emma.mjs';

const AGENT_PW = 'agent-password-1';

function setCookieOf(res) {
  return typeof res.headers.getSetCookie === 'function'
    ? res.headers.getSetCookie().join('\n')
    : res.headers.get('set-cookie') || '';
}

async function createAgent(emma, admin, email, extra = {}) {
  const r = await api(emma.url, 'POST', '/api/v1/operators', {
    ...admin, body: { email, name: 'Agent', role: 'agent', password: AGENT_PW, ...extra },
  });
  assert.equal(r.status, 201, r.text);
  return r.json.operator;
}

test('sessions, CSRF, roles and operators', async (t) => {
  const emma = await startEmma({ t });
  const admin = await login(emma.url, ADMIN_EMAIL, emma.adminPassword);

  await t.test('login answers the operator, a CSRF token and a strict HttpOnly cookie', async () => {
    const r = await api(emma.url, 'POST', '/api/v1/login', {
      body: { email: 'ADMIN@localhost', password: emma.adminPassword },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.operator.email, ADMIN_EMAIL);
    assert.equal(r.json.operator.role, 'admin');
    assert.match(r.json.operator.id, /^op_/);
    assert.equal(typeof r.json.operator.max_chats, 'number');
    assert.ok(r.json.csrf.length >= 20);
    const sc = setCookieOf(r);
    assert.match(sc, /emma_session=[a-z0-9]+/);
    assert.match(sc, /HttpOnly/);
    assert.match(sc, /SameSite=Strict/);
    assert.match(sc, /Path=\//);
    assert.doesNotMatch(sc, /Secure/); // plain http without a trusted proxy
  });

  await t.test('bad credentials are 401, missing fields 422 with the field', async () => {
    let r = await api(emma.url, 'POST', '/api/v1/login', { body: { email: ADMIN_EMAIL, password: 'not-the-password' } });
    assert.equal(r.status, 401);
    assert.equal(r.json.error.code, 'invalid_credentials');
    r = await api(emma.url, 'POST', '/api/v1/login', { body: { email: 'nobody@example.com', password: 'whatever-123' } });
    assert.equal(r.status, 401);
    assert.equal(r.json.error.code, 'invalid_credentials');
    r = await api(emma.url, 'POST', '/api/v1/login', { body: { email: ADMIN_EMAIL } });
    assert.equal(r.status, 422);
    assert.equal(r.json.error.field, 'password');
    r = await api(emma.url, 'POST', '/api/v1/login', { body: { email: 42, password: 'x' } });
    assert.equal(r.status, 422);
    assert.equal(r.json.error.field, 'email');
    r = await api(emma.url, 'POST', '/api/v1/login', { body: '{"email":' , headers: { 'Content-Type': 'application/json' } });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.code, 'invalid_json');
  });

  await t.test('no or unknown session is 401', async () => {
    let r = await api(emma.url, 'GET', '/api/v1/me');
    assert.equal(r.status, 401);
    assert.equal(r.json.error.code, 'unauthorized');
    r = await api(emma.url, 'GET', '/api/v1/me', { cookie: 'emma_session=abcdefghijklmnop' });
    assert.equal(r.status, 401);
    r = await api(emma.url, 'GET', '/api/v1/operators', { cookie: 'emma_session=../../etc' });
    assert.equal(r.status, 401);
  });

  await t.test('me returns the operator and the CSRF token', async () => {
    const r = await api(emma.url, 'GET', '/api/v1/me', { cookie: admin.cookie });
    assert.equal(r.status, 200);
    assert.equal(r.json.operator.email, ADMIN_EMAIL);
    assert.equal(r.json.csrf, admin.csrf);
  });

  await t.test('a change with a cookie needs X-CSRF-Token', async () => {
    const body = { email: 'csrf@example.com', role: 'agent', password: AGENT_PW };
    let r = await api(emma.url, 'POST', '/api/v1/operators', { cookie: admin.cookie, body });
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'csrf_failed');
    r = await api(emma.url, 'POST', '/api/v1/operators', { cookie: admin.cookie, csrf: admin.csrf.replace(/.$/, (c) => (c === 'a' ? 'b' : 'a')), body });
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'csrf_failed');
    r = await api(emma.url, 'POST', '/api/v1/operators', { ...admin, body });
    assert.equal(r.status, 201, r.text);
  });

  await t.test('operator create validates and answers 409 on a duplicate e-mail', async () => {
    const op = await createAgent(emma, admin, 'Dup@Example.com', { lang: 'de', max_chats: 7 });
    assert.equal(op.email, 'dup@example.com');
    assert.equal(op.lang, 'de');
    assert.equal(op.max_chats, 7);
    assert.equal(op.disabled, false);
    assert.match(op.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    let r = await api(emma.url, 'POST', '/api/v1/operators', {
      ...admin, body: { email: 'dup@example.COM', role: 'agent', password: AGENT_PW },
    });
    assert.equal(r.status, 409);
    assert.equal(r.json.error.code, 'conflict');
    const bad = [
      [{ email: 'not-an-email', role: 'agent', password: AGENT_PW }, 'email'],
      [{ email: 'x@example.com', role: 'boss', password: AGENT_PW }, 'role'],
      [{ email: 'x@example.com', role: 'agent', password: 'short' }, 'password'],
      [{ email: 'x@example.com', role: 'agent', password: AGENT_PW, max_chats: 51 }, 'max_chats'],
      [{ email: 'x@example.com', role: 'agent', password: AGENT_PW, lang: 'fr' }, 'lang'],
      [{ role: 'agent', password: AGENT_PW }, 'email'],
    ];
    for (const [body, field] of bad) {
      r = await api(emma.url, 'POST', '/api/v1/operators', { ...admin, body });
      assert.equal(r.status, 422, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.json.error.field, field);
    }
    r = await api(emma.url, 'GET', `/api/v1/operators/${op.id}`, admin);
    assert.equal(r.status, 200);
    assert.equal(r.json.operator.email, 'dup@example.com');
    r = await api(emma.url, 'GET', '/api/v1/operators/op_doesnotexist', admin);
    assert.equal(r.status, 404);
  });

  await t.test('an agent may list operators and edit only their own name, lang, password', async () => {
    const op = await createAgent(emma, admin, 'agent1@example.com');
    const agent = await login(emma.url, 'agent1@example.com', AGENT_PW);
    let r = await api(emma.url, 'POST', '/api/v1/operators', {
      ...agent, body: { email: 'x2@example.com', role: 'agent', password: AGENT_PW },
    });
    assert.equal(r.status, 403);
    assert.equal(r.json.error.code, 'forbidden');
    r = await api(emma.url, 'GET', '/api/v1/audit', agent);
    assert.equal(r.status, 403);
    r = await api(emma.url, 'GET', '/api/v1/operators', agent);
    assert.equal(r.status, 200);
    assert.ok(r.json.operators.some((o) => o.email === ADMIN_EMAIL));
    assert.ok(r.json.operators.every((o) => !('password_hash' in o)));
    r = await api(emma.url, 'PATCH', `/api/v1/operators/${op.id}`, { ...agent, body: { name: 'Anna', lang: 'de' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.operator.name, 'Anna');
    assert.equal(r.json.operator.lang, 'de');
    r = await api(emma.url, 'PATCH', `/api/v1/operators/${op.id}`, { ...agent, body: { role: 'admin' } });
    assert.equal(r.status, 403);
    r = await api(emma.url, 'PATCH', `/api/v1/operators/${admin.operator.id}`, { ...agent, body: { name: 'x' } });
    assert.equal(r.status, 403);
    // Their own password: only with the current one.
    r = await api(emma.url, 'PATCH', `/api/v1/operators/${op.id}`, { ...agent, body: { password: 'brand-new-pw-1' } });
    assert.equal(r.status, 422);
    assert.equal(r.json.error.field, 'current_password');
    r = await api(emma.url, 'PATCH', `/api/v1/operators/${op.id}`, {
      ...agent, body: { password: 'brand-new-pw-1', current_password: 'wrong-one-123' },
    });
    assert.equal(r.status, 422);
    assert.equal(r.json.error.field, 'current_password');
    r = await api(emma.url, 'PATCH', `/api/v1/operators/${op.id}`, {
      ...agent, body: { password: 'brand-new-pw-1', current_password: AGENT_PW },
    });
    assert.equal(r.status, 200, r.text);
    // A new password ends every session of that operator.
    r = await api(emma.url, 'GET', '/api/v1/me', { cookie: agent.cookie });
    assert.equal(r.status, 401);
    await login(emma.url, 'agent1@example.com', 'brand-new-pw-1');
  });

  await t.test('disabling an operator ends their sessions; the last admin stays', async () => {
    const op = await createAgent(emma, admin, 'agent2@example.com');
    const agent = await login(emma.url, 'agent2@example.com', AGENT_PW);
    let r = await api(emma.url, 'PATCH', `/api/v1/operators/${op.id}`, { ...admin, body: { disabled: true, max_chats: 9 } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.operator.disabled, true);
    assert.equal(r.json.operator.max_chats, 9);
    r = await api(emma.url, 'GET', '/api/v1/me', { cookie: agent.cookie });
    assert.equal(r.status, 401);
    r = await api(emma.url, 'POST', '/api/v1/login', { body: { email: 'agent2@example.com', password: AGENT_PW } });
    assert.equal(r.status, 401);
    r = await api(emma.url, 'PATCH', `/api/v1/operators/${op.id}`, { ...admin, body: { disabled: false } });
    assert.equal(r.status, 200);
    await login(emma.url, 'agent2@example.com', AGENT_PW);
    r = await api(emma.url, 'PATCH', `/api/v1/operators/${admin.operator.id}`, { ...admin, body: { role: 'agent' } });
    assert.equal(r.status, 409);
    r = await api(emma.url, 'PATCH', `/api/v1/operators/${admin.operator.id}`, { ...admin, body: { disabled: true } });
    assert.equal(r.status, 409);
    r = await api(emma.url, 'PATCH', `/api/v1/operators/${admin.operator.id}`, { ...admin, body: { email: 'new@example.com' } });
    assert.equal(r.status, 422);
    assert.equal(r.json.error.field, 'email');
  });

  await t.test('logout ends the session and clears the cookie', async () => {
    const s = await login(emma.url, ADMIN_EMAIL, emma.adminPassword);
    let r = await api(emma.url, 'POST', '/api/v1/logout', { cookie: s.cookie });
    assert.equal(r.status, 403); // CSRF applies to logout too
    r = await api(emma.url, 'POST', '/api/v1/logout', s);
    assert.equal(r.status, 204);
    assert.match(setCookieOf(r), /emma_session=;.*Max-Age=0/);
    r = await api(emma.url, 'GET', '/api/v1/me', { cookie: s.cookie });
    assert.equal(r.status, 401);
    // Other sessions of the same operator are untouched.
    r = await api(emma.url, 'GET', '/api/v1/me', { cookie: admin.cookie });
    assert.equal(r.status, 200);
  });

  await t.test('a session survives a restart; a logged-out one does not come back', async () => {
    const gone = await login(emma.url, ADMIN_EMAIL, emma.adminPassword);
    assert.equal((await api(emma.url, 'POST', '/api/v1/logout', gone)).status, 204);
    await emma.restart();
    let r = await api(emma.url, 'GET', '/api/v1/me', { cookie: admin.cookie });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.csrf, admin.csrf);
    r = await api(emma.url, 'GET', '/api/v1/me', { cookie: gone.cookie });
    assert.equal(r.status, 401);
  });
});

test('API tokens: scopes, revocation, restart', async (t) => {
  const emma = await startEmma({ t });
  const admin = await login(emma.url, ADMIN_EMAIL, emma.adminPassword);

  let r = await api(emma.url, 'POST', '/api/v1/tokens', { ...admin, body: { name: 'reporting', scope: 'read' } });
  assert.equal(r.status, 201, r.text);
  assert.match(r.json.secret, /^emt_/);
  assert.equal(r.json.token.scope, 'read');
  assert.match(r.json.token.id, /^tok_/);
  const ro = r.json;
  r = await api(emma.url, 'POST', '/api/v1/tokens', { ...admin, body: { name: 'shop sync', scope: 'write' } });
  assert.equal(r.status, 201);
  const rw = r.json;
  r = await api(emma.url, 'POST', '/api/v1/tokens', { ...admin, body: { name: 'x', scope: 'admin' } });
  assert.equal(r.status, 422);
  assert.equal(r.json.error.field, 'scope');
  r = await api(emma.url, 'POST', '/api/v1/tokens', { ...admin, body: { scope: 'read' } });
  assert.equal(r.status, 422);
  assert.equal(r.json.error.field, 'name');

  // Read scope: reads yes, writes no. No CSRF token needed with a bearer token.
  r = await api(emma.url, 'GET', '/api/v1/me', { token: ro.secret });
  assert.equal(r.status, 200);
  assert.equal(r.json.operator.email, ADMIN_EMAIL);
  assert.equal(r.json.csrf, undefined);
  r = await api(emma.url, 'POST', '/api/v1/operators', {
    token: ro.secret, body: { email: 'ro@example.com', role: 'agent', password: AGENT_PW },
  });
  assert.equal(r.status, 403);
  // Write scope may change things.
  r = await api(emma.url, 'POST', '/api/v1/operators', {
    token: rw.secret, body: { email: 'rw@example.com', role: 'agent', password: AGENT_PW },
  });
  assert.equal(r.status, 201, r.text);
  r = await api(emma.url, 'GET', '/api/v1/me', { token: 'emt_notarealtoken' });
  assert.equal(r.status, 401);
  r = await api(emma.url, 'GET', '/api/v1/me', { headers: { Authorization: 'Basic YTpi' } });
  assert.equal(r.status, 401);

  // The list never shows secrets.
  r = await api(emma.url, 'GET', '/api/v1/tokens', admin);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.tokens.map((x) => x.id).sort(), [ro.token.id, rw.token.id].sort());
  assert.ok(!r.text.includes(ro.secret) && !r.text.includes(rw.secret));
  assert.ok(r.json.tokens.find((x) => x.id === ro.token.id).last_used_at);

  // An agent sees only their own tokens and cannot revoke others'.
  await api(emma.url, 'POST', '/api/v1/operators', {
    ...admin, body: { email: 'tokagent@example.com', role: 'agent', password: AGENT_PW },
  });
  const agent = await login(emma.url, 'tokagent@example.com', AGENT_PW);
  r = await api(emma.url, 'POST', '/api/v1/tokens', { ...agent, body: { name: 'mine', scope: 'write' } });
  assert.equal(r.status, 201);
  const agentTok = r.json;
  r = await api(emma.url, 'GET', '/api/v1/tokens', agent);
  assert.deepEqual(r.json.tokens.map((x) => x.id), [agentTok.token.id]);
  r = await api(emma.url, 'DELETE', `/api/v1/tokens/${rw.token.id}`, agent);
  assert.equal(r.status, 404);
  // An agent's write token still cannot do admin things.
  r = await api(emma.url, 'GET', '/api/v1/audit', { token: agentTok.secret });
  assert.equal(r.status, 403);

  // Tokens survive a restart; a revoked one stops at once and stays revoked.
  await emma.restart();
  r = await api(emma.url, 'GET', '/api/v1/me', { token: rw.secret });
  assert.equal(r.status, 200, r.text);
  r = await api(emma.url, 'DELETE', `/api/v1/tokens/${rw.token.id}`, { token: rw.secret });
  assert.equal(r.status, 204);
  r = await api(emma.url, 'GET', '/api/v1/me', { token: rw.secret });
  assert.equal(r.status, 401);
  r = await api(emma.url, 'DELETE', `/api/v1/tokens/${rw.token.id}`, admin);
  assert.equal(r.status, 404);
  await emma.restart();
  r = await api(emma.url, 'GET', '/api/v1/me', { token: rw.secret });
  assert.equal(r.status, 401);
  r = await api(emma.url, 'GET', '/api/v1/me', { token: ro.secret });
  assert.equal(r.status, 200);
});

test('failed sign-ins are rate limited per IP and per e-mail', async (t) => {
  const emma = await startEmma({ t, env: { EMMA_AUTH_LOGIN_ATTEMPTS_PER_MIN: '3' } });
  for (let i = 0; i < 3; i++) {
    const r = await api(emma.url, 'POST', '/api/v1/login', { body: { email: ADMIN_EMAIL, password: `wrong-${i}-xxxx` } });
    assert.equal(r.status, 401);
  }
  let r = await api(emma.url, 'POST', '/api/v1/login', { body: { email: ADMIN_EMAIL, password: 'wrong-again-xx' } });
  assert.equal(r.status, 429);
  assert.equal(r.json.error.code, 'rate_limited');
  const retry = Number(r.headers.get('retry-after'));
  assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
  // While limited, even the right password waits.
  r = await api(emma.url, 'POST', '/api/v1/login', { body: { email: ADMIN_EMAIL, password: emma.adminPassword } });
  assert.equal(r.status, 429);
  // Parallel guesses are counted as they start, not only once they failed.
  const again = await emma.restart();
  const burst = await Promise.all(Array.from({ length: 8 }, (_, i) =>
    api(again.url, 'POST', '/api/v1/login', { body: { email: ADMIN_EMAIL, password: `burst-${i}-xxxx` } })));
  const codes = burst.map((x) => x.status);
  assert.equal(codes.filter((c) => c === 401).length, 3, codes.join(','));
  assert.equal(codes.filter((c) => c === 429).length, 5, codes.join(','));
});

test('the audit log records sign-ins and changes, newest first, paged', async (t) => {
  const emma = await startEmma({ t });
  await api(emma.url, 'POST', '/api/v1/login', { body: { email: ADMIN_EMAIL, password: 'wrong-password-1' } });
  const admin = await login(emma.url, ADMIN_EMAIL, emma.adminPassword);
  const op = await createAgent(emma, admin, 'audited@example.com');
  await api(emma.url, 'PATCH', `/api/v1/operators/${op.id}`, { ...admin, body: { disabled: true } });
  const tok = (await api(emma.url, 'POST', '/api/v1/tokens', { ...admin, body: { name: 'a', scope: 'read' } })).json;
  await api(emma.url, 'DELETE', `/api/v1/tokens/${tok.token.id}`, admin);
  const other = await login(emma.url, ADMIN_EMAIL, emma.adminPassword);
  await api(emma.url, 'POST', '/api/v1/logout', other);

  const want = ['login.failed', 'login.succeeded', 'operator.created', 'operator.disabled', 'token.created', 'token.revoked', 'logout'];
  await auditEntries(emma.url, admin, (es) => want.every((a) => es.some((e) => e.action === a)));
  const r = await api(emma.url, 'GET', '/api/v1/audit?limit=200', admin);
  assert.equal(r.status, 200, r.text);
  const actions = r.json.entries.map((e) => e.action);
  for (const a of want) {
    assert.ok(actions.includes(a), `${a} in ${actions.join(',')}`);
  }
  assert.equal(r.json.next_cursor, null);
  assert.equal(actions[0], 'logout'); // newest first
  const failed = r.json.entries.find((e) => e.action === 'login.failed');
  assert.equal(failed.ip, '127.0.0.1');
  assert.equal(failed.target, ADMIN_EMAIL);
  const created = r.json.entries.find((e) => e.action === 'operator.created');
  assert.equal(created.operator.email, ADMIN_EMAIL);
  assert.equal(created.target, op.id);
  assert.match(created.at, /Z$/);
  // The secret of a token never reaches the log.
  assert.ok(!r.text.includes(tok.secret));

  // Paging: disjoint pages that together give the whole list, in order.
  const seen = [];
  let cursor = null;
  for (let i = 0; i < 20; i++) {
    const page = await api(emma.url, 'GET', `/api/v1/audit?limit=2${cursor ? `&cursor=${cursor}` : ''}`, admin);
    assert.equal(page.status, 200);
    assert.ok(page.json.entries.length <= 2);
    seen.push(...page.json.entries.map((e) => e.id));
    cursor = page.json.next_cursor;
    if (!cursor) break;
  }
  assert.deepEqual(seen, r.json.entries.map((e) => e.id));
  let bad = await api(emma.url, 'GET', '/api/v1/audit?cursor=zzz', admin);
  assert.equal(bad.status, 422);
  assert.equal(bad.json.error.field, 'cursor');
  bad = await api(emma.url, 'GET', '/api/v1/audit?limit=1000', admin);
  assert.equal(bad.status, 422);
  assert.equal(bad.json.error.field, 'limit');
});
