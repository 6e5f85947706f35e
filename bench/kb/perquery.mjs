// Each search alone (docs/help.md, "Speed"): every query of a loaded bench/kb/speed.sh data
// directory is sent one at a time, ROUNDS times over the whole list, and the fastest of its
// rounds is kept (that removes the waits for a core that other work on the machine causes;
// the first round also shows what a query costs cold). Prints the distribution of the
// per-query minimum (client-side, over loopback keep-alive), of the server's own time for the
// same run (the server's debug log line "kb search"), and the slowest queries with where their
// time went: analysis and vocabulary lookups, typo correction, each ranking pass and the rows
// it ranked, highlights.
//
//   KB_DATA=bench/tmp/kbdata EMMA_BIN=build/emma node bench/kb/perquery.mjs [--rounds 5] [--top 20] [--json FILE]
//
// Searches are sent with log=0 (no search event is written), so only the search is timed.
// Benchmarks measure, they do not assert (CONVENTIONS.md 11).
import { readFileSync, writeFileSync } from 'node:fs';
import { startEmma } from '../../tests/e2e/lib/emma.mjs';

function arg(name, def) {
	const i = process.argv.indexOf(`--${name}`);
	return i > 0 ? process.argv[i + 1] : def;
}
const data = process.env.KB_DATA;
if (!data) {
	console.error('perquery: KB_DATA (a data directory loaded by bench/kb/speed.sh) is required');
	process.exit(2);
}
const rounds = +arg('rounds', 5);
const top = +arg('top', 20);
const lines = readFileSync(`${data}/kb-queries.txt`, 'utf8').split('\n').filter(Boolean);
const queries = lines.map((l) => {
	const [lang, q] = l.split('\t');
	return { lang, q: decodeURIComponent(q) };
});

const emma = await startEmma({
	dataDir: data,
	env: { EMMA_LOG_LEVEL: 'debug', EMMA_LOG_ACCESS_LOG: 'false' },
});

function pct(sorted, p) {
	return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
function dist(xs) {
	const s = [...xs].sort((a, b) => a - b);
	const mean = s.reduce((a, b) => a + b, 0) / s.length;
	return { p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99), max: s[s.length - 1], mean };
}
const fmt = (d) => `p50 ${d.p50.toFixed(2)}  p90 ${d.p90.toFixed(2)}  p99 ${d.p99.toFixed(2)}  max ${d.max.toFixed(2)}  mean ${d.mean.toFixed(2)} ms`;

// The server's debug lines, in order: one per search.
function serverLines() {
	return emma
		.logs()
		.split('\n')
		.filter((l) => l.includes('msg="kb search"'))
		.map((l) => {
			const o = {};
			for (const m of l.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)) o[m[1]] = m[2].startsWith('"') ? JSON.parse(m[2]) : m[2];
			return o;
		});
}

const best = queries.map(() => ({ ms: Infinity, server: null, first: 0 }));
try {
	for (let r = 0; r < rounds; r++) {
		for (let i = 0; i < queries.length; i++) {
			const { lang, q } = queries[i];
			const url = `${emma.url}/api/v1/faq/search?lang=${lang}&limit=5&products=3&log=0&q=${encodeURIComponent(q)}`;
			const before = serverLines().length;
			const t0 = process.hrtime.bigint();
			const res = await fetch(url);
			await res.arrayBuffer();
			const ms = Number(process.hrtime.bigint() - t0) / 1e6;
			if (res.status !== 200) throw new Error(`${q}: ${res.status}`);
			let line = null;
			for (let k = 0; k < 50 && !line; k++) {
				const ls = serverLines();
				if (ls.length > before) line = ls[ls.length - 1];
				else await new Promise((r2) => setTimeout(r2, 1));
			}
			if (r === 0) best[i].first = ms;
			if (ms < best[i].ms) best[i] = { ...best[i], ms, server: line };
		}
	}
} finally {
	await emma.stop();
}
// The vocabularies read into memory (debug log of the server), if any.
for (const l of emma.logs().split('\n').filter((x) => x.includes('search vocabulary'))) console.log(`  server: ${l.replace(/^ts=\S+ /, '')}`);

const client = dist(best.map((b) => b.ms));
const server = dist(best.map((b) => (b.server ? +b.server.us / 1000 : 0)));
const cold = dist(best.map((b) => b.first));
console.log(`kb perquery: ${queries.length} queries x ${rounds} rounds, load ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
console.log(`  fastest of ${rounds}, client:  ${fmt(client)}`);
console.log(`  fastest of ${rounds}, server:  ${fmt(server)}`);
console.log(`  first round, client:   ${fmt(cold)}`);
const order = best.map((b, i) => i).sort((a, b) => best[b].ms - best[a].ms);
console.log(`  slowest ${top} (fastest of ${rounds}; ms; server: terms/vocab sql/corrections, passes rows@ms, highlights):`);
for (const i of order.slice(0, top)) {
	const s = best[i].server || {};
	const passes = [];
	for (let p = 1; p <= +(s.passes || 0); p++) passes.push(`${s[`p${p}_rows`]}@${(s[`p${p}_us`] / 1000).toFixed(2)}`);
	console.log(
		`  ${best[i].ms.toFixed(2).padStart(6)} ${(+s.us / 1000).toFixed(2).padStart(6)}  ${queries[i].lang} ${JSON.stringify(queries[i].q).padEnd(44)}` +
			` terms ${(s.terms_us / 1000).toFixed(2)} vsql ${s.vsql} corr ${s.corrections}@${(s.correct_us / 1000).toFixed(2)}` +
			` passes ${passes.join(' ')} hl ${(s.hl_us / 1000).toFixed(2)}`,
	);
}
const out = arg('json');
if (out) writeFileSync(out, JSON.stringify(queries.map((q, i) => ({ ...q, ...best[i] })), null, 1));
