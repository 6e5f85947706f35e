// A visitor and an operator, each in a real Chromium page: the shop page
// with emma.js and its chat widget, and the operator console. They chat, and
// an invitation sent from the console's live list is shown in the widget and
// accepted, which starts a chat with that operator.
//
//   make && EMMA_BIN=$PWD/emma node --test tests/browser/chat-both.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { api, login, startEmma } from '../e2e/lib/emma.mjs';

const PAGES = join(dirname(fileURLToPath(import.meta.url)), 'pages');
const LAUNCH = {
	executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
	args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync'],
};
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36';

let emma, browser, shop, admin, consolePage;
const errors = [];

function startShop(emmaUrl) {
	const html = readFileSync(join(PAGES, 'chat-shop.html'), 'utf8');
	const srv = http.createServer((req, res) => {
		if (req.url === '/favicon.ico') return res.writeHead(404).end();
		const tag = `<script async src="${emmaUrl}/emma.js" data-site="default" data-ping="2" data-lang="en"></script>`;
		res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
		res.end(html.replace('<!--emma-->', tag));
	});
	return new Promise((res) => srv.listen(0, '127.0.0.1', () => res({ url: `http://127.0.0.1:${srv.address().port}`, close: () => srv.close() })));
}

async function shopPage() {
	const ctx = await browser.newContext({ locale: 'en-US', userAgent: UA, viewport: { width: 1280, height: 800 } });
	const page = await ctx.newPage();
	page.setDefaultTimeout(15_000);
	page.on('pageerror', (e) => errors.push(`shop: ${e.message}`));
	return page;
}

const widget = (page) => page.locator('#emma-chat');
const dialog = (page) => page.getByRole('dialog');
const log = (page) => page.getByRole('log');
const visible = (l) => l.filter({ visible: true });

async function vidOf(page) {
	await page.waitForFunction(() => window.emma && window.emma._vid && window.emma._vid(), null, { timeout: 10_000 });
	return page.evaluate(() => window.emma._vid());
}

before(async () => {
	emma = await startEmma({ env: { EMMA_CHAT_ROUTING: 'broadcast', EMMA_CHAT_OFFLINE_GRACE_S: '0' } });
	admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
	browser = await chromium.launch(LAUNCH);
	shop = await startShop(emma.url);
	const ctx = await browser.newContext({ locale: 'en-US', viewport: { width: 1400, height: 950 } });
	consolePage = await ctx.newPage();
	consolePage.setDefaultTimeout(15_000);
	consolePage.on('pageerror', (e) => errors.push(`console: ${e.message}`));
	await consolePage.goto(emma.url + '/');
	await consolePage.getByLabel('E-mail').fill('admin@localhost');
	await consolePage.getByLabel('Password').fill(emma.adminPassword);
	await consolePage.getByRole('button', { name: 'Sign in' }).click();
	await consolePage.locator('.live-status[data-state="live"]').waitFor();
});

after(async () => {
	await browser?.close();
	shop?.close();
	await emma?.stop();
});

test('a visitor in the widget and an operator in the console chat with each other', async () => {
	const page = await shopPage();
	await page.goto(`${shop.url}/shop/first`);
	await vidOf(page);
	await widget(page).getByRole('button', { name: /^Open chat/ }).click();
	await dialog(page).waitFor();
	await visible(dialog(page).getByLabel(/^Name/)).fill('Clara');
	await visible(dialog(page).getByLabel(/^E-mail/)).fill('clara@example.org');
	await visible(dialog(page).getByLabel('Your question')).fill('Is the blue jacket available in M?');
	const agree = dialog(page).getByRole('checkbox', { name: /I agree/ });
	if (await agree.count()) await agree.check();
	await dialog(page).getByRole('button', { name: 'Start chat' }).click();
	await log(page).locator('li.visitor [data-state="sent"]').waitFor();

	// The console: the queue shows Clara; accept; the chat opens.
	const c = consolePage;
	await c.getByRole('navigation').getByRole('link', { name: /^Chats/ }).click();
	const item = c.locator('li.chat-q').filter({ hasText: 'Clara' });
	await item.waitFor();
	await item.locator('.chat-accept').click();
	await c.locator('#chat-pane h2.chat-title').getByText('Clara').waitFor();
	await c.locator('.chat-msg.chat-from-visitor .chat-body').getByText('Is the blue jacket available in M?').waitFor();
	await log(page).getByText(/joined the chat$/).waitFor();

	// The operator answers; the visitor sees it once; the visitor answers back.
	const input = c.locator('textarea.chat-input');
	await input.fill('Yes, M is in stock. Shall I reserve one?');
	await input.press('Enter');
	await log(page).locator('li.operator').getByText('Yes, M is in stock. Shall I reserve one?').waitFor();
	assert.equal(await log(page).locator('li.operator').getByText('Yes, M is in stock.', { exact: false }).count(), 1);
	const box = visible(dialog(page).getByLabel('Message', { exact: true }));
	await box.fill('Yes please!');
	await box.press('Enter');
	await c.locator('.chat-msg.chat-from-visitor .chat-body').getByText('Yes please!').waitFor();

	// Both sides agree with the store: four messages, in order, each once.
	const list = await api(emma.url, 'GET', '/api/v1/conversations?limit=10', { cookie: admin.cookie });
	const conv = list.json.conversations.find((x) => x.name === 'Clara');
	const msgs = await api(emma.url, 'GET', `/api/v1/conversations/${conv.id}/messages`, { cookie: admin.cookie });
	assert.deepEqual(msgs.json.messages.filter((m) => !m.internal).map((m) => m.body),
		['Is the blue jacket available in M?', 'Yes, M is in stock. Shall I reserve one?', 'Yes please!']);
	await page.context().close();
});

test('an invitation from the console is shown in the widget and accepted: the chat starts with that operator', async () => {
	const page = await shopPage();
	await page.goto(`${shop.url}/shop/browsing`);
	const vid = await vidOf(page);
	const c = consolePage;
	await c.getByRole('navigation').getByRole('link', { name: 'Live visitors' }).click();
	const row = c.locator(`tr.lv-row[data-vid="${vid}"]:not(.leaving)`);
	await row.waitFor();
	await row.getByRole('button', { name: /^Invite visitor/ }).click();
	const inviteDialog = c.getByRole('dialog', { name: 'Invite to a chat' });
	await inviteDialog.getByLabel('Invitation text').fill('Hello! Looking for a present? I can help.');
	await inviteDialog.getByRole('button', { name: 'Send invitation' }).click();

	// The widget gets it with the next tracker answer (pings every 2 s).
	const bubble = widget(page).getByRole('region', { name: 'Invitation' });
	await bubble.getByText('Hello! Looking for a present? I can help.').waitFor({ timeout: 20_000 });
	await row.locator('.lv-inv-state').getByText(/invitation seen|invited/).waitFor();
	await bubble.getByRole('button', { name: 'Reply' }).click();
	await dialog(page).waitFor();
	await log(page).getByText(/joined the chat$/).waitFor();
	await row.locator('.lv-inv-state').getByText('accepted').waitFor();

	// The chat belongs to the inviting operator, who sees it open.
	const box = visible(dialog(page).getByLabel('Message', { exact: true }));
	await box.fill('Yes, for my sister');
	await box.press('Enter');
	const list = await api(emma.url, 'GET', '/api/v1/conversations?status=open&limit=20', { cookie: admin.cookie });
	const conv = list.json.conversations.find((x) => x.vid === vid);
	assert.ok(conv, list.text);
	assert.equal(conv.operator.id, admin.operator.id);
	await c.goto(`${emma.url}/#/chats?c=${conv.id}`);
	await c.locator(`.chat-tab[data-id="${conv.id}"]`).waitFor();
	await c.locator('.chat-msg.chat-from-visitor .chat-body').getByText('Yes, for my sister').waitFor();
	const inv = await api(emma.url, 'GET', '/api/v1/invitations', { cookie: admin.cookie });
	assert.ok(inv.json.invitations.some((i) => i.vid === vid && i.status === 'accepted'), inv.text);
	await page.context().close();
});

test('no page errors in either page', () => {
	assert.deepEqual(errors, []);
});
