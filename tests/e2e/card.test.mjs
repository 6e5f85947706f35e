// The widget's business card (POST /api/v1/public/card): a lead with the
// visitor's whole history, the consent with its wording, the message as a
// note, an event to the consoles; clear errors, origin check, rate limit.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, login, startEmma, waitFor } from './lib/emma.mjs';
import { closeAll, operator } from './lib/chat.mjs';

const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36';
let emma, admin;
before(async () => {
	emma = await startEmma();
	admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
});
after(async () => { await emma?.stop(); });

const card = (body, headers = {}) => fetch(`${emma.url}/api/v1/public/card`, {
	method: 'POST', headers: { 'Content-Type': 'text/plain', Origin: 'https://shop.example', ...headers }, body: JSON.stringify(body),
}).then(async (r) => ({ status: r.status, headers: r.headers, json: await r.json().catch(() => null) }));

test('a card makes a lead linked to the visitor, with consent and the message', async () => {
	// The visitor browsed anonymously first.
	const t = await fetch(`${emma.url}/t`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'User-Agent': UA },
		body: JSON.stringify({ site: 'default', vid: 'card-visitor-1', events: [{ type: 'pageview', url: '/jacken', title: 'Jacken' }] }) });
	assert.equal(t.status, 200);
	const op = await operator(emma, admin);
	const r = await card({ site: 'default', vid: 'card-visitor-1', name: 'Hanna Beispiel', email: 'Hanna.Beispiel@Example.org',
		phone: '+49 30 1234567', company: 'Beispiel GmbH', message: 'Bitte um ein Angebot für 20 Jacken.',
		consent: true, wording: 'Ich bin einverstanden, dass mich der Shop per E-Mail kontaktiert.' });
	assert.equal(r.status, 201, JSON.stringify(r.json));
	assert.equal(r.headers.get('access-control-allow-origin'), 'https://shop.example');
	const id = r.json.contact.id;
	const ev = await op.next((m) => m.type === 'lead' && m.contact.id === id);
	assert.equal(ev.source, 'card');
	assert.equal(ev.contact.email, 'hanna.beispiel@example.org');
	const c = await api(emma.url, 'GET', `/api/v1/contacts/${id}`, { cookie: admin.cookie });
	assert.equal(c.status, 200, c.text);
	const contact = c.json.contact || c.json;
	assert.equal(contact.email, 'hanna.beispiel@example.org');
	assert.equal(contact.phone, '+49301234567');
	assert.equal(contact.source, 'card');
	const notes = await api(emma.url, 'GET', `/api/v1/contacts/${id}/notes`, { cookie: admin.cookie });
	assert.ok(JSON.stringify(notes.json).includes('20 Jacken'), notes.text);
	const consents = await api(emma.url, 'GET', `/api/v1/contacts/${id}/consents`, { cookie: admin.cookie });
	assert.ok(JSON.stringify(consents.json).includes('per E-Mail kontaktiert'), consents.text);
	const profile = await api(emma.url, 'GET', '/api/v1/visitors/card-visitor-1', { cookie: admin.cookie });
	assert.ok(JSON.stringify(profile.json.contact || {}).includes(id) || JSON.stringify(profile.json).includes(id), profile.text);
	// The same person again updates the lead instead of making a second one.
	const again = await card({ site: 'default', vid: 'card-visitor-2', email: 'hanna.beispiel@example.org', consent: false });
	assert.equal(again.status, 201);
	assert.equal(again.json.contact.id, id);
	closeAll(op);
});

test('bad cards get field errors, with CORS, and nothing is stored', async () => {
	const e1 = await card({ site: 'default', email: 'not-an-address' });
	assert.equal(e1.status, 422);
	assert.equal(e1.json.error.field, 'email');
	assert.equal(e1.headers.get('access-control-allow-origin'), 'https://shop.example');
	assert.equal((await card({ site: 'default', phone: '030 12' })).json.error.field, 'phone');
	assert.equal((await card({ site: 'default', name: 'Nur Name' })).json.error.field, 'email');
	assert.equal((await card({ site: 'default', email: 'a@b.example', consent: true })).json.error.field, 'wording');
	assert.equal((await card({ site: 'nope', email: 'a@b.example' })).json.error.field, 'site');
	assert.equal((await card({ email: 'a@b.example' })).json.error.field, 'site');
	const list = await api(emma.url, 'GET', '/api/v1/contacts?q=b.example', { cookie: admin.cookie });
	assert.equal(list.status, 200);
	assert.equal((list.json.contacts || []).length, 0);
	// A site with allowed domains refuses other pages.
	const s = await api(emma.url, 'POST', '/api/v1/sites', { cookie: admin.cookie, csrf: admin.csrf, body: { key: 'strict', name: 'Strict', allowed_domains: ['strict.example'] } });
	assert.equal(s.status, 201, s.text);
	assert.equal((await card({ site: 'strict', email: 'x@y.example' }, { Origin: 'https://evil.example' })).status, 403);
	assert.equal((await card({ site: 'strict', email: 'x@y.example' }, { Origin: 'https://strict.example' })).status, 201);
});

test('a few cards per address, then 429 with Retry-After', async () => {
	let last;
	for (let i = 0; i < 8; i++) {
		last = await card({ site: 'default', email: `flood${i}@example.org` }, { 'X-Test': String(i) });
		if (last.status === 429) break;
	}
	assert.equal(last.status, 429);
	assert.ok(Number(last.headers.get('retry-after')) > 0);
});
