// The widget's self-service and CRM forms (web/widget/chat.js) in Chromium against the real
// emma binary: knowledge-base answers while the visitor types a question (articles opened
// inline, "Yes" counted as a deflection, "Ask an operator" as an escalation), the business
// card, call-me-back and "delete my data".
//
// The shop page (tests/browser/pages/chat-shop.html) is served by a node http server on
// another loopback port, so the widget talks to Emma cross-origin as on a real shop.
//
//   make && EMMA_BIN=$PWD/emma node --test tests/browser/widget-selfservice.test.mjs
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

const PAGES = join(dirname(fileURLToPath(import.meta.url)), 'pages');
const LAUNCH = {
	executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
	args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync'],
};
const SHOTS = process.env.EMMA_SHOTS || '';
const pageErrors = [];

let emma, browser, shop, userAgent, session;
const ids = {}; // article ids by name

/** The shop: every path is pages/chat-shop.html with the Emma tag; ?lang= becomes data-lang. */
function startShop(emmaUrl) {
	const html = readFileSync(join(PAGES, 'chat-shop.html'), 'utf8');
	const srv = http.createServer((req, res) => {
		if (req.url === '/favicon.ico' || req.url.startsWith('/img/')) return res.writeHead(404).end();
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

async function shots(page, name) {
	if (!SHOTS) return;
	mkdirSync(SHOTS, { recursive: true });
	const size = page.viewportSize();
	for (const [w, h] of [[375, 740], [1280, 800]]) {
		await page.setViewportSize({ width: w, height: h });
		await sleep(250);
		await page.screenshot({ path: join(SHOTS, `${name}-${w}.png`) });
	}
	await page.setViewportSize(size);
}

/** A visitor in its own browser context; requests to Emma's REST API are recorded. */
async function visitor(t, { locale = 'en-US', timezoneId = 'Europe/Berlin', viewport = { width: 1280, height: 800 } } = {}) {
	const context = await browser.newContext({ locale, timezoneId, userAgent, viewport });
	t.after(() => context.close());
	const page = await context.newPage();
	page.setDefaultTimeout(10_000);
	page.on('pageerror', (e) => pageErrors.push(e.message));
	const calls = [];
	page.on('request', (r) => {
		const u = new URL(r.url());
		if (u.pathname.startsWith('/api/v1/')) calls.push({ method: r.method(), path: u.pathname, query: u.searchParams, body: r.postData() });
	});
	return { context, page, calls };
}

const launcher = (page) => page.locator('#emma-chat').getByRole('button', { name: /^(Open chat|Chat öffnen)/ });
const dialog = (page) => page.getByRole('dialog');
const suggestions = (page) => dialog(page).getByRole('region', { name: /^(Suggested answers|Antwortvorschläge)$/ });
const visible = (l) => l.filter({ visible: true });
const shadow = (page, fn, arg) => page.evaluate(([src, a]) => (0, eval)(src)(document.getElementById('emma-chat').shadowRoot, a), [String(fn), arg]);

async function vidOf(page) {
	await page.waitForFunction(() => window.emma && window.emma._vid && window.emma._vid(), null, { timeout: 10_000 });
	return page.evaluate(() => window.emma._vid());
}

/** The operator's console socket: while it is open, the site is available for chats. */
function operator() {
	const sock = new WebSocket(`ws://127.0.0.1:${emma.port}/ws/operator`, { headers: { cookie: session.cookie, origin: emma.url } });
	return {
		opened: new Promise((res, rej) => { sock.once('open', res); sock.once('error', rej); }),
		close: () => new Promise((res) => { sock.once('close', res); sock.close(); }),
	};
}

const A = (method, path, body) => api(emma.url, method, path, { cookie: session.cookie, csrf: session.csrf, body });

before(async () => {
	emma = await startEmma({
		env: {
			EMMA_CHAT_ROUTING: 'broadcast', EMMA_CHAT_OFFLINE_GRACE_S: '1',
			EMMA_TRACK_RATE_PER_S: '1000', EMMA_TRACK_RATE_BURST: '1000',
		},
	});
	shop = await startShop(emma.url);
	browser = await chromium.launch(LAUNCH);
	userAgent = `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${browser.version()} Safari/537.36`;
	session = await login(emma.url, emma.adminEmail, emma.adminPassword);
	// No pre-chat form: the question is typed into the composer.
	const st = await A('PUT', '/api/v1/chat/settings?site=default', { name: 'off', email: 'off', consent: 'off', greeting: '' });
	assert.equal(st.status, 200, st.text);
	const articles = {
		shipping: { lang: 'en', category: 'shipping', status: 'published', question: 'How long does shipping take?',
			answer: 'Parcels arrive in **2-3 working days**. [Track your parcel](https://carrier.example/track)\n\n<script>window.pwned = 1</script>\n\n<img src=x onerror="window.pwned = 1">' },
		invoice: { lang: 'en', category: 'payment', status: 'published', question: 'Can I pay by invoice?', answer: 'Only business customers can pay **by invoice**.' },
		secret: { lang: 'en', category: 'shipping', status: 'draft', question: 'Secret shipping discount', answer: 'Draft: shipping is free on Mondays.' },
		versand: { lang: 'de', category: 'versand', status: 'published', question: 'Wie lange dauert der Versand?', answer: 'Pakete kommen in **2-3 Werktagen** an.' },
	};
	for (const [k, a] of Object.entries(articles)) {
		const r = await A('POST', '/api/v1/faq', a);
		assert.equal(r.status, 201, r.text);
		ids[k] = r.json.article.id;
		ids[`${k}Slug`] = r.json.article.slug;
	}
	const p = await A('POST', '/api/v1/products', {
		sku: 'BOX-1', name: 'Shipping box, large', description: 'A sturdy box for shipping parcels.', category: 'boxes',
		price: 4.5, currency: 'EUR', url: `${shop.url}/shop/box`, image: `${shop.url}/img/box.png`, availability: 'in_stock',
	});
	assert.equal(p.status, 201, p.text);
});

after(async () => {
	await browser?.close();
	shop?.close();
	await emma?.stop();
});

test('one published article, as the widget reads it: counted as a view, drafts and bad ids are 404', async () => {
	const r = await fetch(`${emma.url}/api/v1/public/faq/${ids.shipping}?site=default&vid=v-api`, { headers: { Origin: 'https://shop.example' } });
	assert.equal(r.status, 200);
	assert.equal(r.headers.get('access-control-allow-origin'), '*');
	const { article } = await r.json();
	assert.deepEqual(Object.keys(article).sort(), ['answer_html', 'id', 'lang', 'question', 'slug']);
	assert.equal(article.question, 'How long does shipping take?');
	assert.match(article.answer_html, /<strong>2-3 working days<\/strong>/);
	assert.doesNotMatch(article.answer_html, /<script|onerror/);
	assert.equal((await fetch(`${emma.url}/api/v1/public/faq/${ids.secret}?site=default`)).status, 404, 'a draft is not public');
	assert.equal((await fetch(`${emma.url}/api/v1/public/faq/anope?site=default`)).status, 404);
	assert.equal((await fetch(`${emma.url}/api/v1/public/faq/${ids.shipping}?site=nosuch`)).status, 404);
	await waitFor(async () => (await A('GET', `/api/v1/faq/${ids.shipping}`)).json.article.views === 1, { what: 'the view counted' });
});

test('typing a question shows matching articles and products; an article opens inline; "Yes" is a deflection', async (t) => {
	const { page, calls } = await visitor(t);
	const op = operator();
	await op.opened;
	t.after(() => op.close());
	await page.goto(`${shop.url}/shop/first`);
	const vid = await vidOf(page);
	await launcher(page).click();
	const text = visible(dialog(page).getByLabel('Message', { exact: true }));
	await text.waitFor();
	// Two characters are not a question yet.
	await text.pressSequentially('ho', { delay: 20 });
	await sleep(500);
	assert.equal(calls.filter((c) => c.path === '/api/v1/faq/search').length, 0, 'no search below 3 characters');
	await text.pressSequentially('w long does shipping take', { delay: 20 });
	const region = suggestions(page);
	const art = region.getByRole('button', { name: /How long does shipping take\?/ });
	await art.waitFor();
	// Screen readers hear the count.
	await waitFor(async () => /^1 article found, 1 product$/.test(await shadow(page, (r) => r.querySelector('.sr[role=status]')?.textContent || '')),
		{ what: 'the live count' });
	assert.ok(await art.locator('mark').count() >= 1, 'matches are highlighted');
	assert.equal(await region.getByText('Secret shipping discount').count(), 0, 'drafts are not offered');
	const product = region.getByRole('link', { name: /Shipping box, large/ });
	assert.equal(await product.getAttribute('href'), `${shop.url}/shop/box`);
	await product.getByText(/€4\.50|4\.50/).waitFor();
	// Debounced: one search (or very few) for the whole question, with the widget's parameters.
	const searches = calls.filter((c) => c.path === '/api/v1/faq/search');
	assert.ok(searches.length >= 1 && searches.length <= 3, `${searches.length} searches`);
	const q = searches.at(-1).query;
	assert.deepEqual([q.get('q'), q.get('lang'), q.get('site'), q.get('limit'), q.get('products'), q.get('vid')],
		['how long does shipping take', 'en', 'default', '3', '3', vid]);
	await shots(page, 'selfservice-results');

	// Open the article inline (keyboard): its heading takes the focus.
	await art.focus();
	await page.keyboard.press('Enter');
	const heading = region.getByRole('heading', { name: 'How long does shipping take?' });
	await heading.waitFor();
	await waitFor(async () => (await shadow(page, (r) => r.activeElement?.tagName)) === 'H3', { what: 'focus on the article' });
	await region.locator('strong', { hasText: '2-3 working days' }).waitFor();
	assert.equal(await region.getByRole('link', { name: 'Track your parcel' }).getAttribute('target'), '_blank');
	const bad = await shadow(page, (r) => r.querySelectorAll('script,[onerror]').length);
	assert.equal(bad, 0, 'no script or handler from an answer');
	assert.equal(await page.evaluate(() => window.pwned), undefined);
	const help = region.getByRole('link', { name: /Open in the help centre/ });
	assert.equal(await help.getAttribute('href'), `${emma.url}/help/default/en/${ids.shippingSlug}`);
	assert.equal(await help.getAttribute('target'), '_blank');
	const viewCall = calls.find((c) => c.path === `/api/v1/public/faq/${ids.shipping}`);
	assert.equal(viewCall.query.get('vid'), vid);
	await shots(page, 'selfservice-article');

	// "Yes": a helpful vote and a deflection, then the offer to close.
	await region.getByRole('button', { name: 'Yes', exact: true }).click();
	await region.getByText('Glad we could help!').waitFor();
	const gaps = await waitFor(async () => {
		const g = await A('GET', '/api/v1/faq/gaps');
		return g.json.deflected?.length ? g.json : null;
	}, { what: 'the deflection' });
	assert.equal(gaps.deflected[0].id, ids.shipping);
	assert.equal(gaps.deflected[0].deflections, 1);
	const a = await A('GET', `/api/v1/faq/${ids.shipping}`);
	assert.equal(a.json.article.helpful_yes, 1);
	const ev = calls.find((c) => c.path === '/api/v1/public/kb/events');
	assert.deepEqual(JSON.parse(ev.body), { site: 'default', type: 'deflected', lang: 'en', article: ids.shipping, query: 'how long does shipping take', vid });
	await region.getByRole('button', { name: 'Close the chat window' }).click();
	await dialog(page).waitFor({ state: 'hidden' });
	assert.equal(await shadow(page, (r) => r.activeElement?.getAttribute('aria-label')), 'Open chat');
	// No chat was started.
	const convs = await A('GET', '/api/v1/conversations?status=pending');
	assert.ok(!(convs.json.conversations || []).some((c) => c.vid === vid), 'no conversation');
});

test('"No", then "Ask an operator": the question goes to chat and is reported as escalated', async (t) => {
	const { page, calls } = await visitor(t);
	const op = operator();
	await op.opened;
	t.after(() => op.close());
	await page.goto(`${shop.url}/shop/pay`);
	const vid = await vidOf(page);
	await launcher(page).click();
	const text = visible(dialog(page).getByLabel('Message', { exact: true }));
	await text.pressSequentially('Can I pay by invoice as a private customer?', { delay: 10 });
	const region = suggestions(page);
	await region.getByRole('button', { name: /Can I pay by invoice\?/ }).click();
	await visible(region.getByText('Only business customers')).waitFor();
	await region.getByRole('button', { name: 'No', exact: true }).click();
	await region.getByText('Sorry about that. Our team is happy to help.').waitFor();
	await region.getByRole('button', { name: 'Ask an operator' }).click();
	// The question is the first message of a chat.
	await dialog(page).getByRole('log').locator('li.visitor').getByText('Can I pay by invoice as a private customer?').waitFor();
	await dialog(page).getByRole('log').locator('[data-state="sent"]').waitFor();
	await suggestions(page).waitFor({ state: 'hidden' });
	const g = await waitFor(async () => {
		const r = await A('GET', '/api/v1/faq/gaps');
		return r.json.escalated.length ? r.json : null;
	}, { what: 'the escalation' });
	assert.equal(g.escalated[0].query, 'can i pay by invoice as a private customer?');
	assert.equal(g.escalated[0].chats, 1);
	assert.equal(g.unhelpful[0].id, ids.invoice);
	const esc = calls.filter((c) => c.path === '/api/v1/public/kb/events').map((c) => JSON.parse(c.body));
	assert.deepEqual(esc.map((e) => e.type), ['escalated']);
	assert.equal(esc[0].vid, vid);
	// Typing inside the conversation searches no more.
	const before = calls.filter((c) => c.path === '/api/v1/faq/search').length;
	await text.pressSequentially('And how long does shipping take?', { delay: 5 });
	await sleep(600);
	assert.equal(calls.filter((c) => c.path === '/api/v1/faq/search').length, before);
});

test('German, and offline: the message field of the offline form searches too', async (t) => {
	// No operator online (the last one left more than the 1 s grace ago): the offline form.
	await sleep(2000);
	const { page, calls } = await visitor(t, { locale: 'de-DE' });
	await page.goto(`${shop.url}/shop/de?lang=de`);
	await page.locator('#emma-chat').getByRole('button', { name: 'Chat öffnen' }).click();
	await dialog(page).getByText('Hinterlassen Sie uns eine Nachricht', { exact: true }).waitFor();
	await visible(dialog(page).getByLabel('Nachricht', { exact: true })).pressSequentially('Wie lange dauert der Versand', { delay: 10 });
	const region = suggestions(page);
	await region.getByRole('button', { name: /Wie lange dauert der Versand\?/ }).waitFor();
	await waitFor(async () => (await shadow(page, (r) => r.querySelector('.sr[role=status]')?.textContent)) === '1 Artikel gefunden',
		{ what: 'the German count' });
	await region.getByText('Vielleicht beantwortet das Ihre Frage:').waitFor();
	await region.getByRole('button', { name: /Wie lange dauert/ }).click();
	await region.getByText('Hat das Ihre Frage beantwortet?').waitFor();
	await region.getByRole('button', { name: 'Ja', exact: true }).waitFor();
	// Typing on searches again, but the open article stays open.
	const n = calls.filter((c) => c.path === '/api/v1/faq/search').length;
	await visible(dialog(page).getByLabel('Nachricht', { exact: true })).pressSequentially(' bei Paketen', { delay: 10 });
	await waitFor(async () => calls.filter((c) => c.path === '/api/v1/faq/search').length > n, { what: 'a new search' });
	await sleep(300);
	await region.getByRole('heading', { name: 'Wie lange dauert der Versand?' }).waitFor();
	assert.equal(await region.getByRole('link', { name: /Im Hilfe-Center öffnen/ }).getAttribute('href'),
		`${emma.url}/help/default/de/${ids.versandSlug}`);
	// The footer in German.
	for (const name of ['Kontaktdaten hinterlassen', 'Rückruf anfordern', 'Datenschutz']) await dialog(page).getByRole('button', { name, exact: true }).waitFor();
	await shots(page, 'selfservice-de');
});

test('business card: the e-mail or phone is needed, the server\'s field error is shown, then the lead exists', async (t) => {
	const { page, calls } = await visitor(t);
	await page.goto(`${shop.url}/shop/card`);
	const vid = await vidOf(page);
	await launcher(page).click();
	await dialog(page).getByRole('button', { name: 'Leave your details' }).click();
	const panel = dialog(page).getByRole('region', { name: 'Leave your details' });
	await panel.getByText(/Please leave an e-mail address or a phone number;/).waitFor();
	// The first field has the focus; nothing is required but a way to reach the visitor.
	await waitFor(async () => (await shadow(page, (r) => r.activeElement?.getAttribute('autocomplete'))) === 'name', { what: 'focus on the name' });
	const send = panel.getByRole('button', { name: 'Send details' });
	await send.click();
	await panel.getByRole('alert').getByText('Please leave an e-mail address or a phone number.').waitFor();
	assert.equal(calls.filter((c) => c.path === '/api/v1/public/card').length, 0, 'nothing sent while invalid');
	// A phone number the browser lets through and the server refuses (no country code).
	const phone = panel.getByLabel(/^Phone/);
	await phone.fill('030 1234567');
	await send.click();
	await panel.getByRole('alert').getByText('Please enter the number with its country code, e.g. +49 30 1234567.').waitFor();
	assert.equal(await phone.getAttribute('aria-invalid'), '');
	assert.equal(calls.filter((c) => c.path === '/api/v1/public/card').length, 1);
	await phone.fill('+49 30 1234567');
	await panel.getByLabel(/^Name/).fill('Carla Card');
	await panel.getByLabel(/^E-mail/).fill('carla.card@example.com');
	await panel.getByLabel(/^Company/).fill('Card & Co');
	await panel.getByLabel(/^Message/).fill('Please send me an offer for 20 boxes.');
	await panel.getByRole('checkbox', { name: /I agree that my details are stored/ }).check();
	await send.click();
	await panel.getByText('Thank you! We have your details and will get back to you.').waitFor();
	const body = JSON.parse(calls.filter((c) => c.path === '/api/v1/public/card').at(-1).body);
	assert.deepEqual(body, {
		site: 'default', vid, consent: true, wording: 'I agree that my details are stored so that you can contact me.',
		name: 'Carla Card', email: 'carla.card@example.com', phone: '+49 30 1234567', company: 'Card & Co',
		message: 'Please send me an offer for 20 boxes.',
	});
	// The lead, found by its e-mail.
	const found = await A('GET', '/api/v1/contacts?q=carla.card%40example.com');
	assert.equal(found.status, 200, found.text);
	const list = found.json.contacts;
	assert.equal(list.length, 1, found.text);
	assert.equal(list[0].email, 'carla.card@example.com');
	await shots(page, 'selfservice-card');
	// Remembered for this session, also on the next page.
	await page.goto(`${shop.url}/shop/next`);
	await dialog(page).waitFor(); // the window was open: it opens again on the next page
	await dialog(page).getByRole('button', { name: 'Leave your details' }).click();
	await panel.getByText('Thank you! We have your details and will get back to you.').waitFor();
	assert.equal(await visible(panel.getByRole('button', { name: 'Send details' })).count(), 0);
	// Back, and Esc goes back too.
	await panel.getByRole('button', { name: /Back/ }).click();
	await panel.waitFor({ state: 'hidden' });
	assert.equal(await shadow(page, (r) => r.activeElement?.textContent), 'Leave your details', 'focus back on the footer button');
});

test('call-me-back: a bad number shows the server\'s field error, then the call is queued with its time window', async (t) => {
	const { page, calls } = await visitor(t, { timezoneId: 'Europe/Berlin' });
	await page.goto(`${shop.url}/shop/callback`);
	const vid = await vidOf(page);
	await launcher(page).click();
	await dialog(page).getByRole('button', { name: 'Call me back' }).click();
	const panel = dialog(page).getByRole('region', { name: 'Call me back' });
	const phone = panel.getByLabel(/^Phone/);
	await panel.getByText('with country code, e.g. +49 30 1234567').waitFor();
	await waitFor(async () => (await shadow(page, (r) => r.activeElement?.type)) === 'tel', { what: 'focus on the phone' });
	const send = panel.getByRole('button', { name: 'Request the call' });
	await send.click();
	await panel.getByRole('alert').getByText('Please enter your phone number.').waitFor();
	await phone.fill('0301234567');
	await send.click();
	await panel.getByRole('alert').getByText('Please enter the number with its country code, e.g. +49 30 1234567.').waitFor();
	assert.equal(await phone.getAttribute('aria-invalid'), '');
	assert.equal(JSON.parse(calls.find((c) => c.path === '/api/v1/public/callbacks').body).phone, '0301234567', 'the server judged it');
	await phone.fill('+49 30 1234567');
	await panel.getByLabel(/^Name/).fill('Bert Back');
	await panel.getByLabel('When', { exact: true }).selectOption({ label: 'Tomorrow' });
	await panel.getByLabel('From', { exact: true }).fill('10:00');
	await panel.getByLabel('To', { exact: true }).fill('12:00');
	await panel.getByLabel(/^Topic/).fill('Bulk order');
	await send.click();
	const done = panel.getByText(/^Thank you! We will call you back at \+49 30 1234567, tomorrow between 10:00( AM)? and 12:00( PM)?\.$/);
	await done.waitFor();
	const body = JSON.parse(calls.filter((c) => c.path === '/api/v1/public/callbacks').at(-1).body);
	assert.equal(body.vid, vid);
	assert.equal(body.name, 'Bert Back');
	assert.equal(body.topic, 'Bulk order');
	assert.match(body.window_start, /^\d{4}-\d\d-\d\dT10:00:00\+0[12]:00$/, 'RFC 3339 in the browser\'s zone');
	assert.match(body.window_end, /^\d{4}-\d\d-\d\dT12:00:00\+0[12]:00$/);
	// The console's queue has it, at the same instant.
	const list = await A('GET', '/api/v1/callbacks');
	assert.equal(list.status, 200, list.text);
	const cb = list.json.callbacks.find((c) => c.vid === vid);
	assert.ok(cb, list.text);
	assert.equal(Date.parse(cb.window_start), Date.parse(body.window_start));
	assert.equal(Date.parse(cb.window_end), Date.parse(body.window_end));
	await shots(page, 'selfservice-callback');
	// Esc leaves the panel, not the window.
	await page.keyboard.press('Escape');
	await panel.waitFor({ state: 'hidden' });
	await dialog(page).waitFor();
});

test('"Delete my data": after a confirmation the visitor is erased and the browser forgets its ids', async (t) => {
	const { page, calls } = await visitor(t);
	const op = operator();
	await op.opened;
	t.after(() => op.close());
	await page.goto(`${shop.url}/shop/forget`);
	const vid = await vidOf(page);
	await launcher(page).click();
	// A chat message, so there is something in sessionStorage and on the server.
	const text = visible(dialog(page).getByLabel('Message', { exact: true }));
	await text.fill('Hello there');
	await text.press('Enter');
	await dialog(page).getByRole('log').locator('[data-state="sent"]').waitFor();
	assert.equal((await A('GET', `/api/v1/visitors/${vid}?site=default`)).status, 200);
	assert.ok(await page.evaluate(() => sessionStorage.getItem('emma_chat')));

	await dialog(page).getByRole('button', { name: 'Privacy', exact: true }).click();
	const panel = dialog(page).getByRole('region', { name: 'Privacy' });
	await panel.getByText(/keeps your messages and a random visitor id/).waitFor();
	await panel.getByRole('button', { name: 'Delete my data' }).click();
	await panel.getByText('Really delete everything? This cannot be undone.').waitFor();
	// Cancel first: nothing happens.
	await panel.getByRole('button', { name: 'Cancel' }).click();
	assert.equal(calls.filter((c) => c.path === '/api/v1/public/forget').length, 0);
	await panel.getByRole('button', { name: 'Delete my data' }).click();
	await panel.getByRole('button', { name: 'Yes, delete' }).click();
	await panel.getByText('Your data has been deleted, here and on our server.').waitFor();
	const f = calls.filter((c) => c.path === '/api/v1/public/forget');
	assert.equal(f.length, 1);
	assert.deepEqual(JSON.parse(f[0].body), { site: 'default', vid });
	assert.equal((await A('GET', `/api/v1/visitors/${vid}?site=default`)).status, 404, 'erased on the server');
	const kept = await page.evaluate(() => ({ chat: JSON.parse(sessionStorage.getItem('emma_chat') || '{}'), sent: sessionStorage.getItem('emma_sent'), vid: localStorage.getItem('emma_vid'), consent: localStorage.getItem('emma_consent') }));
	// The window is still open (so its key stays), with nothing of the old visitor in it.
	assert.deepEqual([kept.chat.m?.length ?? 0, kept.chat.conv ?? null, kept.chat.pre ?? null], [0, null, null]);
	assert.notEqual(kept.chat.vid, vid);
	assert.equal(kept.sent, null);
	assert.notEqual(kept.vid, vid);
	assert.equal(kept.consent, null, 'tracking consent as before (the default)');
	// The tracker goes on under a new id; the old one does not come back.
	await page.waitForFunction((old) => window.emma._vid() && window.emma._vid() !== old, vid, { timeout: 10_000 });
	const fresh = await page.evaluate(() => window.emma._vid());
	assert.equal(await page.evaluate(() => localStorage.getItem('emma_vid')), fresh);
	await sleep(1500);
	assert.equal((await A('GET', `/api/v1/visitors/${vid}?site=default`)).status, 404, 'nothing recreated the old visitor');
	// The chat window starts afresh.
	await panel.getByRole('button', { name: /Back/ }).click();
	assert.equal(await dialog(page).getByRole('log').getByText('Hello there').count(), 0);
	await shots(page, 'selfservice-forget');
});

test('every new control is named; the footer fits a phone screen', async (t) => {
	const { page } = await visitor(t, { viewport: { width: 375, height: 740 } });
	await page.goto(`${shop.url}/shop/a11y`);
	await launcher(page).click();
	await dialog(page).waitFor();
	const unnamed = await shadow(page, (r) => {
		const bad = [];
		for (const b of r.querySelectorAll('button')) if (!(b.getAttribute('aria-label') || b.textContent || '').trim()) bad.push(b.outerHTML.slice(0, 80));
		for (const f of r.querySelectorAll('input,textarea,select')) if (!f.labels?.length && !f.getAttribute('aria-label')) bad.push(f.outerHTML.slice(0, 80));
		return bad;
	});
	assert.deepEqual(unnamed, []);
	// The window slides in: wait until it has settled, then it fills the screen.
	let box;
	for (let i = 0; i < 40; i++) {
		box = await dialog(page).boundingBox();
		if (Math.abs(box.y) < 0.5 && Math.abs(box.height - 740) < 0.5) break;
		await new Promise((r) => setTimeout(r, 50));
	}
	assert.deepEqual([box.x, box.y, box.width, box.height].map(Math.round), [0, 0, 375, 740]);
	const foot = await dialog(page).getByRole('button', { name: 'Privacy', exact: true }).boundingBox();
	assert.ok(foot.y + foot.height <= 740 && foot.x >= 0 && foot.x + foot.width <= 375, JSON.stringify(foot));
	await dialog(page).getByRole('button', { name: 'Call me back' }).click();
	const send = dialog(page).getByRole('button', { name: 'Request the call' });
	await send.scrollIntoViewIfNeeded();
	const sb = await send.boundingBox();
	assert.ok(sb.x >= 0 && sb.x + sb.width <= 375, 'the form fits the width');
});

test('no page errors', () => {
	assert.deepEqual(pageErrors, []);
});
