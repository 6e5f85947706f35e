// Chat transcripts by e-mail against a real SMTP server on loopback (aiosmtpd storing into a
// Maildir): what arrives (headers, encoded subject, quoted-printable UTF-8 body, dot-stuffed
// lines), what is refused (header injection, too many requests), and what happens when the
// relay is down, comes back, or mail is not configured at all.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, auditEntries, login, startEmma, waitFor } from './lib/emma.mjs';
import { closeAll, newAgent, operator, visitor } from './lib/chat.mjs';
import { freePort, startSmtp } from './lib/smtp.mjs';

let smtp, emma, admin, siteName;
before(async () => {
	smtp = await startSmtp();
	emma = await startEmma({
		env: {
			EMMA_CHAT_OFFLINE_GRACE_S: '0',
			EMMA_MAIL_SMTP_URL: smtp.url,
			EMMA_MAIL_FROM: 'Shop Team <team@shop.example>',
			EMMA_MAIL_RETRY_S: '0',
		},
	});
	admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
	const sites = await api(emma.url, 'GET', '/api/v1/sites', { cookie: admin.cookie });
	siteName = sites.json.sites.find((s) => s.key === 'default').name;
});
after(async () => {
	await emma?.stop();
	await smtp?.stop();
});

const count = (hay, needle) => hay.split(needle).length - 1;

/** A visitor chatting with the (signed-in, connected) admin; resolves with the conversation id. */
async function chat(op, vid, lang, exchange) {
	const v = await visitor(emma, { vid, headers: { 'Accept-Language': lang } });
	let conv = null;
	let n = 0;
	for (const [who, body, extra] of exchange) {
		n++;
		if (who === 'visitor') {
			v.sendJson({ type: 'msg', client_id: `${vid}-${n}`, body });
			const ack = await v.next((m) => m.type === 'ack' && m.client_id === `${vid}-${n}`);
			conv = ack.conversation;
			if (n === 1) await v.next((m) => m.type === 'operator_joined');
		} else {
			op.sendJson({ type: 'msg', conversation: conv, client_id: `${vid}-op-${n}`, body, ...extra });
			await op.next((m) => m.type === 'ack' && m.client_id === `${vid}-op-${n}`);
		}
	}
	return { v, conv };
}

test('the visitor asks for the transcript: one mail with proper headers, every visible message once', async () => {
	const op = await operator(emma, admin);
	const dotted = 'Zeile eins\n.\n..zwei Punkte\n.ein Punkt am Anfang';
	const { v, conv } = await chat(op, 'mail-visitor-1', 'de-DE,de;q=0.9', [
		['visitor', 'Hallo, ich hätte gern den Verlauf per Mail.'],
		['operator', 'Gern – schöne Grüße aus Köln!'],
		['operator', 'interne Notiz: Kunde ist ungeduldig', { internal: true }],
		['visitor', dotted],
		['visitor', 'Preis = 10 € & "Versand" <frei>?'],
	]);
	const before = smtp.messages().length;

	v.sendJson({ type: 'transcript', email: 'ada@example.org' });
	const ok = await v.next((m) => m.type === 'ok' || m.type === 'error', 15000);
	assert.deepEqual(ok, { type: 'ok', for: 'transcript' });

	// "ok" comes after the relay said 250, so the mail is already stored.
	const all = smtp.messages();
	assert.equal(all.length, before + 1);
	const m = all.at(-1);
	assert.equal(m.headers.from, '"Shop Team" <team@shop.example>');
	assert.equal(m.headers.to, 'ada@example.org');
	assert.equal(m.headers['x-mailfrom'], 'team@shop.example', 'envelope sender');
	assert.equal(m.headers['x-rcptto'], 'ada@example.org', 'envelope recipient, and no other');
	assert.match(m.headers.subject, /^=\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=( =\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=)*$/);
	assert.equal(m.subject, `Ihr Gesprächsverlauf – ${siteName}`);
	assert.equal(m.headers['mime-version'], '1.0');
	assert.equal(m.headers['content-type'], 'text/plain; charset=utf-8');
	assert.equal(m.headers['content-transfer-encoding'], 'quoted-printable');
	assert.match(m.headers['message-id'], /^<[a-z0-9.]+@shop\.example>$/);
	assert.ok(Math.abs(Date.parse(m.headers.date) - Date.now()) < 120000, `Date: ${m.headers.date}`);
	for (const h of ['from', 'to', 'subject', 'date', 'message-id']) {
		assert.equal(m.all.filter(([name]) => name === h).length, 1, `one ${h} header`);
	}
	assert.ok(!/[^\x00-\x7f]/.test(m.raw), 'the message is 7-bit on the wire');

	const text = m.text;
	assert.equal(count(text, 'Hallo, ich hätte gern den Verlauf per Mail.'), 1);
	assert.equal(count(text, 'Gern – schöne Grüße aus Köln!'), 1);
	assert.equal(count(text, dotted), 1, `dotted lines arrive as written:\n${text}`);
	assert.equal(count(text, 'Preis = 10 € & "Versand" <frei>?'), 1);
	assert.equal(count(text, 'interne Notiz'), 0, 'internal notes are never mailed');
	assert.equal(count(text, 'Besucher:'), 3);
	assert.equal(count(text, `${admin.operator.name} (Support):`), 1);
	assert.ok(text.includes(`Gespräch ${conv}`));
	assert.ok(text.includes('UTC'));
	// Lines starting with "." survive the SMTP dialogue only if the client dot-stuffed them
	// (the server strips one leading dot; an unstuffed lone "." would end the mail early).
	const rawLines = m.body.replace(/\r\n/g, '\n').split('\n');
	assert.ok(rawLines.includes('.'), 'a line of just "." is in the stored body');
	assert.ok(rawLines.includes('..zwei Punkte'));
	assert.ok(rawLines.includes('.ein Punkt am Anfang'));
	assert.ok(text.trimEnd().endsWith('angefordert wurde.'), 'the mail is complete');
	// The log line is written before the answer, but stderr may reach the test a moment later.
	await waitFor(() => /msg="?mail sent"? id=\S+@shop\.example to_domain=example\.org tries=1/.test(emma.logs()), {
		what: 'the "mail sent" log line',
	});
	closeAll(v, op);
});

test('header injection through the address is refused, on the socket and over REST', async () => {
	const op = await operator(emma, admin);
	const { v, conv } = await chat(op, 'mail-visitor-2', 'en', [['visitor', 'Hello there']]);
	const before = smtp.messages().length;
	for (const email of ['a@b.c\r\nBcc: x@y.z', 'a@b.c\nBcc: x@y.z', 'Eve <a@b.c>', 'a@b.c, x@y.z', 'nobody', 42]) {
		v.sendJson({ type: 'transcript', email });
		const err = await v.next((m) => m.type === 'error' || m.type === 'ok');
		assert.equal(err.type, 'error', `refused: ${JSON.stringify(email)}`);
		assert.equal(err.error.code, 'invalid');
		assert.equal(err.error.field, 'email');
	}
	const rest = await api(emma.url, 'POST', `/api/v1/conversations/${conv}/transcript`, {
		cookie: admin.cookie, csrf: admin.csrf, body: { email: 'a@b.c\r\nBcc: x@y.z' },
	});
	assert.equal(rest.status, 422);
	assert.equal(rest.json.error.field, 'email');
	// Give a wrongly accepted mail time to arrive before asserting there is none.
	await new Promise((r) => setTimeout(r, 500));
	assert.equal(smtp.messages().length, before);
	assert.ok(!smtp.messages().some((m) => m.raw.includes('x@y.z')));
	closeAll(v, op);
});

test('at most 3 transcripts per visitor and hour', async () => {
	const op = await operator(emma, admin);
	const { v } = await chat(op, 'mail-visitor-3', 'en-US', [['visitor', 'Rate me']]);
	for (let i = 0; i < 3; i++) {
		v.sendJson({ type: 'transcript', email: `r${i}@example.org` });
		assert.equal((await v.next((m) => m.type === 'ok' || m.type === 'error', 15000)).type, 'ok');
	}
	v.sendJson({ type: 'transcript', email: 'r3@example.org' });
	const err = await v.next((m) => m.type === 'ok' || m.type === 'error');
	assert.equal(err.type, 'error');
	assert.equal(err.error.code, 'rate_limited');
	assert.equal(smtp.messages().filter((m) => /^r\d@example\.org$/.test(m.headers.to)).length, 3);
	closeAll(v, op);
});

test('an operator mails a closed conversation over REST; English by the conversation language', async () => {
	const op = await operator(emma, admin);
	const { v, conv } = await chat(op, 'mail-visitor-4', 'en-GB,en;q=0.8', [
		['visitor', 'Do you ship to Vienna?'],
		['operator', 'Yes, within 3 days.'],
	]);
	const closed = await api(emma.url, 'POST', `/api/v1/conversations/${conv}/close`, {
		cookie: admin.cookie, csrf: admin.csrf, body: { outcome: 'support' },
	});
	assert.equal(closed.status, 200);

	const res = await api(emma.url, 'POST', `/api/v1/conversations/${conv}/transcript`, {
		cookie: admin.cookie, csrf: admin.csrf, body: { email: 'colleague@example.org' },
	});
	assert.equal(res.status, 200, res.text);
	assert.deepEqual(res.json, { conversation: conv, to: 'colleague@example.org', sent: true });
	const m = smtp.messages().find((x) => x.headers.to === 'colleague@example.org');
	assert.ok(m, 'mail stored before the answer');
	assert.equal(m.subject, `Your chat transcript – ${siteName}`);
	assert.equal(count(m.text, 'Visitor:'), 1);
	assert.equal(count(m.text, `${admin.operator.name} (operator):`), 1);
	assert.equal(count(m.text, 'Do you ship to Vienna?'), 1);
	assert.equal(count(m.text, 'Yes, within 3 days.'), 1);

	// The widget may still ask for its last (closed) conversation.
	v.sendJson({ type: 'transcript', email: 'visitor4@example.org' });
	assert.equal((await v.next((x) => x.type === 'ok' || x.type === 'error', 15000)).type, 'ok');
	assert.ok(smtp.messages().some((x) => x.headers.to === 'visitor4@example.org' && x.text.includes('Yes, within 3 days.')));

	const audit = await auditEntries(emma.url, { cookie: admin.cookie }, (es) => es.some((e) => e.action === 'conversation.transcript'));
	assert.ok(audit.some((e) => e.action === 'conversation.transcript'), 'sending is audited');

	const missing = await api(emma.url, 'POST', '/api/v1/conversations/nosuchconversation/transcript', {
		cookie: admin.cookie, csrf: admin.csrf, body: { email: 'colleague@example.org' },
	});
	assert.equal(missing.status, 404);
	const anon = await api(emma.url, 'POST', `/api/v1/conversations/${conv}/transcript`, { body: { email: 'x@example.org' } });
	assert.equal(anon.status, 401);
	// An agent may not mail another operator's conversation.
	const agent = await newAgent(emma, admin, 'agent-mail@example.org');
	const forbidden = await api(emma.url, 'POST', `/api/v1/conversations/${conv}/transcript`, {
		cookie: agent.cookie, csrf: agent.csrf, body: { email: 'x@example.org' },
	});
	assert.equal(forbidden.status, 403);
	assert.ok(!smtp.messages().some((x) => x.headers.to === 'x@example.org'));
	closeAll(v, op);
});

test('relay down: three tries, then an error for the visitor; the server carries on', async () => {
	const deadPort = await freePort(); // nothing listens here
	const down = await startEmma({
		env: {
			EMMA_CHAT_OFFLINE_GRACE_S: '0',
			EMMA_MAIL_SMTP_URL: `smtp://127.0.0.1:${deadPort}`,
			EMMA_MAIL_FROM: 'team@shop.example',
			EMMA_MAIL_RETRY_S: '0',
		},
	});
	try {
		const adm = await login(down.url, 'admin@localhost', down.adminPassword);
		const op = await operator(down, adm);
		const v = await visitor(down, { vid: 'mail-down-1' });
		v.sendJson({ type: 'msg', client_id: 'd1', body: 'Anyone?' });
		await v.next((m) => m.type === 'ack');
		v.sendJson({ type: 'transcript', email: 'ada@example.org' });
		const err = await v.next((m) => m.type === 'ok' || m.type === 'error', 20000);
		assert.equal(err.type, 'error');
		assert.equal(err.error.code, 'unavailable');
		await waitFor(() => /mail not sent.*tries=3/.test(down.logs()), { what: 'the final log line' });
		assert.equal(count(down.logs(), 'mail attempt failed'), 2, down.logs());
		// Still serving: the chat goes on and the API answers.
		v.sendJson({ type: 'msg', client_id: 'd2', body: 'Still there?' });
		assert.equal((await v.next((m) => m.type === 'ack')).seq, 2);
		assert.equal((await api(down.url, 'GET', '/healthz')).status, 200);
		closeAll(v, op);
	} finally {
		const st = await down.stop();
		assert.equal(st.code, 0);
	}
});

test('relay down at first, back before the last try: the mail is delivered', async () => {
	const port = await freePort();
	const flaky = await startEmma({
		env: {
			EMMA_CHAT_OFFLINE_GRACE_S: '0',
			EMMA_MAIL_SMTP_URL: `smtp://127.0.0.1:${port}`,
			EMMA_MAIL_FROM: 'team@shop.example',
			EMMA_MAIL_RETRY_S: '2', // second try after 2 s, third after 8 s more
		},
	});
	let late;
	try {
		const adm = await login(flaky.url, 'admin@localhost', flaky.adminPassword);
		const op = await operator(flaky, adm);
		const v = await visitor(flaky, { vid: 'mail-flaky-1' });
		v.sendJson({ type: 'msg', client_id: 'f1', body: 'Hello' });
		await v.next((m) => m.type === 'ack');
		v.sendJson({ type: 'transcript', email: 'late@example.org' });
		await waitFor(() => flaky.logs().includes('mail attempt failed'), { timeoutMs: 5000, what: 'a failed try' });
		late = await startSmtp({ port });
		const res = await v.next((m) => m.type === 'ok' || m.type === 'error', 20000);
		assert.deepEqual(res, { type: 'ok', for: 'transcript' });
		const [m] = await late.waitForMessages(1);
		assert.equal(m.headers.to, 'late@example.org');
		await waitFor(() => /mail sent.*tries=[23]/.test(flaky.logs()), { what: 'a later try that worked' });
		closeAll(v, op);
	} finally {
		await flaky.stop();
		await late?.stop();
	}
});

test('mail not configured: the widget and the API say unavailable', async () => {
	const off = await startEmma({ env: { EMMA_CHAT_OFFLINE_GRACE_S: '0' } });
	try {
		const adm = await login(off.url, 'admin@localhost', off.adminPassword);
		const op = await operator(off, adm);
		const v = await visitor(off, { vid: 'mail-off-1' });
		v.sendJson({ type: 'msg', client_id: 'o1', body: 'Hi' });
		const ack = await v.next((m) => m.type === 'ack');
		v.sendJson({ type: 'transcript', email: 'ada@example.org' });
		const err = await v.next((m) => m.type === 'ok' || m.type === 'error');
		assert.equal(err.error.code, 'unavailable');
		// A bad address is still named as such.
		v.sendJson({ type: 'transcript', email: 'not an address' });
		assert.equal((await v.next((m) => m.type === 'error')).error.field, 'email');
		const res = await api(off.url, 'POST', `/api/v1/conversations/${ack.conversation}/transcript`, {
			cookie: adm.cookie, csrf: adm.csrf, body: { email: 'ada@example.org' },
		});
		assert.equal(res.status, 503);
		assert.equal(res.json.error.code, 'unavailable');
		closeAll(v, op);
	} finally {
		await off.stop();
	}
});

test('a mail.from that is not an address: nothing is sent, the reason is logged', async () => {
	const smtp2 = await startSmtp();
	const bad = await startEmma({
		env: { EMMA_CHAT_OFFLINE_GRACE_S: '0', EMMA_MAIL_SMTP_URL: smtp2.url, EMMA_MAIL_FROM: 'Shop <not an address>' },
	});
	try {
		const adm = await login(bad.url, 'admin@localhost', bad.adminPassword);
		const op = await operator(bad, adm);
		const v = await visitor(bad, { vid: 'mail-badfrom-1' });
		v.sendJson({ type: 'msg', client_id: 'b1', body: 'Hi' });
		await v.next((m) => m.type === 'ack');
		v.sendJson({ type: 'transcript', email: 'ada@example.org' });
		const err = await v.next((m) => m.type === 'ok' || m.type === 'error');
		assert.equal(err.error.code, 'unavailable');
		await waitFor(() => /mail\.from is not a valid sender/.test(bad.logs()), { what: 'the logged reason' });
		assert.equal(smtp2.messages().length, 0);
		closeAll(v, op);
	} finally {
		await bad.stop();
		await smtp2.stop();
	}
});

test('shutdown while a transcript waits for its next try: answered, and emma exits cleanly at once', async () => {
	const deadPort = await freePort();
	const s = await startEmma({
		env: {
			EMMA_CHAT_OFFLINE_GRACE_S: '0',
			EMMA_MAIL_SMTP_URL: `smtp://127.0.0.1:${deadPort}`,
			EMMA_MAIL_FROM: 'team@shop.example',
			EMMA_MAIL_RETRY_S: '600', // the next try would be in ten minutes
		},
	});
	const adm = await login(s.url, 'admin@localhost', s.adminPassword);
	const op = await operator(s, adm);
	const v = await visitor(s, { vid: 'mail-shutdown-1' });
	v.sendJson({ type: 'msg', client_id: 's1', body: 'Bye soon' });
	const ack = await v.next((m) => m.type === 'ack');
	const pending = api(s.url, 'POST', `/api/v1/conversations/${ack.conversation}/transcript`, {
		cookie: adm.cookie, csrf: adm.csrf, body: { email: 'ada@example.org' },
	});
	await waitFor(() => s.logs().includes('retry_in_s=600'), { what: 'the first failed try' });
	closeAll(v, op);
	const stopped = s.stop();
	const res = await pending;
	assert.equal(res.status, 503, 'the waiting request is answered, not left hanging');
	assert.equal(res.json.error.code, 'unavailable');
	const st = await stopped;
	assert.equal(st.code, 0);
	assert.match(s.logs(), /mail not sent.*server shutting down/);
});
