// Search quality of the help centre (docs/help.md, "Search quality"): a German/English shop's
// help articles (bench/kb/articles.json) and 100 customer questions as people type them
// (bench/kb/questions.json), each labelled with the one article it should find. Every
// question goes through GET /api/v1/faq/search (limit 5, no products); the script prints
// MRR@5 (mean of 1/rank of the right article, 0 when not in the top 5) and recall@5, overall
// and per language, first as shipped and then with a few synonym groups a shop owner would
// add after reading the content-gap report, and lists the misses.
//
//   EMMA_BIN=build/emma node bench/kb/quality.mjs [--json] [--quiet]
//
// Benchmarks measure, they do not assert (CONVENTIONS.md 11); the target is MRR@5 >= 0.8.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { api, login, startEmma } from '../../tests/e2e/lib/emma.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const articles = JSON.parse(readFileSync(join(here, 'articles.json'), 'utf8'));
const questions = JSON.parse(readFileSync(join(here, 'questions.json'), 'utf8'));
const asJson = process.argv.includes('--json');
const quiet = process.argv.includes('--quiet');

// Groups of words a shop's customers use for the same thing, as an owner would enter them
// under Help centre → Synonyms: general vocabulary of the trade, one word per entry.
const SYNONYMS = [
	{ lang: 'de', terms: ['Retoure', 'Rücksendung', 'Rückgabe', 'zurückschicken', 'zurücksenden'] },
	{ lang: 'de', terms: ['kaputt', 'defekt', 'beschädigt'] },
	{ lang: 'de', terms: ['einloggen', 'anmelden', 'Login', 'Anmeldung'] },
	{ lang: 'de', terms: ['Zahlungsarten', 'Zahlungsmöglichkeiten', 'Zahlungsmethoden'] },
	{ lang: 'de', terms: ['Newsletter', 'Werbemails', 'Werbung'] },
	{ lang: 'de', terms: ['stornieren', 'Storno', 'abbestellen'] },
	{ lang: 'de', terms: ['Laden', 'Filiale', 'Geschäft'] },
	{ lang: 'en', terms: ['parcel', 'package'] },
	{ lang: 'en', terms: ['voucher', 'coupon', 'promo', 'discount'] },
	{ lang: 'en', terms: ['instalments', 'installments'] },
	{ lang: 'en', terms: ['login', 'log', 'sign', 'signin'] },
	{ lang: 'en', terms: ['faulty', 'broken', 'broke', 'defective'] },
	{ lang: 'en', terms: ['jumper', 'sweater', 'pullover'] },
	{ lang: 'en', terms: ['newsletter', 'emails', 'marketing'] },
];

function score(results) {
	const by = { all: [], de: [], en: [] };
	for (const r of results) {
		by.all.push(r);
		by[r.lang].push(r);
	}
	const out = {};
	for (const [k, rs] of Object.entries(by)) {
		const mrr = rs.reduce((s, r) => s + (r.rank ? 1 / r.rank : 0), 0) / (rs.length || 1);
		const recall = rs.filter((r) => r.rank).length / (rs.length || 1);
		out[k] = { n: rs.length, mrr: +mrr.toFixed(3), recall: +recall.toFixed(3) };
	}
	return out;
}

async function runAll(url) {
	const results = [];
	const t0 = process.hrtime.bigint();
	for (const q of questions) {
		const r = await api(url, 'GET', `/api/v1/faq/search?q=${encodeURIComponent(q.q)}&lang=${q.lang}&limit=5&products=0`);
		if (r.status !== 200) throw new Error(`search ${q.q}: ${r.status} ${r.text}`);
		const slugs = r.json.articles.map((a) => a.slug);
		const i = slugs.indexOf(q.slug);
		results.push({ ...q, rank: i >= 0 ? i + 1 : 0, got: slugs.slice(0, 3), corrected: r.json.corrected });
	}
	const ms = Number(process.hrtime.bigint() - t0) / 1e6;
	return { results, score: score(results), ms };
}

function print(title, run) {
	const s = run.score;
	const f = (x) => `MRR@5 ${x.mrr.toFixed(3)}  recall@5 ${x.recall.toFixed(3)}  (n=${x.n})`;
	console.log(`${title}`);
	console.log(`  all  ${f(s.all)}`);
	console.log(`  de   ${f(s.de)}`);
	console.log(`  en   ${f(s.en)}`);
	if (quiet) return;
	const misses = run.results.filter((r) => r.rank !== 1);
	if (misses.length) console.log(`  not first (${misses.length}):`);
	for (const m of misses) {
		const at = m.rank ? `rank ${m.rank}` : 'missed';
		const corr = m.corrected ? ` corrected=${m.corrected.join(',')}` : '';
		console.log(`    [${m.lang}] ${JSON.stringify(m.q)} -> want ${m.slug}, ${at}; top: ${m.got.join(', ') || '(none)'}${corr}`);
	}
}

const emma = await startEmma();
try {
	const admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
	const auth = { cookie: admin.cookie, csrf: admin.csrf };
	const imp = await api(emma.url, 'POST', '/api/v1/faq/import', { ...auth, body: { articles: articles.map((a) => ({ ...a, status: 'published' })) } });
	if (imp.status !== 200 || imp.json.created !== articles.length) throw new Error(`import: ${imp.status} ${imp.text}`);
	const plain = await runAll(emma.url);
	for (const g of SYNONYMS) {
		const r = await api(emma.url, 'POST', '/api/v1/faq/synonyms', { ...auth, body: g });
		if (r.status !== 201) throw new Error(`synonyms: ${r.status} ${r.text}`);
	}
	const syn = await runAll(emma.url);
	if (asJson) {
		console.log(JSON.stringify({ articles: articles.length, questions: questions.length, plain: plain.score, synonyms: syn.score }));
	} else {
		console.log(`kb quality: ${articles.length} articles, ${questions.length} questions (${plain.score.de.n} de, ${plain.score.en.n} en)`);
		print('without synonyms', plain);
		print(`with ${SYNONYMS.length} synonym groups`, syn);
	}
} finally {
	await emma.stop();
}
