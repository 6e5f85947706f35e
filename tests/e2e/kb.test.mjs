// Knowledge base and product search against the real binary (docs/help.md):
// German umlaut spellings and compounds, stemming, typo tolerance, synonyms,
// highlighting that cannot inject markup, drafts, votes, content gaps.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, login, startEmma } from './lib/emma.mjs';
import { newAgent } from './lib/chat.mjs';

let emma, admin;
const ids = {};
before(async () => {
	emma = await startEmma();
	admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
	const put = async (a) => {
		const r = await api(emma.url, 'POST', '/api/v1/faq', { cookie: admin.cookie, csrf: admin.csrf, body: a });
		assert.equal(r.status, 201, r.text);
		return r.json.article;
	};
	ids.return = (await put({ lang: 'de', question: 'Wie funktioniert die Rücksendung?', answer: 'Drucken Sie das **Rücksendeetikett** aus dem Kundenkonto aus. Die Warenrücksendung ist 30 Tage kostenlos.', category: 'Versand', tags: ['retoure'], status: 'published' })).id;
	ids.shipping = (await put({ lang: 'de', question: 'Wie lange dauert der Versand?', answer: 'Die Lieferung dauert 2–3 Werktage innerhalb Deutschlands.', category: 'Versand', status: 'published' })).id;
	ids.payment = (await put({ lang: 'de', question: 'Welche Zahlungsarten gibt es?', answer: 'Sie können mit Rechnung, PayPal oder Kreditkarte bezahlen.', category: 'Zahlung', status: 'published' })).id;
	ids.draft = (await put({ lang: 'de', question: 'Geheime Rabattaktion', answer: 'Noch nicht veröffentlicht: Rücksendung gratis für immer.', status: 'draft' })).id;
	ids.en = (await put({ lang: 'en', question: 'How do I return an item?', answer: 'Returns are free within 30 days. Print the returns label from your account.', category: 'Shipping', status: 'published' })).id;
	ids.xss = (await put({ lang: 'en', question: 'Sizes <script>alert(1)</script> & fit', answer: 'Our sizes run small. <img src=x onerror=alert(1)> [click](javascript:alert(1))', status: 'published' })).id;
	const feed = await api(emma.url, 'POST', '/api/v1/products', { cookie: admin.cookie, csrf: admin.csrf, body: { products: [
		{ sku: 'MNT-1', name: 'Wintermantel Wolle', description: 'Warmer Mantel aus Schurwolle', category: 'Jacken', price: 199.9, currency: 'EUR', url: 'https://shop.example/p/mnt-1', availability: 'in_stock' },
		{ sku: 'SCH-2', name: 'Laufschuhe Leicht', description: 'Leichte Schuhe zum Laufen', category: 'Schuhe', price: 89, currency: 'EUR', url: '/p/sch-2' },
		{ sku: '', name: 'broken' },
		{ sku: 'BAD-3', price: -1 },
	] } });
	assert.equal(feed.status, 200, feed.text);
	assert.equal(feed.json.created, 2);
	assert.deepEqual(feed.json.errors.map((e) => e.field), ['products[2].sku', 'products[3].price']);
});
after(async () => { await emma?.stop(); });

const search = (q, lang = 'de', extra = '') => api(emma.url, 'GET', `/api/v1/faq/search?q=${encodeURIComponent(q)}&lang=${lang}${extra}`);

test('umlaut spellings, stemming and compounds find the return article first', async () => {
	for (const q of ['Rücksendung', 'Ruecksendung', 'rücksendungen', 'Wie schicke ich eine Rücksendung zurück?', 'Warenrücksendung', 'Rücksendeetikett']) {
		const r = await search(q);
		assert.equal(r.status, 200, r.text);
		assert.equal(r.headers.get('access-control-allow-origin'), '*');
		assert.ok(r.json.articles.length >= 1, `${q}: no result`);
		assert.equal(r.json.articles[0].id, ids.return, `${q}: ${JSON.stringify(r.json.articles.map((a) => a.id))}`);
	}
	// "sendung" alone is a tail of the compounds.
	assert.equal((await search('Sendung')).json.articles[0]?.id, ids.return);
	// Drafts are never public.
	const d = await search('Rabattaktion');
	assert.equal(d.json.articles.length, 0);
	// English stemming.
	const en = await search('returning items', 'en');
	assert.equal(en.json.articles[0].id, ids.en);
});

test('typo tolerance for short queries, and the correction is reported', async () => {
	const r = await search('Zahlungsartn');
	assert.equal(r.json.articles[0]?.id, ids.payment, r.text);
	assert.ok(Array.isArray(r.json.corrected));
	const r2 = await search('Lieferng');
	assert.equal(r2.json.articles[0]?.id, ids.shipping, r2.text);
});

test('synonyms managed per site', async () => {
	assert.equal((await search('Umtausch')).json.articles.length, 0);
	// The tag "retoure" and the word "Retour" share a stem already.
	assert.equal((await search('Retour')).json.articles[0]?.id, ids.return);
	const bad = await api(emma.url, 'POST', '/api/v1/faq/synonyms', { cookie: admin.cookie, csrf: admin.csrf, body: { lang: 'de', terms: ['Retour'] } });
	assert.equal(bad.status, 422);
	assert.equal(bad.json.error.field, 'terms');
	const ok = await api(emma.url, 'POST', '/api/v1/faq/synonyms', { cookie: admin.cookie, csrf: admin.csrf, body: { lang: 'de', terms: ['Retour', 'Rücksendung', 'Umtausch'] } });
	assert.equal(ok.status, 201, ok.text);
	assert.equal((await search('Umtausch')).json.articles[0]?.id, ids.return);
	const list = await api(emma.url, 'GET', '/api/v1/faq/synonyms', { cookie: admin.cookie });
	assert.ok(list.json.synonyms.some((s) => s.terms.includes('Umtausch')));
	assert.equal((await api(emma.url, 'DELETE', `/api/v1/faq/synonyms/${ok.json.synonym.id}`, { cookie: admin.cookie, csrf: admin.csrf })).status, 204);
	assert.equal((await search('Umtausch')).json.articles.length, 0);
});

test('matches are highlighted and markup from articles is escaped', async () => {
	const r = await search('Rücksendung');
	assert.match(r.json.articles[0].question_html, /<mark>Rücksendung<\/mark>/);
	const x = await search('sizes', 'en');
	const hit = x.json.articles[0];
	assert.equal(hit.id, ids.xss);
	assert.ok(!hit.question_html.includes('<script>'), hit.question_html);
	assert.match(hit.question_html, /&lt;script&gt;/);
	// The rendered answer drops raw HTML and javascript: links.
	const full = await api(emma.url, 'GET', `/api/v1/faq/${ids.xss}`, { cookie: admin.cookie });
	assert.ok(!/<img|onerror|javascript:/i.test(full.json.article.answer_html), full.json.article.answer_html);
});

test('products are found beside articles', async () => {
	const r = await search('Mantel');
	assert.equal(r.json.products[0]?.sku, 'MNT-1');
	assert.match(r.json.products[0].name_html, /<mark>/);
	const s = await search('laufen');
	assert.equal(s.json.products[0]?.sku, 'SCH-2');
	const list = await api(emma.url, 'GET', '/api/v1/products', { cookie: admin.cookie });
	assert.equal(list.json.products.length, 2);
	assert.equal((await api(emma.url, 'DELETE', '/api/v1/products/SCH-2', { cookie: admin.cookie, csrf: admin.csrf })).status, 204);
	assert.equal((await search('laufen')).json.products.length, 0);
});

test('votes, views and deflections are counted; content gaps list what was not found', async () => {
	const vote = (id, helpful) => api(emma.url, 'POST', `/api/v1/faq/${id}/vote`, { body: { helpful, vid: 'v-kb' } });
	assert.equal((await vote(ids.shipping, true)).status, 204);
	assert.equal((await vote(ids.payment, false)).status, 204);
	assert.equal((await vote(ids.payment, false)).status, 204);
	assert.equal((await vote('anope', true)).status, 404);
	assert.equal((await api(emma.url, 'POST', `/api/v1/faq/${ids.payment}/vote`, { body: {} })).status, 422);
	const ev = await api(emma.url, 'POST', '/api/v1/public/kb/events', { body: { type: 'deflected', article: ids.shipping, vid: 'v-kb' } });
	assert.equal(ev.status, 204);
	const esc = await api(emma.url, 'POST', '/api/v1/public/kb/events', { body: { type: 'escalated', query: 'Kann ich per Nachnahme zahlen?' } });
	assert.equal(esc.status, 204);
	assert.equal((await api(emma.url, 'POST', '/api/v1/public/kb/events', { body: { type: 'bogus' } })).status, 422);
	for (let i = 0; i < 3; i++) await search('Nachnahme');
	// Searches while typing say log=0 and are no content gaps.
	await search('Nachnah', 'de', '&log=0');
	await search('Gutschein');
	const a = await api(emma.url, 'GET', `/api/v1/faq/${ids.payment}`, { cookie: admin.cookie });
	assert.equal(a.json.article.helpful_no, 2);
	// The searches are written after the answers; give the group commit a moment
	// (until the last search is there: the earlier ones may be stored already).
	let gaps;
	for (let i = 0; i < 40; i++) {
		gaps = await api(emma.url, 'GET', '/api/v1/faq/gaps', { cookie: admin.cookie });
		if (gaps.json.searches.some((s) => s.query === 'gutschein')) break;
		await new Promise((r) => setTimeout(r, 50));
	}
	assert.equal(gaps.json.searches[0].query, 'nachnahme');
	assert.equal(gaps.json.searches[0].without_results, 3);
	assert.ok(gaps.json.searches.some((s) => s.query === 'gutschein'));
	assert.ok(!gaps.json.searches.some((s) => s.query === 'nachnah'));
	assert.equal(gaps.json.unhelpful[0].id, ids.payment);
	assert.equal(gaps.json.escalated[0].query, 'kann ich per nachnahme zahlen?');
});

test('who may do what, and bad input', async () => {
	const agent = await newAgent(emma, admin, 'kb-agent@shop.example');
	assert.equal((await api(emma.url, 'GET', '/api/v1/faq')).status, 401);
	assert.equal((await api(emma.url, 'GET', '/api/v1/faq', { cookie: agent.cookie })).status, 200);
	assert.equal((await api(emma.url, 'POST', '/api/v1/faq', { cookie: agent.cookie, csrf: agent.csrf, body: { lang: 'de', question: 'x', answer: 'y' } })).status, 403);
	const bad = await api(emma.url, 'POST', '/api/v1/faq', { cookie: admin.cookie, csrf: admin.csrf, body: { lang: 'fr', question: 'x', answer: 'y' } });
	assert.equal(bad.status, 422);
	assert.equal(bad.json.error.field, 'lang');
	const badTag = await api(emma.url, 'POST', '/api/v1/faq', { cookie: admin.cookie, csrf: admin.csrf, body: { lang: 'de', question: 'x', answer: 'y', tags: ['ok', 'a,b'] } });
	assert.equal(badTag.json.error.field, 'tags[1]');
	assert.equal((await search('')).status, 422);
	assert.equal((await search('x'.repeat(201))).status, 422);
	assert.equal((await api(emma.url, 'GET', '/api/v1/faq/search?q=a&site=nope')).status, 404);
	// FTS syntax in a query is just text.
	for (const q of ['"', 'NEAR(a b)', 'a OR', '*', 'title:x', '^', '(((']) assert.equal((await search(q)).status, 200, q);
	// Edit, publish, import, delete.
	const upd = await api(emma.url, 'PATCH', `/api/v1/faq/${ids.draft}`, { cookie: admin.cookie, csrf: admin.csrf, body: { status: 'published' } });
	assert.equal(upd.status, 200);
	assert.equal((await search('Rabattaktion')).json.articles[0]?.id, ids.draft);
	const imp = await api(emma.url, 'POST', '/api/v1/faq/import', { cookie: admin.cookie, csrf: admin.csrf, body: { articles: [
		{ lang: 'en', question: 'Do you ship abroad?', answer: 'Yes, to all EU countries.' },
		{ lang: 'xx', question: 'bad', answer: 'bad' },
	] } });
	assert.equal(imp.status, 200, imp.text);
	assert.equal(imp.json.created, 1);
	assert.equal(imp.json.errors[0].field, 'articles[1].lang');
	assert.equal((await search('abroad', 'en')).json.articles.length, 1);
	assert.equal((await api(emma.url, 'DELETE', `/api/v1/faq/${ids.draft}`, { cookie: admin.cookie, csrf: admin.csrf })).status, 204);
	assert.equal((await search('Rabattaktion')).json.articles.length, 0);
});

test('products are learnt from cart and order events, and the feed wins', async () => {
	const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36';
	const t = (events) => fetch(`${emma.url}/t`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'User-Agent': UA },
		body: JSON.stringify({ site: 'default', vid: 'learner-1', events }) });
	assert.equal((await t([{ type: 'pageview', url: 'https://shop.example/p/hut-7', title: 'Sonnenhut Stroh' },
		{ type: 'cart', action: 'add', sku: 'HUT-7', qty: 1, price: 29.5, total: 29.5 }])).status, 200);
	assert.equal((await t([{ type: 'order', id: 'o-1', total: 49.5, items: [{ sku: 'HUT-7', qty: 1, price: 29.5 }, { sku: 'GURT-9', qty: 1, price: 20 }] }])).status, 200);
	const list = async () => (await api(emma.url, 'GET', '/api/v1/products?limit=100', { cookie: admin.cookie })).json.products;
	let hut = (await list()).find((p) => p.sku === 'HUT-7');
	assert.equal(hut.source, 'event');
	assert.equal(hut.name, 'Sonnenhut Stroh');
	assert.equal(hut.url, 'https://shop.example/p/hut-7');
	assert.equal(hut.price, 29.5);
	assert.ok((await list()).some((p) => p.sku === 'GURT-9'));
	assert.equal((await search('Sonnenhut')).json.products[0]?.sku, 'HUT-7');
	// The feed's data replaces the learnt guess; later events do not undo it.
	await api(emma.url, 'POST', '/api/v1/products', { cookie: admin.cookie, csrf: admin.csrf, body: { sku: 'HUT-7', name: 'Strohhut Classic', price: 34.9, url: 'https://shop.example/strohhut' } });
	assert.equal((await t([{ type: 'pageview', url: 'https://shop.example/cart', title: 'Warenkorb' },
		{ type: 'cart', action: 'add', sku: 'HUT-7', qty: 1, price: 31, total: 31 }])).status, 200);
	hut = (await list()).find((p) => p.sku === 'HUT-7');
	assert.equal(hut.name, 'Strohhut Classic');
	assert.equal(hut.price, 34.9);
	assert.equal(hut.url, 'https://shop.example/strohhut');
});

test('a re-imported feed replaces the indexed product; sites, drafts and snippets stay apart', async () => {
	const auth = { cookie: admin.cookie, csrf: admin.csrf };
	const feed = (products, site) => api(emma.url, 'POST', '/api/v1/products', { ...auth, body: site ? { site, products } : { products } });
	let r = await feed([{ sku: 'LMP-7', name: 'Stehlampe Messing', description: 'Eine Leuchte aus Messing für das Wohnzimmer' }]);
	assert.equal(r.status, 200, r.text);
	assert.equal((await search('Stehlampe')).json.products[0]?.sku, 'LMP-7');
	// The same SKU again with another name: found by the new name only, once.
	r = await feed([{ sku: 'LMP-7', name: 'Bogenleuchte Marmor', description: 'Eine Leuchte mit Fuß aus Marmor' }]);
	assert.equal(r.status, 200, r.text);
	assert.equal(r.json.created, 0);
	assert.equal((await search('Stehlampe')).json.products.length, 0);
	const hit = await search('Bogenleuchte');
	assert.deepEqual(hit.json.products.map((p) => p.sku), ['LMP-7']);
	assert.match(hit.json.products[0].name_html, /<mark>Bogenleuchte<\/mark> Marmor/);
	assert.deepEqual((await search('Leuchte Marmor', 'en')).json.products.map((p) => p.sku), ['LMP-7']);

	// A large feed (the index is merged into one piece after it) is searched like a small one.
	const many = Array.from({ length: 1000 }, (_, i) => ({ sku: `BULK-${i}`, name: `Kissenbezug Nummer${i}`, description: 'Bezug aus Leinen' }));
	r = await feed(many);
	assert.equal(r.status, 200, r.text);
	assert.equal(r.json.created, 1000);
	assert.deepEqual((await search('Nummer417')).json.products.map((p) => p.sku), ['BULK-417']);
	assert.equal((await search('Kissenbezug', 'de', '&products=5')).json.products.length, 5);
	r = await feed([{ sku: 'BULK-417', name: 'Sofakissen Samt' }]);
	// (a near spelling such as "Nummer417" → "nummer41" may still find others: typo tolerance)
	assert.ok(!(await search('Nummer417')).json.products.some((p) => p.sku === 'BULK-417'));
	assert.deepEqual((await search('Sofakissen')).json.products.map((p) => p.sku), ['BULK-417']);

	// Another site's products and articles are not found from this one.
	const site = await api(emma.url, 'POST', '/api/v1/sites', { ...auth, body: { key: 'zweit', name: 'Zweiter Shop', allowed_domains: ['zweit.example'] } });
	assert.equal(site.status, 201, site.text);
	assert.equal((await feed([{ sku: 'LMP-7', name: 'Tischleuchte Marmor' }], 'zweit')).status, 200);
	const a = await api(emma.url, 'POST', '/api/v1/faq', { ...auth, body: { site: 'zweit', lang: 'de', question: 'Wie pflege ich Marmor?', answer: 'Marmor mit einem feuchten Tuch abwischen.', status: 'published' } });
	assert.equal(a.status, 201, a.text);
	r = await search('Marmor');
	assert.deepEqual(r.json.products.map((p) => p.sku), ['LMP-7']);
	assert.match(r.json.products[0].name_html, /Bogenleuchte/);
	assert.equal(r.json.articles.length, 0);
	r = await search('Marmor', 'de', '&site=zweit');
	assert.match(r.json.products[0]?.name_html ?? '', /Tischleuchte/);
	assert.equal(r.json.articles[0]?.id, a.json.article.id);
	assert.match(r.json.articles[0].snippet_html, /<mark>Marmor<\/mark> mit einem feuchten Tuch/);

	// A draft made public is found by the public, and only once; back to draft, not at all.
	const d = await api(emma.url, 'POST', '/api/v1/faq', { ...auth, body: { lang: 'de', question: 'Marmorpflege im Winter', answer: 'Noch geheim.', status: 'draft' } });
	assert.equal(d.status, 201, d.text);
	const id = d.json.article.id;
	assert.equal((await search('Marmorpflege')).json.articles.length, 0);
	assert.deepEqual((await search('Marmorpflege', 'de', '&drafts=1')).json.articles.map((x) => x.id), []); // drafts only for operators
	assert.equal((await api(emma.url, 'PATCH', `/api/v1/faq/${id}`, { ...auth, body: { status: 'published' } })).status, 200);
	assert.deepEqual((await search('Marmorpflege')).json.articles.map((x) => x.id), [id]);
	assert.equal((await api(emma.url, 'PATCH', `/api/v1/faq/${id}`, { ...auth, body: { status: 'draft' } })).status, 200);
	assert.equal((await search('Marmorpflege')).json.articles.length, 0);
	const op = await api(emma.url, 'GET', '/api/v1/faq/search?q=Marmorpflege&lang=de&drafts=1', { cookie: admin.cookie });
	assert.deepEqual(op.json.articles.map((x) => x.id), [id]);
});

test('typo corrections follow new and removed words at once; a renamed product is found by its new name at once', async (t) => {
	// An own server with the debug log: it says when the vocabularies are read into memory.
	const e = await startEmma({ t, env: { EMMA_LOG_LEVEL: 'debug' } });
	const a = await login(e.url, 'admin@localhost', e.adminPassword);
	const auth = { cookie: a.cookie, csrf: a.csrf };
	const find = (q, lang = 'de') => api(e.url, 'GET', `/api/v1/faq/search?q=${encodeURIComponent(q)}&lang=${lang}`);
	const still = () => new Promise((r) => setTimeout(r, 2300)); // the index still for longer than the grace time
	let r = await api(e.url, 'POST', '/api/v1/faq', { ...auth, body: { lang: 'de', question: 'Wie lange dauert die Lieferung?', answer: 'Zwei Tage.', status: 'published' } });
	assert.equal(r.status, 201, r.text);
	r = await api(e.url, 'POST', '/api/v1/products', { ...auth, body: { products: [{ sku: 'GK-1', name: 'Gießkanne Zink', description: 'Kanne aus Zink' }] } });
	assert.equal(r.status, 200, r.text);
	await still();
	// Now searches use the vocabularies in memory: a word nobody wrote has no correction.
	r = await find('Regenschrim');
	assert.equal(r.json.corrected, undefined, r.text);
	assert.equal(r.json.articles.length, 0);
	assert.match(e.logs(), /search vocabulary read" index="articles de"/);
	const reads = () => (e.logs().match(/search vocabulary read" index="articles de"/g) || []).length;
	const before = reads();
	// A new article's word corrects the same typo at once (the memory is out of date: not used) ...
	r = await api(e.url, 'POST', '/api/v1/faq', { ...auth, body: { lang: 'de', question: 'Gibt es einen Regenschirm als Geschenk?', answer: 'Ja, ab 50 Euro.', status: 'published' } });
	assert.equal(r.status, 201, r.text);
	const id = r.json.article.id;
	r = await find('Regenschrim');
	assert.deepEqual(r.json.corrected, ['regenschirm'], r.text);
	assert.equal(r.json.articles[0]?.id, id);
	// ... and after the vocabulary was read again (the cached "no correction" is gone).
	await still();
	r = await find('Regenschrim');
	assert.deepEqual(r.json.corrected, ['regenschirm'], r.text);
	assert.equal(r.json.articles[0]?.id, id);
	assert.ok(reads() > before, 'the articles vocabulary was read again');
	// Removed: no correction to a word no article has any more, at once and later.
	assert.equal((await api(e.url, 'DELETE', `/api/v1/faq/${id}`, auth)).status, 204);
	r = await find('Regenschrim');
	assert.equal(r.json.corrected, undefined, r.text);
	assert.equal(r.json.articles.length, 0);
	await still();
	r = await find('Regenschrim');
	assert.equal(r.json.corrected, undefined, r.text);

	// A product renamed by the feed: the new name at once, the old one no more, typos of the new one too.
	assert.equal((await find('Giesskanne')).json.products[0]?.sku, 'GK-1');
	r = await api(e.url, 'POST', '/api/v1/products', { ...auth, body: { products: [{ sku: 'GK-1', name: 'Blumenkanne Zink', description: 'Aus Zink' }] } });
	assert.equal(r.status, 200, r.text);
	assert.deepEqual((await find('Blumenkanne')).json.products.map((p) => p.sku), ['GK-1']);
	assert.equal((await find('Gießkanne')).json.products.length, 0);
	r = await find('Blumenkane');
	assert.deepEqual(r.json.corrected, ['blumenkann'], r.text);
	assert.equal(r.json.products[0]?.sku, 'GK-1');
	await still();
	assert.equal((await find('Gießkanne')).json.products.length, 0);
	assert.equal((await find('Blumenkane')).json.products[0]?.sku, 'GK-1');

	// A word's beginning (search as you type) ranks the same whether it is looked for as the words
	// it begins (vocabulary in memory) or as a prefix (just after a change): same rows, same scores.
	r = await api(e.url, 'POST', '/api/v1/faq', { ...auth, body: { lang: 'de', question: 'Lieferzeiten und Lieferkosten', answer: 'Die Lieferung ist ab 50 Euro frei, Lieferzeit zwei Tage.', status: 'published' } });
	assert.equal(r.status, 201, r.text);
	const typed = 'wie lange dauert die Liefer';
	const fresh = await find(typed); // the articles' vocabulary is out of date: prefix
	await still();
	const known = await find(typed); // read again: the words that begin with "liefer"
	assert.ok(fresh.json.articles.length >= 2, fresh.text);
	assert.deepEqual(known.json.articles.map((x) => [x.id, x.score.toFixed(9), x.question_html]), fresh.json.articles.map((x) => [x.id, x.score.toFixed(9), x.question_html]));
});
