// The help centre at /help against the real binary (docs/help.md): every page type, escaping of
// user text on each of them, votes through the plain HTML form (303 and a thank-you), the search
// page and its recording for content gaps, 404 pages, hreflang alternates, the sitemap, ETag/304,
// the cache seeing article changes, and `emma import-faq` with Markdown, CSV and JSON files.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { api, login, startEmma, waitFor } from './lib/emma.mjs';

const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
const XSS = '<script>alert("x")</script>';

let emma, admin;
const ids = {};

const get = (path, headers = {}) => api(emma.url, 'GET', path, { headers: { 'User-Agent': BROWSER_UA, ...headers } });
const adminApi = (method, path, body) => api(emma.url, method, path, { cookie: admin.cookie, csrf: admin.csrf, body });

before(async () => {
	emma = await startEmma();
	admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
	const put = async (a) => {
		const r = await adminApi('POST', '/api/v1/faq', a);
		assert.equal(r.status, 201, r.text);
		return r.json.article;
	};
	ids.return = await put({ lang: 'de', slug: 'ruecksendung', question: 'Wie funktioniert die Rücksendung?', answer: 'Drucken Sie das **Rücksendeetikett** aus dem Kundenkonto aus. Die Rücksendung ist 30 Tage kostenlos.', category: 'Versand & Rückgabe', status: 'published' });
	ids.ship = await put({ lang: 'de', slug: 'lieferzeit', question: 'Wie lange dauert der Versand?', answer: 'Die Lieferung dauert 2–3 Werktage.', category: 'Versand & Rückgabe', status: 'published' });
	ids.pay = await put({ lang: 'de', slug: 'zahlung', question: 'Welche Zahlungsarten gibt es?', answer: 'Rechnung, PayPal oder Kreditkarte.', category: 'Zahlung', status: 'published' });
	ids.draft = await put({ lang: 'de', slug: 'geheim', question: 'Geheime Aktion', answer: 'Noch nicht öffentlich.', category: 'Zahlung', status: 'draft' });
	ids.en = await put({ lang: 'en', slug: 'ruecksendung', question: 'How do returns work?', answer: 'Returns are free within 30 days.', category: 'Shipping', status: 'published' });
	ids.xss = await put({ lang: 'de', slug: 'boese', question: `Böse ${XSS} Frage`, answer: `Antwort ${XSS} <img src=x onerror=alert(1)> [klick](javascript:alert(1))`, category: `Kat ${XSS}`, status: 'published' });
	const c = await adminApi('PUT', '/api/v1/chat/settings?site=default', { color: '#aa3300' });
	assert.ok(c.status === 200 || c.status === 204, c.text);
});
after(async () => { await emma?.stop(); });

const hrefs = (html) => [...html.matchAll(/href="([^"]+)"/g)].map((m) => m[1]);

test('/help redirects to the default site in the browser language', async () => {
	let r = await get('/help', { 'Accept-Language': 'de-DE,de;q=0.9,en;q=0.8' });
	assert.equal(r.status, 302);
	assert.equal(r.headers.get('location'), '/help/default/de');
	assert.match(r.headers.get('vary') || '', /Accept-Language/);
	r = await get('/help', { 'Accept-Language': 'fr-FR, en;q=0.5, de;q=0.4' });
	assert.equal(r.headers.get('location'), '/help/default/en');
	r = await get('/help', { 'Accept-Language': 'en;q=0.3, de' });
	assert.equal(r.headers.get('location'), '/help/default/de');
	r = await get('/help');
	assert.equal(r.headers.get('location'), '/help/default/en');
	r = await get('/help/default', { 'Accept-Language': 'de' });
	assert.equal(r.status, 302);
	assert.equal(r.headers.get('location'), '/help/default/de');
});

test('home page: search box, categories with counts, site colour, lang, canonical, hreflang', async () => {
	const r = await get('/help/default/de');
	assert.equal(r.status, 200);
	assert.match(r.headers.get('content-type'), /^text\/html; charset=utf-8/);
	assert.equal(r.headers.get('cache-control'), 'public, max-age=60');
	assert.ok(r.headers.get('etag'));
	assert.match(r.headers.get('content-security-policy'), /default-src 'none'/);
	const h = r.text;
	assert.match(h, /^<!doctype html>\n<html lang="de">/);
	assert.match(h, /<title>Hilfe-Center – Default site Hilfe<\/title>/);
	assert.match(h, /<meta name="description" content="[^"]+">/);
	assert.match(h, /<link rel="canonical" href="http:\/\/127\.0\.0\.1:\d+\/help\/default\/de">/);
	assert.match(h, /<link rel="alternate" hreflang="en" href="http:\/\/127\.0\.0\.1:\d+\/help\/default\/en">/);
	assert.match(h, /--brand:#aa3300/);
	assert.match(h, /<form class="wrap search" role="search" method="get" action="\/help\/default\/de\/search">/);
	assert.match(h, /<a href="\/help\/default\/de\/c\/Versand%20%26%20R%C3%BCckgabe">Versand &amp; Rückgabe<\/a> <span class="count">2 Artikel<\/span>/);
	assert.match(h, /<a href="\/help\/default\/de\/c\/Zahlung">Zahlung<\/a> <span class="count">1 Artikel<\/span>/);
	assert.ok(!h.includes('Geheime Aktion'), 'drafts are not listed');
	assert.ok(h.includes('Meistgelesen'));
	// The style sheet it links to is served.
	const css = await get('/help/assets/help.css');
	assert.equal(css.status, 200);
	assert.match(css.headers.get('content-type'), /text\/css/);
	assert.match(css.text, /--brand/);
	// English home: English strings, html lang.
	const en = await get('/help/default/en');
	assert.match(en.text, /<html lang="en">/);
	assert.match(en.text, /How can we help\?/);
	assert.match(en.text, /1 article<\/span>/);
});

test('category page lists its published articles with breadcrumbs', async () => {
	const r = await get('/help/default/de/c/Versand%20%26%20R%C3%BCckgabe');
	assert.equal(r.status, 200, r.text);
	assert.match(r.text, /<h1>Versand &amp; Rückgabe<\/h1>/);
	assert.match(r.text, /<nav class="crumbs"/);
	assert.ok(r.text.includes('href="/help/default/de/ruecksendung"'));
	assert.ok(r.text.includes('href="/help/default/de/lieferzeit"'));
	assert.ok(!r.text.includes('zahlung"'));
	const z = await get('/help/default/de/c/Zahlung');
	assert.ok(!z.text.includes('Geheime Aktion'));
});

test('article page: question as h1, rendered answer, breadcrumbs, vote form, related, hreflang', async () => {
	const r = await get('/help/default/de/ruecksendung');
	assert.equal(r.status, 200);
	const h = r.text;
	assert.match(h, /<title>Wie funktioniert die Rücksendung\? – Default site Hilfe<\/title>/);
	assert.match(h, /<h1>Wie funktioniert die Rücksendung\?<\/h1>/);
	assert.match(h, /<strong>Rücksendeetikett<\/strong>/);
	assert.match(h, /<meta name="description" content="Drucken Sie das Rücksendeetikett/);
	assert.match(h, /<link rel="canonical" href="http:\/\/127\.0\.0\.1:\d+\/help\/default\/de\/ruecksendung">/);
	assert.match(h, /<link rel="alternate" hreflang="en" href="http:\/\/127\.0\.0\.1:\d+\/help\/default\/en\/ruecksendung">/);
	assert.match(h, /<form method="post" action="\/help\/default\/de\/ruecksendung\/vote">/);
	assert.match(h, /<button type="submit" name="helpful" value="yes">Ja<\/button>/);
	assert.match(h, /<section class="related">[\s\S]*href="\/help\/default\/de\/lieferzeit"/);
	assert.ok(hrefs(h).includes('/help/default/de/c/Versand%20%26%20R%C3%BCckgabe'), 'breadcrumb to the category');
	// No alternate when the other language has no article with this slug.
	const l = await get('/help/default/de/lieferzeit');
	assert.ok(!l.text.includes('hreflang="en" href="http'), 'no English alternate for lieferzeit');
	// Viewing counts (browser user agents only).
	await waitFor(async () => {
		const a = await adminApi('GET', `/api/v1/faq/${ids.return.id}`);
		return a.json.article.views >= 1;
	}, { what: 'view counted' });
});

test('a user-provided <script> is escaped on every page type', async () => {
	const pages = [
		'/help/default/de',
		'/help/default/de/boese',
		`/help/default/de/c/${encodeURIComponent(`Kat ${XSS}`)}`,
		`/help/default/de/search?q=${encodeURIComponent(`Böse ${XSS}`)}`,
		`/help/default/de/search?q=${encodeURIComponent(XSS + 'nichtsgefunden')}`,
		'/help/default/sitemap.xml',
		'/help/default/de/gibtsnicht',
	];
	for (const p of pages) {
		const r = await get(p);
		assert.ok(r.status === 200 || r.status === 404, `${p}: ${r.status}`);
		assert.ok(!/<script/i.test(r.text), `${p} contains a raw <script>`);
		assert.ok(!/<img src=x/i.test(r.text), `${p} contains raw <img>`);
		assert.ok(!/href="javascript:/i.test(r.text), `${p} links to javascript:`);
	}
	const a = await get('/help/default/de/boese');
	assert.ok(a.text.includes('<h1>Böse &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Frage</h1>'), a.text);
	assert.ok(a.text.includes('<title>Böse &lt;script&gt;'));
	const s = await get(`/help/default/de/search?q=${encodeURIComponent(`Böse ${XSS}`)}`);
	assert.ok(s.text.includes('value="Böse &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"'), 'query escaped in the box');
});

test('vote through the plain form: 303 back with a thank-you, counted', async () => {
	const r = await api(emma.url, 'POST', '/help/default/de/lieferzeit/vote', {
		body: 'helpful=yes',
		headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'User-Agent': BROWSER_UA },
	});
	assert.equal(r.status, 303);
	assert.equal(r.headers.get('location'), '/help/default/de/lieferzeit?voted=yes#vote');
	const page = await get('/help/default/de/lieferzeit?voted=yes');
	assert.match(page.text, /<p class="thanks" role="status">Danke für Ihre Rückmeldung!<\/p>/);
	assert.ok(!page.text.includes('name="helpful"'), 'no second vote form');
	const no = await api(emma.url, 'POST', '/help/default/de/lieferzeit/vote', {
		body: 'helpful=no',
		headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
	});
	assert.equal(no.status, 303);
	assert.equal(no.headers.get('location'), '/help/default/de/lieferzeit?voted=no#vote');
	const a = await adminApi('GET', `/api/v1/faq/${ids.ship.id}`);
	assert.equal(a.json.article.helpful_yes, 1);
	assert.equal(a.json.article.helpful_no, 1);
	// Unhelpful votes show up in the content gaps.
	const gaps = await adminApi('GET', '/api/v1/faq/gaps');
	assert.ok(gaps.json.unhelpful.some((u) => u.id === ids.ship.id));
	// A vote for a draft or an unknown article: 404 page; nothing chosen: back without voting.
	const d = await api(emma.url, 'POST', '/help/default/de/geheim/vote', { body: 'helpful=yes', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
	assert.equal(d.status, 404);
	assert.match(d.headers.get('content-type'), /text\/html/);
	const none = await api(emma.url, 'POST', '/help/default/de/lieferzeit/vote', { body: 'helpful=maybe', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
	assert.equal(none.status, 303);
	assert.equal(none.headers.get('location'), '/help/default/de/lieferzeit');
});

test('search page: highlighted results, no-results page with a contact hint, recorded for gaps', async () => {
	const r = await get('/help/default/de/search?q=Ruecksendung');
	assert.equal(r.status, 200);
	assert.match(r.text, /<meta name="robots" content="noindex, follow">/);
	assert.match(r.text, /<a href="\/help\/default\/de\/ruecksendung">Wie funktioniert die <mark>Rücksendung<\/mark>\?<\/a>/);
	assert.ok(!r.text.includes('Geheime'));
	const none = await get('/help/default/de/search?q=Quantenverschraenkung');
	assert.equal(none.status, 200);
	assert.match(none.text, /keinen Artikel gefunden/);
	assert.match(none.text, /<aside class="contact">.*Chat/);
	const empty = await get('/help/default/de/search?q=');
	assert.equal(empty.status, 200);
	assert.match(empty.text, /<h1>Suche<\/h1>/);
	await waitFor(async () => {
		const g = await adminApi('GET', '/api/v1/faq/gaps');
		return g.json.searches.some((s) => s.query === 'quantenverschraenkung' && s.without_results >= 1);
	}, { what: 'search without results in the gaps' });
});

test('404 pages are HTML for unknown slug, site, language and category', async () => {
	for (const p of ['/help/default/de/gibtsnicht', '/help/nosuchsite/de', '/help/default/fr', '/help/default/de/c/Nichts', '/help/default/de/geheim', '/help/nosuchsite/sitemap.xml', '/help/default/de/Bad_Slug']) {
		const r = await get(p);
		assert.equal(r.status, 404, p);
		assert.match(r.headers.get('content-type'), /^text\/html/, p);
		assert.match(r.text, /<meta name="robots" content="noindex, follow">/, p);
		assert.match(r.text, /(Seite nicht gefunden|Page not found)/, p);
	}
	const de = await get('/help/default/de/gibtsnicht');
	assert.match(de.text, /<html lang="de">/);
});

test('sitemap lists home, categories and published articles with absolute URLs', async () => {
	const r = await get('/help/default/sitemap.xml');
	assert.equal(r.status, 200);
	assert.match(r.headers.get('content-type'), /application\/xml/);
	const locs = [...r.text.matchAll(/<loc>([^<]+)<\/loc>/g)].map((m) => m[1].replace(/^http:\/\/127\.0\.0\.1:\d+/, ''));
	for (const p of ['/help/default/de', '/help/default/en', '/help/default/de/ruecksendung', '/help/default/en/ruecksendung', '/help/default/de/c/Versand%20%26%20R%C3%BCckgabe'])
		assert.ok(locs.includes(p), `${p} in ${locs.join(' ')}`);
	assert.ok(!locs.includes('/help/default/de/geheim'), 'drafts are not in the sitemap');
	assert.match(r.text, /<lastmod>\d{4}-\d\d-\d\d<\/lastmod>/);
});

test('ETag and 304; gzip; the cache sees article changes at once', async () => {
	const r = await get('/help/default/de/zahlung');
	const etag = r.headers.get('etag');
	assert.match(etag, /^"h[0-9a-f]+"$/);
	const again = await get('/help/default/de/zahlung', { 'If-None-Match': etag });
	assert.equal(again.status, 304);
	assert.equal(again.text, '');
	const gz = await fetch(new URL('/help/default/de/zahlung', emma.url), { headers: { 'Accept-Encoding': 'gzip' } });
	assert.equal(gz.headers.get('content-encoding'), 'gzip');
	assert.match(await gz.text(), /Welche Zahlungsarten gibt es\?/);
	// Change the article: the next page shows it (no stale cache), with a new ETag.
	const p = await adminApi('PATCH', `/api/v1/faq/${ids.pay.id}`, { question: 'Wie kann ich bezahlen?' });
	assert.equal(p.status, 200, p.text);
	const changed = await get('/help/default/de/zahlung', { 'If-None-Match': etag });
	assert.equal(changed.status, 200);
	assert.match(changed.text, /<h1>Wie kann ich bezahlen\?<\/h1>/);
	assert.notEqual(changed.headers.get('etag'), etag);
	// Unpublished: gone from the help centre.
	await adminApi('PATCH', `/api/v1/faq/${ids.pay.id}`, { status: 'draft' });
	assert.equal((await get('/help/default/de/zahlung')).status, 404);
	// HEAD works like GET without a body.
	const head = await fetch(new URL('/help/default/de', emma.url), { method: 'HEAD' });
	assert.equal(head.status, 200);
});

const EMMA_BIN = resolve(process.env.EMMA_BIN || 'emma');

function importFaq(args) {
	const r = spawnSync(EMMA_BIN, ['import-faq', '--data', emma.dataDir, ...args], { encoding: 'utf8', timeout: 30000 });
	return { code: r.status, out: r.stdout, err: r.stderr };
}

test('emma import-faq: Markdown folder, CSV with a broken row, JSON; re-import updates by slug', async () => {
	const dir = mkdtempSync(join(tmpdir(), 'emma-faq-'));
	try {
		const md = join(dir, 'md');
		mkdirSync(md);
		writeFileSync(join(md, 'umtausch.md'), '---\nquestion: Kann ich Ware umtauschen?\ncategory: Umtausch\ntags: umtausch, groesse\nlang: de\n---\nJa, **innerhalb von 30 Tagen**.\n');
		writeFileSync(join(md, 'gutschein.md'), '---\nquestion: "Wie löse ich einen Gutschein ein?"\ncategory: Zahlung\n---\nIm Warenkorb den Code eingeben.\n');
		writeFileSync(join(md, 'kaputt.md'), '---\ncategory: Umtausch\nlang: fr\n---\nText\n');
		writeFileSync(join(md, 'ohne.md'), 'Kein Front Matter\n');
		writeFileSync(join(md, 'notes.txt'), 'ignored\n');
		const csv = join(dir, 'faq.csv');
		writeFileSync(csv, 'question,answer,category,tags,lang,status\n' +
			'"How long does delivery take?","Two to three **days**.",Shipping,"delivery, time",en,published\n' +
			'"Bad language","x",Shipping,,xx,published\n' +
			'"Broken row","this quote never closes,Shipping,,en,published\n');
		const json = join(dir, 'faq.json');
		writeFileSync(json, '[\n' +
			JSON.stringify({ question: 'Do you ship abroad?', answer: 'Yes, to the EU.', category: 'Shipping', lang: 'en', tags: ['abroad'], slug: 'abroad' }) + ',\n' +
			JSON.stringify({ question: 42, answer: 'x', lang: 'en' }) + '\n]\n');

		let r = importFaq(['--lang', 'de', '--publish', md, csv, json]);
		assert.equal(r.code, 0, r.err + r.out);
		assert.match(r.out, /skipped .*kaputt\.md:3: lang must be de or en/);
		assert.match(r.out, /skipped .*ohne\.md:1: no front matter/);
		assert.match(r.out, /skipped .*faq\.csv:3: lang must be de or en/);
		assert.match(r.out, /skipped .*faq\.csv:4: .*quote/);
		assert.match(r.out, /skipped .*faq\.json:3: .*must be strings/);
		assert.match(r.out, /4 created, 0 updated \(matched by slug\), 5 skipped/);

		// They are on the help centre (published by --publish), with the file name as slug.
		const u = await get('/help/default/de/umtausch');
		assert.equal(u.status, 200);
		assert.match(u.text, /<h1>Kann ich Ware umtauschen\?<\/h1>/);
		assert.match(u.text, /<strong>innerhalb von 30 Tagen<\/strong>/);
		assert.equal((await get('/help/default/de/gutschein')).status, 200);
		assert.equal((await get('/help/default/en/abroad')).status, 200);
		assert.equal((await get('/help/default/en/how-long-does-delivery-take')).status, 200);

		// Re-import: updated by slug, not duplicated.
		writeFileSync(join(md, 'umtausch.md'), '---\nquestion: Kann ich Ware umtauschen oder zurückgeben?\ncategory: Umtausch\nlang: de\n---\nJa, innerhalb von 30 Tagen.\n');
		r = importFaq(['--lang', 'de', md]);
		assert.equal(r.code, 0, r.err + r.out);
		assert.match(r.out, /0 created, 2 updated \(matched by slug\), 2 skipped/);
		const list = await adminApi('GET', '/api/v1/faq?lang=de&limit=500');
		const um = list.json.articles.filter((a) => a.slug.startsWith('umtausch'));
		assert.equal(um.length, 1);
		assert.equal(um[0].question, 'Kann ich Ware umtauschen oder zurückgeben?');
		assert.equal(um[0].status, 'published', 'status kept when the file names none and --publish is not given');

		// Usage errors exit 2; a missing path exits 1.
		assert.equal(importFaq([]).code, 2);
		assert.equal(importFaq(['--lang', 'fr', md]).code, 2);
		assert.equal(importFaq(['--site', 'nosuch', md]).code, 2);
		assert.equal(importFaq(['--bogus', md]).code, 2);
		const missing = importFaq([join(dir, 'nothere.csv')]);
		assert.equal(missing.code, 1);
		assert.match(missing.out, /cannot read/);
		const help = spawnSync(EMMA_BIN, ['import-faq', '--help'], { encoding: 'utf8' });
		assert.equal(help.status, 0);
		assert.match(help.stdout, /Usage: emma import-faq/);
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
});
