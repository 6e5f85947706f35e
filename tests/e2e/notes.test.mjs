// Notes and the contact timeline against the real binary (docs/contacts.md "Notes", "Timeline"):
// CRUD with edit history and who may change what, notes on an anonymous visitor that show on
// the contact once the visitor is linked, console events and the note.created webhook, and a
// timeline that mixes visits, chats, orders, invitations, callbacks, notes and stage changes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startEmma, login, api, waitFor, sleep } from './lib/emma.mjs';
import { visitor, operator, newAgent, closeAll } from './lib/chat.mjs';

const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';

let emma, admin, agent, op, hook;
const received = [];

before(async () => {
	// A webhook receiver on loopback, to see note.created leave the server.
	hook = http.createServer((req, res) => {
		let body = '';
		req.on('data', (c) => (body += c));
		req.on('end', () => {
			received.push({ event: req.headers['x-emma-event'], body: JSON.parse(body || '{}') });
			res.end('ok');
		});
	});
	await new Promise((r) => hook.listen(0, '127.0.0.1', r));
	emma = await startEmma();
	admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
	agent = await newAgent(emma, admin, 'nora@example.org', { name: 'Nora' });
	op = await operator(emma, admin);
	const wh = await api(emma.url, 'POST', '/api/v1/webhooks', {
		...admin, body: { url: `http://127.0.0.1:${hook.address().port}/hook`, events: ['note.created'] },
	});
	assert.equal(wh.status, 201, wh.text);
});

after(async () => {
	closeAll(op);
	await emma?.stop();
	hook?.close();
});

async function track(vid, events) {
	const res = await fetch(`${emma.url}/t`, {
		method: 'POST',
		headers: { 'content-type': 'text/plain', 'user-agent': CHROME },
		body: JSON.stringify({ site: 'default', vid, events }),
	});
	assert.equal(res.status, 200, await res.clone().text());
	return res.json();
}

const page = (path, title) => ({ type: 'pageview', url: `https://shop.example${path}`, title });

async function newContact(body) {
	const r = await api(emma.url, 'POST', '/api/v1/contacts', { ...admin, body });
	assert.equal(r.status, 201, r.text);
	return r.json.contact.id;
}

/** Links a visitor to a (new) lead the way the widget does: a call-me-back request. */
async function linkByCallback(vid, phone, name) {
	const r = await api(emma.url, 'POST', '/api/v1/public/callbacks', { body: { site: 'default', vid, phone, name } });
	assert.equal(r.status, 201, r.text);
	const cb = await api(emma.url, 'GET', `/api/v1/callbacks/${r.json.callback.id}`, { cookie: admin.cookie });
	assert.equal(cb.status, 200);
	assert.ok(cb.json.callback.contact, 'the callback made a lead');
	return cb.json.callback.contact.id;
}

test('notes on a contact: create, list, edit with revisions, delete; roles decide who may change', async () => {
	const ct = await newContact({ name: 'Ada Lovelace', email: 'ada@example.org' });
	let r = await api(emma.url, 'POST', `/api/v1/contacts/${ct}/notes`, { ...admin, body: { body: 'Wants the blue coat in M.' } });
	assert.equal(r.status, 201, r.text);
	const n1 = r.json.note;
	assert.match(n1.id, /^n/);
	assert.equal(n1.body, 'Wants the blue coat in M.');
	assert.equal(n1.contact, ct);
	assert.equal(n1.vid, null);
	const me = await api(emma.url, 'GET', '/api/v1/me', { cookie: admin.cookie });
	assert.equal(n1.author.id, me.json.operator.id);
	assert.equal(n1.edited, false);
	assert.match(n1.created_at, /^\d{4}-\d\d-\d\dT/);

	// Consoles hear of it; the webhook receiver gets note.created.
	const ev = await op.next((m) => m.type === 'note' && m.note.id === n1.id);
	assert.equal(ev.action, 'created');
	assert.equal(ev.note.body, n1.body);
	await waitFor(() => received.some((d) => d.event === 'note.created' && JSON.stringify(d.body).includes(n1.id)),
		{ what: 'the note.created webhook', timeoutMs: 10000 });

	// The agent writes one too.
	r = await api(emma.url, 'POST', `/api/v1/contacts/${ct}/notes`, { ...agent, body: { body: 'Called back, not at home.' } });
	assert.equal(r.status, 201);
	const n2 = r.json.note;
	assert.equal(n2.author.name, 'Nora');

	// Newest first.
	r = await api(emma.url, 'GET', `/api/v1/contacts/${ct}/notes`, { cookie: agent.cookie });
	assert.equal(r.status, 200);
	assert.deepEqual(r.json.notes.map((n) => n.id), [n2.id, n1.id]);
	assert.equal(r.json.next_cursor, null);

	// The author edits: the earlier text becomes a revision.
	r = await api(emma.url, 'PATCH', `/api/v1/notes/${n1.id}`, { ...admin, body: { body: 'Wants the blue coat in L.' } });
	assert.equal(r.status, 200, r.text);
	assert.equal(r.json.note.body, 'Wants the blue coat in L.');
	assert.equal(r.json.note.edited, true);
	assert.equal(r.json.note.revisions, 1);
	r = await api(emma.url, 'PATCH', `/api/v1/notes/${n1.id}`, { ...admin, body: { body: 'Wants the red coat in L.' } });
	assert.equal(r.json.note.revisions, 2);
	r = await api(emma.url, 'GET', `/api/v1/notes/${n1.id}/revisions`, { cookie: agent.cookie });
	assert.equal(r.status, 200);
	assert.equal(r.json.note.body, 'Wants the red coat in L.');
	assert.deepEqual(r.json.revisions.map((x) => x.body), ['Wants the blue coat in L.', 'Wants the blue coat in M.']);
	assert.ok(r.json.revisions.every((x) => x.editor && x.replaced_at));

	// An agent may not change the admin's note; the admin may change and delete the agent's.
	r = await api(emma.url, 'PATCH', `/api/v1/notes/${n1.id}`, { ...agent, body: { body: 'mine now' } });
	assert.equal(r.status, 403);
	assert.equal(r.json.error.code, 'forbidden');
	r = await api(emma.url, 'DELETE', `/api/v1/notes/${n1.id}`, { ...agent });
	assert.equal(r.status, 403);
	r = await api(emma.url, 'PATCH', `/api/v1/notes/${n2.id}`, { ...agent, body: { body: 'Called back twice, not at home.' } });
	assert.equal(r.status, 200);
	r = await api(emma.url, 'DELETE', `/api/v1/notes/${n2.id}`, { ...admin });
	assert.equal(r.status, 204);
	const del = await op.next((m) => m.type === 'note' && m.action === 'deleted');
	assert.equal(del.note.id, n2.id);
	r = await api(emma.url, 'GET', `/api/v1/contacts/${ct}/notes`, { cookie: admin.cookie });
	assert.deepEqual(r.json.notes.map((n) => n.id), [n1.id]);
	// A deleted note is gone for every verb.
	assert.equal((await api(emma.url, 'PATCH', `/api/v1/notes/${n2.id}`, { ...admin, body: { body: 'x' } })).status, 404);
	assert.equal((await api(emma.url, 'DELETE', `/api/v1/notes/${n2.id}`, { ...admin })).status, 404);
	assert.equal((await api(emma.url, 'GET', `/api/v1/notes/${n2.id}/revisions`, { cookie: admin.cookie })).status, 404);
	assert.equal((await api(emma.url, 'GET', '/api/v1/contacts/ctnope/notes', { cookie: admin.cookie })).status, 404);
	assert.equal((await api(emma.url, 'POST', '/api/v1/contacts/ctnope/notes', { ...admin, body: { body: 'x' } })).status, 404);
});

test('note bodies: 1-10000 characters, field named in the error', async () => {
	const ct = await newContact({ name: 'Body Check', email: 'body@example.org' });
	const post = (body) => api(emma.url, 'POST', `/api/v1/contacts/${ct}/notes`, { ...admin, body });
	for (const body of [{}, { body: '' }, { body: '   \n ' }, { body: 42 }, { body: 'x'.repeat(10001) }, { body: 'ü'.repeat(10001) }]) {
		const r = await post(body);
		assert.equal(r.status, 422, JSON.stringify(body).slice(0, 40));
		assert.equal(r.json.error.field, 'body');
	}
	let r = await post({ body: 'ü'.repeat(10000) });
	assert.equal(r.status, 201, 'exactly 10000 characters (20000 bytes) are fine');
	r = await api(emma.url, 'PATCH', `/api/v1/notes/${r.json.note.id}`, { ...admin, body: { body: '' } });
	assert.equal(r.status, 422);
	assert.equal(r.json.error.field, 'body');
});

test('401 without a session, 403 for a read-only token or a missing CSRF token', async () => {
	const ct = await newContact({ name: 'Auth Check', email: 'auth@example.org' });
	const n = (await api(emma.url, 'POST', `/api/v1/contacts/${ct}/notes`, { ...admin, body: { body: 'hello' } })).json.note;
	for (const [m, p] of [['GET', `/api/v1/contacts/${ct}/notes`], ['POST', `/api/v1/contacts/${ct}/notes`],
		['GET', `/api/v1/contacts/${ct}/timeline`], ['GET', '/api/v1/visitors/v1/notes'], ['POST', '/api/v1/visitors/v1/notes'],
		['PATCH', `/api/v1/notes/${n.id}`], ['DELETE', `/api/v1/notes/${n.id}`], ['GET', `/api/v1/notes/${n.id}/revisions`]]) {
		const r = await api(emma.url, m, p, { body: m === 'GET' || m === 'DELETE' ? undefined : { body: 'x' } });
		assert.equal(r.status, 401, `${m} ${p}`);
	}
	const tok = await api(emma.url, 'POST', '/api/v1/tokens', { ...admin, body: { name: 'ro', scope: 'read' } });
	const ro = tok.json.secret;
	assert.equal((await api(emma.url, 'GET', `/api/v1/contacts/${ct}/notes`, { token: ro })).status, 200);
	assert.equal((await api(emma.url, 'POST', `/api/v1/contacts/${ct}/notes`, { token: ro, body: { body: 'x' } })).status, 403);
	assert.equal((await api(emma.url, 'DELETE', `/api/v1/notes/${n.id}`, { token: ro })).status, 403);
	// A cookie without the CSRF token may read but not write.
	assert.equal((await api(emma.url, 'POST', `/api/v1/contacts/${ct}/notes`, { cookie: admin.cookie, body: { body: 'x' } })).status, 403);
});

test('paging: limit and cursor walk every note once, newest first', async () => {
	const ct = await newContact({ name: 'Many Notes', email: 'many@example.org' });
	const ids = [];
	for (let i = 0; i < 5; i++) {
		const r = await api(emma.url, 'POST', `/api/v1/contacts/${ct}/notes`, { ...admin, body: { body: `note ${i}` } });
		ids.push(r.json.note.id);
	}
	const seen = [];
	let cursor = '';
	for (let pages = 0; pages < 10; pages++) {
		const r = await api(emma.url, 'GET', `/api/v1/contacts/${ct}/notes?limit=2${cursor ? `&cursor=${cursor}` : ''}`, { cookie: admin.cookie });
		assert.equal(r.status, 200);
		assert.ok(r.json.notes.length <= 2);
		seen.push(...r.json.notes.map((n) => n.id));
		if (!r.json.next_cursor) break;
		cursor = r.json.next_cursor;
	}
	assert.deepEqual(seen, ids.slice().reverse());
	const bad = await api(emma.url, 'GET', `/api/v1/contacts/${ct}/notes?cursor=abc`, { cookie: admin.cookie });
	assert.equal(bad.status, 422);
	assert.equal(bad.json.error.field, 'cursor');
	assert.equal((await api(emma.url, 'GET', `/api/v1/contacts/${ct}/notes?limit=0`, { cookie: admin.cookie })).json.error.field, 'limit');
});

test('notes on an anonymous visitor show in its profile, and on the contact once the visitor is linked', async () => {
	await track('anon-note-1', [page('/coats', 'Coats')]);
	let r = await api(emma.url, 'POST', '/api/v1/visitors/anon-note-1/notes?site=default', { ...agent, body: { body: 'Asked about returns in chat.' } });
	assert.equal(r.status, 201, r.text);
	const vn = r.json.note;
	assert.equal(vn.vid, 'anon-note-1');
	assert.equal(vn.contact, null);
	assert.equal(vn.site, 'default');

	r = await api(emma.url, 'GET', '/api/v1/visitors/anon-note-1/notes', { cookie: admin.cookie });
	assert.deepEqual(r.json.notes.map((n) => n.id), [vn.id]);
	r = await api(emma.url, 'GET', '/api/v1/visitors/anon-note-1', { cookie: admin.cookie });
	assert.equal(r.status, 200);
	assert.deepEqual(r.json.notes.map((n) => n.id), [vn.id]);
	assert.equal(r.json.notes[0].body, 'Asked about returns in chat.');

	assert.equal((await api(emma.url, 'POST', '/api/v1/visitors/nobody-ever/notes', { ...admin, body: { body: 'x' } })).status, 404);
	assert.equal((await api(emma.url, 'GET', '/api/v1/visitors/nobody-ever/notes', { cookie: admin.cookie })).status, 404);
	assert.equal((await api(emma.url, 'GET', '/api/v1/visitors/anon-note-1/notes?site=nosuch', { cookie: admin.cookie })).status, 404);

	// The visitor leaves a call-me-back request: a lead is made and linked to the visitor.
	const ct = await linkByCallback('anon-note-1', '+49 30 555 0101', 'Vera');
	r = await api(emma.url, 'GET', `/api/v1/contacts/${ct}/notes`, { cookie: admin.cookie });
	assert.equal(r.status, 200);
	assert.ok(r.json.notes.some((n) => n.id === vn.id), 'the visitor note shows on the contact');

	// A note on the contact shows in the visitor's profile too.
	r = await api(emma.url, 'POST', `/api/v1/contacts/${ct}/notes`, { ...admin, body: { body: 'VIP, call before noon.' } });
	const cn = r.json.note;
	r = await api(emma.url, 'GET', '/api/v1/visitors/anon-note-1', { cookie: admin.cookie });
	assert.deepEqual(r.json.notes.map((n) => n.id), [cn.id, vn.id]);
	// A later note on the linked visitor carries the contact at once.
	r = await api(emma.url, 'POST', '/api/v1/visitors/anon-note-1/notes', { ...admin, body: { body: 'Back on the site.' } });
	assert.equal(r.json.note.contact, ct);
});

test('an identify event links the visitor: its notes show on the contact it finds or makes', async () => {
	await track('anon-note-2', [page('/shoes', 'Shoes')]);
	let r = await api(emma.url, 'POST', '/api/v1/visitors/anon-note-2/notes', { ...agent, body: { body: 'Size 42, prefers leather.' } });
	assert.equal(r.status, 201, r.text);
	const vn = r.json.note;
	await track('anon-note-2', [{ type: 'identify', email: 'Ida.Identify@Example.org', name: 'Ida' }]);
	const found = await waitFor(async () => {
		const l = await api(emma.url, 'GET', '/api/v1/contacts?q=ida.identify', { cookie: admin.cookie });
		return l.json.contacts.find((c) => c.email === 'ida.identify@example.org');
	}, { what: 'the contact made by identify' });
	r = await api(emma.url, 'GET', `/api/v1/contacts/${found.id}/notes`, { cookie: agent.cookie });
	assert.deepEqual(r.json.notes.map((n) => n.id), [vn.id]);
	r = await api(emma.url, 'GET', `/api/v1/contacts/${found.id}/timeline`, { cookie: agent.cookie });
	assert.ok(r.json.items.some((i) => i.type === 'note' && i.id === vn.id));
	assert.ok(r.json.items.some((i) => i.type === 'visit' && i.pages.some((p) => p.url === 'https://shop.example/shoes')));
});

test('timeline: visits with page paths, chat, order, invitation, callback, note and stage change, newest first', async () => {
	const vid = 'timeline-1';
	await track(vid, [page('/start', 'Start'), page('/coats/blue', 'Blue coat')]);
	// An invitation the visitor saw and dismissed.
	let r = await api(emma.url, 'POST', `/api/v1/visitors/${vid}/invite`, { ...admin, body: { message: 'Can I help?' } });
	assert.equal(r.status, 201, r.text);
	const inv = r.json.invitation.id;
	let v = await visitor(emma, { vid });
	v.sendJson({ type: 'invite_shown', invitation: inv });
	await op.next((m) => m.type === 'invitation' && m.invitation.id === inv && m.invitation.status === 'shown');
	v.sendJson({ type: 'invite_dismiss', invitation: inv });
	await op.next((m) => m.type === 'invitation' && m.invitation.id === inv && m.invitation.status === 'dismissed');
	await sleep(5);
	// A chat, closed as a sale.
	v.sendJson({ type: 'msg', client_id: 'tl-1', body: 'Is the blue coat warm?' });
	const ack = await v.next((m) => m.type === 'ack');
	const conv = ack.conversation;
	r = await api(emma.url, 'POST', `/api/v1/conversations/${conv}/messages`, { ...admin, body: { body: 'Very warm.' } });
	assert.equal(r.status, 201, r.text);
	r = await api(emma.url, 'POST', `/api/v1/conversations/${conv}/close`, { ...admin, body: { outcome: 'sale' } });
	assert.equal(r.status, 200, r.text);
	closeAll(v);
	await sleep(5);
	await track(vid, [{ type: 'order', id: 'ord-77', total: 149.9, items: [{ sku: 'COAT-B', qty: 1, price: 149.9 }] }]);
	await sleep(5);
	const ct = await linkByCallback(vid, '+49 30 555 0202', 'Tim');
	await sleep(5);
	r = await api(emma.url, 'POST', `/api/v1/contacts/${ct}/notes`, { ...admin, body: { body: 'Bought the blue coat.' } });
	const note = r.json.note.id;
	await sleep(5);
	// (The order already made the lead a customer when the visitor was linked.)
	r = await api(emma.url, 'PATCH', `/api/v1/contacts/${ct}`, { ...admin, body: { stage: 'lost' } });
	assert.equal(r.status, 200, r.text);

	r = await api(emma.url, 'GET', `/api/v1/contacts/${ct}/timeline`, { cookie: agent.cookie });
	assert.equal(r.status, 200, r.text);
	const items = r.json.items;
	const types = new Set(items.map((i) => i.type));
	for (const t of ['visit', 'chat', 'order', 'invitation', 'callback', 'note', 'contact_event'])
		assert.ok(types.has(t), `timeline has a ${t}: ${[...types]}`);
	for (let i = 1; i < items.length; i++)
		assert.ok(items[i - 1].at >= items[i].at, `newest first at ${i}: ${items[i - 1].at} ${items[i].at}`);

	const visit = items.find((i) => i.type === 'visit');
	assert.deepEqual(visit.pages.slice(0, 2).map((p) => p.url), ['https://shop.example/start', 'https://shop.example/coats/blue']);
	assert.equal(visit.pages[1].title, 'Blue coat');
	assert.equal(visit.vid, vid);
	const chat = items.find((i) => i.type === 'chat');
	assert.equal(chat.id, conv);
	assert.equal(chat.outcome, 'sale');
	assert.equal(chat.status, 'closed');
	assert.ok(chat.closed_at);
	assert.equal(chat.messages, 2);
	const order = items.find((i) => i.type === 'order');
	assert.equal(order.order_id, 'ord-77');
	assert.equal(order.total, 149.9);
	const invitation = items.find((i) => i.type === 'invitation');
	assert.equal(invitation.id, inv);
	assert.equal(invitation.status, 'dismissed');
	assert.equal(items.find((i) => i.type === 'note').id, note);
	const cb = items.find((i) => i.type === 'callback');
	assert.equal(cb.phone, '+49305550202');
	const isLost = (i) => i.type === 'contact_event' && i.event === 'stage' && i.detail.to === 'lost';
	const stage = items.find(isLost);
	assert.ok(stage, `a stage change: ${JSON.stringify(items.filter((i) => i.type === 'contact_event'))}`);
	// The things done in sequence come in reverse order.
	const pos = (pred) => items.findIndex(pred);
	assert.equal(stage.operator.id, (await api(emma.url, 'GET', '/api/v1/me', { cookie: admin.cookie })).json.operator.id);
	assert.equal(pos(isLost), 0, 'the last change comes first');
	assert.ok(pos(isLost) < pos((i) => i.type === 'note'));
	assert.ok(pos((i) => i.type === 'note') < pos((i) => i.type === 'callback'));
	assert.ok(pos((i) => i.type === 'callback') < pos((i) => i.type === 'order'));
	assert.ok(pos((i) => i.type === 'order') < pos((i) => i.type === 'chat'));
	assert.ok(pos((i) => i.type === 'chat') < pos((i) => i.type === 'invitation'));

	// Paging one item at a time gives the same list.
	const paged = [];
	let cursor = '';
	for (let k = 0; k < 50; k++) {
		const p = await api(emma.url, 'GET', `/api/v1/contacts/${ct}/timeline?limit=1${cursor ? `&cursor=${cursor}` : ''}`, { cookie: admin.cookie });
		assert.equal(p.status, 200, p.text);
		paged.push(...p.json.items);
		if (!p.json.next_cursor) break;
		cursor = p.json.next_cursor;
	}
	assert.deepEqual(paged.map((i) => `${i.type}:${i.id}`), items.map((i) => `${i.type}:${i.id}`));

	assert.equal((await api(emma.url, 'GET', '/api/v1/contacts/ctnope/timeline', { cookie: admin.cookie })).status, 404);
	const bad = await api(emma.url, 'GET', `/api/v1/contacts/${ct}/timeline?cursor=1_nothing_2`, { cookie: admin.cookie });
	assert.equal(bad.status, 422);
	assert.equal(bad.json.error.field, 'cursor');
});
