// Live presence under load: memory per live visitor with many simulated
// visitors, and how long a tracked event takes to reach an operator's
// /ws/operator as a visitor_enter / visitor_update frame.
//
//   node bench/presence.mjs        EMMA_BIN=./emma  PRESENCE_VISITORS=100000
//                                  PRESENCE_RATE=5000 (events/s)  PRESENCE_SECONDS=10
//                                  PRESENCE_ROUNDS=3  PRESENCE_CONNECTIONS=64
//
// Each round starts `emma serve` on a fresh data directory under /tmp (the
// per-address tracking rate limit raised through EMMA_TRACK_RATE_*: every
// request comes from 127.0.0.1), signs in as the admin and opens
// /ws/operator, then:
//   1. sends one pageview beacon (POST /t, keep-alive) for each of N new
//      visitor ids and waits until /metrics reports them all live; memory per
//      visitor = emma_live_memory_bytes / N, and (RSS after - RSS before) / N
//      from /proc/PID/status, which also counts the store's page cache and
//      the sessionizer's visitor cache;
//   2. sends pageviews of random known visitors at PRESENCE_RATE events/s
//      (open loop, one event per request, a sequence number in the URL) for
//      PRESENCE_SECONDS and matches each visitor_update frame to its request:
//      latency = frame arrival - request start, p50 / p99 / max;
//   3. opens a second operator socket, as a console opening late would, and
//      reports the size of the live-list snapshot it got, or how it was closed.
// Results are medians over the rounds. The machine is shared with other work:
// expect noise.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { startEmma, login } from '../tests/e2e/lib/emma.mjs';

const N = Number(process.env.PRESENCE_VISITORS || 100000);
const RATE = Number(process.env.PRESENCE_RATE || 5000);
const SECONDS = Number(process.env.PRESENCE_SECONDS || 10);
const ROUNDS = Number(process.env.PRESENCE_ROUNDS || 3);
const CONNS = Number(process.env.PRESENCE_CONNECTIONS || 64);
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function rssBytes(pid) {
	const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
	return m ? Number(m[1]) * 1024 : 0;
}

async function metrics(url, cookie) {
	const res = await fetch(new URL('/metrics', url), { headers: { Cookie: cookie } });
	const text = await res.text();
	const get = (name) => {
		const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
		return m ? Number(m[1]) : NaN;
	};
	return { live: get('emma_live_visitors'), liveBytes: get('emma_live_memory_bytes') };
}

function beacon(agent, port, vid, url) {
	const body = JSON.stringify({ site: 'default', vid, events: [{ type: 'pageview', url, title: 'Product' }] });
	return new Promise((resolve, reject) => {
		const req = http.request(
			{
				agent, host: '127.0.0.1', port, method: 'POST', path: '/t',
				headers: {
					'Content-Type': 'text/plain;charset=UTF-8', 'Content-Length': Buffer.byteLength(body),
					'User-Agent': UA, Origin: 'https://shop.example',
				},
			},
			(res) => {
				res.resume();
				res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`POST /t: HTTP ${res.statusCode}`))));
			},
		);
		req.on('error', reject);
		req.end(body);
	});
}

function openOperator(url, cookie, onFrame) {
	return new Promise((resolve, reject) => {
		const ws = new WebSocket(url.replace(/^http/, 'ws') + '/ws/operator', {
			headers: { Cookie: cookie }, maxPayload: 1 << 30,
		});
		ws.on('message', (data) => onFrame(data));
		ws.once('open', () => resolve(ws));
		ws.once('error', reject);
	});
}

function pct(sorted, p) {
	if (!sorted.length) return NaN;
	return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function median(xs) {
	const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
	if (!s.length) return NaN;
	return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function round(no) {
	const emma = await startEmma({
		env: {
			EMMA_LOG_ACCESS_LOG: 'false',
			EMMA_TRACK_RATE_PER_S: '1000000',
			EMMA_TRACK_RATE_BURST: '1000000',
		},
	});
	const pid = emma.proc.pid;
	const agent = new http.Agent({ keepAlive: true, maxSockets: CONNS });
	try {
		const { cookie } = await login(emma.url, 'admin@localhost', emma.adminPassword);
		const sent = new Map(); // seq -> request start
		const lat = [];
		let frames = 0;
		const ws = await openOperator(emma.url, cookie, (data) => {
			frames++;
			const s = data.toString();
			if (!s.includes('seq=')) return;
			const now = performance.now();
			const m = JSON.parse(s);
			if (m.type !== 'visitor_update' && m.type !== 'visitor_enter') return;
			const q = /[?&]seq=(\d+)/.exec(m.visitor.current_url || '');
			const t0 = q && sent.get(Number(q[1]));
			if (t0 !== undefined && t0 !== null) {
				lat.push(now - t0);
				sent.delete(Number(q[1]));
			}
		});
		await sleep(300);
		const before = await metrics(emma.url, cookie);
		const rssBefore = rssBytes(pid);

		// 1. N visitors, CONNS requests in flight.
		const t0 = performance.now();
		let next = 0;
		const worker = async () => {
			while (next < N) {
				const i = next++;
				await beacon(agent, emma.port, `p${i}`, `https://shop.example/products/item-${i % 500}`);
			}
		};
		await Promise.all(Array.from({ length: CONNS }, worker));
		const loadSecs = (performance.now() - t0) / 1000;
		let after;
		for (let i = 0; i < 50; i++) {
			after = await metrics(emma.url, cookie);
			if (after.live >= N + before.live) break;
			await sleep(100);
		}
		const rssAfter = rssBytes(pid);
		const live = after.live - before.live;
		const perLive = (after.liveBytes - before.liveBytes) / live;
		const perRss = (rssAfter - rssBefore) / live;
		console.log(
			`round ${no}: ${live} live visitors in ${loadSecs.toFixed(1)} s (${(N / loadSecs).toFixed(0)} req/s); ` +
				`emma_live_memory_bytes ${after.liveBytes} = ${perLive.toFixed(0)} B/visitor; ` +
				`RSS ${(rssBefore / 1048576).toFixed(1)} -> ${(rssAfter / 1048576).toFixed(1)} MiB = ${perRss.toFixed(0)} B/visitor`,
		);

		// 2. Open-loop events at RATE/s, in 10 ms ticks.
		let seq = 0;
		let errors = 0;
		let inflight = 0;
		const total = RATE * SECONDS;
		const start = performance.now();
		const pending = [];
		while (seq < total) {
			const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * RATE));
			while (seq < due) {
				const s = seq++;
				const vid = `p${Math.floor(Math.random() * N)}`;
				sent.set(s, performance.now());
				inflight++;
				pending.push(
					beacon(agent, emma.port, vid, `https://shop.example/products/item-${s % 500}?seq=${s}`)
						.catch(() => errors++)
						.finally(() => inflight--),
				);
			}
			await sleep(10);
		}
		await Promise.all(pending);
		const sendSecs = (performance.now() - start) / 1000;
		await sleep(1000);
		lat.sort((a, b) => a - b);
		const r = {
			perLive, perRss,
			p50: pct(lat, 50), p99: pct(lat, 99), max: lat[lat.length - 1],
			rate: total / sendSecs, matched: lat.length, total, errors,
		};
		console.log(
			`round ${no}: ${total} events at ${r.rate.toFixed(0)}/s (target ${RATE}/s), ${errors} failed; ` +
				`${lat.length} deltas matched; latency p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, ` +
				`max ${r.max.toFixed(1)} ms`,
		);

		// 3. A console that opens now: the live list arrives as one snapshot.
		let snapshot = null;
		let closeInfo = null;
		try {
			const late = await openOperator(emma.url, cookie, (data) => {
				const s = data.toString();
				if (s.startsWith('{"type":"visitors"') || s.includes('"type":"visitors"')) snapshot = s.length;
			});
			late.on('close', (code) => (closeInfo = closeInfo || `closed with ${code}`));
			for (let i = 0; i < 100 && snapshot === null && !closeInfo; i++) await sleep(100);
			late.close();
		} catch (e) {
			closeInfo = `failed: ${e.message}`;
		}
		console.log(
			`round ${no}: late operator socket: ` +
				(snapshot !== null ? `live-list snapshot of ${(snapshot / 1048576).toFixed(1)} MiB received` : closeInfo || 'no snapshot within 10 s'),
		);
		r.snapshot = snapshot;
		ws.close();
		void frames;
		return r;
	} finally {
		agent.destroy();
		await emma.stop();
	}
}

const results = [];
console.log(
	`presence: ${N} visitors, then ${RATE} events/s for ${SECONDS} s, ${ROUNDS} rounds, ${CONNS} connections ` +
		'(machine shared with other work: expect noise)',
);
for (let i = 1; i <= ROUNDS; i++) results.push(await round(i));
const m = (k) => median(results.map((r) => r[k]));
console.log(
	`RESULT presence memory: ${m('perLive').toFixed(0)} B/visitor (emma_live_memory_bytes), ` +
		`${m('perRss').toFixed(0)} B/visitor (RSS growth) with ${N} live visitors (target <= 2048 B; ` +
		`ratio to target ${(m('perLive') / 2048).toFixed(2)} / ${(m('perRss') / 2048).toFixed(2)})`,
);
console.log(
	`RESULT presence delta latency at ${m('rate').toFixed(0)} events/s (target ${RATE}): p50 ${m('p50').toFixed(1)} ms, ` +
		`p99 ${m('p99').toFixed(1)} ms (target < 1000 ms; p99/target ${(m('p99') / 1000).toFixed(2)}), ` +
		`median of ${ROUNDS} rounds`,
);
