// Call-me-back against the real binary (docs/contacts.md "Call-me-back"): the widget's public
// endpoint (CORS, the site's origin check, the per-IP limit, field errors), the operators' queue
// (due order, paging, assignment and roles, retries after no answer, overdue), events to the
// operator WebSocket (once for "overdue", also across a restart) and the webhooks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startEmma, login, api, waitFor, sleep } from './lib/emma.mjs';
import { operator, newAgent, closeAll } from './lib/chat.mjs';

const MIN = 60000;
let emma, admin, agentA, agentB, op, hook;
const received = [];

before(async () => {
	hook = http.createServer((req, res) => {
		let body = '';
		req.on('data', (c) => (body += c));
		req.on('end', () => {
			received.push({ event: req.headers['x-emma-event'], body: JSON.parse(body || '{}') });
			res.end('ok');
		});
	});
	await new Promise((r) => hook.listen(0, '127.0.0.1', r));
	// A generous per-IP limit here: every request of this file comes from 127.0.0.1.
	emma = await startEmma({ env: { EMMA_CHAT_CALLBACK_IP_LIMIT: '1000', EMMA_CHAT_CALLBACK_RETRY_MIN: '30' } });
	admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
	agentA = await newAgent(emma, admin, 'anna@example.org', { name: 'Anna' });
	agentB = await newAgent(emma, admin, 'ben@example.org', { name: 'Ben' });
	op = await operator(emma, admin);
	const wh = await api(emma.url, 'POST', '/api/v1/webhooks', {
		...admin, body: { url: `http://127.0.0.1:${hook.address().port}/hook`, events: ['callback.requested', 'callback.updated'] },
	});
	assert.equal(wh.status, 201, wh.text);
});

after(async () => {
	closeAll(op);
	await emma?.stop();
	hook?.close();
});

const iso = (ms) => new Date(ms).toISOString();

async function publicCallback(server, body, headers = {}) {
	const res = await fetch(`${server.url}/api/v1/public/callbacks`, {
		method: 'POST',
		headers: { 'content-type': 'text/plain', ...headers },
		body: typeof body === 'string' ? body : JSON.stringify(body),
	});
	const text = await res.text();
	return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null, text };
}

async function me(session) {
	return (await api(emma.url, 'GET', '/api/v1/me', { cookie: session.cookie })).json.operator;
}

test('the widget asks for a call: CORS, origin check, a lead linked to the visitor, repeats answered once', async () => {
	// A site that only accepts pages from shop.example.
	let r = await api(emma.url, 'POST', '/api/v1/sites', { ...admin, body: { key: 'shop', name: 'Shop', allowed_domains: ['shop.example'] } });
	assert.equal(r.status, 201, r.text);

	const pre = await fetch(`${emma.url}/api/v1/public/callbacks`, { method: 'OPTIONS', headers: { Origin: 'https://shop.example', 'Access-Control-Request-Method': 'POST' } });
	assert.equal(pre.status, 204);
	assert.equal(pre.headers.get('access-control-allow-origin'), 'https://shop.example');
	assert.match(pre.headers.get('access-control-allow-methods'), /POST/);

	const start = Date.now() + 2 * 3600 * 1000;
	const form = { site: 'shop', vid: 'cb-visitor-1', name: 'Clara', phone: '+49 (30) 555-0303', topic: 'Delivery date', window_start: iso(start), window_end: iso(start + 3600 * 1000), consent: true };
	r = await publicCallback(emma, form, { Origin: 'https://evil.example' });
	assert.equal(r.status, 403);
	assert.equal(r.json.error.field, 'site');
	assert.equal(r.headers.get('access-control-allow-origin'), 'https://evil.example', 'errors are readable by the page too');

	r = await publicCallback(emma, form, { Origin: 'https://shop.example' });
	assert.equal(r.status, 201, r.text);
	assert.equal(r.headers.get('access-control-allow-origin'), 'https://shop.example');
	const pub = r.json.callback;
	assert.match(pub.id, /^cb/);
	assert.equal(pub.status, 'open');
	assert.equal(Date.parse(pub.due_at), start - (start % 1), 'due at the start of the window');
	assert.equal(Date.parse(pub.window_start), start);
	// The widget learns nothing but its own request's state.
	assert.deepEqual(Object.keys(pub).sort(), ['due_at', 'id', 'status', 'window_end', 'window_start']);

	const ev = await op.next((m) => m.type === 'callback' && m.callback.id === pub.id);
	assert.equal(ev.action, 'created');
	assert.equal(ev.callback.phone, '+49305550303');
	assert.equal(ev.callback.overdue, false);

	// The operators see all of it, with a lead made from the form.
	r = await api(emma.url, 'GET', `/api/v1/callbacks/${pub.id}`, { cookie: agentA.cookie });
	assert.equal(r.status, 200);
	const cb = r.json.callback;
	assert.equal(cb.site, 'shop');
	assert.equal(cb.vid, 'cb-visitor-1');
	assert.equal(cb.name, 'Clara');
	assert.equal(cb.topic, 'Delivery date');
	assert.equal(cb.attempts, 0);
	assert.equal(cb.assigned, null);
	assert.ok(cb.contact && /^ct/.test(cb.contact.id));
	const ct = await api(emma.url, 'GET', `/api/v1/contacts/${cb.contact.id}`, { cookie: admin.cookie });
	assert.equal(ct.status, 200);
	assert.equal(ct.json.contact.phone, '+49305550303');
	assert.equal(ct.json.contact.source, 'callback');
	assert.equal(ct.json.contact.stage, 'lead');

	// The same form again (a retry, a double click) is the same request.
	r = await publicCallback(emma, form, { Origin: 'https://shop.example' });
	assert.equal(r.status, 200);
	assert.equal(r.json.callback.id, pub.id);

	await waitFor(() => received.some((d) => d.event === 'callback.requested' && JSON.stringify(d.body).includes(pub.id)),
		{ what: 'the callback.requested webhook', timeoutMs: 10000 });
});

test('the public endpoint names the bad field', async () => {
	const now = Date.now();
	const ok = { site: 'default', vid: 'cb-bad-1', phone: '+4930123456' };
	const cases = [
		[{ ...ok, phone: '030 123456' }, 422, 'phone'],
		[{ ...ok, phone: '+49 abc' }, 422, 'phone'],
		[{ ...ok, phone: undefined }, 422, 'phone'],
		[{ ...ok, site: 'nosuch' }, 422, 'site'],
		[{ ...ok, site: undefined }, 422, 'site'],
		[{ ...ok, vid: undefined }, 422, 'vid'],
		[{ ...ok, vid: 'has space' }, 422, 'vid'],
		[{ ...ok, window_start: 'tomorrow at 3' }, 422, 'window_start'],
		[{ ...ok, window_start: iso(now + 2 * 3600e3), window_end: iso(now + 3600e3) }, 422, 'window_end'],
		[{ ...ok, window_end: iso(now - 60e3) }, 422, 'window_end'],
		[{ ...ok, window_start: iso(now + 100 * 24 * 3600e3) }, 422, 'window_start'],
		[{ ...ok, topic: 'x'.repeat(501) }, 422, 'topic'],
		[{ ...ok, name: 'x'.repeat(128) }, 422, 'name'],
		[{ ...ok, consent: 'yes' }, 422, 'consent'],
	];
	for (const [body, status, field] of cases) {
		const r = await publicCallback(emma, body);
		assert.equal(r.status, status, `${JSON.stringify(body).slice(0, 80)}: ${r.text}`);
		assert.equal(r.json.error.field, field, r.text);
	}
	const r = await publicCallback(emma, '{"site":');
	assert.equal(r.status, 400);
	assert.equal(r.json.error.code, 'invalid_json');
	// Nothing was stored for any of them.
	const list = await api(emma.url, 'GET', '/api/v1/callbacks?site=default', { cookie: admin.cookie });
	assert.ok(!list.json.callbacks.some((c) => c.vid === 'cb-bad-1'));
});

test('the public endpoint allows 5 requests per IP in 10 minutes', async (t) => {
	const small = await startEmma({ t });
	const sent = [];
	for (let i = 0; i < 5; i++) sent.push(await publicCallback(small, { site: 'default', vid: `rl-${i}`, phone: `+49301234560${i}` }));
	assert.deepEqual(sent.map((r) => r.status), [201, 201, 201, 201, 201]);
	const r = await publicCallback(small, { site: 'default', vid: 'rl-5', phone: '+4930123456099' }, { Origin: 'https://a.example' });
	assert.equal(r.status, 429);
	assert.equal(r.json.error.code, 'rate_limited');
	assert.ok(Number(r.headers.get('retry-after')) > 0);
	assert.equal(r.headers.get('access-control-allow-origin'), 'https://a.example');
	assert.equal(r.headers.get('access-control-expose-headers'), 'Retry-After');
});

test('operators: create with validation, the queue in due order with paging, 401/403', async () => {
	const now = Date.now();
	const mk = (body, s = admin) => api(emma.url, 'POST', '/api/v1/callbacks', { ...s, body });
	let r = await mk({ phone: '+4940111', name: 'Late', window_start: iso(now + 3 * 3600e3) });
	assert.equal(r.status, 201, r.text);
	const late = r.json.callback;
	r = await mk({ phone: '+4940222', name: 'Soon', window_start: iso(now + 3600e3), window_end: iso(now + 2 * 3600e3), topic: 'Invoice' }, agentA);
	assert.equal(r.status, 201, r.text);
	const soon = r.json.callback;
	assert.equal(soon.window_end, iso(now + 2 * 3600e3));
	r = await mk({ phone: '+4940333', name: 'Now' });
	const asap = r.json.callback;
	assert.ok(Math.abs(Date.parse(asap.due_at) - Date.now()) < 5000, 'without a window it is due now');

	// A callback for a known contact takes the contact's phone.
	const c = await api(emma.url, 'POST', '/api/v1/contacts', { ...admin, body: { name: 'Known', email: 'known@example.org', phone: '+4940444' } });
	assert.equal(c.status, 201, c.text);
	r = await mk({ contact: c.json.contact.id, topic: 'Renewal', window_start: iso(now + 4 * 3600e3) });
	assert.equal(r.status, 201, r.text);
	assert.equal(r.json.callback.phone, '+4940444');
	assert.equal(r.json.callback.contact.id, c.json.contact.id);
	const c2 = await api(emma.url, 'POST', '/api/v1/contacts', { ...admin, body: { name: 'No Phone', email: 'nophone@example.org' } });
	for (const [body, field] of [[{ contact: c2.json.contact.id }, 'phone'], [{ contact: 'ctnope', phone: '+4940555' }, 'contact'],
		[{ phone: '+4940555', assigned: 'nobody' }, 'assigned'], [{ phone: 'call me' }, 'phone'], [{}, 'phone'],
		[{ phone: '+4940555', due_at: 'soon' }, 'due_at'], [{ phone: '+4940555', site: 'nosuch' }, 'site']]) {
		r = await mk(body);
		assert.equal(r.status, 422, JSON.stringify(body));
		assert.equal(r.json.error.field, field, r.text);
	}

	// The queue: open requests, earliest due first.
	r = await api(emma.url, 'GET', '/api/v1/callbacks?status=open&site=default', { cookie: agentB.cookie });
	assert.equal(r.status, 200);
	const ids = r.json.callbacks.map((x) => x.id);
	assert.ok(ids.indexOf(asap.id) < ids.indexOf(soon.id) && ids.indexOf(soon.id) < ids.indexOf(late.id), ids.join());
	const dues = r.json.callbacks.map((x) => Date.parse(x.due_at));
	assert.deepEqual(dues, dues.slice().sort((a, b) => a - b));
	// One at a time, the same order.
	const paged = [];
	let cursor = '';
	for (let k = 0; k < 50; k++) {
		const p = await api(emma.url, 'GET', `/api/v1/callbacks?status=open&site=default&limit=1${cursor ? `&cursor=${cursor}` : ''}`, { cookie: admin.cookie });
		paged.push(...p.json.callbacks.map((x) => x.id));
		if (!p.json.next_cursor) break;
		cursor = p.json.next_cursor;
	}
	assert.deepEqual(paged, ids);
	for (const q of ['status=closed', 'overdue=maybe', 'limit=0', 'cursor=zz', 'site=nosuch', 'assigned=nobody'])
		assert.equal((await api(emma.url, 'GET', `/api/v1/callbacks?${q}`, { cookie: admin.cookie })).status, 422, q);

	// Who may do what.
	for (const [m, p] of [['GET', '/api/v1/callbacks'], ['POST', '/api/v1/callbacks'], ['GET', `/api/v1/callbacks/${soon.id}`], ['PATCH', `/api/v1/callbacks/${soon.id}`]])
		assert.equal((await api(emma.url, m, p, { body: m === 'GET' ? undefined : { status: 'done', phone: '+4940999' } })).status, 401, `${m} ${p}`);
	const tok = await api(emma.url, 'POST', '/api/v1/tokens', { ...admin, body: { name: 'ro', scope: 'read' } });
	assert.equal((await api(emma.url, 'GET', '/api/v1/callbacks', { token: tok.json.secret })).status, 200);
	assert.equal((await api(emma.url, 'POST', '/api/v1/callbacks', { token: tok.json.secret, body: { phone: '+4940999' } })).status, 403);
	assert.equal((await api(emma.url, 'PATCH', `/api/v1/callbacks/${soon.id}`, { token: tok.json.secret, body: { status: 'done' } })).status, 403);
	assert.equal((await api(emma.url, 'GET', '/api/v1/callbacks/cbnope', { cookie: admin.cookie })).status, 404);
	assert.equal((await api(emma.url, 'PATCH', '/api/v1/callbacks/cbnope', { ...admin, body: { status: 'done' } })).status, 404);
});

test('working a request: assignment by role, no answer reschedules, done leaves the queue; events and webhooks', async () => {
	const anna = await me(agentA);
	const ben = await me(agentB);
	let r = await api(emma.url, 'POST', '/api/v1/callbacks', { ...admin, body: { phone: '+4989777', name: 'Work Me' } });
	const cb = r.json.callback;
	const patch = (s, body) => api(emma.url, 'PATCH', `/api/v1/callbacks/${cb.id}`, { ...s, body });

	// An agent takes an unassigned request; another agent may then not touch it.
	r = await patch(agentA, { assigned: anna.id });
	assert.equal(r.status, 200, r.text);
	assert.equal(r.json.callback.assigned.id, anna.id);
	const upd = await op.next((m) => m.type === 'callback' && m.action === 'updated' && m.callback.id === cb.id);
	assert.equal(upd.callback.assigned.name, 'Anna');
	assert.equal((await patch(agentB, { status: 'done' })).status, 403);
	assert.equal((await patch(agentB, { assigned: ben.id })).status, 403);
	assert.equal((await patch(agentA, { assigned: ben.id })).status, 403, 'agents do not hand requests to others');
	assert.equal((await patch(agentA, { status: 'finished' })).json.error.field, 'status');

	// No answer: one attempt more, due again retry_min (30) minutes later, then 60.
	let before = Date.now();
	r = await patch(agentA, { status: 'no_answer' });
	assert.equal(r.status, 200);
	assert.equal(r.json.callback.status, 'no_answer');
	assert.equal(r.json.callback.attempts, 1);
	let due = Date.parse(r.json.callback.due_at);
	assert.ok(due >= before + 30 * MIN && due <= Date.now() + 30 * MIN, `due ${r.json.callback.due_at}`);
	assert.equal(r.json.callback.overdue, false);
	before = Date.now();
	r = await patch(agentA, { status: 'no_answer' });
	assert.equal(r.json.callback.attempts, 2);
	due = Date.parse(r.json.callback.due_at);
	assert.ok(due >= before + 60 * MIN && due <= Date.now() + 60 * MIN);
	// Still in the queue of waiting requests.
	r = await api(emma.url, 'GET', '/api/v1/callbacks?status=open,no_answer&assigned=me', { cookie: agentA.cookie });
	assert.deepEqual(r.json.callbacks.map((x) => x.id), [cb.id]);
	r = await api(emma.url, 'GET', `/api/v1/callbacks?assigned=${anna.id}`, { cookie: agentB.cookie });
	assert.deepEqual(r.json.callbacks.map((x) => x.id), [cb.id]);

	// The admin may change anything; done leaves the waiting queue.
	r = await patch(admin, { status: 'done', topic: 'Reached on the 3rd try' });
	assert.equal(r.status, 200);
	assert.equal(r.json.callback.attempts, 2);
	assert.equal(r.json.callback.topic, 'Reached on the 3rd try');
	r = await api(emma.url, 'GET', '/api/v1/callbacks?status=open,no_answer', { cookie: admin.cookie });
	assert.ok(!r.json.callbacks.some((x) => x.id === cb.id));
	r = await api(emma.url, 'GET', '/api/v1/callbacks?status=done', { cookie: admin.cookie });
	assert.ok(r.json.callbacks.some((x) => x.id === cb.id));
	// Unassigning with null.
	r = await patch(admin, { assigned: null });
	assert.equal(r.json.callback.assigned, null);

	await waitFor(() => received.filter((d) => d.event === 'callback.updated' && JSON.stringify(d.body).includes(cb.id)).length >= 4,
		{ what: 'callback.updated webhooks', timeoutMs: 10000 });
});

test('overdue: flagged in JSON and the list, announced once on the WebSocket, not again after a restart', async () => {
	// Already overdue when created (an operator may set due_at in the past).
	let r = await api(emma.url, 'POST', '/api/v1/callbacks', { ...admin, body: { phone: '+4930000111', name: 'Past', due_at: iso(Date.now() - 5 * MIN) } });
	assert.equal(r.status, 201, r.text);
	const past = r.json.callback;
	assert.equal(past.overdue, true);
	// Due in two seconds.
	r = await api(emma.url, 'POST', '/api/v1/callbacks', { ...admin, body: { phone: '+4930000222', name: 'Soon', due_at: iso(Date.now() + 2000) } });
	const soon = r.json.callback;
	assert.equal(soon.overdue, false);

	const e1 = await op.next((m) => m.type === 'callback' && m.action === 'overdue' && m.callback.id === past.id, 5000, 'overdue of the past one');
	assert.equal(e1.callback.overdue, true);
	const e2 = await op.next((m) => m.type === 'callback' && m.action === 'overdue' && m.callback.id === soon.id, 8000, 'overdue of the soon one');
	assert.equal(e2.callback.overdue, true);
	r = await api(emma.url, 'GET', '/api/v1/callbacks?overdue=true', { cookie: admin.cookie });
	const overdue = r.json.callbacks.map((x) => x.id);
	assert.ok(overdue.includes(past.id) && overdue.includes(soon.id));
	assert.ok(r.json.callbacks.every((x) => x.overdue && ['open', 'no_answer'].includes(x.status)));

	await sleep(2500);
	const count = (id) => op.frames.filter((m) => m.type === 'callback' && m.action === 'overdue' && m.callback.id === id).length;
	assert.equal(count(past.id), 1);
	assert.equal(count(soon.id), 1);

	// Rescheduling makes it wait again; when that passes, it is announced again (once).
	r = await api(emma.url, 'PATCH', `/api/v1/callbacks/${soon.id}`, { ...admin, body: { due_at: iso(Date.now() + 1500) } });
	assert.equal(r.json.callback.overdue, false);
	await op.next((m) => m.type === 'callback' && m.action === 'overdue' && m.callback.id === soon.id, 8000, 'overdue again');

	// A restart announces nothing twice.
	closeAll(op);
	await emma.restart();
	admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
	op = await operator(emma, admin);
	await sleep(2500);
	assert.equal(op.frames.filter((m) => m.type === 'callback' && m.action === 'overdue').length, 0);
	r = await api(emma.url, 'GET', `/api/v1/callbacks/${past.id}`, { cookie: admin.cookie });
	assert.equal(r.json.callback.overdue, true, 'still overdue after the restart');
});
