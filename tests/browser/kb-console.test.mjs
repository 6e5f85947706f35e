// The knowledge base in the operator console, in Chromium against the real emma
// binary (docs/console.md "Knowledge base"): an administrator writes an article in
// Markdown with the server-rendered preview (a <script> neither runs nor shows),
// publishes it, finds it with the search box by another spelling, uploads a
// product feed with a bad row, adds synonyms, sees a content gap left by a public
// search and starts an article from it; in a chat the visitor's question brings up
// the article and a product as suggestions, and "Insert" fills the message field
// without sending; an agent reads the knowledge base but cannot change it.
//
//   make && EMMA_BIN=$PWD/emma node --test tests/browser/kb-console.test.mjs
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { api, login, sleep, startEmma, waitFor } from '../e2e/lib/emma.mjs';
import { closeAll, newAgent, visitor } from '../e2e/lib/chat.mjs';

const LAUNCH = {
	executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
	args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync'],
};
const AGENT_EMAIL = 'kb-agent@example.org';
const AGENT_PASSWORD = 'agent-password-123'; // the one newAgent() sets
const QUESTION = 'Wie funktioniert die Rücksendung?';
const ANSWER = [
	'Die **Rücksendung** ist 30 Tage kostenlos.',
	'',
	'- Etikett im Kundenkonto drucken',
	'- Paket bei der Post abgeben',
	'',
	'<script>window.__xss = 1</script>',
	'',
	'[Zum Kundenkonto](https://shop.example/konto) · [böse](javascript:window.__xss=2)',
].join('\n');

let emma, browser, admin, agentSession, page;
const errors = [];
const sockets = [];
let articleId, articleSlug;

async function consolePage(email, password) {
	const ctx = await browser.newContext({ locale: 'en-US', viewport: { width: 1400, height: 950 } });
	const p = await ctx.newPage();
	p.setDefaultTimeout(10_000);
	p.on('pageerror', (e) => errors.push(`${email}: ${e.message}`));
	p.on('dialog', (d) => { errors.push(`dialog: ${d.message()}`); d.dismiss().catch(() => {}); });
	await p.goto(emma.url + '/');
	await p.getByLabel('E-mail').fill(email);
	await p.getByLabel('Password').fill(password);
	await p.getByRole('button', { name: 'Sign in' }).click();
	await p.locator('.live-status[data-state="live"]').waitFor();
	return p;
}

const asAdmin = (method, path, body) => api(emma.url, method, path, { cookie: admin.cookie, csrf: admin.csrf, body });

before(async () => {
	emma = await startEmma({ env: { EMMA_CHAT_ROUTING: 'broadcast' } });
	admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
	agentSession = await newAgent(emma, admin, AGENT_EMAIL, { name: 'Kai' });
	browser = await chromium.launch(LAUNCH);
	page = await consolePage('admin@localhost', emma.adminPassword);
});

after(async () => {
	closeAll(...sockets);
	await browser?.close();
	await emma?.stop();
});

test('an administrator writes a draft in Markdown and sees the server-rendered preview', async () => {
	const p = page;
	await p.getByRole('navigation').getByRole('link', { name: 'Knowledge base' }).click();
	await p.getByRole('heading', { name: 'Knowledge base', level: 1 }).waitFor();
	await p.getByRole('link', { name: 'New article' }).click();
	await p.getByRole('heading', { name: 'New article' }).waitFor();

	await p.getByLabel('Question').fill(QUESTION);
	await p.getByLabel('Answer').fill(ANSWER);
	await p.locator('form.kb-editor').getByLabel('Language').selectOption('de');
	await p.getByLabel('Category').fill('Versand');

	// The preview is the server's HTML for the Markdown, copied without anything active.
	const preview = p.locator('#kb-preview');
	await preview.locator('strong').getByText('Rücksendung').waitFor();
	assert.equal(await preview.locator('li').count(), 2);
	assert.equal(await preview.locator('a[href="https://shop.example/konto"]').count(), 1);
	assert.equal(await preview.locator('script').count(), 0, 'no script element in the preview');
	assert.doesNotMatch(await preview.innerText(), /__xss|<script/, 'the raw HTML is left out');
	assert.equal(await preview.locator('a[href^="javascript"]').count(), 0, 'no javascript: link');
	assert.equal(await p.evaluate(() => window.__xss), undefined, 'nothing ran');

	// A field the server refuses: the message appears at the field (tags[0] → Tags).
	await p.getByLabel('Tags').fill('x'.repeat(41));
	await p.getByRole('button', { name: 'Create article' }).click();
	const tags = p.getByLabel('Tags');
	await waitFor(async () => (await tags.getAttribute('aria-invalid')) === 'true', { what: 'the tags field is marked' });
	const errId = (await tags.getAttribute('aria-describedby')).split(' ').find((x) => x.endsWith('-err'));
	assert.match(await p.locator(`#${errId}`).innerText(), /tag is 1-40 characters/);

	await tags.fill('retoure, paket');
	await p.getByRole('button', { name: 'Create article' }).click();
	await p.getByRole('heading', { name: 'Edit article' }).waitFor();
	articleId = decodeURIComponent(new URL(p.url()).hash.replace('#/kb/a/', ''));
	const got = await asAdmin('GET', `/api/v1/faq/${articleId}`);
	assert.equal(got.status, 200, got.text);
	assert.equal(got.json.article.status, 'draft');
	assert.equal(got.json.article.lang, 'de');
	assert.equal(got.json.article.question, QUESTION);
	assert.deepEqual(got.json.article.tags, ['retoure', 'paket']);
	articleSlug = got.json.article.slug;
	// The editor shows the stored article again, preview included.
	assert.equal(await p.getByLabel('Question').inputValue(), QUESTION);
	await preview.locator('strong').getByText('Rücksendung').waitFor();
	assert.equal(await p.locator('.kb-help-link').isVisible(), false, 'a draft has no help-centre page');
});

test('publishing it: saved, and the help-centre address is shown', async () => {
	const p = page;
	await p.locator('form.kb-editor').getByLabel('Status').selectOption('published');
	await p.getByRole('button', { name: 'Save' }).click();
	await p.locator('.kb-saved').getByText('Saved.').waitFor();
	const got = await asAdmin('GET', `/api/v1/faq/${articleId}`);
	assert.equal(got.json.article.status, 'published');
	const link = p.locator('.kb-help-link a');
	await link.waitFor();
	assert.equal(await link.getAttribute('href'), `${emma.url}/help/default/de/${articleSlug}`);
});

test('the search box finds it by another spelling, drafts included, with the match marked', async () => {
	const p = page;
	const draft = await asAdmin('POST', '/api/v1/faq', { lang: 'de', question: 'Geheime Rabattaktion', answer: 'Noch nicht öffentlich.', status: 'draft' });
	assert.equal(draft.status, 201, draft.text);
	await p.getByRole('link', { name: 'Back to the list' }).click();
	await p.locator(`table.data tr[data-id="${articleId}"]`).waitFor();
	await p.getByLabel('Search articles').fill('Ruecksendung');
	const row = p.locator(`table.data tr[data-id="${articleId}"]`);
	await row.locator('mark').first().waitFor();
	assert.match(await row.innerText(), /Rücksendung/);
	assert.match(await p.locator('.kb-count').innerText(), /1 article found/);
	// Drafts are found here (the public search never shows them).
	await p.getByLabel('Search articles').fill('Rabattaktion');
	await p.locator(`table.data tr[data-id="${draft.json.article.id}"]`).getByText('Draft').waitFor();
	const pub = await api(emma.url, 'GET', '/api/v1/faq/search?q=Rabattaktion&lang=de');
	assert.equal(pub.json.articles.length, 0);
	// The status filter narrows the search results.
	await p.locator('form.kb-filters').getByLabel('Status').selectOption('published');
	await p.getByText('No article matches this search.').waitFor();
	await p.locator('form.kb-filters').getByLabel('Status').selectOption('');
	await p.getByLabel('Search articles').fill('');
	await p.locator(`table.data tr[data-id="${articleId}"]`).waitFor();
});

test('a product feed with a bad row: created, the refused row named by its field path, delete', async () => {
	const p = page;
	await p.getByRole('navigation').getByRole('link', { name: 'Products' }).click();
	await p.getByRole('heading', { name: 'Products', level: 1 }).waitFor();
	const feed = { products: [
		{ sku: 'BOX-1', name: 'Versandkarton für Rücksendungen', description: 'Stabiler Karton für die Rücksendung', category: 'Zubehör', price: 2.5, currency: 'EUR', url: 'https://shop.example/p/box-1', availability: 'in_stock' },
		{ sku: 'BAD-2', name: 'Negativ', price: -1 },
		{ sku: 'MNT-3', name: 'Wintermantel Wolle', price: 199.9, currency: 'EUR' },
	] };
	await p.getByLabel('JSON file').setInputFiles({ name: 'feed.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(feed)) });
	await p.getByRole('button', { name: 'Upload' }).click();
	await p.locator('.products-summary').getByText('Created: 2 · Updated: 0 · Refused: 1').waitFor();
	assert.equal(await p.locator('.products-errors code').innerText(), 'products[1].price');
	assert.match(await p.locator('.products-errors li').innerText(), /must be a number >= 0/);
	await p.locator('table.data tr[data-sku="BOX-1"]').waitFor();
	assert.equal(await p.locator('table.data tbody tr').count(), 2);
	assert.match(await p.locator('table.data tr[data-sku="BOX-1"]').innerText(), /2[.,]50 EUR/);

	// A file that is not JSON is refused before anything is sent.
	await p.getByLabel('JSON file').setInputFiles({ name: 'feed.json', mimeType: 'application/json', buffer: Buffer.from('sku;name') });
	await p.getByRole('button', { name: 'Upload' }).click();
	await p.getByText('This file is not JSON with a list of products.').waitFor();

	await p.getByRole('button', { name: 'Delete MNT-3' }).click();
	await p.getByRole('button', { name: 'Delete for good' }).click();
	await p.locator('table.data tr[data-sku="MNT-3"]').waitFor({ state: 'detached' });
	const list = await asAdmin('GET', '/api/v1/products');
	assert.deepEqual(list.json.products.map((x) => x.sku), ['BOX-1']);
	// A feed with a single valid row still answers with the report, refused rows included.
	const one = await asAdmin('POST', '/api/v1/products', { products: [{ sku: 'MNT-3', name: 'Wintermantel' }, { name: 'ohne SKU' }] });
	assert.equal(one.status, 200, one.text);
	assert.equal(one.json.created, 1);
	assert.deepEqual(one.json.errors.map((e) => e.field), ['products[1].sku']);
	assert.equal((await asAdmin('DELETE', '/api/v1/products/MNT-3')).status, 204);
});

test('synonyms: a group is added, refused when too short, and searching works through it', async () => {
	const p = page;
	await p.goto(`${emma.url}/#/kb/synonyms`);
	await p.getByRole('heading', { name: 'Add a group of synonyms' }).waitFor();
	assert.equal((await api(emma.url, 'GET', '/api/v1/faq/search?q=Umtausch&lang=de')).json.articles.length, 0);
	await p.getByLabel('Words').fill('Umtausch');
	await p.getByRole('button', { name: 'Add', exact: true }).click();
	await p.getByText('Please enter 2 to 12 words, separated by commas.').waitFor();
	await p.getByLabel('Words').fill('Umtausch, Rücksendung');
	await p.locator('form.kb-syn-form').getByLabel('Language').selectOption('de');
	await p.getByRole('button', { name: 'Add', exact: true }).click();
	await p.locator('table.data .kb-syn-terms').getByText('Umtausch · Rücksendung').waitFor();
	const s = await api(emma.url, 'GET', '/api/v1/faq/search?q=Umtausch&lang=de');
	assert.equal(s.json.articles[0]?.id, articleId);
});

test('a public search without results shows up as a content gap; "Write an article" opens the editor', async () => {
	const p = page;
	const r = await fetch(`${emma.url}/api/v1/faq/search?q=${encodeURIComponent('Nachnahme')}&lang=de`);
	assert.equal(r.status, 200);
	assert.equal((await r.json()).articles.length, 0);
	// The search is recorded without making the visitor wait; look until it is there.
	await waitFor(async () => {
		const g = await asAdmin('GET', '/api/v1/faq/gaps');
		return g.json.searches.some((x) => x.query === 'nachnahme');
	}, { what: 'the gap is recorded' });
	await p.goto(`${emma.url}/#/kb/gaps`);
	const row = p.locator('.kb-gap-searches table.data tr').filter({ hasText: 'nachnahme' });
	await row.waitFor();
	await row.getByRole('button', { name: 'Write an article about "nachnahme"' }).click();
	await p.getByRole('heading', { name: 'New article' }).waitFor();
	assert.equal(await p.getByLabel('Question').inputValue(), 'nachnahme');
	assert.match(p.url(), /#\/kb\/new\?question=nachnahme/);
});

test('in a chat, the visitor\'s question brings up the article and a product; Insert fills the message field only', async () => {
	const p = page;
	const vis = await visitor(emma, { vid: 'kb-visitor-1' });
	sockets.push(vis);
	vis.sendJson({ type: 'start', name: 'Lena', lang: 'de' });
	vis.sendJson({ type: 'msg', client_id: 'q-1', body: QUESTION });
	const ack = await vis.next((m) => m.type === 'ack' && m.client_id === 'q-1');
	const conv = ack.conversation;

	await p.getByRole('navigation').getByRole('link', { name: /^Chats/ }).click();
	await p.locator(`li.chat-q[data-id="${conv}"] .chat-accept`).click();
	await p.locator('#chat-pane h2.chat-title').getByText('Lena').waitFor();

	const panel = p.locator('section.chat-kb');
	const art = panel.locator(`li.chat-kb-item[data-kind="article"][data-id="${articleId}"]`);
	await art.waitFor();
	assert.match(await art.innerText(), /Rücksendung/);
	assert.ok(await art.locator('mark').count() >= 1, 'the match is marked');
	const prod = panel.locator('li.chat-kb-item[data-kind="product"][data-id="BOX-1"]');
	await prod.waitFor();

	const input = p.locator('textarea.chat-input');
	await art.getByRole('button', { name: /^Insert/ }).click();
	assert.equal(await input.inputValue(), `${QUESTION}\n${emma.url}/help/default/de/${articleSlug}`);
	await prod.getByRole('button', { name: /^Insert/ }).click();
	const value = await input.inputValue();
	assert.match(value, /\nVersandkarton für Rücksendungen – 2[.,]50 EUR\nhttps:\/\/shop\.example\/p\/box-1$/);
	// Nothing was sent: the visitor got no operator message.
	await sleep(500);
	assert.equal(vis.frames.filter((m) => m.type === 'msg' && m.author === 'operator').length, 0);

	// A new message from the visitor searches again, with the last messages, the
	// conversation's language and site, and without drafts.
	const req = p.waitForRequest((r) => r.url().includes('/api/v1/faq/search') && new URL(r.url()).searchParams.get('q').includes('Wintermantel'));
	vis.sendJson({ type: 'msg', client_id: 'q-2', body: 'Habt ihr auch einen Wintermantel?' });
	const u = new URL((await req).url());
	assert.equal(u.searchParams.get('q'), `${QUESTION} Habt ihr auch einen Wintermantel?`);
	assert.equal(u.searchParams.get('lang'), 'de');
	assert.equal(u.searchParams.get('site'), 'default');
	assert.equal(u.searchParams.get('limit'), '3');
	assert.equal(u.searchParams.get('products'), '3');
	assert.equal(u.searchParams.has('drafts'), false);
	await art.waitFor();
	// The message field keeps what was inserted.
	assert.equal(await input.inputValue(), value);
});

test('an agent reads the knowledge base and the catalog but cannot change them', async () => {
	const p = await consolePage(AGENT_EMAIL, AGENT_PASSWORD);
	await p.getByRole('navigation').getByRole('link', { name: 'Knowledge base' }).click();
	await p.locator(`table.data tr[data-id="${articleId}"]`).waitFor();
	await p.getByText('Only administrators can change the knowledge base; you can read it.').first().waitFor();
	assert.equal(await p.getByRole('link', { name: 'New article' }).count(), 0);
	await p.locator(`table.data tr[data-id="${articleId}"] a`).click();
	await p.getByRole('heading', { name: 'Article', exact: true }).waitFor();
	assert.equal(await p.getByLabel('Question').inputValue(), QUESTION);
	assert.equal(await p.getByLabel('Question').isDisabled(), true);
	assert.equal(await p.getByLabel('Answer').isDisabled(), true);
	assert.equal(await p.getByRole('button', { name: 'Save' }).count(), 0);
	assert.equal(await p.getByRole('button', { name: 'Delete' }).count(), 0);
	await p.locator('#kb-preview strong').getByText('Rücksendung').waitFor();

	await p.goto(`${emma.url}/#/kb/synonyms`);
	await p.locator('table.data .kb-syn-terms').getByText('Umtausch · Rücksendung').waitFor();
	assert.equal(await p.getByRole('button', { name: 'Add', exact: true }).count(), 0);
	assert.equal(await p.getByRole('button', { name: /^Delete/ }).count(), 0);

	await p.goto(`${emma.url}/#/kb/gaps`);
	await p.locator('.kb-gap-searches table.data tr').filter({ hasText: 'nachnahme' }).waitFor();
	assert.equal(await p.getByRole('button', { name: /Write an article/ }).count(), 0);

	await p.getByRole('navigation').getByRole('link', { name: 'Products' }).click();
	await p.locator('table.data tr[data-sku="BOX-1"]').waitFor();
	assert.equal(await p.getByLabel('JSON file').count(), 0);
	assert.equal(await p.getByRole('button', { name: /^Delete/ }).count(), 0);
	// And the server agrees.
	const res = await api(emma.url, 'POST', '/api/v1/faq', { cookie: agentSession.cookie, csrf: agentSession.csrf, body: { lang: 'de', question: 'x', answer: 'y' } });
	assert.equal(res.status, 403);
});

test('no page errors', () => {
	assert.deepEqual(errors, []);
});
