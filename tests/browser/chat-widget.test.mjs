// The visitor's chat widget (web/widget/chat.js) in Chromium against the real emma binary.
//
// A shop page (tests/browser/pages/chat-shop.html, served by a node http server on another
// loopback port, so emma.js and the chat run cross-origin as in a real shop) embeds emma.js.
// The operator is a WebSocket client on /ws/operator with a session cookie, accepting over
// REST and answering over its socket, as the console does.
//
// Every visitor socket goes through page.routeWebSocket, which forwards frames to the real
// server and records them; the test uses it to cut the connection, to hold back the
// widget's frames or the server's acks, and to assert what the widget sent.
//
//   make && EMMA_BIN=$PWD/emma node --test tests/browser/chat-widget.test.mjs
//   EMMA_SHOTS=/tmp/shots ...   also saves screenshots at 375 px and 1280 px there
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { api, login, sleep, startEmma, waitFor } from '../e2e/lib/emma.mjs';
import { startSmtp } from '../e2e/lib/smtp.mjs';

const PAGES = join(dirname(fileURLToPath(import.meta.url)), 'pages');
const LAUNCH = {
	executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
	args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync'],
};
const SHOTS = process.env.EMMA_SHOTS || '';
const pageErrors = [];

let emma, browser, shop, userAgent, session, smtp;

/** The shop: every path is pages/chat-shop.html with the Emma tag; ?lang= becomes data-lang. */
function startShop(emmaUrl) {
	const html = readFileSync(join(PAGES, 'chat-shop.html'), 'utf8');
	const srv = http.createServer((req, res) => {
		if (req.url === '/favicon.ico') return res.writeHead(404).end();
		const u = new URL(req.url, 'http://shop');
		let attrs = 'data-site="default" data-ping="2"';
		const lang = (u.searchParams.get('lang') || '').replace(/\W/g, '');
		if (lang) attrs += ` data-lang="${lang}"`;
		const tag = `<script async src="${emmaUrl}/emma.js" ${attrs}></script>`;
		res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
		res.end(html.replace('<!--emma-->', tag));
	});
	return new Promise((res) => {
		srv.listen(0, '127.0.0.1', () => res({
			url: `http://127.0.0.1:${srv.address().port}`,
			close: () => { srv.closeAllConnections(); srv.close(); },
		}));
	});
}

async function shot(page, name) {
	if (!SHOTS) return;
	mkdirSync(SHOTS, { recursive: true });
	await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/** Screenshots at phone and desktop width, then back to the page's size. */
async function shots(page, name) {
	if (!SHOTS) return;
	const size = page.viewportSize();
	await page.setViewportSize({ width: 375, height: 740 });
	await sleep(250);
	await shot(page, `${name}-375`);
	await page.setViewportSize({ width: 1280, height: 800 });
	await sleep(250);
	await shot(page, `${name}-1280`);
	await page.setViewportSize(size);
}

/**
 * A visitor: a browser context whose /ws/visitor sockets are routed through the test.
 * net.down: refuse new sockets. net.holdUp() / net.dropAcks(): on the socket open now, drop
 * the widget's frames / the server's acks and echoes (a later socket is not affected).
 */
async function visitor(t, { locale = 'en-US', viewport = { width: 1280, height: 800 } } = {}) {
	const context = await browser.newContext({ locale, userAgent, viewport });
	t.after(() => context.close());
	const net = { down: false, sent: [], received: [], sockets: [], opened: 0, chatLoads: 0 };
	const holdUp = new Set();
	const noAcks = new Set();
	await context.routeWebSocket(/\/ws\/visitor/, (ws) => {
		if (net.down) {
			ws.close({ code: 1011, reason: 'network down (test)' });
			return;
		}
		net.opened++;
		const server = ws.connectToServer();
		const conn = { ws, server };
		net.sockets.push(conn);
		ws.onMessage((m) => {
			const f = JSON.parse(String(m));
			net.sent.push(f);
			if (!holdUp.has(conn)) server.send(m);
		});
		server.onMessage((m) => {
			const f = JSON.parse(String(m));
			// The echo of the visitor's own message tells of its storage as an ack does.
			if (noAcks.has(conn) && (f.type === 'ack' || (f.type === 'msg' && f.author === 'visitor'))) return;
			net.received.push(f);
			ws.send(m);
		});
		ws.onClose(() => {
			server.close();
			net.sockets.splice(net.sockets.indexOf(conn) >>> 0, 1);
		});
		server.onClose(() => { ws.close(); });
	});
	net.holdUp = () => holdUp.add(net.sockets.at(-1));
	net.dropAcks = () => noAcks.add(net.sockets.at(-1));
	/** Cuts every open socket (as a dropped network would). */
	net.cut = () => {
		for (const c of net.sockets.splice(0)) {
			c.ws.close({ code: 1011, reason: 'cut (test)' });
			c.server.close();
		}
	};
	const page = await context.newPage();
	page.setDefaultTimeout(10_000);
	page.on('pageerror', (e) => pageErrors.push(e.message));
	page.on('request', (r) => { if (r.url().endsWith('/widget/chat.js')) net.chatLoads++; });
	return { context, page, net };
}

// The widget's parts; getByRole pierces the open shadow root.
const launcher = (page) => page.locator('#emma-chat').getByRole('button', { name: /^(Open chat|Chat öffnen)/ });
const dialog = (page) => page.getByRole('dialog');
const log = (page) => page.getByRole('log');
const visible = (l) => l.filter({ visible: true });

/** The operator's console socket, as the console opens it. */
function operator() {
	const sock = new WebSocket(`ws://127.0.0.1:${emma.port}/ws/operator`, {
		headers: { cookie: session.cookie, origin: emma.url },
	});
	const frames = [];
	const waiters = [];
	sock.on('message', (d) => {
		const f = JSON.parse(String(d));
		frames.push(f);
		for (const w of waiters.slice()) {
			if (w.pred(f)) {
				waiters.splice(waiters.indexOf(w), 1);
				w.resolve(f);
			}
		}
	});
	const op = {
		sock, frames,
		opened: new Promise((res, rej) => { sock.once('open', res); sock.once('error', rej); }),
		next(pred, what = 'a frame', ms = 10_000) {
			const have = frames.find(pred);
			if (have) return Promise.resolve(have);
			return new Promise((resolve, reject) => {
				const w = { pred, resolve };
				waiters.push(w);
				setTimeout(() => {
					if (waiters.includes(w)) reject(new Error(`operator: timed out waiting for ${what}`));
				}, ms);
			});
		},
		send(o) { sock.send(JSON.stringify(o)); },
		close() { return new Promise((res) => { sock.once('close', res); sock.close(); }); },
	};
	return op;
}

const convFrame = (vid) => (f) => f.type === 'conversation' && f.conversation && f.conversation.vid === vid;

/** The tracker's visitor id in this page (after its first /t answer). */
async function vidOf(page) {
	await page.waitForFunction(() => window.emma && window.emma._vid && window.emma._vid(), null, { timeout: 10_000 });
	return page.evaluate(() => window.emma._vid());
}

async function messagesOf(conv) {
	const r = await api(emma.url, 'GET', `/api/v1/conversations/${conv}/messages?limit=100`, { cookie: session.cookie });
	assert.equal(r.status, 200, r.text);
	return r.json.messages || r.json.items || [];
}

before(async () => {
	smtp = await startSmtp(); // a real SMTP server on loopback, for the transcript
	emma = await startEmma({
		env: {
			EMMA_CHAT_ROUTING: 'broadcast', EMMA_CHAT_OFFLINE_GRACE_S: '1',
			EMMA_TRACK_RATE_PER_S: '1000', EMMA_TRACK_RATE_BURST: '1000',
			EMMA_MAIL_SMTP_URL: smtp.url, EMMA_MAIL_FROM: 'Shop Team <team@shop.example>', EMMA_MAIL_RETRY_S: '0',
		},
	});
	shop = await startShop(emma.url);
	browser = await chromium.launch(LAUNCH);
	// Emma does not record bots, and "HeadlessChrome" is one: present as the desktop Chrome it is.
	userAgent = `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${browser.version()} Safari/537.36`;
	session = await login(emma.url, emma.adminEmail, emma.adminPassword);
	// Pre-chat: name optional, e-mail required, consent optional.
	const r = await api(emma.url, 'PUT', '/api/v1/chat/settings?site=default', {
		cookie: session.cookie, csrf: session.csrf,
		body: { name: 'optional', email: 'required', consent: 'optional', greeting: '' },
	});
	assert.equal(r.status, 200, r.text);
});

after(async () => {
	await browser?.close();
	shop?.close();
	await emma?.stop();
	await smtp?.stop();
});

test('the widget is served to other origins as JavaScript; emma.js stays small', async () => {
	const r = await fetch(`${emma.url}/widget/chat.js`, { headers: { Origin: shop.url } });
	assert.equal(r.status, 200);
	assert.match(r.headers.get('content-type'), /^text\/javascript/);
	assert.equal(r.headers.get('access-control-allow-origin'), '*');
	assert.match(await r.text(), /emma\._c = start/);
	const gz = (await import('node:zlib')).gzipSync(readFileSync(new URL('../../web/widget/emma.js', import.meta.url)), { level: 9 });
	assert.ok(gz.length < 4096, `emma.js is ${gz.length} bytes gzipped`);
});

test('without an operator the widget offers "leave a message" (e-mail required)', async (t) => {
	const { page, net } = await visitor(t);
	await page.goto(`${shop.url}/shop/offline`);
	await launcher(page).waitFor();
	// Drawn by emma.js; the chat UI is loaded only on a click.
	await sleep(500);
	assert.equal(net.chatLoads, 0, 'chat.js is not loaded before the launcher is clicked');
	await launcher(page).click();
	await dialog(page).waitFor();
	assert.equal(net.chatLoads, 1);
	await dialog(page).getByText('Leave us a message', { exact: true }).waitFor();
	await dialog(page).getByText(/Nobody is available right now/).waitFor();
	const send = dialog(page).getByRole('button', { name: 'Send message' });
	await visible(dialog(page).getByLabel('Message', { exact: true })).fill('Do you have the blue one in size 42?');
	await send.click();
	await dialog(page).getByRole('alert').getByText('Please enter your e-mail address.').waitFor();
	assert.equal(net.sent.filter((f) => f.type === 'offline').length, 0, 'nothing sent while invalid');
	await visible(dialog(page).getByLabel(/^E-mail/)).fill('ann@example.com');
	await visible(dialog(page).getByLabel(/^Name/)).fill('Ann');
	await send.click();
	await dialog(page).getByText('Thank you! We will answer you by e-mail.').waitFor();
	const sent = net.sent.filter((f) => f.type === 'offline');
	assert.equal(sent.length, 1);
	assert.equal(sent[0].email, 'ann@example.com');
	assert.equal(sent[0].body, 'Do you have the blue one in size 42?');
	assert.ok(net.received.some((f) => f.type === 'ack' && f.client_id === sent[0].client_id), 'acked');
	// It is an offline conversation for the console.
	const vid = await vidOf(page);
	await waitFor(async () => {
		const r = await api(emma.url, 'GET', '/api/v1/conversations?status=pending', { cookie: session.cookie });
		return (r.json.conversations || []).some((c) => c.vid === vid && c.channel === 'offline');
	}, { what: 'the offline conversation' });
	await shots(page, 'chat-offline');
});

test('German strings with data-lang="de"', async (t) => {
	const { page } = await visitor(t, { locale: 'en-US' });
	await page.goto(`${shop.url}/shop/de?lang=de`);
	await page.locator('#emma-chat').getByRole('button', { name: 'Chat öffnen' }).click();
	await page.getByRole('dialog', { name: 'Chatten Sie mit uns' }).waitFor();
	await dialog(page).getByText('Hinterlassen Sie uns eine Nachricht', { exact: true }).waitFor();
	await visible(dialog(page).getByLabel(/^E-Mail/)).waitFor();
	await dialog(page).getByRole('button', { name: 'Nachricht senden' }).click();
	await dialog(page).getByRole('alert').getByText(/Bitte/).waitFor();
	await shots(page, 'chat-de');
	await dialog(page).getByRole('button', { name: 'Chat minimieren' }).click();
	await page.locator('#emma-chat').getByRole('button', { name: 'Chat öffnen' }).waitFor();
	assert.equal(await dialog(page).count(), 0, 'closed');
});

// The main conversation, shared by the next tests.
let op, main, conv, vid;

test('the visitor fills the pre-chat form, sends, and the operator answers', async (t) => {
	op = operator();
	await op.opened;
	await op.next((f) => f.type === 'hello', 'hello');
	main = await visitor({ after: () => {} });
	const { page, net } = main;
	await page.goto(`${shop.url}/shop/first`);
	vid = await vidOf(page);
	await launcher(page).click();
	await page.getByRole('dialog', { name: 'Chat with us' }).waitFor();
	// The pre-chat fields as the site configured them.
	const email = visible(dialog(page).getByLabel(/^E-mail/));
	const name = visible(dialog(page).getByLabel(/^Name \(optional\)/));
	await name.waitFor();
	await dialog(page).getByRole('checkbox', { name: /I agree/ }).waitFor();
	// The text field has the focus.
	assert.equal(await page.evaluate(() => document.getElementById('emma-chat').shadowRoot.activeElement?.tagName), 'INPUT');
	await visible(dialog(page).getByLabel('Your question')).fill('Hello, do you ship to Austria?');
	await dialog(page).getByRole('button', { name: 'Start chat' }).click();
	await dialog(page).getByRole('alert').getByText('Please enter your e-mail address.').waitFor();
	assert.equal(await email.getAttribute('aria-invalid'), '');
	await name.fill('Ann');
	await email.fill('ann@example.com');
	await dialog(page).getByRole('button', { name: 'Start chat' }).click();

	const mine = log(page).locator('li.visitor');
	await mine.getByText('Hello, do you ship to Austria?').waitFor();
	await mine.locator('[data-state="sent"]').waitFor();
	const start = net.sent.find((f) => f.type === 'start');
	assert.equal(start.name, 'Ann');
	assert.equal(start.email, 'ann@example.com');
	assert.equal(start.lang, 'en');
	const msg = net.sent.find((f) => f.type === 'msg');
	assert.match(msg.client_id, /^[0-9a-f-]{36}$/);

	// Broadcast routing: pending until an operator accepts.
	const c = await op.next((f) => convFrame(vid)(f) && f.conversation.status === 'pending', 'the pending conversation');
	conv = c.conversation.id;
	await dialog(page).getByText('Waiting for a free colleague…').waitFor();
	const acc = await api(emma.url, 'POST', `/api/v1/conversations/${conv}/accept`, { cookie: session.cookie, csrf: session.csrf });
	assert.equal(acc.status, 200, acc.text);
	await log(page).getByText(/joined the chat$/).waitFor();

	// The operator types, then answers.
	op.send({ type: 'typing', conversation: conv, typing: true });
	await dialog(page).getByText(/is typing…$/).waitFor();
	op.send({ type: 'msg', conversation: conv, client_id: 'op-1', body: 'Yes, we do! <b>Free</b> from 50 €.' });
	const theirs = log(page).locator('li.operator');
	await theirs.getByText('Yes, we do! <b>Free</b> from 50 €.').waitFor();
	assert.equal(await log(page).locator('b').count(), 0, 'text, not HTML');
	assert.equal(await dialog(page).getByText(/is typing…$/).count(), 0, 'typing ends with the message');
	assert.equal(await log(page).getAttribute('aria-live'), 'polite');
	await shots(page, 'chat-conversation');
});

test('visitor typing reaches the operator, at most one frame per 2 s', async () => {
	const { page, net } = main;
	const before = net.sent.filter((f) => f.type === 'typing').length;
	const t0 = Date.now();
	const box = visible(dialog(page).getByLabel('Message', { exact: true }));
	await box.click();
	for (const ch of 'What about returns to Vienna') {
		await box.press(ch === ' ' ? 'Space' : ch);
		await sleep(100);
	}
	await op.next((f) => f.type === 'typing' && f.conversation === conv && f.author === 'visitor' && f.typing === true, 'visitor typing');
	const elapsed = Date.now() - t0;
	const typing = net.sent.filter((f) => f.type === 'typing').slice(before);
	assert.ok(typing.length >= 1);
	assert.ok(typing.length <= Math.floor(elapsed / 2000) + 1, `${typing.length} typing frames in ${elapsed} ms`);
	await box.fill('');
	await box.press('Backspace');
});

test('after a page change the conversation is still there, without duplicates', async () => {
	const { page, net } = main;
	const seqBefore = Math.max(...net.received.filter((f) => f.type === 'msg' || f.type === 'ack').map((f) => f.seq || 0));
	const opened = net.opened;
	await page.locator('#next').click();
	await page.waitForURL(/\/shop\/second$/);
	// emma.js reopens the widget by itself: open, as it was.
	await dialog(page).waitFor();
	await waitFor(() => net.opened > opened, { what: 'a new socket' });
	await log(page).getByText('Yes, we do! <b>Free</b> from 50 €.').waitFor();
	await sleep(800); // the resume answer
	assert.equal(await log(page).getByText('Hello, do you ship to Austria?').count(), 1);
	assert.equal(await log(page).getByText('Yes, we do! <b>Free</b> from 50 €.').count(), 1);
	assert.equal(await log(page).getByText(/joined the chat$/).count(), 1);
	const resume = net.sent.filter((f) => f.type === 'resume').at(-1);
	assert.equal(resume.after, seqBefore, 'resume from the last seq displayed');
	// Focus is not taken on a page change.
	assert.equal(await page.evaluate(() => document.getElementById('emma-chat').shadowRoot.activeElement), null);
});

test('messages typed while the connection is down arrive exactly once', async () => {
	const { page, context, net } = main;
	const box = visible(dialog(page).getByLabel('Message', { exact: true }));
	net.down = true;
	await context.setOffline(true);
	net.cut();
	await dialog(page).getByText(/Connection lost/).waitFor();
	await box.fill('Offline one');
	await box.press('Enter');
	await box.fill('Offline two');
	await dialog(page).getByRole('button', { name: 'Send' }).click();
	const pending = log(page).locator('li.visitor [data-state="sending"]');
	assert.equal(await pending.count(), 2, 'both wait in the outbox');
	await sleep(1500); // reconnect attempts fail meanwhile
	net.down = false;
	await context.setOffline(false);
	await waitFor(async () => (await log(page).locator('li.visitor [data-state="sending"]').count()) === 0,
		{ what: 'both acked', timeoutMs: 15_000 });
	await dialog(page).getByText(/Connection lost/).waitFor({ state: 'detached' }).catch(() => {});
	for (const body of ['Offline one', 'Offline two']) {
		await op.next((f) => f.type === 'msg' && f.body === body, body);
		assert.equal(op.frames.filter((f) => f.type === 'msg' && f.body === body).length, 1, `${body} once at the operator`);
		assert.equal(await log(page).getByText(body, { exact: true }).count(), 1, `${body} once in the widget`);
	}
	const stored = await messagesOf(conv);
	for (const body of ['Offline one', 'Offline two']) {
		assert.equal(stored.filter((m) => m.body === body).length, 1, `${body} stored once`);
	}
	// In the order typed
	assert.ok(stored.findIndex((m) => m.body === 'Offline one') < stored.findIndex((m) => m.body === 'Offline two'));
});

test('a message sent just before a page change, whose ack was lost, is stored and shown once', async () => {
	const { page, net } = main;
	const box = visible(dialog(page).getByLabel('Message', { exact: true }));
	// 1: the frame never reaches the server (typed, then the page is left at once).
	assert.equal(net.sockets.length, 1);
	net.holdUp();
	await box.fill('Typed before leaving');
	await box.press('Enter');
	await page.locator('#next').click();
	await page.waitForURL(/\/shop\/second$/);
	await log(page).getByText('Typed before leaving').waitFor();
	await log(page).locator('li.visitor', { hasText: 'Typed before leaving' }).locator('[data-state="sent"]').waitFor();
	const twice = net.sent.filter((f) => f.type === 'msg' && f.body === 'Typed before leaving');
	assert.equal(twice.length, 2, 'held back on the first page, sent from the outbox on the next');
	assert.equal(twice[0].client_id, twice[1].client_id);
	// 2: the server stores it, but the ack is lost; the next page sends it again.
	await waitFor(() => net.sockets.length === 1, { what: 'one socket' });
	net.dropAcks();
	await visible(dialog(page).getByLabel('Message', { exact: true })).fill('Ack lost');
	await visible(dialog(page).getByLabel('Message', { exact: true })).press('Enter');
	await op.next((f) => f.type === 'msg' && f.body === 'Ack lost', 'Ack lost at the operator');
	await page.reload();
	await log(page).locator('li.visitor', { hasText: 'Ack lost' }).locator('[data-state="sent"]').waitFor();
	const resent = net.sent.filter((f) => f.type === 'msg' && f.body === 'Ack lost');
	assert.ok(resent.length >= 2, 'sent again after the reload');
	assert.equal(new Set(resent.map((f) => f.client_id)).size, 1, 'with the same client id');
	await sleep(500);
	const stored = await messagesOf(conv);
	for (const body of ['Typed before leaving', 'Ack lost']) {
		assert.equal(stored.filter((m) => m.body === body).length, 1, `${body} stored once`);
		assert.equal(op.frames.filter((f) => f.type === 'msg' && f.body === body).length, 1, `${body} once at the operator`);
		assert.equal(await log(page).getByText(body, { exact: true }).count(), 1, `${body} once in the widget`);
	}
});

test('keyboard: focus stays in the open window, Esc closes it; every control is named', async () => {
	const { page } = main;
	const root = () => page.evaluate(() => {
		const a = document.getElementById('emma-chat').shadowRoot.activeElement;
		return a ? a.closest('[role=dialog]') !== null : false;
	});
	await visible(dialog(page).getByLabel('Message', { exact: true })).focus();
	for (let i = 0; i < 8; i++) {
		await page.keyboard.press('Tab');
		assert.ok(await root(), `Tab ${i + 1}: focus inside the window`);
	}
	for (let i = 0; i < 4; i++) {
		await page.keyboard.press('Shift+Tab');
		assert.ok(await root(), `Shift+Tab ${i + 1}: focus inside the window`);
	}
	assert.equal(await dialog(page).getAttribute('aria-modal'), 'true');
	await page.keyboard.press('Escape');
	await dialog(page).waitFor({ state: 'hidden' });
	const focused = await page.evaluate(() => {
		const a = document.getElementById('emma-chat').shadowRoot.activeElement;
		return a && a.getAttribute('aria-label');
	});
	assert.equal(focused, 'Open chat');
	assert.equal(await launcher(page).getAttribute('aria-expanded'), 'false');
	await page.keyboard.press('Enter');
	await dialog(page).waitFor();
	// By hand, what axe would check: every button has a name, every field a label.
	const unnamed = await page.evaluate(() => {
		const r = document.getElementById('emma-chat').shadowRoot;
		const bad = [];
		for (const b of r.querySelectorAll('button')) {
			const name = (b.getAttribute('aria-label') || b.textContent || '').trim();
			if (!name) bad.push(b.outerHTML.slice(0, 80));
		}
		for (const f of r.querySelectorAll('input,textarea,select')) {
			if (!f.labels?.length && !f.getAttribute('aria-label')) bad.push(f.outerHTML.slice(0, 80));
		}
		return bad;
	});
	assert.deepEqual(unnamed, []);
});

test('the page and the widget do not style each other; full screen on phones', async () => {
	const { page } = main;
	const st = await page.evaluate(() => {
		const r = document.getElementById('emma-chat').shadowRoot;
		const send = r.querySelector('button[type=submit]');
		const cs = getComputedStyle(send);
		const shop = getComputedStyle(document.getElementById('shop-button'));
		const host = getComputedStyle(document.getElementById('emma-chat'));
		return { hostBorder: host.borderTopWidth, bg: cs.backgroundColor, font: getComputedStyle(r.querySelector('.w')).fontFamily, shopBg: shop.backgroundColor, h1: getComputedStyle(document.querySelector('h1')).fontSize };
	});
	assert.notEqual(st.bg, 'rgb(0, 255, 0)', 'the shop\'s button colour does not reach the widget');
	assert.equal(st.hostBorder, '0px', 'the shop\'s div rule does not reach the host element');
	assert.doesNotMatch(st.font, /Georgia/);
	assert.equal(st.shopBg, 'rgb(0, 255, 0)', 'the shop keeps its own style');
	assert.equal(st.h1, '32px');
	const size = page.viewportSize();
	await page.setViewportSize({ width: 375, height: 740 });
	await sleep(200);
	const box = await dialog(page).boundingBox();
	assert.deepEqual([box.x, box.y, box.width, box.height], [0, 0, 375, 740], 'full screen below 480 px');
	await page.setViewportSize(size);
});

test('the operator closes: rating and transcript request', async () => {
	const { page, net } = main;
	const r = await api(emma.url, 'POST', `/api/v1/conversations/${conv}/close`, {
		cookie: session.cookie, csrf: session.csrf, body: { outcome: 'support' },
	});
	assert.equal(r.status, 200, r.text);
	await dialog(page).getByText('The chat has ended.').first().waitFor();
	assert.equal(await visible(dialog(page).getByLabel('Message', { exact: true })).count(), 0, 'no composer after the end');
	await dialog(page).getByRole('button', { name: 'Send rating' }).click();
	await dialog(page).getByRole('alert').getByText('Please choose 1 to 5 stars.').waitFor();
	await dialog(page).getByRole('radio', { name: '4 of 5 stars' }).check();
	await visible(dialog(page).getByLabel('Comment (optional)')).fill('Quick and friendly');
	await dialog(page).getByRole('button', { name: 'Send rating' }).click();
	await dialog(page).getByText('Thank you for your rating!').waitFor();
	const rate = net.sent.find((f) => f.type === 'rate');
	assert.deepEqual({ rating: rate.rating, comment: rate.comment }, { rating: 4, comment: 'Quick and friendly' });
	const stored = await api(emma.url, 'GET', `/api/v1/conversations/${conv}`, { cookie: session.cookie });
	const c = stored.json.conversation || stored.json;
	assert.deepEqual([c.rating, c.rating_comment], [4, 'Quick and friendly'], 'the rating is stored');
	// The transcript form has the pre-chat e-mail; the mail reaches the SMTP server.
	assert.equal(await visible(dialog(page).getByLabel(/^E-mail/)).inputValue(), 'ann@example.com');
	await dialog(page).getByRole('button', { name: 'Send transcript to my e-mail' }).click();
	await dialog(page).getByText('The transcript is on its way to ann@example.com.').waitFor();
	assert.deepEqual(net.sent.filter((f) => f.type === 'transcript').map((f) => f.email), ['ann@example.com']);
	const [mail] = await smtp.waitForMessages(1);
	assert.match(mail.headers['x-rcptto'] || mail.headers.to, /ann@example\.com/);
	assert.match(mail.text, /Hello, do you ship to Austria\?/);
	assert.match(mail.text, /Offline one/);
	await shots(page, 'chat-ended');
	await main.context.close();
});

async function invite(toVid, message) {
	return api(emma.url, 'POST', `/api/v1/visitors/${toVid}/invite?site=default`, {
		cookie: session.cookie, csrf: session.csrf, body: { message },
	});
}

test('an invitation is shown and accepted; the chat starts with the inviting operator', async (t) => {
	const { page, net } = await visitor(t);
	await page.goto(`${shop.url}/shop/invited`);
	const v = await vidOf(page);
	const r = await invite(v, 'Hello! Can I help you find the right size?');
	assert.ok(r.status === 200 || r.status === 201, `${r.status} ${r.text}`);
	// The next /t answer carries it (pings every 2 s); emma.js loads the chat for it.
	const bubble = page.locator('#emma-chat').getByRole('region', { name: 'Invitation' });
	await bubble.getByText('Hello! Can I help you find the right size?').waitFor({ timeout: 15_000 });
	assert.equal(net.chatLoads, 1);
	await shots(page, 'chat-invitation');
	// Showing it is reported once (the rule statistics count it), nothing else.
	await waitFor(() => net.sent.length > 0, { what: 'invite_shown' });
	assert.deepEqual(net.sent.map((f) => f.type), ['invite_shown']);
	await bubble.getByRole('button', { name: 'Reply' }).click();
	await dialog(page).waitFor();
	await waitFor(() => net.sent.length > 1, { what: 'the answer' });
	assert.deepEqual(net.sent.map((f) => f.type), ['invite_shown', 'invite_accept']);
	assert.ok(net.sent[1].invitation);
	assert.equal(net.sent[1].invitation, net.sent[0].invitation);
	const inv = await api(emma.url, 'GET', '/api/v1/invitations', { cookie: session.cookie });
	assert.ok(inv.json.invitations.some((i) => i.id === net.sent[1].invitation && i.status === 'accepted'), inv.text);
	const c = await op.next((f) => convFrame(v)(f), 'the conversation from the invitation');
	await log(page).getByText(/joined the chat$/).waitFor();
	await log(page).getByText('Hello! Can I help you find the right size?').waitFor();
	assert.equal(await log(page).getByText('Hello! Can I help you find the right size?').count(), 1);
	const box = visible(dialog(page).getByLabel('Message', { exact: true }));
	await box.fill('Yes please, size 42');
	await box.press('Enter');
	await op.next((f) => f.type === 'msg' && f.conversation === c.conversation.id && f.body === 'Yes please, size 42', 'the reply');
	await log(page).locator('li.visitor [data-state="sent"]').waitFor();
	// With the window closed, an answer shows as a count on the launcher.
	await dialog(page).getByRole('button', { name: 'Minimise chat' }).click();
	op.send({ type: 'msg', conversation: c.conversation.id, client_id: 'op-inv-1', body: 'Size 42 is in stock.' });
	await page.locator('#emma-chat').getByRole('button', { name: 'Open chat, 1 new' }).click();
	await log(page).getByText('Size 42 is in stock.').waitFor();
	await launcher(page).and(page.getByRole('button', { name: 'Open chat', exact: true })).waitFor();
	// The visitor ends the chat.
	await dialog(page).getByRole('button', { name: 'End chat' }).click();
	await dialog(page).getByRole('button', { name: 'Send rating' }).waitFor();
	assert.ok(net.sent.some((f) => f.type === 'close'));
	await op.next((f) => f.type === 'conversation' && f.conversation.id === c.conversation.id && f.conversation.status === 'closed',
		'the conversation closed at the operator');
});

test('a dismissed invitation goes away and sends only invite_shown and invite_dismiss', async (t) => {
	const { page, net } = await visitor(t);
	await page.goto(`${shop.url}/shop/dismiss`);
	const v = await vidOf(page);
	const r = await invite(v, 'Need help?');
	assert.ok(r.status === 200 || r.status === 201, `${r.status} ${r.text}`);
	const bubble = page.locator('#emma-chat').getByRole('region', { name: 'Invitation' });
	await bubble.getByText('Need help?').waitFor({ timeout: 15_000 });
	await bubble.getByRole('button', { name: 'Dismiss invitation' }).click();
	await bubble.waitFor({ state: 'hidden' });
	await waitFor(() => net.sent.length > 1, { what: 'the answer' });
	await sleep(300);
	assert.deepEqual(net.sent.map((f) => f.type), ['invite_shown', 'invite_dismiss']);
	assert.equal(await dialog(page).count(), 0, 'the window stays closed');
	// Not shown again on the next page.
	await page.locator('#next').click();
	await page.waitForURL(/\/shop\/second$/);
	await launcher(page).waitFor();
	await sleep(2500);
	assert.equal(await bubble.count(), 0);
});

test('emma.reset() (a logout) closes and forgets the chat of the person before; the next chat is the new visitor\'s', async (t) => {
	// An operator online, so that the widget offers a live chat (also when run alone).
	let ops = op;
	if (!ops || ops.sock.readyState !== WebSocket.OPEN) {
		ops = operator();
		t.after(() => ops.close());
		await ops.opened;
		await ops.next((f) => f.type === 'hello', 'hello');
	}
	const { page, net } = await visitor(t);
	await page.goto(`${shop.url}/shop/logout`);
	const oldVid = await vidOf(page);
	// The person before: a chat, a business card (emma_sent), a draft.
	await launcher(page).click();
	await dialog(page).waitFor();
	await visible(dialog(page).getByLabel('Your question')).fill('Where is my order 1234?');
	await visible(dialog(page).getByLabel(/^E-mail/)).fill('bea@example.com');
	await dialog(page).getByRole('button', { name: 'Start chat' }).click();
	await log(page).locator('li.visitor', { hasText: 'Where is my order 1234?' }).locator('[data-state="sent"]').waitFor();
	const oldConv = (await ops.next((f) => convFrame(oldVid)(f) && f.conversation.status === 'pending',
		'the conversation before the logout')).conversation.id;
	await dialog(page).getByRole('button', { name: 'Leave your details' }).click();
	const card = dialog(page).getByRole('region', { name: 'Leave your details' });
	assert.equal(await card.getByLabel(/^E-mail/).inputValue(), 'bea@example.com');
	await card.getByRole('checkbox', { name: /I agree that my details are stored/ }).check();
	await card.getByRole('button', { name: 'Send details' }).click();
	await card.getByText('Thank you! We have your details and will get back to you.').waitFor();
	await card.getByRole('button', { name: '‹ Back' }).click();
	await visible(dialog(page).getByLabel('Message', { exact: true })).fill('A draft of the person before');
	const kept = await page.evaluate(() => ({ chat: sessionStorage.getItem('emma_chat'), sent: sessionStorage.getItem('emma_sent') }));
	assert.match(kept.chat, /Where is my order 1234\?/);
	assert.ok(JSON.parse(kept.sent).card, 'the business card is remembered in emma_sent');
	assert.equal(net.sockets.length, 1);
	const oldSocket = net.sockets[0];
	const [sentMark, receivedMark] = [net.sent.length, net.received.length];

	// The logout. The window is open, so the chat saves a fresh state at once.
	const right = await page.evaluate(() => {
		emma.reset();
		const r = {
			chat: JSON.parse(sessionStorage.getItem('emma_chat')), sent: sessionStorage.getItem('emma_sent'),
			local: localStorage.getItem('emma_vid'), tracker: emma._vid(),
		};
		// The new visitor's first event: its /t answer gives the tracker a new id, which the
		// chat waits for only briefly (chatAgain, about 2 s) before it connects without one.
		emma.track('after_logout');
		return r;
	});
	assert.deepEqual({ sent: right.sent, local: right.local, tracker: right.tracker }, { sent: null, local: null, tracker: '' });
	const c = right.chat;
	assert.ok(c, 'emma_chat holds a fresh state: the open window saves one at once');
	assert.deepEqual({ open: c.open, vid: c.vid, conv: c.conv, m: c.m, pre: c.pre, start: c.start, hello: c.hello, seq: c.seq },
		{ open: true, vid: '', conv: null, m: [], pre: null, start: null, hello: null, seq: 0 }, 'emma_chat: a fresh state');
	for (const old of ['Where is my order 1234?', 'bea@example.com', oldVid, oldConv]) {
		assert.ok(!JSON.stringify(c).includes(old), `emma_chat keeps nothing of ${old}`);
	}
	// The window stays open; nothing of the person before is drawn.
	assert.ok(await dialog(page).isVisible(), 'the window stays as it was');
	assert.equal(await log(page).getByText('Where is my order 1234?').count(), 0, 'the old message is gone from the log');
	await waitFor(() => !net.sockets.includes(oldSocket), { what: 'the old socket closed' });

	// Under the tracker's new id: a new socket, a hello without the old conversation.
	const newVid = await waitFor(() => page.evaluate(() => localStorage.getItem('emma_vid')), { what: 'the new stored vid' });
	assert.notEqual(newVid, oldVid);
	const hello = await waitFor(() => net.received.slice(receivedMark).find((f) => f.type === 'hello'), { what: 'a hello after the reset' });
	assert.equal(hello.vid, newVid, 'the chat connects under the tracker\'s new vid');
	assert.ok(!hello.conversation, 'no conversation for the new visitor');
	assert.equal(net.sockets.length, 1);
	// The pre-chat form again, empty; the business card can be sent again.
	const email = visible(dialog(page).getByLabel(/^E-mail/));
	await email.waitFor();
	assert.equal(await email.inputValue(), '', 'the e-mail of the person before is not filled in');
	await dialog(page).getByRole('button', { name: 'Leave your details' }).click();
	await card.getByRole('button', { name: 'Send details' }).waitFor();
	assert.equal(await card.getByText('Thank you! We have your details').count(), 0);
	assert.equal(await card.getByLabel(/^E-mail/).inputValue(), '');
	await card.getByRole('button', { name: '‹ Back' }).click();

	// The new visitor's chat is a new conversation under the new vid.
	await visible(dialog(page).getByLabel('Your question')).fill('Hello, I am the next one');
	await email.fill('carl@example.com');
	await dialog(page).getByRole('button', { name: 'Start chat' }).click();
	await log(page).locator('li.visitor', { hasText: 'Hello, I am the next one' }).locator('[data-state="sent"]').waitFor();
	const newConv = (await ops.next((f) => convFrame(newVid)(f) && f.conversation.status === 'pending',
		'the conversation after the logout')).conversation.id;
	assert.notEqual(newConv, oldConv);
	assert.equal(await visible(dialog(page).getByLabel('Message', { exact: true })).inputValue(), '', 'the draft is gone');
	assert.equal(await log(page).getByText('Where is my order 1234?').count(), 0);
	const after = net.sent.slice(sentMark);
	assert.ok(!after.some((f) => f.type === 'resume' || f.body === 'Where is my order 1234?' || f.body === 'A draft of the person before'),
		JSON.stringify(after));
	const r = await api(emma.url, 'GET', '/api/v1/conversations?status=pending', { cookie: session.cookie });
	assert.equal(r.status, 200, r.text);
	const byId = Object.fromEntries((r.json.conversations || []).map((x) => [x.id, x.vid]));
	assert.deepEqual([byId[oldConv], byId[newConv]], [oldVid, newVid]);
	assert.deepEqual((await messagesOf(newConv)).filter((m) => m.author === 'visitor').map((m) => m.body), ['Hello, I am the next one']);
	assert.deepEqual((await messagesOf(oldConv)).filter((m) => m.author === 'visitor').map((m) => m.body), ['Where is my order 1234?']);

	// A reload restores the new chat, not the old one.
	const reloadMark = net.received.length;
	await page.reload();
	await dialog(page).waitFor();
	await log(page).locator('li.visitor', { hasText: 'Hello, I am the next one' }).waitFor();
	const again = await waitFor(() => net.received.slice(reloadMark).find((f) => f.type === 'hello'), { what: 'the hello after the reload' });
	assert.equal(again.vid, newVid);
	assert.equal(again.conversation && again.conversation.id, newConv);
	await sleep(500); // the resume answer
	assert.equal(await log(page).getByText('Where is my order 1234?').count(), 0, 'the old conversation is not restored');
	assert.doesNotMatch(await page.evaluate(() => sessionStorage.getItem('emma_chat')), /Where is my order 1234\?|bea@example\.com/);
});

test('no page errors', async () => {
	await op?.close();
	assert.deepEqual(pageErrors, []);
});
