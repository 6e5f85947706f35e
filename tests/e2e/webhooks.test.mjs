// Webhooks (docs/webhooks.md) against the real binary and a real HTTP receiver on loopback:
// signatures recomputed here, retries with backoff while the receiver answers 500 or is down,
// delivered once when it comes back, the delivery log, restarts, and 401/403/404/422.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHmac } from 'node:crypto';
import { startEmma, login, api, waitFor, sleep } from './lib/emma.mjs';
import { closeAll, visitor } from './lib/chat.mjs';

const FAST = {
	EMMA_WEBHOOKS_BACKOFF_BASE_MS: '200',
	EMMA_WEBHOOKS_BACKOFF_MAX_MS: '1500',
	EMMA_WEBHOOKS_POLL_MS: '200',
	EMMA_WEBHOOKS_TIMEOUT_S: '2',
};

/** A webhook receiver: records every request; mode 'ok' answers 204, '500' answers 500. */
function receiver() {
	const rx = { requests: [], mode: 'ok', server: null, port: 0 };
	const handler = (req, res) => {
		const chunks = [];
		req.on('data', (c) => chunks.push(c));
		req.on('end', () => {
			const raw = Buffer.concat(chunks).toString('utf8');
			const status = rx.mode === 'ok' ? 204 : 500;
			rx.requests.push({ at: Date.now(), method: req.method, url: req.url, headers: req.headers, raw, status });
			res.writeHead(status, { 'Content-Type': 'text/plain' });
			res.end(status === 500 ? 'receiver is broken today' : '');
		});
	};
	rx.start = (port = 0) => new Promise((resolve, reject) => {
		rx.server = http.createServer(handler);
		rx.server.once('error', reject);
		rx.server.listen(port, '127.0.0.1', () => {
			rx.port = rx.server.address().port;
			resolve();
		});
	});
	rx.stop = () => new Promise((resolve) => {
		rx.server.closeAllConnections?.();
		rx.server.close(() => resolve());
	});
	rx.url = (path = '/hook') => `http://127.0.0.1:${rx.port}${path}`;
	rx.of = (deliveryId) => rx.requests.filter((r) => r.headers['x-emma-delivery'] === deliveryId);
	return rx;
}

function expectedSignature(secret, req) {
	const ts = req.headers['x-emma-timestamp'];
	return 'sha256=' + createHmac('sha256', secret).update(`${ts}.${req.raw}`).digest('hex');
}

async function deliveries(emma, admin, hook, query = '') {
	const r = await api(emma.url, 'GET', `/api/v1/webhooks/${hook}/deliveries${query}`, { cookie: admin.cookie });
	assert.equal(r.status, 200, r.text);
	return r.json;
}

async function deliveryOf(emma, admin, hook, id) {
	const list = await deliveries(emma, admin, hook, '?limit=200');
	return list.deliveries.find((d) => d.id === id);
}

test('webhooks: auth, validation, signed deliveries, chat events, retries, log, restart', async (t) => {
	const rx = receiver();
	await rx.start();
	t.after(() => rx.server?.listening && rx.stop());
	const emma = await startEmma({ t, env: FAST });
	const admin = await login(emma.url, emma.adminEmail, emma.adminPassword);

	// ---- 401 / 403 ----
	let r = await api(emma.url, 'GET', '/api/v1/webhooks');
	assert.equal(r.status, 401);
	assert.equal(r.json.error.code, 'unauthorized');
	r = await api(emma.url, 'POST', '/api/v1/operators', {
		...admin, body: { email: 'agent@example.org', name: 'Agent', role: 'agent', password: 'agent-password-1' },
	});
	assert.equal(r.status, 201, r.text);
	const agent = await login(emma.url, 'agent@example.org', 'agent-password-1');
	for (const [m, p] of [['GET', '/api/v1/webhooks'], ['POST', '/api/v1/webhooks'], ['GET', '/api/v1/webhooks/whx'],
		['POST', '/api/v1/webhooks/deliveries/whdx/retry']]) {
		r = await api(emma.url, m, p, { ...agent, body: m === 'POST' ? { url: rx.url(), events: ['*'] } : undefined });
		assert.equal(r.status, 403, `${m} ${p} as agent: ${r.text}`);
		assert.equal(r.json.error.code, 'forbidden');
	}
	// Without the CSRF token a cookie may not change anything.
	r = await api(emma.url, 'POST', '/api/v1/webhooks', { cookie: admin.cookie, body: { url: rx.url(), events: ['*'] } });
	assert.equal(r.status, 403);

	// ---- 422 with field paths ----
	const bad = [
		[{ events: ['*'] }, 'url'],
		[{ url: 'ftp://example.org/x', events: ['*'] }, 'url'],
		[{ url: 'http://', events: ['*'] }, 'url'],
		[{ url: 'http://exa mple.org/', events: ['*'] }, 'url'],
		[{ url: 'https://user:pw@example.org/', events: ['*'] }, 'url'],
		[{ url: rx.url() }, 'events'],
		[{ url: rx.url(), events: [] }, 'events'],
		[{ url: rx.url(), events: ['chat.started', 'chat.exploded'] }, 'events[1]'],
		[{ url: rx.url(), events: ['chat.started', 42] }, 'events[1]'],
		[{ url: rx.url(), events: ['chat.started', '*'] }, 'events[1]'],
		[{ url: rx.url(), events: ['chat.started', 'chat.started'] }, 'events[1]'],
		[{ url: rx.url(), events: ['*'], enabled: 'yes' }, 'enabled'],
	];
	for (const [body, field] of bad) {
		r = await api(emma.url, 'POST', '/api/v1/webhooks', { ...admin, body });
		assert.equal(r.status, 422, `${JSON.stringify(body)}: ${r.text}`);
		assert.equal(r.json.error.field, field, JSON.stringify(body));
		assert.ok(r.json.error.message.length > 5);
	}
	r = await api(emma.url, 'POST', '/api/v1/webhooks', { ...admin, body: '{"url":', headers: { 'Content-Type': 'application/json' } });
	assert.equal(r.status, 400);

	// ---- create: the secret once ----
	r = await api(emma.url, 'POST', '/api/v1/webhooks', { ...admin, body: { url: rx.url(), events: ['chat.started', 'chat.closed'] } });
	assert.equal(r.status, 201, r.text);
	const hook = r.json.webhook;
	assert.match(hook.id, /^wh[a-z0-9]+$/);
	assert.match(hook.secret, /^whsec_[a-z0-9]{20,}$/);
	assert.deepEqual(hook.events, ['chat.started', 'chat.closed']);
	assert.equal(hook.enabled, true);
	let secret = hook.secret;
	r = await api(emma.url, 'GET', '/api/v1/webhooks', { cookie: admin.cookie });
	assert.equal(r.status, 200);
	assert.equal(r.json.webhooks.length, 1);
	assert.equal(r.json.webhooks[0].secret, undefined, 'the secret is not listed');
	r = await api(emma.url, 'GET', `/api/v1/webhooks/${hook.id}`, { cookie: admin.cookie });
	assert.equal(r.status, 200);
	assert.equal(r.json.webhook.url, rx.url());
	assert.equal(r.json.webhook.secret, undefined);

	// ---- ping: signed, headers, body ----
	r = await api(emma.url, 'POST', `/api/v1/webhooks/${hook.id}/test`, admin);
	assert.equal(r.status, 202, r.text);
	const ping = r.json.delivery;
	assert.match(ping.id, /^whd[a-z0-9]+$/);
	assert.equal(ping.event, 'ping');
	assert.equal(ping.status, 'pending');
	const pingReq = await waitFor(() => rx.of(ping.id)[0], { what: 'ping delivery' });
	assert.equal(pingReq.method, 'POST');
	assert.equal(pingReq.url, '/hook');
	assert.equal(pingReq.headers['content-type'], 'application/json');
	assert.equal(pingReq.headers['x-emma-event'], 'ping');
	assert.match(pingReq.headers['x-emma-timestamp'], /^\d{10}$/);
	assert.ok(Math.abs(Number(pingReq.headers['x-emma-timestamp']) - Date.now() / 1000) < 60);
	assert.equal(pingReq.headers['x-emma-signature'], expectedSignature(secret, pingReq));
	assert.notEqual(pingReq.headers['x-emma-signature'], expectedSignature('whsec_wrong', pingReq));
	const pingBody = JSON.parse(pingReq.raw);
	assert.equal(pingBody.id, ping.id);
	assert.equal(pingBody.event, 'ping');
	assert.ok(!Number.isNaN(Date.parse(pingBody.created)));
	assert.equal(pingBody.data.webhook, hook.id, pingReq.raw);
	let d = await waitFor(async () => {
		const x = await deliveryOf(emma, admin, hook.id, ping.id);
		return x.status === 'delivered' && x;
	}, { what: 'ping marked delivered' });
	assert.equal(d.attempts, 1);
	assert.equal(d.last_status, 204);
	assert.equal(d.next_at, null);
	assert.ok(d.delivered);

	// ---- chat.started and chat.closed from the chat ----
	const v = await visitor(emma, { vid: 'hook-visitor-1' });
	v.sendJson({ type: 'offline', email: 'ada@example.org', name: 'Ada', body: 'Do you ship to Vienna?', client_id: 'off-1' });
	await v.next((m) => m.type === 'ack');
	const started = await waitFor(() => rx.requests.find((q) => q.headers['x-emma-event'] === 'chat.started'), { what: 'chat.started' });
	assert.equal(started.headers['x-emma-signature'], expectedSignature(secret, started));
	const sb = JSON.parse(started.raw);
	assert.equal(sb.event, 'chat.started');
	assert.equal(sb.data.conversation.vid, 'hook-visitor-1');
	assert.equal(sb.data.conversation.email, 'ada@example.org');
	assert.equal(sb.data.conversation.site, 'default');
	const convId = sb.data.conversation.id;
	r = await api(emma.url, 'POST', `/api/v1/conversations/${convId}/close`, { ...admin, body: { outcome: 'sale' } });
	assert.equal(r.status, 200, r.text);
	const closed = await waitFor(() => rx.requests.find((q) => q.headers['x-emma-event'] === 'chat.closed'), { what: 'chat.closed' });
	const cb = JSON.parse(closed.raw);
	assert.equal(cb.data.conversation.id, convId);
	assert.equal(cb.data.conversation.status, 'closed');
	assert.equal(cb.data.conversation.outcome, 'sale');
	assert.ok(cb.data.conversation.closed);
	closeAll(v);
	await sleep(300);
	assert.equal(rx.requests.filter((q) => q.headers['x-emma-event'] === 'chat.closed').length, 1, 'closed once');
	assert.equal(rx.requests.filter((q) => q.headers['x-emma-event'] === 'chat.started').length, 1, 'started once');

	// ---- retries: 500, then down, then up -> delivered once, attempts counted ----
	rx.mode = '500';
	r = await api(emma.url, 'POST', `/api/v1/webhooks/${hook.id}/test`, admin);
	const retried = r.json.delivery;
	await waitFor(() => rx.of(retried.id).length >= 3, { timeoutMs: 8000, what: 'three failed attempts' });
	const tries = rx.of(retried.id);
	assert.ok(tries.every((q) => q.status === 500));
	const gap1 = tries[1].at - tries[0].at, gap2 = tries[2].at - tries[1].at;
	assert.ok(gap1 >= 150, `first retry waited ${gap1} ms (base 200 ms)`);
	assert.ok(gap2 > gap1, `backoff grows: ${gap1} ms then ${gap2} ms`);
	// The same body (and delivery id) every time; a fresh timestamp and signature.
	assert.equal(tries[1].raw, tries[0].raw);
	for (const q of tries) assert.equal(q.headers['x-emma-signature'], expectedSignature(secret, q));
	d = await deliveryOf(emma, admin, hook.id, retried.id);
	assert.equal(d.status, 'pending');
	assert.ok(d.attempts >= 2, `attempts ${d.attempts}`);
	assert.equal(d.last_status, 500);
	assert.match(d.last_error, /HTTP 500: receiver is broken today/);
	assert.ok(Date.parse(d.next_at) > Date.parse(d.created), 'next_at moves forward');

	// Receiver down: connection failures, no status.
	const port = rx.port;
	await rx.stop();
	const before = (await deliveryOf(emma, admin, hook.id, retried.id)).attempts;
	d = await waitFor(async () => {
		const x = await deliveryOf(emma, admin, hook.id, retried.id);
		return x.attempts >= before + 2 && x.last_status === null && x;
	}, { timeoutMs: 10000, what: 'failed connection attempts' });
	assert.equal(d.status, 'pending');
	assert.match(d.last_error, /connect|refused/i);
	const nextAt = Date.parse(d.next_at);
	assert.ok(nextAt > Date.now() - 2000, 'next attempt scheduled');

	// Up again, answering 2xx: delivered exactly once.
	rx.mode = 'ok';
	await rx.start(port);
	d = await waitFor(async () => {
		const x = await deliveryOf(emma, admin, hook.id, retried.id);
		return x.status === 'delivered' && x;
	}, { timeoutMs: 10000, what: 'delivered after the receiver came back' });
	await sleep(700);
	const all = rx.of(retried.id);
	assert.equal(all.filter((q) => q.status === 204).length, 1, 'one successful delivery');
	const final = await deliveryOf(emma, admin, hook.id, retried.id);
	assert.equal(final.status, 'delivered');
	assert.equal(final.last_status, 204);
	assert.equal(final.last_error, '');
	assert.ok(final.attempts >= before + 3, `attempts ${final.attempts} count the refused connections`);
	assert.ok(final.attempts > all.length, 'refused connections counted as attempts');

	// ---- the log: filters, paging, errors ----
	let log = await deliveries(emma, admin, hook.id, '?status=delivered');
	assert.ok(log.deliveries.length >= 4);
	assert.ok(log.deliveries.every((x) => x.status === 'delivered'));
	log = await deliveries(emma, admin, hook.id, '?status=failed');
	assert.equal(log.deliveries.length, 0);
	const page1 = await deliveries(emma, admin, hook.id, '?limit=2');
	assert.equal(page1.deliveries.length, 2);
	assert.ok(page1.next_cursor);
	assert.equal(page1.deliveries[0].id, retried.id, 'newest first');
	const page2 = await deliveries(emma, admin, hook.id, `?limit=2&cursor=${encodeURIComponent(page1.next_cursor)}`);
	assert.ok(page2.deliveries.length >= 1);
	const ids = new Set([...page1.deliveries, ...page2.deliveries].map((x) => x.id));
	assert.equal(ids.size, page1.deliveries.length + page2.deliveries.length, 'pages do not overlap');
	for (const q of ['?status=lost', '?limit=1000', '?cursor=abc']) {
		r = await api(emma.url, 'GET', `/api/v1/webhooks/${hook.id}/deliveries${q}`, { cookie: admin.cookie });
		assert.equal(r.status, 422, q);
		assert.ok(r.json.error.field);
	}
	r = await api(emma.url, 'GET', '/api/v1/webhooks/whnothere/deliveries', { cookie: admin.cookie });
	assert.equal(r.status, 404);
	assert.equal(r.json.error.code, 'not_found');
	r = await api(emma.url, 'POST', '/api/v1/webhooks/deliveries/whdnothere/retry', admin);
	assert.equal(r.status, 404);

	// ---- manual retry of a delivered one: sent again, same id ----
	const n0 = rx.of(ping.id).length;
	r = await api(emma.url, 'POST', `/api/v1/webhooks/deliveries/${ping.id}/retry`, admin);
	assert.equal(r.status, 202, r.text);
	assert.equal(r.json.delivery.status, 'pending');
	await waitFor(() => rx.of(ping.id).length === n0 + 1, { what: 'redelivery' });

	// ---- PATCH: disable, rotate the secret, change events; 422 / 404 ----
	r = await api(emma.url, 'PATCH', `/api/v1/webhooks/${hook.id}`, { ...admin, body: { url: 'gopher://x' } });
	assert.equal(r.status, 422);
	assert.equal(r.json.error.field, 'url');
	r = await api(emma.url, 'PATCH', '/api/v1/webhooks/whnothere', { ...admin, body: { enabled: false } });
	assert.equal(r.status, 404);
	r = await api(emma.url, 'PATCH', `/api/v1/webhooks/${hook.id}`, { ...admin, body: { enabled: false } });
	assert.equal(r.status, 200, r.text);
	assert.equal(r.json.webhook.enabled, false);
	assert.equal(r.json.webhook.secret, undefined);
	r = await api(emma.url, 'POST', `/api/v1/webhooks/${hook.id}/test`, admin);
	const held = r.json.delivery;
	await sleep(600);
	assert.equal(rx.of(held.id).length, 0, 'a disabled webhook sends nothing');
	r = await api(emma.url, 'PATCH', `/api/v1/webhooks/${hook.id}`, { ...admin, body: { enabled: true, rotate_secret: true, events: ['*'] } });
	assert.equal(r.status, 200, r.text);
	assert.deepEqual(r.json.webhook.events, ['*']);
	assert.match(r.json.webhook.secret, /^whsec_/);
	assert.notEqual(r.json.webhook.secret, secret);
	secret = r.json.webhook.secret;
	const heldReq = await waitFor(() => rx.of(held.id)[0], { what: 'held delivery after enabling' });
	assert.equal(heldReq.headers['x-emma-signature'], expectedSignature(secret, heldReq), 'signed with the new secret');

	// ---- restart: a pending delivery survives and is sent afterwards ----
	await rx.stop();
	r = await api(emma.url, 'POST', `/api/v1/webhooks/${hook.id}/test`, admin);
	const survivor = r.json.delivery;
	await waitFor(async () => (await deliveryOf(emma, admin, hook.id, survivor.id)).attempts >= 1, { what: 'first failed attempt' });
	await emma.stop();
	await rx.start(port);
	await emma.restart();
	const admin2 = await login(emma.url, emma.adminEmail, emma.adminPassword);
	await waitFor(() => rx.of(survivor.id).some((q) => q.status === 204), { timeoutMs: 8000, what: 'delivery after restart' });
	d = await waitFor(async () => {
		const x = await deliveryOf(emma, admin2, hook.id, survivor.id);
		return x.status === 'delivered' && x;
	}, { what: 'survivor delivered' });
	assert.equal(rx.of(survivor.id).length, 1);

	// ---- delete ----
	r = await api(emma.url, 'DELETE', `/api/v1/webhooks/${hook.id}`, admin2);
	assert.equal(r.status, 204);
	r = await api(emma.url, 'GET', `/api/v1/webhooks/${hook.id}`, { cookie: admin2.cookie });
	assert.equal(r.status, 404);
	assert.equal(r.json.error.code, 'not_found');
	r = await api(emma.url, 'DELETE', `/api/v1/webhooks/${hook.id}`, admin2);
	assert.equal(r.status, 404);
});

test('webhooks: a delivery past max age is marked failed and can be retried by hand', async (t) => {
	const rx = receiver();
	await rx.start();
	const port = rx.port;
	await rx.stop();
	const emma = await startEmma({ t, env: { ...FAST, EMMA_WEBHOOKS_MAX_AGE_S: '2' } });
	const admin = await login(emma.url, emma.adminEmail, emma.adminPassword);
	let r = await api(emma.url, 'POST', '/api/v1/webhooks', { ...admin, body: { url: `http://127.0.0.1:${port}/in`, events: ['*'], enabled: true } });
	assert.equal(r.status, 201, r.text);
	const hook = r.json.webhook;
	r = await api(emma.url, 'POST', `/api/v1/webhooks/${hook.id}/test`, admin);
	const del = r.json.delivery;
	const failed = await waitFor(async () => {
		const x = await deliveryOf(emma, admin, hook.id, del.id);
		return x.status === 'failed' && x;
	}, { timeoutMs: 8000, what: 'failed after max age' });
	assert.ok(failed.attempts >= 3, `attempts ${failed.attempts}`);
	assert.equal(failed.next_at, null);
	assert.ok(Date.now() - Date.parse(failed.created) >= 2000);
	r = await api(emma.url, 'GET', '/api/v1/webhooks', { cookie: admin.cookie });
	assert.equal(r.json.webhooks[0].failed, 1);
	const n = failed.attempts;
	await sleep(600);
	assert.equal((await deliveryOf(emma, admin, hook.id, del.id)).attempts, n, 'no more attempts once failed');

	t.after(() => rx.server?.listening && rx.stop());
	await rx.start(port);
	r = await api(emma.url, 'POST', `/api/v1/webhooks/deliveries/${del.id}/retry`, admin);
	assert.equal(r.status, 202);
	await waitFor(() => rx.of(del.id).length === 1, { what: 'manual retry delivered' });
	const ok = await waitFor(async () => {
		const x = await deliveryOf(emma, admin, hook.id, del.id);
		return x.status === 'delivered' && x;
	}, { what: 'delivered' });
	assert.equal(ok.attempts, n + 1);
	assert.equal(rx.of(del.id)[0].headers['x-emma-signature'], expectedSignature(hook.secret, rx.of(del.id)[0]));
});
