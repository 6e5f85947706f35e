// Privacy against the real binary (docs/privacy.md): the export holds all that is stored
// about a person; the erase leaves no byte of their e-mail, name or phone in any file of the
// data directory while the visit statistics still count them; the widget's own forget
// request; operator erase of a visitor; consent records; retention by API and command line.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { api, auditEntries, login, sleep, startEmma, waitFor } from './lib/emma.mjs';
import { closeAll, newAgent, operator, visitor } from './lib/chat.mjs';

const BIN = resolve(process.env.EMMA_BIN || 'emma');
const EMAIL = 'zyxwv.erasure@example.org';
const NAME = 'Quirinus Zyxwvutsrq';
const PHONE = '+4930123456789';
const VID = 'vQuirinusZyx1';

let emma, admin, agent;
before(async () => {
	emma = await startEmma({ env: { EMMA_CHAT_OFFLINE_GRACE_S: '0' } });
	admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
	agent = await newAgent(emma, admin, 'agent.privacy@example.com');
});
after(async () => { await emma?.stop(); });

// A browser's user agent: the tracker records no bots.
const UA = { 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36' };
const track = (url, body) => api(url, 'POST', '/t', { body, headers: UA });

const A = (method, path, body, who = admin) =>
	api(emma.url, method, path, { cookie: who?.cookie, csrf: who?.csrf, body });

/** Every file under dir (recursively). */
function files(dir) {
	const out = [];
	for (const name of readdirSync(dir)) {
		const p = join(dir, name);
		if (statSync(p).isDirectory()) out.push(...files(p));
		else out.push(p);
	}
	return out;
}

/** Needles (each in several spellings) found in any file of dir: [] when none. */
function findBytes(dir, needles) {
	const found = [];
	const variants = new Set();
	for (const n of needles) for (const v of [n, n.toLowerCase(), n.toUpperCase(), encodeURIComponent(n)]) variants.add(v);
	for (const f of files(dir)) {
		const data = readFileSync(f);
		for (const v of variants) if (data.indexOf(Buffer.from(v, 'utf8')) >= 0) found.push(`${f}: ${v}`);
	}
	return found;
}

const NEEDLES = [EMAIL, NAME, 'Quirinus', 'Zyxwvutsrq', 'zyxwv.erasure', PHONE.slice(1), 'Geheimwunsch'];

test('export holds everything about a person; erase leaves nothing of them in the data files', async () => {
	// Visits, identify and consent through the tracker.
	const t = await track(emma.url, {
			site: 'default', vid: VID, events: [
				{ type: 'pageview', url: `https://shop.example/account?email=${encodeURIComponent(EMAIL)}`, title: `Konto von ${NAME}` },
				{ type: 'identify', email: EMAIL, name: NAME },
				{ type: 'consent', granted: true },
				{ type: 'cart', action: 'add', sku: 'SKU-1', qty: 1, price: 9.5 },
				{ type: 'pageview', url: 'https://shop.example/cart', title: 'Warenkorb' },
			],
	});
	assert.equal(t.status, 200, t.text);
	const statsBefore = (await A('GET', '/api/v1/stats?site=default')).json;
	assert.ok(statsBefore.today.visits >= 1);

	// The identify event made a contact.
	const found = await waitFor(async () => {
		const r = await A('GET', '/api/v1/contacts?q=zyxwv');
		return r.json?.contacts?.length ? r.json.contacts : null;
	}, { what: 'contact from identify' });
	const id = found[0].id;
	assert.equal(found[0].email, EMAIL);

	// A note, edited once (the first text lives on as a revision).
	const note = await A('POST', `/api/v1/contacts/${id}/notes`, { body: `${NAME} asked about the Geheimwunsch order` });
	assert.equal(note.status, 201, note.text);
	const nid = note.json.note.id;
	assert.equal((await A('PATCH', `/api/v1/notes/${nid}`, { body: `Edited: ${NAME} prefers mornings` })).status, 200);

	// A call-me-back request and a consent record with its wording.
	const cb = await A('POST', '/api/v1/callbacks', { contact: id, phone: PHONE, name: NAME, topic: `Rückruf für ${NAME}` });
	assert.equal(cb.status, 201, cb.text);
	const consent = await A('POST', `/api/v1/contacts/${id}/consents`, {
		purpose: 'marketing', granted: true, wording: `Newsletter for ${NAME}, revocable any time`, source: 'card',
	});
	assert.equal(consent.status, 201, consent.text);
	assert.equal(consent.json.consent.purpose, 'marketing');
	const badConsent = await A('POST', `/api/v1/contacts/${id}/consents`, { purpose: 'Mar keting', granted: true });
	assert.equal(badConsent.status, 422);
	assert.equal(badConsent.json.error.field, 'purpose');
	const noGranted = await A('POST', `/api/v1/contacts/${id}/consents`, { purpose: 'marketing' });
	assert.equal(noGranted.status, 422);
	assert.equal(noGranted.json.error.field, 'granted');
	assert.equal((await A('POST', `/api/v1/contacts/ctnope/consents`, { purpose: 'x', granted: false })).status, 404);
	const consents = await A('GET', `/api/v1/contacts/${id}/consents`, undefined, agent);
	assert.equal(consents.status, 200);
	const purposes = consents.json.consents.map((c) => `${c.purpose}:${c.source}:${c.granted}`).sort();
	assert.deepEqual(purposes, ['marketing:card:true', 'tracking:tracker:true']);

	// A live chat with the admin online; an internal note in it too.
	const op = await operator(emma, admin);
	const v = await visitor(emma, { vid: VID });
	v.sendJson({ type: 'start', name: NAME, email: EMAIL });
	const conv = (await v.next((m) => m.type === 'conversation')).conversation.id;
	v.sendJson({ type: 'msg', client_id: 'q1', body: `Hallo, hier ist ${NAME}, Telefon ${PHONE}` });
	await v.next((m) => m.type === 'ack');
	await waitFor(async () => (await A('GET', `/api/v1/conversations/${conv}`)).json?.conversation?.status === 'open', { what: 'assigned' });
	assert.equal((await A('POST', `/api/v1/conversations/${conv}/messages`, { body: `Guten Tag ${NAME}!` })).status, 201);
	assert.equal((await A('POST', `/api/v1/conversations/${conv}/messages`, { body: `Intern: ${NAME} ist Stammkunde`, internal: true })).status, 201);

	// Export: admin only.
	assert.equal((await api(emma.url, 'GET', `/api/v1/contacts/${id}/export`)).status, 401);
	assert.equal((await A('GET', `/api/v1/contacts/${id}/export`, undefined, agent)).status, 403);
	const ex = await A('GET', `/api/v1/contacts/${id}/export`);
	assert.equal(ex.status, 200, ex.text);
	assert.match(ex.headers.get('content-disposition'), /^attachment; filename="emma-export-.+\.json"$/);
	const doc = ex.json;
	assert.equal(doc.format, 'emma.export/1');
	assert.equal(doc.contact.email, EMAIL);
	assert.equal(doc.contact.name, NAME);
	assert.equal(doc.visitors.length, 1);
	assert.equal(doc.visitors[0].vid, VID);
	const evs = doc.visitors[0].visits.flatMap((x) => x.events);
	assert.ok(evs.some((e) => e.type === 'pageview' && e.title === `Konto von ${NAME}`));
	assert.ok(evs.some((e) => e.type === 'cart'));
	assert.equal(doc.conversations.length, 1);
	const bodies = doc.conversations[0].messages.map((m) => m.body);
	assert.ok(bodies.some((b) => b.includes(`hier ist ${NAME}`)));
	assert.ok(bodies.includes(`Guten Tag ${NAME}!`));
	assert.ok(doc.conversations[0].messages.some((m) => m.internal && m.body.startsWith('Intern:')), 'internal notes are exported');
	assert.equal(doc.notes.length, 1);
	assert.equal(doc.notes[0].body, `Edited: ${NAME} prefers mornings`);
	assert.ok(doc.notes[0].revisions.some((r) => r.body.includes('Geheimwunsch')));
	assert.equal(doc.callbacks.length, 1);
	assert.equal(doc.callbacks[0].phone, PHONE);
	assert.equal(doc.consents.length, 2);
	assert.ok(doc.consents.some((c) => c.wording.includes(NAME)));
	assert.equal(doc.truncated, false);

	// The byte search below finds them while they are stored (the check can fail).
	assert.ok(findBytes(emma.dataDir, [EMAIL, NAME]).length > 0, 'the person is in the data files before the erase');

	// Erase: admin only.
	assert.equal((await api(emma.url, 'DELETE', `/api/v1/contacts/${id}`)).status, 401);
	assert.equal((await A('DELETE', `/api/v1/contacts/${id}`, undefined, agent)).status, 403);
	const er = await A('DELETE', `/api/v1/contacts/${id}`);
	assert.equal(er.status, 204, er.text);
	// The open chat was closed first; the visitor's widget was told.
	await v.next((m) => m.type === 'closed' && m.conversation === conv);
	closeAll(v, op);
	assert.equal((await A('GET', `/api/v1/contacts/${id}`)).status, 404);
	assert.equal((await A('GET', `/api/v1/contacts/${id}/export`)).status, 404);
	assert.equal((await A('DELETE', `/api/v1/contacts/${id}`)).status, 404);
	assert.equal((await A('GET', `/api/v1/visitors/${VID}?site=default`)).status, 404);
	assert.equal((await A('GET', '/api/v1/contacts?q=zyxwv')).json.contacts.length, 0);

	// The conversation is still counted, its text is gone.
	const c2 = await A('GET', `/api/v1/conversations/${conv}`);
	assert.equal(c2.status, 200);
	assert.equal(c2.json.conversation.status, 'closed');
	assert.ok(c2.json.messages.length >= 3);
	assert.ok(c2.json.messages.every((m) => m.body === ''), JSON.stringify(c2.json.messages));
	assert.equal(c2.json.conversation.name, '');

	// The statistics still count the anonymised visit.
	const statsAfter = (await A('GET', '/api/v1/stats?site=default')).json;
	assert.equal(statsAfter.today.visits, statsBefore.today.visits);
	assert.equal(statsAfter.today.pageviews, statsBefore.today.pageviews);
	assert.ok(statsAfter.top_pages.some((p) => p.url === 'https://shop.example/account'), JSON.stringify(statsAfter.top_pages));

	// The audit log keeps the fact, never the address.
	const audit = await auditEntries(emma.url, { cookie: admin.cookie }, (es) => es.some((a) => a.action === 'contact.erased'));
	const entry = audit.find((a) => a.action === 'contact.erased');
	assert.ok(entry, 'contact.erased in the audit log');
	assert.equal(entry.target, id);
	assert.ok(!JSON.stringify(audit).toLowerCase().includes('zyxwv'), 'no audit entry names the person');

	// No byte of them in the running server's files (the erase checkpointed the WAL)...
	assert.deepEqual(findBytes(emma.dataDir, NEEDLES), []);
	// ...nor in a backup taken now, nor after a clean stop.
	const bk = spawnSync(BIN, ['backup', '--data', emma.dataDir, join(emma.dataDir, 'after-erase.db')], { encoding: 'utf8', timeout: 30000 });
	assert.equal(bk.status, 0, bk.stderr);
	await emma.stop();
	assert.deepEqual(findBytes(emma.dataDir, NEEDLES), []);
	await emma.restart();
	admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
	agent = await login(emma.url, 'agent.privacy@example.com', 'agent-password-123');
	assert.equal((await A('GET', '/api/v1/stats?site=default')).json.today.visits, statsBefore.today.visits);
});

test('the widget forgets its own visitor: CORS, origin check, unknown ids, rate limit', async () => {
	const vid = 'vForgetMe1';
	const t = await track(emma.url, { site: 'default', vid, events: [{ type: 'pageview', url: 'https://shop.example/p?who=Forgetta' }, { type: 'identify', name: 'Forgetta Xqzjvbn' }] });
	assert.equal(t.status, 200, t.text);
	assert.equal((await A('GET', `/api/v1/visitors/${vid}?site=default`)).status, 200);

	const pre = await fetch(`${emma.url}/api/v1/public/forget`, { method: 'OPTIONS', headers: { Origin: 'https://shop.example' } });
	assert.equal(pre.status, 204);
	assert.equal(pre.headers.get('access-control-allow-origin'), 'https://shop.example');
	assert.match(pre.headers.get('access-control-allow-methods'), /POST/);

	const forget = (body, origin = 'https://shop.example') =>
		api(emma.url, 'POST', '/api/v1/public/forget', { body, headers: { Origin: origin } });
	const ok = await forget({ site: 'default', vid });
	assert.equal(ok.status, 204, ok.text);
	assert.equal(ok.headers.get('access-control-allow-origin'), 'https://shop.example');
	assert.equal((await A('GET', `/api/v1/visitors/${vid}?site=default`)).status, 404);
	// Unknown ids answer the same (no oracle); bad input is a 422 with the field.
	assert.equal((await forget({ site: 'default', vid: 'vNeverSeen' })).status, 204);
	const bad = await forget({ site: 'default', vid: 'bad vid!' });
	assert.equal(bad.status, 422);
	assert.equal(bad.json.error.field, 'vid');
	const noSite = await forget({ site: 'nosuchsite', vid });
	assert.equal(noSite.status, 422);
	assert.equal(noSite.json.error.field, 'site');
	// A site that names its domains refuses other pages.
	const site = await A('POST', '/api/v1/sites', { key: 'locked', name: 'Locked', allowed_domains: ['shop.example'] });
	assert.equal(site.status, 201, site.text);
	assert.equal((await forget({ site: 'locked', vid }, 'https://evil.example')).status, 403);
	// Ten per address per ten minutes: six used above, so the eleventh is refused.
	let last;
	for (let i = 0; i < 6; i++) last = await forget({ site: 'default', vid: `vRate${i}` });
	assert.equal(last.status, 429);
	assert.ok(Number(last.headers.get('retry-after')) > 0);
	assert.ok((await auditEntries(emma.url, { cookie: admin.cookie }, (es) => es.some((a) => a.action === 'visitor.forget_requested')))
		.some((a) => a.action === 'visitor.forget_requested'));
});

test('operators erase and export a visitor by id; agents may not', async () => {
	const vid = 'vOperatorErase1';
	assert.equal((await track(emma.url, { site: 'default', vid, events: [{ type: 'pageview', url: 'https://shop.example/x?mail=olgazqx%40example.net' }, { type: 'identify', email: 'olgazqx@example.net' }] })).status, 200);
	const ex = await A('GET', `/api/v1/visitors/${vid}/export?site=default`);
	assert.equal(ex.status, 200, ex.text);
	assert.equal(ex.json.subject.vid, vid);
	assert.equal(ex.json.visitors[0].email, 'olgazqx@example.net');
	assert.equal((await A('GET', `/api/v1/visitors/${vid}/export?site=default`, undefined, agent)).status, 403);
	assert.equal((await A('DELETE', `/api/v1/visitors/${vid}?site=default`, undefined, agent)).status, 403);
	assert.equal((await api(emma.url, 'DELETE', `/api/v1/visitors/${vid}?site=default`)).status, 401);
	assert.equal((await A('DELETE', `/api/v1/visitors/${vid}?site=nosuch`)).status, 404);
	assert.equal((await A('DELETE', `/api/v1/visitors/${vid}?site=default`)).status, 204);
	assert.equal((await A('DELETE', `/api/v1/visitors/${vid}?site=default`)).status, 404);
	assert.equal((await A('GET', `/api/v1/visitors/${vid}?site=default`)).status, 404);
	assert.ok((await auditEntries(emma.url, { cookie: admin.cookie }, (es) => es.some((a) => a.action === 'visitor.erased')))
		.some((a) => a.action === 'visitor.erased'));
});

test('retention deletes what is older than the settings allow: command line and API', async (t) => {
	const e2 = await startEmma({ t });
	await e2.stop();
	// Three years old visits, from an access log (the only way to store the past).
	const log = join(e2.dataDir, 'old.log');
	const ua = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
	const lines = [];
	for (let i = 0; i < 7; i++) lines.push(`198.51.100.${i + 1} - - [10/Oct/2022:13:55:3${i} +0000] "GET /old/page${i} HTTP/1.1" 200 512 "-" "${ua}"`);
	writeFileSync(log, lines.join('\n') + '\n');
	const imp = spawnSync(BIN, ['import-log', '--data', e2.dataDir, log], { encoding: 'utf8', timeout: 30000 });
	assert.equal(imp.status, 0, imp.stderr);

	const dry = spawnSync(BIN, ['retention', '--dry-run', '--data', e2.dataDir], { encoding: 'utf8', timeout: 30000 });
	assert.equal(dry.status, 0, dry.stderr);
	const rep = JSON.parse(dry.stdout);
	assert.equal(rep.dry_run, true);
	assert.equal(rep.would_delete.events, 7);
	assert.equal(rep.would_delete.visitors, 7);
	assert.equal(rep.would_delete.visits, 7);
	const help = spawnSync(BIN, ['retention', '--help'], { encoding: 'utf8' });
	assert.equal(help.status, 0);
	assert.match(help.stdout, /--dry-run/);
	assert.equal(spawnSync(BIN, ['retention', 'extra'], { encoding: 'utf8' }).status, 2);

	await e2.restart();
	const adm = await login(e2.url, 'admin@localhost', e2.adminPassword);
	const ag = await newAgent(e2, adm, 'agent.retention@example.com');
	// Today's traffic stays.
	assert.equal((await track(e2.url, { site: 'default', vid: 'vToday1', events: [{ type: 'pageview', url: '/today' }] })).status, 200);
	const R = (method, who = adm) => api(e2.url, method, '/api/v1/privacy/retention', { cookie: who.cookie, csrf: who.csrf });
	assert.equal((await R('GET', ag)).status, 403);
	assert.equal((await R('POST', ag)).status, 403);
	assert.equal((await api(e2.url, 'GET', '/api/v1/privacy/retention')).status, 401);
	const before = await R('GET');
	assert.equal(before.status, 200, before.text);
	assert.equal(before.json.retention.would_delete?.events, 7, before.text);
	const run = await R('POST');
	assert.equal(run.status, 200, run.text);
	assert.equal(run.json.retention.deleted.events, 7);
	assert.equal(run.json.retention.deleted.visitors, 7);
	assert.ok(run.json.retention.chunks >= 2);
	const afterRun = await R('GET');
	assert.equal(afterRun.json.retention.would_delete.events, 0);
	assert.equal(afterRun.json.retention.would_delete.visitors, 0);
	const audit = (await api(e2.url, 'GET', '/api/v1/audit?limit=50', { cookie: adm.cookie })).json.entries;
	assert.ok(audit.some((a) => a.action === 'privacy.retention' && a.detail.includes('events=7')), JSON.stringify(audit.slice(0, 5)));
	const prof = await api(e2.url, 'GET', '/api/v1/visitors/vToday1?site=default', { cookie: adm.cookie });
	assert.equal(prof.status, 200);
	await sleep(10);
});
