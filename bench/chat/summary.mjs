// Prints the table of the chat benchmark from the JSON reports of bench/chat/load.mjs:
// the median over the rounds of each figure, per peer, and the ratios against the targets
// (emma ≥ the relay's messages/s, round-trip p99 < 20 ms, ≤ 8 KB per idle connection).
//
//   node bench/chat/summary.mjs emma-1.json relay-1.json emma-2.json ...
// (the peer is the "target" field of each report)
import { readFileSync } from 'node:fs';

const runs = { emma: [], relay: [] };
for (const f of process.argv.slice(2)) {
	const r = JSON.parse(readFileSync(f, 'utf8'));
	runs[r.target].push(r);
}

const get = (r, path) => path.split('.').reduce((o, k) => (o == null ? o : o[k]), r);
const median = (xs) => {
	const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
	if (!v.length) return null;
	const m = v.length >> 1;
	return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const med = (peer, path) => median(runs[peer].map((r) => get(r, path)));
const all = (peer, path) => runs[peer].map((r) => get(r, path));
const fmt = (x, d = 1) => (x === null || x === undefined ? 'n/a' : Number(x).toFixed(d));
const each = (peer, path, d) => `[${all(peer, path).map((x) => fmt(x, d)).join(' ')}]`;

const rows = [];
const row = (label, path, d = 1) => rows.push([label, fmt(med('emma', path), d), fmt(med('relay', path), d), each('emma', path, d), each('relay', path, d)]);

const e0 = runs.emma[0] || runs.relay[0];
if (!e0) {
	console.error('summary: no reports');
	process.exit(1);
}
row('KB per connection, 2 s after connecting', 'kb_per_fresh_connection', 2);
row('KB per idle connection (8 s idle)', 'kb_per_idle_connection', 2);
row('RSS with idle sockets (MB)', 'rss_with_idle_kb', 0);
rows.push([`fixed: ${get(e0, 'fixed.offered_visitor_msgs_per_s')} visitor msgs/s offered`, '', '', '', '']);
row('  acked msgs/s', 'fixed.acked_msgs_per_s', 0);
row('  round trip p50 (ms)', 'fixed.rtt_ms.p50', 2);
row('  round trip p99 (ms)', 'fixed.rtt_ms.p99', 2);
row('  ack p50 (ms)', 'fixed.ack_ms.p50', 2);
row('  ack p99 (ms)', 'fixed.ack_ms.p99', 2);
row('  server CPU (cores)', 'fixed.server_cpu', 2);
row('  acked msgs per server CPU-second', 'fixed.msgs_per_server_cpu_s', 0);
rows.push(['max: closed loop, 1 round trip in flight per chat', '', '', '', '']);
row('  acked msgs/s', 'max.acked_msgs_per_s', 0);
row('  round trip p50 (ms)', 'max.rtt_ms.p50', 2);
row('  round trip p99 (ms)', 'max.rtt_ms.p99', 2);
row('  ack p50 (ms)', 'max.ack_ms.p50', 2);
row('  ack p99 (ms)', 'max.ack_ms.p99', 2);
row('  server CPU (cores)', 'max.server_cpu', 2);
row('  acked msgs per server CPU-second', 'max.msgs_per_server_cpu_s', 0);
row('  server write syscalls per acked msg', 'max.server_write_syscalls_per_msg', 2);
row('    of them by the event loop (sockets)', 'max.server_loop_write_syscalls_per_msg', 2);
row('  server read syscalls per acked msg', 'max.server_read_syscalls_per_msg', 2);
row('    of them by the event loop (sockets)', 'max.server_loop_read_syscalls_per_msg', 2);
for (const r of rows) if (r[0].startsWith('RSS')) for (const i of [1, 2]) r[i] = r[i] === 'n/a' ? r[i] : fmt(Number(r[i]) / 1024, 1);

const gen = (peer, kind) => runs[peer].map((r) => Math.max(...(get(r, kind + '.generator_cpu_per_worker') || [0])));
rows.push(['generator CPU, busiest worker (max)', fmt(median(gen('emma', 'max')), 2), fmt(median(gen('relay', 'max')), 2), `[${gen('emma', 'max').map((x) => fmt(x, 2)).join(' ')}]`, `[${gen('relay', 'max').map((x) => fmt(x, 2)).join(' ')}]`]);
const lost = (peer) => runs[peer].reduce((s, r) => s + (r.fixed?.unanswered || 0) + (r.max?.unanswered || 0), 0);
const lag = (peer, kind) => runs[peer].map((r) => Math.max(...(get(r, kind + '.generator_loop_delay_ms') || []).map((x) => x.max)));
rows.push(['generator event-loop delay, worst (fixed, ms)', fmt(median(lag('emma', 'fixed')), 1), fmt(median(lag('relay', 'fixed')), 1), `[${lag('emma', 'fixed').map((x) => fmt(x, 1)).join(' ')}]`, `[${lag('relay', 'fixed').map((x) => fmt(x, 1)).join(' ')}]`]);
rows.push(['unanswered messages (all rounds)', String(lost('emma')), String(lost('relay')), '', '']);

const w = [44, 10, 10];
console.log(`${'median of ' + runs.emma.length + ' rounds'.padEnd(w[0] - 10)}${'emma'.padStart(w[1])}${'relay'.padStart(w[2])}   each round: emma | relay`);
for (const r of rows) console.log(`${r[0].padEnd(w[0])}${r[1].padStart(w[1])}${r[2].padStart(w[2])}   ${r[3]}${r[3] ? ' | ' : ''}${r[4]}`);

const ratio = (a, b) => (a !== null && b ? a / b : null);
const mps = ratio(med('emma', 'max.acked_msgs_per_s'), med('relay', 'max.acked_msgs_per_s'));
const eff = ratio(med('emma', 'max.msgs_per_server_cpu_s'), med('relay', 'max.msgs_per_server_cpu_s'));
const p99f = med('emma', 'fixed.rtt_ms.p99');
const p99m = med('emma', 'max.rtt_ms.p99');
const kb = med('emma', 'kb_per_idle_connection');
const verdict = (ok) => (ok ? 'met' : 'MISSED');
console.log('');
console.log(`target  emma msgs/s ≥ relay (max):   ratio emma/relay ${fmt(mps, 2)}  ${verdict(mps !== null && mps >= 1)}` +
	`  (per server CPU-second: ratio ${fmt(eff, 2)})`);
console.log(`target  round-trip p99 < 20 ms:      fixed ${fmt(p99f, 2)} ms (ratio ${fmt(p99f / 20, 2)} of the target), max ${fmt(p99m, 2)} ms  ${verdict(p99f !== null && p99f < 20)} (fixed rate)`);
console.log(`target  ≤ 8 KB per idle connection:   ${fmt(kb, 2)} KB (ratio ${fmt(kb / 8, 2)} of the target; relay ${fmt(med('relay', 'kb_per_idle_connection'), 2)} KB)  ${verdict(kb !== null && kb <= 8)}`);
const genMax = Math.max(...gen('emma', 'max'), ...gen('relay', 'max'));
if (genMax > 0.85)
	console.log(`note    a generator worker used ${fmt(genMax, 2)} of a core in a max phase: the generator may have limited that figure`);
