// Live chat against the real binary (docs/chat.md): visitor <-> operator
// round trips over real WebSockets, exactly-once delivery across reconnects,
// accept races, offline messages, transfer, close and rating, restarts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { api, login, sleep, startEmma, waitFor } from './lib/emma.mjs';
import { closeAll, newAgent, operator, visitor } from './lib/chat.mjs';

let emma, admin;
before(async () => {
	emma = await startEmma({ env: { EMMA_CHAT_OFFLINE_GRACE_S: '0' } });
	admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
});
after(async () => { await emma?.stop(); });

const msgs = (ws, pred = () => true) => ws.frames.filter((f) => f.type === 'msg' && pred(f));

test('no operator online: the widget offers a message form, which lands as an offline conversation', async () => {
	const v = await visitor(emma, { vid: 'offline-visitor-1' });
	assert.equal(v.hello.available, false);
	assert.equal(v.hello.conversation, null);
	assert.equal(v.hello.resume_from, 0);
	assert.deepEqual(v.hello.prechat, { name: 'optional', email: 'optional', consent: 'off' });

	v.sendJson({ type: 'offline', name: 'Ada', body: 'Do you ship to Vienna?', client_id: 'off-1' });
	const err = await v.next((m) => m.type === 'error');
	assert.equal(err.error.field, 'email');
	v.sendJson({ type: 'offline', email: 'not-an-address', body: 'x', client_id: 'off-1' });
	assert.equal((await v.next((m) => m.type === 'error')).error.field, 'email');

	v.sendJson({ type: 'offline', email: 'ada@example.org', name: 'Ada', body: 'Do you ship to Vienna?', client_id: 'off-1' });
	const ack = await v.next((m) => m.type === 'ack');
	assert.equal(ack.client_id, 'off-1');
	assert.equal(ack.seq, 1);

	const list = await api(emma.url, 'GET', '/api/v1/conversations?status=pending', { cookie: admin.cookie });
	assert.equal(list.status, 200);
	const conv = list.json.conversations.find((c) => c.vid === 'offline-visitor-1');
	assert.ok(conv, 'offline conversation listed');
	assert.equal(conv.channel, 'offline');
	assert.equal(conv.email, 'ada@example.org');
	const full = await api(emma.url, 'GET', `/api/v1/conversations/${conv.id}`, { cookie: admin.cookie });
	assert.equal(full.json.messages.length, 1);
	// The message's sender is now a lead, linked to the conversation.
	const lead = await api(emma.url, 'GET', '/api/v1/contacts?q=ada%40example.org', { cookie: admin.cookie });
	assert.equal(lead.json.contacts.length, 1, lead.text);
	assert.equal(lead.json.contacts[0].source, 'offline');
	assert.equal(full.json.conversation.contact, lead.json.contacts[0].id);
	assert.equal(full.json.messages[0].body, 'Do you ship to Vienna?');
	closeAll(v);
});

test('visitor and operator chat: stored before ack, auto-assigned, each message once', async () => {
	const op = await operator(emma, admin);
	const v = await visitor(emma, { vid: 'round-trip-1', headers: { 'Accept-Language': 'de-DE,de;q=0.9' } });
	assert.equal(v.hello.available, true);

	v.sendJson({ type: 'msg', client_id: 'c-1', body: 'Hallo, ist der Mantel in M da?' });
	const ack = await v.next((m) => m.type === 'ack');
	assert.equal(ack.seq, 1);
	const conv = ack.conversation;
	const joined = await v.next((m) => m.type === 'operator_joined');
	assert.equal(joined.conversation, conv);

	const ev = await op.next((m) => m.type === 'conversation' && m.conversation.id === conv && m.conversation.status === 'open');
	assert.equal(ev.conversation.operator.id, admin.operator.id);
	assert.equal(ev.conversation.lang, 'de');
	const got = await op.next((m) => m.type === 'msg' && m.conversation === conv);
	assert.equal(got.body, 'Hallo, ist der Mantel in M da?');
	assert.equal(got.author, 'visitor');

	// The same client id again: acked with the same seq, delivered and stored once.
	v.sendJson({ type: 'msg', client_id: 'c-1', body: 'Hallo, ist der Mantel in M da?' });
	const again = await v.next((m) => m.type === 'ack');
	assert.equal(again.seq, 1);

	op.sendJson({ type: 'msg', conversation: conv, client_id: 'o-1', body: 'Ja, in M und L.' });
	const oack = await op.next((m) => m.type === 'ack' && m.client_id === 'o-1');
	assert.equal(oack.seq, 2);
	const reply = await v.next((m) => m.type === 'msg' && m.seq === 2);
	assert.equal(reply.author, 'operator');
	assert.equal(reply.body, 'Ja, in M und L.');
	assert.ok(reply.operator && 'name' in reply.operator);
	assert.equal(reply.internal, undefined, 'visitors do not see the internal flag');

	// An internal note reaches operators only.
	op.sendJson({ type: 'msg', conversation: conv, client_id: 'o-note', body: 'Stammkundin', internal: true });
	await op.next((m) => m.type === 'ack' && m.client_id === 'o-note');
	// Typing goes across.
	v.sendJson({ type: 'typing', typing: true });
	const typing = await op.next((m) => m.type === 'typing' && m.conversation === conv);
	assert.equal(typing.typing, true);
	op.sendJson({ type: 'typing', conversation: conv, typing: true });
	assert.equal((await v.next((m) => m.type === 'typing')).typing, true);

	await sleep(200);
	assert.equal(msgs(op, (m) => m.conversation === conv && m.client_id === 'c-1').length, 1);
	assert.equal(msgs(v, (m) => m.body === 'Stammkundin').length, 0);

	const stored = await api(emma.url, 'GET', `/api/v1/conversations/${conv}/messages`, { cookie: admin.cookie });
	assert.equal(stored.status, 200);
	assert.deepEqual(stored.json.messages.map((m) => [m.seq, m.author, m.internal]),
		[[1, 'visitor', false], [2, 'operator', false], [3, 'operator', true]]);
	const after1 = await api(emma.url, 'GET', `/api/v1/conversations/${conv}/messages?after=2`, { cookie: admin.cookie });
	assert.deepEqual(after1.json.messages.map((m) => m.seq), [3]);

	// Close with an outcome; the visitor is told and may rate.
	const bad = await api(emma.url, 'POST', `/api/v1/conversations/${conv}/close`, { cookie: admin.cookie, csrf: admin.csrf, body: { outcome: 'maybe' } });
	assert.equal(bad.status, 422);
	assert.equal(bad.json.error.field, 'outcome');
	const closed = await api(emma.url, 'POST', `/api/v1/conversations/${conv}/close`, { cookie: admin.cookie, csrf: admin.csrf, body: { outcome: 'sale' } });
	assert.equal(closed.status, 200);
	await v.next((m) => m.type === 'closed' && m.conversation === conv);
	v.sendJson({ type: 'rate', rating: 9 });
	assert.equal((await v.next((m) => m.type === 'error')).error.field, 'rating');
	v.sendJson({ type: 'rate', rating: 5, comment: 'Sehr nett' });
	await v.next((m) => m.type === 'ok' && m.for === 'rate');
	const final = await api(emma.url, 'GET', `/api/v1/conversations/${conv}`, { cookie: admin.cookie });
	assert.equal(final.json.conversation.status, 'closed');
	assert.equal(final.json.conversation.outcome, 'sale');
	assert.equal(final.json.conversation.rating, 5);
	assert.equal(final.json.conversation.rating_comment, 'Sehr nett');
	const closedList = await api(emma.url, 'GET', '/api/v1/conversations?status=closed', { cookie: admin.cookie });
	assert.ok(closedList.json.conversations.some((c) => c.id === conv));
	closeAll(v, op);
});

test('reconnect with messages in flight on both sides: each message once and in order', async () => {
	const op = await operator(emma, admin);
	const vid = 'reconnect-1';
	let v = await visitor(emma, { vid });
	v.sendJson({ type: 'msg', client_id: 'r-0', body: 'start' });
	const first = await v.next((m) => m.type === 'ack');
	const conv = first.conversation;
	await op.next((m) => m.type === 'msg' && m.conversation === conv && m.client_id === 'r-0');

	// The visitor's outbox: 20 messages, the socket dies after the 10th is sent.
	const outbox = Array.from({ length: 20 }, (_, i) => ({ type: 'msg', client_id: `r-${i + 1}`, body: `visitor ${i + 1}` }));
	const acked = new Set();
	v.on('message', (d) => { const m = JSON.parse(d); if (m.type === 'ack') acked.add(m.client_id); });
	for (let i = 0; i < 10; i++) v.sendJson(outbox[i]);
	v.terminate();
	// While the visitor is away the operator writes 15 messages.
	for (let i = 1; i <= 15; i++) op.sendJson({ type: 'msg', conversation: conv, client_id: `op-${i}`, body: `operator ${i}` });
	await waitFor(() => op.frames.filter((m) => m.type === 'ack' && m.client_id.startsWith('op-')).length === 15, { what: 'operator acks' });

	// Back: hello says where the conversation is; resume from the last seq seen
	// (1), then resend everything not acked with the same client ids.
	v = await visitor(emma, { vid });
	assert.equal(v.hello.conversation.id, conv);
	assert.ok(v.hello.resume_from >= 16);
	v.sendJson({ type: 'resume', after: 1 });
	for (const m of outbox) if (!acked.has(m.client_id)) v.sendJson(m);
	await waitFor(() => v.frames.filter((m) => m.type === 'ack').length === outbox.filter((m) => !acked.has(m.client_id)).length,
		{ what: 'acks after reconnect', timeoutMs: 8000 });
	await waitFor(() => msgs(v, (m) => m.author === 'operator').length >= 15, { what: 'operator messages after resume', timeoutMs: 8000 });
	await sleep(300);

	const fromOp = msgs(v, (m) => m.author === 'operator').map((m) => m.body);
	assert.deepEqual(fromOp, Array.from({ length: 15 }, (_, i) => `operator ${i + 1}`), 'each operator message once, in order');
	const seqs = msgs(v).map((m) => m.seq);
	assert.equal(new Set(seqs).size, seqs.length, 'no seq twice on one socket');

	// The store holds each visitor message exactly once.
	const stored = await api(emma.url, 'GET', `/api/v1/conversations/${conv}/messages`, { cookie: admin.cookie });
	const bodies = stored.json.messages.filter((m) => m.author === 'visitor').map((m) => m.body);
	assert.equal(bodies.length, 21);
	assert.equal(new Set(bodies).size, 21);
	// And the operator saw each of them once.
	for (const m of outbox) assert.equal(msgs(op, (f) => f.client_id === m.client_id).length, 1, m.client_id);
	const storedSeqs = stored.json.messages.map((m) => m.seq);
	assert.deepEqual(storedSeqs, [...storedSeqs].sort((a, b) => a - b));
	await api(emma.url, 'POST', `/api/v1/conversations/${conv}/close`, { cookie: admin.cookie, csrf: admin.csrf, body: { outcome: 'support' } });
	closeAll(v, op);
});

test('bad frames get clear errors and change nothing', async () => {
	const v = await visitor(emma, { vid: 'bad-input-1' });
	v.send_('{"type":"msg",');
	assert.equal((await v.next((m) => m.type === 'error')).error.code, 'invalid_json');
	v.sendJson({ type: 'msg', body: 'no id' });
	assert.equal((await v.next((m) => m.type === 'error')).error.field, 'client_id');
	v.sendJson({ type: 'msg', client_id: 'x', body: '   ' });
	assert.equal((await v.next((m) => m.type === 'error')).error.field, 'body');
	v.sendJson({ type: 'msg', client_id: 'x', body: 'a'.repeat(4001) });
	assert.equal((await v.next((m) => m.type === 'error')).error.field, 'body');
	v.sendJson({ type: 'whatever' });
	assert.equal((await v.next((m) => m.type === 'error')).error.code, 'unknown_type');
	v.sendJson({ type: 'resume', after: 'x' });
	assert.equal((await v.next((m) => m.type === 'error')).error.field, 'after');
	assert.equal(v.frames.filter((m) => m.type === 'ack').length, 0);
	closeAll(v);

	// Upgrade errors are plain HTTP answers.
	const refused = (query) => new Promise((resolve) => {
		const ws = new WebSocket(`ws://127.0.0.1:${emma.port}/ws/visitor?${query}`);
		ws.on('unexpected-response', (req, res) => {
			let body = '';
			res.on('data', (d) => { body += d; });
			res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(body) }));
		});
		ws.on('open', () => { resolve({ status: 101 }); ws.close(); });
		ws.on('error', () => {});
	});
	assert.equal((await refused('site=nope&vid=a')).status, 404);
	const r2 = await refused('site=default&vid=%3Cb%3E');
	assert.equal(r2.status, 400);
	assert.equal(r2.json.error.field, 'vid');
	assert.equal((await refused('vid=a')).json.error.field, 'site');

	// REST needs a session; writes need CSRF.
	assert.equal((await api(emma.url, 'GET', '/api/v1/conversations')).status, 401);
	assert.equal((await api(emma.url, 'POST', '/api/v1/conversations/cx/accept', { cookie: admin.cookie })).status, 403);
	assert.equal((await api(emma.url, 'POST', '/api/v1/conversations/cnope/accept', { cookie: admin.cookie, csrf: admin.csrf })).status, 404);
	const lim = await api(emma.url, 'GET', '/api/v1/conversations?limit=abc', { cookie: admin.cookie });
	assert.equal(lim.status, 422);
	assert.equal(lim.json.error.field, 'limit');
});

test('conversations survive kill -9: hello resumes and history is complete', async () => {
	const op = await operator(emma, admin);
	const vid = 'restart-1';
	const v = await visitor(emma, { vid });
	for (let i = 1; i <= 5; i++) v.sendJson({ type: 'msg', client_id: `k-${i}`, body: `before crash ${i}` });
	await waitFor(() => v.frames.filter((m) => m.type === 'ack').length === 5, { what: 'acks' });
	const conv = v.frames.find((m) => m.type === 'ack').conversation;
	closeAll(v, op);
	await emma.kill9();
	await emma.restart();
	admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
	const v2 = await visitor(emma, { vid });
	assert.equal(v2.hello.conversation?.id, conv);
	assert.equal(v2.hello.resume_from, 5);
	v2.sendJson({ type: 'resume', after: 0 });
	await waitFor(() => msgs(v2).length === 5, { what: 'history' });
	assert.deepEqual(msgs(v2).map((m) => m.body), [1, 2, 3, 4, 5].map((i) => `before crash ${i}`));
	// The same client id after the restart is still a duplicate.
	v2.sendJson({ type: 'msg', client_id: 'k-3', body: 'before crash 3' });
	assert.equal((await v2.next((m) => m.type === 'ack')).seq, 3);
	const close = await api(emma.url, 'POST', `/api/v1/conversations/${conv}/close`, { cookie: admin.cookie, csrf: admin.csrf, body: {} });
	assert.equal(close.status, 200);
	closeAll(v2);
});

test('two operators race to accept one chat: exactly one wins', async (t) => {
	const e2 = await startEmma({ t, env: { EMMA_CHAT_ROUTING: 'broadcast', EMMA_CHAT_OFFLINE_GRACE_S: '0' } });
	const adm = await login(e2.url, 'admin@localhost', e2.adminPassword);
	const a = await newAgent(e2, adm, 'anna@shop.example', { name: 'Anna' });
	const b = await newAgent(e2, adm, 'ben@shop.example', { name: 'Ben' });
	const oa = await operator(e2, a);
	const ob = await operator(e2, b);
	for (let round = 0; round < 5; round++) {
		const v = await visitor(e2, { vid: `race-${round}` });
		assert.equal(v.hello.available, true);
		v.sendJson({ type: 'msg', client_id: 'q', body: 'Hilfe bitte' });
		const conv = (await v.next((m) => m.type === 'ack')).conversation;
		// Both see it pending in the queue.
		await oa.next((m) => m.type === 'conversation' && m.conversation.id === conv && m.conversation.status === 'pending');
		await ob.next((m) => m.type === 'conversation' && m.conversation.id === conv && m.conversation.status === 'pending');
		const [ra, rb] = await Promise.all([
			api(e2.url, 'POST', `/api/v1/conversations/${conv}/accept`, { cookie: a.cookie, csrf: a.csrf }),
			api(e2.url, 'POST', `/api/v1/conversations/${conv}/accept`, { cookie: b.cookie, csrf: b.csrf }),
		]);
		const codes = [ra.status, rb.status].sort();
		assert.deepEqual(codes, [200, 409], `round ${round}: ${ra.text} / ${rb.text}`);
		const winner = ra.status === 200 ? a : b;
		const loser = ra.status === 200 ? b : a;
		assert.equal((ra.status === 200 ? ra : rb).json.conversation.operator.id, winner.operator.id);
		assert.equal((ra.status === 409 ? ra : rb).json.error.code, 'conflict');
		const joined = await v.next((m) => m.type === 'operator_joined');
		assert.equal(joined.operator.name, winner === a ? 'Anna' : 'Ben');
		// The loser may not write into it; the winner may.
		const no = await api(e2.url, 'POST', `/api/v1/conversations/${conv}/messages`, { cookie: loser.cookie, csrf: loser.csrf, body: { body: 'hi' } });
		assert.equal(no.status, 403);
		const yes = await api(e2.url, 'POST', `/api/v1/conversations/${conv}/messages`, { cookie: winner.cookie, csrf: winner.csrf, body: { body: 'Hallo!' } });
		assert.equal(yes.status, 201);
		assert.equal(yes.json.seq, 2);
		assert.equal((await v.next((m) => m.type === 'msg' && m.seq === 2)).body, 'Hallo!');
		// The loser cannot read it either.
		const peek = await api(e2.url, 'GET', `/api/v1/conversations/${conv}`, { cookie: loser.cookie });
		assert.equal(peek.status, 403);
		closeAll(v);
	}
	closeAll(oa, ob);
});

test('auto routing: most free slots first, the returning visitor gets their last operator, away gets none', async (t) => {
	const e3 = await startEmma({ t, env: { EMMA_CHAT_OFFLINE_GRACE_S: '0' } });
	const adm = await login(e3.url, 'admin@localhost', e3.adminPassword);
	const a = await newAgent(e3, adm, 'clara@shop.example', { name: 'Clara', max_chats: 3 });
	const b = await newAgent(e3, adm, 'dirk@shop.example', { name: 'Dirk', max_chats: 1 });
	const oa = await operator(e3, a);
	const ob = await operator(e3, b);
	const start = async (vid) => {
		const v = await visitor(e3, { vid });
		v.sendJson({ type: 'msg', client_id: 'm1', body: 'Frage' });
		await v.next((m) => m.type === 'ack');
		const j = await v.next((m) => m.type === 'operator_joined', 3000, 'operator_joined');
		return { v, name: j.operator.name, conv: j.conversation };
	};
	const c1 = await start('auto-1');
	assert.equal(c1.name, 'Clara', 'Clara has 3 free slots, Dirk 1');
	const c2 = await start('auto-2');
	assert.equal(c2.name, 'Clara', 'Clara 2 free, Dirk 1: Clara again');
	const c3 = await start('auto-3');
	assert.ok(['Clara', 'Dirk'].includes(c3.name));
	// Close c1, then auto-1 comes back: Clara again (last operator), though Dirk may be free.
	await api(e3.url, 'POST', `/api/v1/conversations/${c1.conv}/close`, { cookie: a.cookie, csrf: a.csrf, body: { outcome: 'support' } });
	closeAll(c1.v);
	const again = await start('auto-1');
	assert.equal(again.name, 'Clara');
	// Away: no new chats for Clara.
	oa.sendJson({ type: 'status', status: 'away' });
	await ob.next((m) => m.type === 'operator_status' && m.operator.id === a.operator.id && m.operator.status === 'away');
	const st = await api(e3.url, 'GET', '/api/v1/me/status', { cookie: a.cookie });
	assert.equal(st.json.status, 'away');
	const ops = await api(e3.url, 'GET', '/api/v1/chat/operators', { cookie: a.cookie });
	assert.equal(ops.json.operators.find((o) => o.id === a.operator.id).status, 'away');
	closeAll(c2.v, c3.v, again.v);
	closeAll(oa, ob);
	// Everyone gone: the widget offers the message form.
	await waitFor(async () => (await visitor(e3, { vid: 'late' })).hello.available === false, { what: 'unavailable', timeoutMs: 5000 });
});

test('transfer to another operator and to a department', async (t) => {
	const e4 = await startEmma({ t, env: { EMMA_CHAT_OFFLINE_GRACE_S: '0' } });
	const adm = await login(e4.url, 'admin@localhost', e4.adminPassword);
	const a = await newAgent(e4, adm, 'eva@shop.example', { name: 'Eva' });
	const b = await newAgent(e4, adm, 'finn@shop.example', { name: 'Finn' });
	const dep = await api(e4.url, 'POST', '/api/v1/departments', { cookie: adm.cookie, csrf: adm.csrf, body: { name: 'Returns', operators: [b.operator.id] } });
	assert.equal(dep.status, 201, dep.text);
	const badDep = await api(e4.url, 'POST', '/api/v1/departments', { cookie: a.cookie, csrf: a.csrf, body: { name: 'X' } });
	assert.equal(badDep.status, 403, 'agents do not manage departments');
	const oa = await operator(e4, a);
	const v = await visitor(e4, { vid: 'transfer-1' });
	v.sendJson({ type: 'msg', client_id: 't1', body: 'Rücksendung?' });
	const conv = (await v.next((m) => m.type === 'ack')).conversation;
	assert.equal((await v.next((m) => m.type === 'operator_joined')).operator.name, 'Eva');
	// Finn connects later; Eva hands over to the department.
	const ob = await operator(e4, b);
	const tr = await api(e4.url, 'POST', `/api/v1/conversations/${conv}/transfer`, { cookie: a.cookie, csrf: a.csrf, body: { department: dep.json.department.id } });
	assert.equal(tr.status, 200, tr.text);
	assert.equal((await v.next((m) => m.type === 'operator_joined')).operator.name, 'Finn');
	const nope = await api(e4.url, 'POST', `/api/v1/conversations/${conv}/transfer`, { cookie: a.cookie, csrf: a.csrf, body: { operator: a.operator.id } });
	assert.equal(nope.status, 403, 'no longer Eva\'s');
	const back = await api(e4.url, 'POST', `/api/v1/conversations/${conv}/transfer`, { cookie: b.cookie, csrf: b.csrf, body: { operator: a.operator.id } });
	assert.equal(back.status, 200);
	assert.equal(back.json.conversation.operator.id, a.operator.id);
	const unknown = await api(e4.url, 'POST', `/api/v1/conversations/${conv}/transfer`, { cookie: a.cookie, csrf: a.csrf, body: { operator: 'op_nobody' } });
	assert.equal(unknown.status, 422);
	closeAll(v, oa, ob);
});

test('canned responses and chat settings', async () => {
	const c = await api(emma.url, 'POST', '/api/v1/canned', { cookie: admin.cookie, csrf: admin.csrf, body: { shortcut: 'hi', title: 'Greeting', body: 'Hallo {name}, wie kann ich helfen?' } });
	assert.equal(c.status, 201, c.text);
	const dup = await api(emma.url, 'POST', '/api/v1/canned', { cookie: admin.cookie, csrf: admin.csrf, body: { shortcut: 'hi', body: 'x' } });
	assert.equal(dup.status, 409);
	const bad = await api(emma.url, 'POST', '/api/v1/canned', { cookie: admin.cookie, csrf: admin.csrf, body: { shortcut: 'Hi There', body: 'x' } });
	assert.equal(bad.status, 422);
	assert.equal(bad.json.error.field, 'shortcut');
	const list = await api(emma.url, 'GET', '/api/v1/canned', { cookie: admin.cookie });
	assert.ok(list.json.canned.some((x) => x.shortcut === 'hi' && x.body.includes('{name}')));
	const upd = await api(emma.url, 'PATCH', `/api/v1/canned/${c.json.canned.id}`, { cookie: admin.cookie, csrf: admin.csrf, body: { title: 'Hallo' } });
	assert.equal(upd.status, 200);
	assert.equal(upd.json.canned.title, 'Hallo');
	assert.equal((await api(emma.url, 'DELETE', `/api/v1/canned/${c.json.canned.id}`, { cookie: admin.cookie, csrf: admin.csrf })).status, 204);

	const s = await api(emma.url, 'PUT', '/api/v1/chat/settings?site=default', { cookie: admin.cookie, csrf: admin.csrf, body: { email: 'required', color: '#1a7f5a', greeting: 'Moin!' } });
	assert.equal(s.status, 200, s.text);
	const badS = await api(emma.url, 'PUT', '/api/v1/chat/settings?site=default', { cookie: admin.cookie, csrf: admin.csrf, body: { name: 'sometimes' } });
	assert.equal(badS.status, 422);
	assert.equal(badS.json.error.field, 'name');
	const v = await visitor(emma, { vid: 'prechat-1' });
	assert.equal(v.hello.prechat.email, 'required');
	assert.equal(v.hello.color, '#1a7f5a');
	v.sendJson({ type: 'msg', client_id: 'p1', body: 'hi' });
	assert.equal((await v.next((m) => m.type === 'error')).error.code, 'prechat_required');
	v.sendJson({ type: 'start', name: 'Bo' });
	assert.equal((await v.next((m) => m.type === 'error')).error.field, 'email');
	v.sendJson({ type: 'start', name: 'Bo', email: 'bo@example.org' });
	const started = await v.next((m) => m.type === 'conversation');
	assert.ok(started.conversation.id);
	v.sendJson({ type: 'msg', client_id: 'p1', body: 'hi' });
	assert.equal((await v.next((m) => m.type === 'ack')).seq, 1);
	const bo = await api(emma.url, 'GET', '/api/v1/contacts?q=bo%40example.org', { cookie: admin.cookie });
	assert.equal(bo.json.contacts[0]?.source, 'chat', bo.text);
	assert.equal(bo.json.contacts[0].name, 'Bo');
	await api(emma.url, 'PUT', '/api/v1/chat/settings?site=default', { cookie: admin.cookie, csrf: admin.csrf, body: { email: 'optional' } });
	await api(emma.url, 'POST', `/api/v1/conversations/${started.conversation.id}/close`, { cookie: admin.cookie, csrf: admin.csrf, body: {} });
	closeAll(v);
});

test('a visitor who leaves the queue is not waited for; /metrics counts chats', async (t) => {
	const e5 = await startEmma({ t, env: { EMMA_CHAT_ROUTING: 'broadcast', EMMA_CHAT_ABANDON_S: '1' } });
	const adm = await login(e5.url, 'admin@localhost', e5.adminPassword);
	const op = await operator(e5, adm);
	const v = await visitor(e5, { vid: 'leaver-1' });
	v.sendJson({ type: 'msg', client_id: 'l1', body: 'Hallo?' });
	const conv = (await v.next((m) => m.type === 'ack')).conversation;
	const metrics = async () => (await api(e5.url, 'GET', '/metrics', { cookie: adm.cookie })).text;
	assert.match(await metrics(), /^emma_chat_pending 1$/m);
	assert.match(await metrics(), /^emma_chat_visitor_sockets 1$/m);
	v.terminate();
	const ev = await op.next((m) => m.type === 'conversation' && m.conversation.id === conv && m.conversation.status === 'closed', 6000);
	assert.equal(ev.conversation.outcome, 'abandoned');
	assert.match(await metrics(), /^emma_chat_pending 0$/m);
	const row = await api(e5.url, 'GET', `/api/v1/conversations/${conv}`, { cookie: adm.cookie });
	assert.equal(row.json.conversation.outcome, 'abandoned');
	closeAll(op);
});

test('message and ack frames carry any text exactly and match what was stored', async (t) => {
	// The msg and ack frames are written without a JSON library on the hot path: quotes,
	// backslashes, control characters and non-ASCII text must come out as sent.
	const e = await startEmma({ t });
	const adm = await login(e.url, 'admin@localhost', e.adminPassword);
	const op = await operator(e, adm);
	const v = await visitor(e, { vid: 'frames-1' });
	const vbody = 'Quote " backslash \\ slash / line\nbreak\r\ttab \u0001\u001f\u007f ünïcødé 😀 </script> \u2028 {"a":1}';
	const vcid = 'q"\\{}1';
	v.sendJson({ type: 'msg', client_id: vcid, body: vbody });
	const ack = await v.next((m) => m.type === 'ack');
	assert.equal(ack.client_id, vcid);
	assert.equal(ack.seq, 1);
	const conv = ack.conversation;
	const own = await v.next((m) => m.type === 'msg' && m.seq === 1);
	const atOp = await op.next((m) => m.type === 'msg' && m.conversation === conv && m.seq === 1);
	for (const m of [own, atOp]) {
		assert.equal(m.body, vbody);
		assert.equal(m.client_id, vcid);
		assert.equal(m.author, 'visitor');
		assert.equal(m.conversation, conv);
		assert.match(m.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
	}
	assert.equal(atOp.internal, false);
	assert.equal(own.internal, undefined);

	const obody = 'Antwort mit "Zitat", \\ und\nZeile 2 — 👍';
	op.sendJson({ type: 'msg', conversation: conv, client_id: 'o\\"1', body: obody });
	const oack = await op.next((m) => m.type === 'ack' && m.client_id === 'o\\"1');
	assert.equal(oack.seq, 2);
	assert.equal(oack.conversation, conv);
	const reply = await v.next((m) => m.type === 'msg' && m.seq === 2);
	const echo = await op.next((m) => m.type === 'msg' && m.conversation === conv && m.seq === 2);
	assert.equal(reply.body, obody);
	assert.equal(reply.author, 'operator');
	assert.equal(reply.operator.avatar, null);
	assert.equal(typeof reply.operator.name, 'string');
	assert.equal(reply.author_operator, undefined, 'visitors do not see the operator id');
	assert.equal(echo.author_operator, adm.operator.id);
	assert.deepEqual(echo.operator, reply.operator);

	// The live frames say what the store holds, field by field.
	const stored = await api(e.url, 'GET', `/api/v1/conversations/${conv}/messages`, { cookie: adm.cookie });
	assert.equal(stored.status, 200);
	const [s1, s2] = stored.json.messages;
	for (const [live, row] of [[atOp, s1], [echo, s2]]) {
		for (const k of ['seq', 'author', 'body', 'client_id', 'created', 'internal']) assert.deepEqual(live[k], row[k], k);
	}
	closeAll(op, v);
});

test('the list by status pages newest first with a cursor and shows each conversation once', async () => {
	for (const n of [1, 2, 3]) {
		const v = await visitor(emma, { vid: `paged-visitor-${n}` });
		v.sendJson({ type: 'offline', email: `paged${n}@example.org`, body: `Question ${n}`, client_id: `paged-${n}` });
		await v.next((m) => m.type === 'ack');
		v.close();
	}
	const seen = [];
	let cursor = '';
	for (let page = 0; page < 100; page++) {
		const r = await api(emma.url, 'GET', `/api/v1/conversations?status=pending&limit=2${cursor ? `&cursor=${cursor}` : ''}`, { cookie: admin.cookie });
		assert.equal(r.status, 200, r.text);
		assert.ok(r.json.conversations.length <= 2);
		for (const c of r.json.conversations) {
			assert.equal(c.status, 'pending');
			seen.push(c);
		}
		if (!r.json.next_cursor) break;
		cursor = r.json.next_cursor;
	}
	assert.equal(new Set(seen.map((c) => c.id)).size, seen.length, 'no conversation twice');
	assert.deepEqual(seen.map((c) => c.vid).filter((v) => v.startsWith('paged-visitor-')),
		['paged-visitor-3', 'paged-visitor-2', 'paged-visitor-1']);
	const closed = await api(emma.url, 'GET', '/api/v1/conversations?status=closed&limit=100', { cookie: admin.cookie });
	assert.ok(!closed.json.conversations.some((c) => c.vid.startsWith('paged-visitor-')));
});
