// The chat side of the operator console, in Chromium against the real emma binary
// (docs/chat.md, docs/console.md "Chat"). Visitors are plain WebSocket clients on
// /ws/visitor, so every assertion about what a visitor receives is about real frames.
//
// Two operators (the admin and an agent, each in their own browser context) sign in;
// routing is "broadcast", so a new chat waits in both queues. The alerts are observed
// through a Notification stub and a spy on AudioContext.createOscillator (both only
// record the call; the sound itself is made by the real WebAudio).
//
//   make && EMMA_BIN=$PWD/emma node --test tests/browser/chat-console.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { api, login, sleep, startEmma, waitFor } from '../e2e/lib/emma.mjs';
import { closeAll, newAgent, visitor } from '../e2e/lib/chat.mjs';

const LAUNCH = {
	executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
	args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync',
		'--autoplay-policy=no-user-gesture-required'],
};
const AGENT_EMAIL = 'bea@example.org';
const AGENT_PASSWORD = 'agent-password-123'; // the one newAgent() sets
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36';
const XSS = 'Hi <img src=x onerror="window.__xss=1"> there';

// Records desktop notifications, oscillators started and the page's WebSockets (so a test
// can cut the console's connection as a network failure would); nothing else is changed.
const ALERT_HOOKS = () => {
	window.__sockets = [];
	const RealWS = window.WebSocket;
	window.WebSocket = class extends RealWS {
		constructor(...args) { super(...args); window.__sockets.push(this); }
	};
	window.__notes = [];
	window.__tones = 0;
	class FakeNotification {
		constructor(title, opts = {}) { window.__notes.push({ title, body: opts.body, tag: opts.tag }); }
		close() {}
		static permission = 'default';
		static requestPermission() { FakeNotification.permission = 'granted'; return Promise.resolve('granted'); }
	}
	window.Notification = FakeNotification;
	const Real = window.AudioContext;
	window.AudioContext = class extends Real {
		createOscillator() { window.__tones++; return super.createOscillator(); }
	};
};

let emma, browser, admin, agentSession;
const pages = {};   // name → page
const errors = [];  // page errors of any console page
const sockets = [];

async function consolePage(name, email, password) {
	const ctx = await browser.newContext({ locale: 'en-US', viewport: { width: 1400, height: 950 } });
	await ctx.addInitScript(ALERT_HOOKS);
	const p = await ctx.newPage();
	p.setDefaultTimeout(10_000);
	p.on('pageerror', (e) => errors.push(`${name}: ${e.message}`));
	await p.goto(emma.url + '/');
	await p.getByLabel('E-mail').fill(email);
	await p.getByLabel('Password').fill(password);
	await p.getByRole('button', { name: 'Sign in' }).click();
	await p.locator('.live-status[data-state="live"]').waitFor();
	pages[name] = p;
	return p;
}


async function convOf(vid) {
	const r = await api(emma.url, 'GET', '/api/v1/conversations?limit=100', { cookie: admin.cookie });
	assert.equal(r.status, 200);
	return (r.json.conversations || []).find((c) => c.vid === vid);
}

before(async () => {
	emma = await startEmma({ env: { EMMA_CHAT_ROUTING: 'broadcast', EMMA_CHAT_OFFLINE_GRACE_S: '0' } });
	admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
	agentSession = await newAgent(emma, admin, AGENT_EMAIL, { name: 'Bea' });
	browser = await chromium.launch(LAUNCH);
});

after(async () => {
	closeAll(...sockets);
	await browser?.close();
	await emma?.stop();
});

test('two operators sign in, see each other online and can switch to away and back', async () => {
	const a = await consolePage('admin', 'admin@localhost', emma.adminPassword);
	const b = await consolePage('agent', AGENT_EMAIL, AGENT_PASSWORD);
	for (const p of [a, b]) {
		await p.getByRole('navigation').getByRole('link', { name: /^Chats/ }).click();
		await p.getByRole('heading', { name: 'Chats', level: 1 }).waitFor();
	}
	// The team list, from the "operators" and "operator_status" frames.
	const beaInA = a.locator('li.chat-op').filter({ hasText: 'Bea' });
	await beaInA.locator('.chat-op-status').getByText('Online').waitFor();
	// Away in the header: the other console sees it, and the server knows it.
	await b.getByLabel('Your chat status').selectOption('away');
	await beaInA.locator('.chat-op-status').getByText('Away').waitFor();
	const st = await api(emma.url, 'GET', '/api/v1/me/status', { cookie: agentSession.cookie });
	assert.equal(st.json.status, 'away');
	await b.getByLabel('Your chat status').selectOption('online');
	await beaInA.locator('.chat-op-status').getByText('Online').waitFor();
	// Desktop notifications are asked for on a click.
	await a.getByRole('button', { name: 'Turn on desktop notifications' }).click();
	await a.getByText('Desktop notifications are on.').waitFor();
});

let vis, conv, winner, loser;

test('a visitor writes: the queue shows them with a live wait time, a sound, a notification and a badge', async () => {
	const a = pages.admin;
	vis = await visitor(emma, { vid: 'chat-browser-1' });
	sockets.push(vis);
	assert.equal(vis.hello.available, true, 'two operators online');
	vis.sendJson({ type: 'start', name: 'Ada' });
	vis.sendJson({ type: 'msg', client_id: 'v-1', body: XSS });
	const ack = await vis.next((m) => m.type === 'ack' && m.client_id === 'v-1');
	conv = ack.conversation;
	assert.ok(conv);

	for (const p of [a, pages.agent]) {
		const item = p.locator(`li.chat-q[data-id="${conv}"]`);
		await item.waitFor();
		assert.equal(await item.locator('.chat-q-name').innerText(), 'Ada');
		await p.getByRole('heading', { name: 'Waiting (1)' }).waitFor();
	}
	const wait = a.locator(`li.chat-q[data-id="${conv}"] .chat-wait`);
	const w1 = await wait.innerText();
	assert.match(w1, /^\d+:\d\d$/);
	await waitFor(async () => (await wait.innerText()) !== w1, { what: 'the wait time ticks' });

	const notes = await a.evaluate(() => window.__notes);
	assert.equal(notes.length, 1, 'one desktop notification');
	assert.equal(notes[0].title, 'New chat');
	assert.match(notes[0].body, /Ada/);
	assert.ok(await a.evaluate(() => window.__tones) >= 1, 'a sound was made');
	assert.ok(await pages.agent.evaluate(() => window.__tones) >= 1, 'the other console chimed too');
	assert.equal(await a.locator('a[data-path="/chats"] .nav-badge').innerText(), '1');
});

test('two operators race to accept: exactly one gets the chat, the other is told', async () => {
	const a = pages.admin;
	const b = pages.agent;
	const btnA = await a.locator(`li.chat-q[data-id="${conv}"] .chat-accept`).elementHandle();
	const btnB = await b.locator(`li.chat-q[data-id="${conv}"] .chat-accept`).elementHandle();
	const resA = a.waitForResponse((r) => r.url().endsWith(`/conversations/${conv}/accept`));
	const resB = b.waitForResponse((r) => r.url().endsWith(`/conversations/${conv}/accept`));
	// Both clicks go out in the same moment (a detached button still runs its handler).
	await Promise.all([btnA.evaluate((el) => el.click()), btnB.evaluate((el) => el.click())]);
	const statuses = [(await resA).status(), (await resB).status()];
	assert.deepEqual([...statuses].sort(), [200, 409], `one 200 and one 409, got ${statuses}`);
	[winner, loser] = statuses[0] === 200 ? [a, b] : [b, a];

	await winner.locator(`#chat-pane h2.chat-title`).getByText('Ada').waitFor();
	await winner.locator(`.chat-tab[data-id="${conv}"][aria-selected="true"]`).waitFor();
	await loser.getByRole('status').getByText('The chat with Ada was taken by someone else.').waitFor();
	await loser.locator(`li.chat-q[data-id="${conv}"]`).waitFor({ state: 'detached' });
	for (const p of [a, b]) await p.getByText('Nobody is waiting.').waitFor();
	const c = await convOf('chat-browser-1');
	assert.equal(c.status, 'open');
	assert.equal(c.operator.id, (winner === a ? admin : agentSession).operator.id);
	// The visitor's message is shown as text, markup and all.
	const body = winner.locator('.chat-msg.chat-from-visitor .chat-body').first();
	assert.equal(await body.innerText(), XSS);
	assert.equal(await winner.locator('.chat-log img').count(), 0);
	assert.equal(await winner.evaluate(() => window.__xss), undefined);
});

test('a canned response with {name} is inserted by "/shortcut", sent, delivered once', async () => {
	const p = winner;
	// A personal canned response, made in the console.
	await p.getByRole('navigation').getByRole('link', { name: 'Canned responses' }).click();
	await p.getByLabel('Shortcut').fill('hello');
	await p.getByLabel('Title').fill('Greeting');
	await p.getByLabel('Text', { exact: true }).fill('Hello {name}, I am {operator}. How can I help?');
	if (p === pages.admin) await p.getByLabel('Only for me').check();
	await p.getByRole('button', { name: 'Add', exact: true }).click();
	await p.locator('table.data code.canned-key').getByText('/hello').waitFor();

	await p.goto(`${emma.url}/#/chats?c=${conv}`);
	await p.locator('#chat-pane h2.chat-title').getByText('Ada').waitFor();
	const input = p.locator('textarea.chat-input');
	await input.click();
	await input.pressSequentially('/hel');
	await p.locator('ul.chat-suggest li[data-shortcut="hello"]').waitFor();
	await input.press('Tab');
	const opName = (p === pages.admin ? admin : agentSession).operator.name;
	const expected = `Hello Ada, I am ${opName}. How can I help?`;
	assert.equal(await input.inputValue(), expected);
	// The visitor sees the operator typing (throttled "typing" frames).
	await vis.next((m) => m.type === 'typing' && m.typing === true, 5000, 'typing');
	await input.press('Enter');

	const got = await vis.next((m) => m.type === 'msg' && m.author === 'operator', 5000, 'the reply');
	assert.equal(got.body, expected);
	const own = p.locator('.chat-msg.chat-own').last();
	await own.locator('.chat-state').getByText('Delivered').waitFor();
	assert.equal(await own.getAttribute('data-seq'), String(got.seq));
	await sleep(500);
	assert.equal(vis.frames.filter((m) => m.type === 'msg' && m.body === expected).length, 1, 'exactly once');
	assert.equal(await p.locator('.chat-msg.chat-own').count(), 1, 'shown once in the console');
});

test('an internal note stays in the console; typing from the visitor shows', async () => {
	const p = winner;
	await p.locator('#chat-internal').check();
	const input = p.locator('textarea.chat-input');
	await input.fill('Note: asks about <b>returns</b>');
	await p.getByRole('button', { name: 'Send' }).click();
	const note = p.locator('.chat-msg.chat-internal');
	await note.locator('.chat-state').getByText('Delivered').waitFor();
	assert.equal(await note.locator('.chat-body').innerText(), 'Note: asks about <b>returns</b>');
	await p.locator('#chat-internal').uncheck();

	vis.sendJson({ type: 'typing', typing: true });
	await p.locator('.chat-typing').getByText('Ada is typing…').waitFor();
	vis.sendJson({ type: 'msg', client_id: 'v-2', body: 'Thanks!' });
	await p.locator('.chat-msg.chat-from-visitor .chat-body').getByText('Thanks!').waitFor();
	await waitFor(async () => (await p.locator('.chat-typing').innerText()) === '', { what: 'typing cleared' });
	await sleep(500);
	assert.equal(vis.frames.some((m) => m.type === 'msg' && /returns/.test(m.body)), false, 'the note never reached the visitor');
	const full = await api(emma.url, 'GET', `/api/v1/conversations/${conv}`, { cookie: admin.cookie });
	assert.ok(full.json.messages.some((m) => m.internal === true && /returns/.test(m.body)), 'the note is stored');
});

test('after a reconnect the console fetches what it missed, each message once', async () => {
	const p = winner;
	// The connection drops (closed from the page, as a network failure would end it); the
	// visitor writes while the console is away; the console reconnects by itself.
	const before = await p.evaluate(() => window.__sockets.length);
	const catchUp = p.waitForRequest((r) => /\/api\/v1\/conversations\/[^/]+\/messages\?after=\d+/.test(r.url()), { timeout: 40_000 });
	await p.evaluate(() => window.__sockets.at(-1).close(4000, 'test'));
	await p.locator('.live-status:not([data-state="live"])').waitFor();
	vis.sendJson({ type: 'msg', client_id: 'v-3', body: 'Are you still there?' });
	await vis.next((m) => m.type === 'ack' && m.client_id === 'v-3');
	await p.locator('.live-status[data-state="live"]').waitFor({ timeout: 40_000 });
	assert.ok(await p.evaluate(() => window.__sockets.length) > before, 'a new socket');
	await catchUp; // the missed message comes from GET …/messages?after=SEQ
	await p.locator('.chat-msg .chat-body').getByText('Are you still there?').waitFor();
	await sleep(500);
	assert.equal(await p.locator('.chat-msg .chat-body').getByText('Are you still there?').count(), 1);
	const seqs = await p.locator('.chat-msg[data-seq]').evaluateAll((els) => els.map((e) => Number(e.dataset.seq)));
	assert.deepEqual(seqs, [...new Set(seqs)].sort((x, y) => x - y), 'in order, no doubles');
});

test('close with an outcome', async () => {
	const p = winner;
	await p.getByRole('button', { name: 'Close chat' }).click();
	await p.getByText('Choose the outcome before closing the chat.').waitFor();
	await p.getByLabel('Outcome of the chat').selectOption('sale');
	await p.getByRole('button', { name: 'Close chat' }).click();
	await p.getByText('This chat is closed. Outcome: Sale.').waitFor();
	await vis.next((m) => m.type === 'closed', 5000, 'closed');
	const r = await api(emma.url, 'GET', `/api/v1/conversations/${conv}`, { cookie: admin.cookie });
	assert.equal(r.json.conversation.status, 'closed');
	assert.equal(r.json.conversation.outcome, 'sale');
	await p.getByText('No open chats.').waitFor();
});

test('a rule made in the editor is stored; a 422 shows next to its field', async () => {
	const p = pages.admin;
	await p.getByRole('navigation').getByRole('link', { name: 'Invitation rules' }).click();
	await p.getByRole('heading', { name: 'Invitation rules', level: 1 }).waitFor();
	await p.getByRole('button', { name: 'New rule' }).click();
	await p.getByLabel('Name', { exact: true }).fill('Checkout helper');
	await p.getByLabel('Invitation text').fill('Need help with {page_title}?');
	await p.getByLabel('Priority').fill('5');
	await p.locator('input[name="conditions.time_on_page_s.gte"]').fill('30');
	await p.locator('input[name="conditions.pages.gte"]').fill('2');
	await p.locator('select[name="conditions.url.mode"]').selectOption('regex');
	await p.locator('input[name="conditions.url.pattern"]').fill('^/checkout/(');
	await p.getByLabel('Returning visitor').selectOption('true');
	await p.getByRole('button', { name: 'Save rule' }).click();
	// The server cannot compile the regex: its message appears at the pattern field.
	const patternErr = p.locator('input[name="conditions.url.pattern"]').locator('xpath=ancestor::div[contains(@class,"field")][1]').locator('.field-error');
	await patternErr.waitFor();
	assert.ok((await patternErr.innerText()).length > 0);
	assert.equal(await p.locator('input[name="conditions.url.pattern"]').getAttribute('aria-invalid'), 'true');

	await p.locator('input[name="conditions.url.pattern"]').fill('^/checkout/.*$');
	await p.getByRole('button', { name: 'Save rule' }).click();
	const row = p.locator('table.data tbody tr').filter({ hasText: 'Checkout helper' });
	await row.waitFor();
	assert.equal(await row.locator('.rules-enabled').isChecked(), true);
	assert.equal(await row.locator('td.rules-shown').innerText(), '0');

	const list = await api(emma.url, 'GET', '/api/v1/rules', { cookie: admin.cookie });
	const rule = list.json.rules.find((r) => r.name === 'Checkout helper');
	assert.ok(rule, 'the rule is in GET /api/v1/rules');
	assert.equal(rule.priority, 5);
	assert.equal(rule.message, 'Need help with {page_title}?');
	assert.deepEqual(rule.conditions.time_on_page_s, { gte: 30 });
	assert.deepEqual(rule.conditions.pages, { gte: 2 });
	assert.deepEqual(rule.conditions.url, { regex: '^/checkout/.*$' });
	assert.equal(rule.conditions.returning, true);

	// The switch pauses it.
	await row.locator('.rules-enabled').uncheck();
	await waitFor(async () => {
		const r = await api(emma.url, 'GET', `/api/v1/rules/${rule.id}`, { cookie: admin.cookie });
		return r.json.rule.enabled === false;
	}, { what: 'rule disabled' });
});

test('a manual invitation from the live page reaches the visitor as an invite frame', async () => {
	const p = pages.admin;
	// A visitor on the site (tracked, so they are live) with a chat socket.
	const vid = 'invite-browser-1';
	const t = await fetch(`${emma.url}/t`, {
		method: 'POST', headers: { 'Content-Type': 'application/json', 'User-Agent': UA },
		body: JSON.stringify({ site: 'default', vid, events: [{ type: 'pageview', url: 'https://shop.example/p/1', title: 'Product 1' }] }),
	});
	assert.equal(t.status, 200);
	const v = await visitor(emma, { vid });
	sockets.push(v);

	await p.getByRole('navigation').getByRole('link', { name: 'Live visitors' }).click();
	const row = p.locator(`tr.lv-row[data-vid="${vid}"]:not(.leaving)`);
	await row.waitFor();
	await row.getByRole('button', { name: /^Invite visitor/ }).click();
	const dialog = p.getByRole('dialog', { name: 'Invite to a chat' });
	await dialog.getByLabel('Invitation text').fill('Hello from the browser <b>test</b>');
	await dialog.getByRole('button', { name: 'Send invitation' }).click();
	await dialog.waitFor({ state: 'hidden' });

	const inv = await v.next((m) => m.type === 'invite', 5000, 'invite');
	assert.equal(inv.message, 'Hello from the browser <b>test</b>');
	assert.ok(inv.invitation);
	await row.locator('.lv-inv-state').getByText(/invited|invitation seen/).waitFor();
	// The visitor declines; the row follows the "invitation" frame.
	v.sendJson({ type: 'invite_dismiss', invitation: inv.invitation });
	await row.locator('.lv-inv-state').getByText('declined').waitFor();
});

test('no page errors', () => {
	assert.deepEqual(errors, []);
});
