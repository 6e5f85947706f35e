// The emma.js tracker in Chromium against the real emma server.
//
// Each test gets its own shop: a tiny node http server on another loopback port serving
// tests/browser/pages/ with the Emma tag, so the tracker runs cross-origin as in a real shop.
// The tag points at a recording relay in front of emma (which forwards every request and
// answer unchanged) because Playwright does not report the beacons a page sends while it is
// being left, and those matter here. Checks are on what the tracker sent, what the server
// answered, and what GET /api/v1/visitors/live shows once that endpoint exists.
// Server failures (503, 400) are played by the relay instead of emma.
//
//   EMMA_BIN=./emma node --test tests/browser/tracker.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { api, login, sleep, startEmma, waitFor } from '../e2e/lib/emma.mjs';

const PAGES = join(dirname(fileURLToPath(import.meta.url)), 'pages');
const LAUNCH = {
	executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
	args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync'],
};
const HOP = ['connection', 'keep-alive', 'transfer-encoding', 'content-length'];

let emma, browser, userAgent;

function listen(srv) {
	return new Promise((res) => srv.listen(0, '127.0.0.1', () => res(`http://127.0.0.1:${srv.address().port}`)));
}

/**
 * The relay: forwards everything to emma and records each POST /t as
 * { body, beacon, origin, ctype, status, answer } (status is set last, with the answer).
 * rec.fail(batch) may return { status, body } to answer in emma's place.
 */
async function startRelay(server) {
	const rec = { batches: [], warnings: [], fail: null };
	const srv = http.createServer(async (req, res) => {
		const chunks = [];
		for await (const c of req) chunks.push(c);
		const body = Buffer.concat(chunks);
		let b = null;
		if (req.method === 'POST' && req.url === '/t') {
			b = {
				body: JSON.parse(body.toString('utf8')),
				beacon: req.headers['sec-fetch-mode'] === 'no-cors', // sendBeacon; fetch() is cors
				origin: req.headers.origin,
				ctype: req.headers['content-type'],
				status: null,
				answer: null,
			};
			rec.batches.push(b);
			const fake = rec.fail && rec.fail(b);
			if (fake) {
				b.answer = fake.body || null;
				b.status = fake.status;
				res.writeHead(fake.status, { 'Access-Control-Allow-Origin': '*', 'Content-Type': 'application/json' });
				res.end(fake.body ? JSON.stringify(fake.body) : '');
				return;
			}
		}
		const headers = { ...req.headers, host: `127.0.0.1:${server.port}` };
		delete headers['accept-encoding'];
		const up = http.request({ host: '127.0.0.1', port: server.port, method: req.method, path: req.url, headers }, (r) => {
			const out = [];
			r.on('data', (c) => out.push(c));
			r.on('end', () => {
				const buf = Buffer.concat(out);
				if (b) {
					try { b.answer = JSON.parse(buf.toString('utf8')); } catch { b.answer = buf.toString('utf8'); }
					b.status = r.statusCode;
				}
				const h = Object.fromEntries(Object.entries(r.headers).filter(([k]) => !HOP.includes(k)));
				res.writeHead(r.statusCode, h);
				res.end(buf);
			});
		});
		up.on('error', () => {
			if (b) b.status = 502;
			res.writeHead(502).end();
		});
		up.end(body);
	});
	rec.url = await listen(srv);
	rec.close = () => { srv.closeAllConnections(); srv.close(); };
	rec.events = (pred = () => true) => rec.batches.flatMap((x) => x.body.events).filter(pred);
	rec.find = (pred, what, timeoutMs = 8000) =>
		waitFor(() => rec.events().find(pred), { what, timeoutMs, intervalMs: 50 });
	/** The batch that carried event e, once it was answered. */
	rec.answered = (e, what = 'an answer') =>
		waitFor(() => rec.batches.find((x) => x.body.events.includes(e) && x.status), { what });
	rec.batchOf = (e) => rec.batches.find((x) => x.body.events.includes(e));
	return rec;
}

/** The shop: pages/NAME.html with the Emma tag; ?ping=&consent= become data-* attributes. */
async function startShop(emmaUrl) {
	const srv = http.createServer((req, res) => {
		const u = new URL(req.url, 'http://shop');
		const name = u.pathname === '/' || u.pathname.startsWith('/shop/') ? 'shop.html' : u.pathname.slice(1);
		let html;
		try {
			if (!/^[a-z]+\.html$/.test(name)) throw new Error('no such page');
			html = readFileSync(join(PAGES, name), 'utf8');
		} catch {
			res.writeHead(404).end('not found');
			return;
		}
		let attrs = 'data-site="default"';
		for (const k of ['ping', 'consent']) {
			if (u.searchParams.has(k)) attrs += ` data-${k}="${u.searchParams.get(k).replace(/\W/g, '')}"`;
		}
		const tag = `<script async src="${emmaUrl}/emma.js" ${attrs}></script>`;
		res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
		res.end(html.replace('<!--emma-->', tag));
	});
	const url = await listen(srv);
	return { url, close: () => { srv.closeAllConnections(); srv.close(); } };
}

/**
 * A relay, a shop and a fresh browser context (own storage) with one page on path.
 * opts: { init (init script), fail (see startRelay), beforeGoto(page), server (default emma) }
 */
async function open(t, path = '/shop.html', { init, fail, beforeGoto, server = emma } = {}) {
	const rec = await startRelay(server);
	rec.fail = fail || null;
	const shop = await startShop(rec.url);
	const context = await browser.newContext({ userAgent });
	t.after(async () => {
		await context.close();
		shop.close();
		rec.close();
	});
	if (init) await context.addInitScript(init);
	const page = await context.newPage();
	page.on('console', (m) => {
		if (m.type() === 'warning' && m.text().startsWith('emma:')) rec.warnings.push(m.text());
	});
	if (beforeGoto) await beforeGoto(page);
	await page.goto(shop.url + path);
	await page.waitForFunction(() => window.emma && window.emma._v);
	return { context, page, rec, shop };
}

const isType = (type, extra = () => true) => (e) => e.type === type && extra(e);

before(async () => {
	emma = await startEmma();
	browser = await chromium.launch(LAUNCH);
	// Emma does not record bots, and "HeadlessChrome" is one: present as the desktop Chrome it is.
	userAgent = `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${browser.version()} Safari/537.36`;
});

after(async () => {
	await browser?.close();
	await emma?.stop();
});

test('pageview on load, queued calls, batching, and the vid round trip', async (t) => {
	const { page, rec, shop } = await open(t, '/queue.html');

	const pv = await rec.find(isType('pageview'), 'the first pageview');
	assert.equal(pv.url, `${shop.url}/queue.html`);
	assert.equal(pv.title, 'Queue shop');
	assert.equal(pv.ref, '');
	assert.ok(Math.abs(pv.ts - Date.now()) < 10000, 'ts is ms since the epoch');

	// Calls made before emma.js loaded (queue snippet) travel in the same request.
	const first = rec.batches.find((b) => b.body.events.includes(pv));
	assert.equal(first.body.site, 'default');
	assert.equal(first.body.vid, undefined, 'no vid known yet');
	assert.deepEqual(first.body.events.map((e) => e.type), ['pageview', 'event', 'search']);
	assert.deepEqual(first.body.events[1].props, { list: 'weekly' });
	assert.equal(first.body.events[1].name, 'newsletter_signup');
	assert.equal(first.body.events[2].query, 'red shoes');
	assert.equal(first.body.events[2].results, 12);
	await waitFor(() => first.ctype, { what: 'the request headers' });
	assert.equal(first.ctype.split(';')[0], 'text/plain', 'a simple request: no CORS preflight');
	assert.equal(first.origin, shop.url, 'sent cross-origin from the shop');

	await waitFor(() => first.status, { what: 'the answer to the first batch' });
	assert.equal(first.status, 200, JSON.stringify(first.answer));
	const vid = first.answer.vid;
	assert.ok(typeof vid === 'string' && vid.length > 0, 'the server returns a vid');
	// The relay saw the answer before the page did: wait for the page to store it.
	await waitFor(() => page.evaluate(() => localStorage.getItem('emma_vid')), { what: 'the stored vid' });
	assert.equal(await page.evaluate(() => localStorage.getItem('emma_vid')), vid);

	// Several calls within a second: one request. Both API styles work after load.
	await page.evaluate(() => {
		emma.cart('add', { sku: 'SKU-1', qty: 2, price: 9.5, total: 19 });
		emma('identify', { email: 'ann@example.com', name: 'Ann' });
		emma.order({ id: 'A-100', total: 19, items: [{ sku: 'SKU-1', qty: 2, price: 9.5 }] });
	});
	const cart = await rec.find(isType('cart'), 'the cart event');
	assert.deepEqual({ ...cart, ts: 0 }, { type: 'cart', action: 'add', sku: 'SKU-1', qty: 2, price: 9.5, total: 19, ts: 0 });
	const batch = rec.batches.find((b) => b.body.events.includes(cart));
	assert.deepEqual(batch.body.events.map((e) => e.type), ['cart', 'identify', 'order']);
	assert.equal(batch.body.vid, vid, 'later batches carry the stored vid');
	assert.deepEqual(batch.body.events[1].email, 'ann@example.com');
	assert.deepEqual(batch.body.events[2].items, [{ sku: 'SKU-1', qty: 2, price: 9.5 }]);
	await waitFor(() => batch.status, { what: 'the answer to the cart batch' });
	assert.equal(batch.status, 200, JSON.stringify(batch.answer));

	// A new page of the same visitor sends the stored vid from the start.
	await page.click('#next');
	const pv2 = await rec.find(isType('pageview', (e) => e.url.endsWith('page=2')), 'the second pageview');
	assert.equal(rec.batches.find((b) => b.body.events.includes(pv2)).body.vid, vid);
	assert.equal(pv2.ref, `${shop.url}/queue.html`);

	// What the server made of it, once the live list exists.
	const probe = await api(emma.url, 'GET', '/api/v1/visitors/live');
	if (probe.status === 404) {
		t.diagnostic('GET /api/v1/visitors/live is not there yet: checked the /t answers only');
		return;
	}
	const auth = await login(emma.url, emma.adminEmail, emma.adminPassword);
	const live = await waitFor(async () => {
		const r = await api(emma.url, 'GET', '/api/v1/visitors/live', auth);
		assert.equal(r.status, 200, r.text);
		const v = r.json.visitors.find((x) => x.vid === vid);
		return v && v.current_url.endsWith('page=2') && v;
	}, { what: `visitor ${vid} on page 2 in the live list` });
	assert.equal(live.pages, 2, JSON.stringify(live));
	assert.equal(live.contact, 'ann@example.com');
	assert.equal(live.cart_total, 0, 'the order emptied the cart');
});

test('single-page navigation: pushState, replaceState, hashchange, popstate', async (t) => {
	const { page, rec, shop } = await open(t, '/shop.html');
	const start = `${shop.url}/shop.html`;
	await rec.find(isType('pageview'), 'the first pageview');

	await page.evaluate(() => {
		history.pushState({}, '', '/shop/item-2');
		document.title = 'Item 2';
	});
	const pv = await rec.find(isType('pageview', (e) => e.url.endsWith('/shop/item-2')), 'the pushState pageview');
	assert.equal(pv.ref, start);
	assert.equal(pv.title, 'Item 2', 'the title the app set right after pushState');

	await page.evaluate(() => history.replaceState({ x: 1 }, '', location.href)); // same URL: no pageview
	await page.evaluate(() => { location.hash = 'reviews'; });
	await rec.find(isType('pageview', (e) => e.url.endsWith('#reviews')), 'the hashchange pageview');
	await page.evaluate(() => history.back()); // popstate (and hashchange): one pageview
	await waitFor(() => rec.events(isType('pageview')).length === 4, { what: 'the popstate pageview' });
	await sleep(1500);

	const urls = rec.events(isType('pageview')).map((e) => e.url.slice(shop.url.length));
	assert.deepEqual(urls, ['/shop.html', '/shop/item-2', '/shop/item-2#reviews', '/shop/item-2']);
	await waitFor(() => rec.batches.every((b) => b.status), { what: 'answers' });
	for (const b of rec.batches) assert.equal(b.status, 200, JSON.stringify(b.answer));
});

test('pings count visible time only and flush on hide', async (t) => {
	const { page, rec } = await open(t, '/shop.html?ping=5');

	const ping = await rec.find(isType('ping'), 'a ping after 5 s of visible time', 10000);
	assert.equal(ping.active_s, 5);
	await waitFor(() => rec.batches.find((b) => b.body.events.includes(ping))?.status, { what: 'its answer' });
	assert.equal(rec.batches.find((b) => b.body.events.includes(ping)).status, 200);

	// Hide the tab (as the browser would report it): the unsent remainder goes by beacon,
	// then no more pings.
	await sleep(1200);
	await page.evaluate(() => {
		Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
		document.dispatchEvent(new Event('visibilitychange'));
	});
	await sleep(300);
	const hidden = rec.events(isType('ping')).length;
	const rest = rec.events(isType('ping')).at(-1);
	assert.ok(rest !== ping && rest.active_s >= 1 && rest.active_s <= 4, `remainder sent on hide: ${JSON.stringify(rest)}`);
	assert.equal(rec.batches.find((b) => b.body.events.includes(rest)).beacon, true, 'sent with sendBeacon');
	await sleep(4500);
	assert.equal(rec.events(isType('ping')).length, hidden, 'no pings while hidden');

	await page.evaluate(() => {
		delete document.visibilityState; // back to the real (visible) one
		document.dispatchEvent(new Event('visibilitychange'));
	});
	await rec.find((e) => e.type === 'ping' && rec.events(isType('ping')).indexOf(e) >= hidden, 'pings again when visible', 9000);
});

test('pings stop after 60 s without input and resume with it', async (t) => {
	const { page, rec } = await open(t, '/shop.html?ping=10', { beforeGoto: (p) => p.clock.install() });
	// From here on only runFor moves the page's clock.
	await page.clock.pauseAt(await page.evaluate(() => Date.now() + 100));
	const pings = () => rec.events(isType('ping')).map((e) => e.active_s);
	const sum = () => pings().reduce((a, n) => a + n, 0);
	await page.clock.runFor(120_000); // 2 minutes without any input
	await waitFor(() => sum() >= 60, { what: 'a minute of pings' });
	await sleep(300);
	assert.deepEqual(pings(), [10, 10, 10, 10, 10, 10], 'active time ends 60 s after the last input');

	await page.clock.runFor(5_000);
	await page.mouse.move(100, 100); // input again after 65 s of idleness
	await page.clock.runFor(32_000); // + a 1 s tick out of step with the input + the 1 s batch delay
	await waitFor(() => sum() >= 90, { what: 'pings after new input' });
	await sleep(300);
	assert.deepEqual(pings(), [10, 10, 10, 10, 10, 10, 10, 10, 10]);
});

test('exit intent once per page, through the top edge only', async (t) => {
	const { page, rec } = await open(t, '/shop.html');
	await rec.find(isType('pageview'), 'the pageview');
	const leave = (y) => page.evaluate((clientY) => {
		document.body.dispatchEvent(new MouseEvent('mouseout', { bubbles: true, clientY, relatedTarget: null }));
	}, y);
	await leave(300); // leaving through the bottom or a side: nothing
	await leave(-2);
	await leave(-5);
	await rec.find(isType('event', (e) => e.name === 'exit_intent'), 'the exit_intent event');
	await sleep(1500);
	assert.equal(rec.events(isType('event', (e) => e.name === 'exit_intent')).length, 1);
});

test('events of a page that is left at once arrive by beacon', async (t) => {
	const { page, rec } = await open(t, '/shop.html');
	await rec.find(isType('pageview'), 'the pageview');
	await page.evaluate(() => emma.track('leaving', { n: 1 }));
	await page.click('#next'); // well before the 1 s batch timer
	const e = await rec.find(isType('event', (x) => x.name === 'leaving'), 'the event of the left page');
	assert.equal(rec.batchOf(e).beacon, true, 'sent with sendBeacon');
	await rec.find(isType('pageview', (x) => x.url.endsWith('page=2')), 'the next pageview');
	assert.equal(rec.events(isType('event', (x) => x.name === 'leaving')).length, 1, 'sent once');
});

test('failed batches are retried with backoff and survive a navigation', async (t) => {
	let failing = true;
	const { page, rec, shop } = await open(t, '/shop.html', {
		fail: () => failing && { status: 503 },
	});
	await page.evaluate(() => emma.track('retry_me'));
	await waitFor(() => rec.batches.filter((b) => b.status === 503).length >= 2, { what: 'a retry', timeoutMs: 10000 });
	const stored = await page.evaluate(() => JSON.parse(sessionStorage.getItem('emma_q')));
	assert.deepEqual(stored.map((e) => e.name || e.type), ['pageview', 'retry_me']);

	// Bounded: at most 200 unsent events are kept, the oldest go first.
	await page.evaluate(() => { for (let i = 0; i < 250; i++) emma.track('bulk', { i }); });
	const kept = await page.evaluate(() => JSON.parse(sessionStorage.getItem('emma_q')));
	assert.equal(kept.length, 200);
	assert.deepEqual(kept.at(-1).props, { i: 249 });

	// The next page sends what the last one could not, once the server is back.
	await page.evaluate(() => emma.track('last_one'));
	await page.goto(`${shop.url}/shop.html?page=2`);
	failing = false;
	const last = await rec.find((e) => e.name === 'last_one' && rec.batches.some((b) => b.body.events.includes(e) && b.status === 200),
		'the old events delivered from the next page', 15000);
	const b = rec.batches.find((x) => x.body.events.includes(last) && x.status === 200);
	assert.ok(b.body.events.length <= 100);
	await waitFor(() => page.evaluate(() => sessionStorage.getItem('emma_q') === null), { what: 'an empty queue' });
	const delivered = rec.batches.filter((x) => x.status === 200).flatMap((x) => x.body.events);
	// last_one, the remaining active time (a ping on pagehide) and the new pageview pushed out
	// the oldest: what arrives is an unbroken run of the newest.
	const bulk = delivered.filter((e) => e.name === 'bulk').map((e) => e.props.i).sort((a, b) => a - b);
	assert.ok(bulk.length >= 196 && bulk.length <= 199, `${bulk.length} bulk events`);
	assert.deepEqual(bulk, [...Array(bulk.length).keys()].map((i) => 250 - bulk.length + i));
	assert.equal(delivered.filter((e) => e.name === 'last_one').length, 1, 'no event twice');
	assert.ok(delivered.some((e) => e.type === 'pageview' && e.url.endsWith('page=2')));
});

test('a 400 is not retried and is logged once', async (t) => {
	const error = { error: { code: 'invalid_event', message: 'unknown event type', field: 'events[0].type' } };
	const { page, rec } = await open(t, '/shop.html', {
		fail: () => ({ status: 400, body: error }),
	});
	await rec.find(isType('pageview'), 'the pageview');
	await page.evaluate(() => emma.track('second'));
	await rec.find(isType('event'), 'the second batch');
	await sleep(5000);
	assert.equal(rec.batches.length, 2, 'each batch sent once');
	assert.deepEqual(rec.warnings, ['emma: batch refused (400): unknown event type events[0].type']);
	assert.equal(await page.evaluate(() => sessionStorage.getItem('emma_q')), null);
});

test('an event the server refuses does not take the rest of its batch along', async (t) => {
	const { page, rec } = await open(t);
	await rec.answered(await rec.find(isType('pageview'), 'the pageview'));
	await page.evaluate(() => {
		emma.track('before');
		emma.identify({ email: 'not an address' });
		emma.track('after');
	});
	await waitFor(() => rec.batches.length >= 3 && rec.batches.every((b) => b.status), { what: 'the batch and its resend' });
	const [, refused, resent] = rec.batches;
	assert.equal(refused.status, 422, JSON.stringify(refused.answer));
	assert.equal(refused.answer.error.field, 'events[1].email');
	assert.deepEqual(resent.body.events.map((e) => e.name), ['before', 'after']);
	assert.equal(resent.status, 200, JSON.stringify(resent.answer));
	assert.equal(rec.batches.length, 3);
	assert.equal(rec.warnings.length, 1);
	assert.match(rec.warnings[0], /^emma: batch refused \(422\): .*e-mail.* events\[1\]\.email$/);
});

test('a backlog goes out in requests of at most 100 events and 60 000 bytes', async (t) => {
	let failing = true;
	const { page, rec } = await open(t, '/shop.html', { fail: () => failing && { status: 503 } });
	await waitFor(() => rec.batches.some((b) => b.status === 503), { what: 'a failed first batch' });
	// While the tracker backs off, events pile up instead of going out 20 at a time.
	await page.evaluate(() => {
		for (let i = 0; i < 150; i++) emma.track('small', { i });
		for (let i = 0; i < 40; i++) emma.track('big', { i, pad: 'x'.repeat(3000) });
	});
	failing = false;
	const ok = () => rec.batches.filter((b) => b.status === 200);
	const names = (n) => ok().flatMap((b) => b.body.events).filter((e) => e.name === n).map((e) => e.props.i);
	await waitFor(() => names('small').length === 150 && names('big').length === 40, { what: 'the backlog', timeoutMs: 15000 });
	const sizes = ok().map((b) => [b.body.events.length, Buffer.byteLength(JSON.stringify(b.body))]);
	for (const [n, bytes] of sizes) {
		assert.ok(n <= 100 && bytes <= 65536, JSON.stringify(sizes));
	}
	assert.ok(sizes.some(([n]) => n === 100), `one request full by count: ${JSON.stringify(sizes)}`);
	assert.ok(sizes.some(([, bytes]) => bytes > 50000), `one request full by size: ${JSON.stringify(sizes)}`);
	const sorted = (a) => [...a].sort((x, y) => x - y);
	assert.deepEqual(sorted(names('small')), [...Array(150).keys()]);
	assert.deepEqual(sorted(names('big')), [...Array(40).keys()]);
});

for (const [what, init] of [
	['Do-Not-Track', () => Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1' })],
	['Global Privacy Control', () => Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true })],
]) {
	test(`${what}: nothing is sent or stored`, async (t) => {
		const { page, rec, shop } = await open(t, '/queue.html?ping=1', { init });
		await page.evaluate(() => {
			emma.track('x');
			emma.cart('add', { sku: 'A', qty: 1, price: 1, total: 1 });
			emma.consent(true);
			history.pushState({}, '', '/shop/other');
		});
		await sleep(2500);
		await page.click('h1');
		await page.goto(`${shop.url}/shop.html`);
		await sleep(500);
		assert.equal(rec.batches.length, 0);
		assert.deepEqual(await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]), [0, 0, '']);
	});
}

test('consent required: no vid and no storage until consent(true); consent(false) forgets', async (t) => {
	// A server in consent mode too: it answers cookieless ids (vid null) until consent.
	const strict = await startEmma({ t, env: { EMMA_PRIVACY_CONSENT_REQUIRED: 'true' } });
	const { context, page, rec, shop } = await open(t, '/shop.html?consent=required', { server: strict });
	const storage = () => page.evaluate(() => ({ local: localStorage.length, session: sessionStorage.length, cookie: document.cookie }));
	const pv = await rec.find(isType('pageview'), 'the pageview');
	const first = await rec.answered(pv);
	assert.equal(first.status, 200, JSON.stringify(first.answer));
	assert.equal(first.body.vid, undefined);
	assert.equal(first.answer.vid, null, 'a cookieless visitor');
	await page.evaluate(() => emma.track('before_consent'));
	const e = await rec.find(isType('event'), 'an event before consent');
	assert.equal((await rec.answered(e)).body.vid, undefined);
	assert.deepEqual(await storage(), { local: 0, session: 0, cookie: '' });
	assert.deepEqual(await context.cookies(), []);

	await page.evaluate(() => emma.consent(true));
	const granted = await rec.find(isType('consent'), 'the consent event');
	assert.equal(granted.granted, true);
	const b = await rec.answered(granted);
	assert.equal(b.status, 200, JSON.stringify(b.answer));
	const vid = await waitFor(() => page.evaluate(() => localStorage.getItem('emma_vid')), { what: 'a stored vid' });
	assert.equal(vid, b.answer.vid);

	// Remembered on the next page: the vid goes along from the start.
	await page.goto(`${shop.url}/shop.html?consent=required&page=2`);
	const pv2 = await rec.find(isType('pageview', (x) => x.url.includes('page=2')), 'the second pageview');
	assert.equal(rec.batches.find((x) => x.body.events.includes(pv2)).body.vid, vid);
	await page.evaluate(() => emma.consent(true)); // a CMP calling it on every page: no new event
	await page.evaluate(() => emma.consent(false));
	const revoked = await rec.find(isType('consent', (x) => !x.granted), 'the revocation');
	assert.equal(rec.events(isType('consent')).length, 2);
	const rb = await rec.answered(revoked);
	assert.equal(rb.body.vid, undefined);
	assert.equal(rb.status, 200);
	assert.equal(rb.answer.vid, null, 'cookieless again');
	await sleep(200);
	assert.deepEqual(await storage(), { local: 0, session: 0, cookie: '' });
});

const storedVid = (page) => page.evaluate(() => localStorage.getItem('emma_vid'));

test('reset(): what follows is a new visitor, and nothing of it lands on the old one', async (t) => {
	const { page, rec } = await open(t, '/shop.html');
	const a = await waitFor(() => storedVid(page), { what: 'the stored vid A' });

	// Queued (the 1 s timer has not run), then reset: it goes out at once, under A.
	const right = await page.evaluate(() => {
		emma.track('before_reset');
		emma.reset();
		return { local: localStorage.getItem('emma_vid'), queue: sessionStorage.getItem('emma_q'), vid: emma._vid() };
	});
	assert.deepEqual(right, { local: null, queue: null, vid: '' });
	const before = await rec.find(isType('event', (e) => e.name === 'before_reset'), 'the event queued before reset');
	const old = await rec.answered(before);
	assert.equal(old.body.vid, a, 'sent under the old vid');
	assert.equal(old.status, 200, JSON.stringify(old.answer));
	assert.equal(old.answer.vid, a);
	await sleep(300);
	assert.equal(await storedVid(page), null, 'the answer to a batch sent before reset does not bring A back');

	await page.evaluate(() => {
		emma.track('after_reset');
		history.pushState({}, '', '/shop/after-reset');
	});
	const ev = await rec.find(isType('event', (e) => e.name === 'after_reset'), 'the event after reset');
	const nb = await rec.answered(ev);
	assert.equal(nb.body.vid, undefined, 'the first batch after reset carries no vid');
	assert.equal(nb.status, 200, JSON.stringify(nb.answer));
	assert.ok(nb.body.events.some(isType('pageview', (e) => e.url.endsWith('/shop/after-reset'))));
	const b = await waitFor(() => storedVid(page), { what: 'a new stored vid B' });
	assert.equal(b, nb.answer.vid);
	assert.notEqual(b, a);

	// What the server made of it: each event on its own visitor.
	const auth = await login(emma.url, emma.adminEmail, emma.adminPassword);
	const profile = async (vid) => {
		const r = await api(emma.url, 'GET', `/api/v1/visitors/${vid}`, auth);
		assert.equal(r.status, 200, r.text);
		const visits = r.json.visits;
		return {
			events: visits.flatMap((v) => v.events).filter((e) => e.type === 'event').map((e) => e.name),
			pages: visits.flatMap((v) => v.pages).map((p) => new URL(p.url).pathname),
		};
	};
	const pb = await waitFor(async () => {
		const p = await profile(b);
		return p.events.includes('after_reset') && p;
	}, { what: `after_reset on visitor B ${b}` });
	assert.deepEqual(pb, { events: ['after_reset'], pages: ['/shop/after-reset'] });
	const pa = await profile(a);
	assert.deepEqual(pa, { events: ['before_reset'], pages: ['/shop.html'] });
});

test('reset(): batches sent before it that fail are dropped, not resent under the next visitor', async (t) => {
	const refused = { error: { code: 'invalid_field', message: 'bad name', field: 'events[0].name' } };
	const { page, rec } = await open(t, '/shop.html', {
		fail: (x) => {
			const names = x.body.events.map((e) => e.name);
			if (names.includes('doomed')) return { status: 503 }; // retry path
			if (names.includes('refused')) return { status: 422, body: refused }; // resend-the-rest path
			return null;
		},
	});
	const a = await waitFor(() => storedVid(page), { what: 'the stored vid A' });
	const batchesWith = (name) => rec.batches.filter((x) => x.body.events.some((e) => e.name === name));

	await page.evaluate(() => {
		emma.track('doomed');
		emma.reset();
	});
	await waitFor(() => batchesWith('doomed')[0]?.status, { what: 'the 503' });
	await page.evaluate(() => emma.track('after_503'));
	const b = await waitFor(() => storedVid(page), { what: 'a new stored vid B' });
	assert.notEqual(b, a);
	await sleep(2500); // a retry would come after 1 to 2 s
	assert.deepEqual(batchesWith('doomed').map((x) => [x.body.vid, x.status]), [[a, 503]], 'sent once, under A');
	assert.equal(await page.evaluate(() => sessionStorage.getItem('emma_q')), null, 'not kept for the next page either');
	assert.equal(batchesWith('after_503')[0].body.vid, undefined);

	await page.evaluate(() => {
		emma.track('refused');
		emma.track('kept');
		emma.reset();
	});
	await waitFor(() => batchesWith('refused')[0]?.status, { what: 'the 422' });
	await page.evaluate(() => emma.track('after_422'));
	const c = await waitFor(async () => { const v = await storedVid(page); return v !== b && v; }, { what: 'a new stored vid C' });
	assert.notEqual(c, a);
	await sleep(500);
	assert.deepEqual(batchesWith('kept').map((x) => [x.body.vid, x.status]), [[b, 422]], 'the rest of the refused batch is not resent');
	assert.equal(batchesWith('after_422')[0].body.vid, undefined);
	assert.equal(await storedVid(page), c);
});

test('emma._load injects a widget module once', async (t) => {
	const { page, rec } = await open(t, '/shop.html');
	const srcs = await page.evaluate(async () => {
		const a = emma._load('chat').catch(() => 'failed');
		const b = emma._load('chat').catch(() => 'failed');
		await Promise.all([a, b]);
		const bad = await emma._load('../x').catch((e) => e.message);
		return { bad, scripts: [...document.querySelectorAll('script[type=module]')].map((s) => s.src) };
	});
	assert.deepEqual(srcs.scripts, [`${rec.url}/widget/chat.js`]);
	assert.match(srcs.bad, /bad widget name/);
});
