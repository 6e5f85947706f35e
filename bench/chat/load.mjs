// Load generator of the chat benchmark (bench/chat/run.sh). Drives a server that speaks the
// chat protocol of docs/chat.md — emma, or the Node relay bench/chat/relay.mjs — with:
//
//   - IDLE visitor WebSockets that connect, get "hello" and then only answer the server's pings;
//   - CONVS active conversations: one visitor socket each, served by OPS operator sockets
//     (a console handling many chats each). A visitor message "q:<cid>" is answered by the
//     operator holding the conversation with "r:<cid>"; the visitor measures
//       ack latency  = send → its ack (emma acks after the message is stored),
//       round trip   = send → operator receives → operator replies → visitor receives the reply;
//   - phase "fixed": an open-loop offered rate of visitor messages (RATE/s in total);
//   - phase "max": closed loop, each conversation sends its next message as soon as the
//     reply to the previous one arrived (CONVS round trips in flight).
//
// Messages/s counts acked messages of both sides (each round trip = 2 stored messages).
// The operators and conversations are spread over WORKERS child processes, the idle sockets
// over IDLE_WORKERS others (so their pings never delay a timestamp); each chat worker
// reports its CPU time and its event-loop delay, so the report says whether the generator
// itself was the bottleneck.
//
//   node bench/chat/load.mjs --target emma|relay --url http://127.0.0.1:PORT --pid SERVER_PID
//        [--admin-password PW] [--idle 10000] [--convs 500] [--ops 10] [--workers 2]
//        [--idle-workers 2]
//        [--rate 1000] [--duration 10] [--warmup 2] [--json FILE] [--perf-out FILE]
//
// --perf-out: records `perf record -g` of the server over the window of the max phase.
// Prints one JSON object (also written to --json FILE) with every figure.
import { fork, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const f2 = (x) => Math.round(x * 100) / 100;
const WS_OPTS = { perMessageDeflate: false, handshakeTimeout: 30000 };

// ---------------------------------------------------------------------------------------------
// Worker: owns a share of the sockets, runs the phases it is told to run.
// ---------------------------------------------------------------------------------------------
async function worker() {
	let cfg = null;
	const idle = [];
	const ops = []; // { ws, name }
	const visitors = []; // { ws, vid, conv, pending: Map cid -> t0, ready, n }
	let phase = null; // { kind, measuring, t0, t1, acks, rtt: [], ack: [], sent, errors }
	let seqNo = 0;
	const errors = {};
	const noteError = (k) => (errors[k] = (errors[k] || 0) + 1);

	const wsUrl = (path) => cfg.url.replace(/^http/, 'ws') + path;

	// Resolves with the socket once its first frame ("hello") arrived: the frame may come in
	// the same read as the upgrade answer, so the listener is there before 'open'.
	function openWs(url, headers, onFrame) {
		return new Promise((resolve, reject) => {
			const ws = new WebSocket(url, { ...WS_OPTS, headers });
			ws.on('message', onFrame);
			ws.once('message', () => resolve(ws));
			ws.once('close', () => reject(new Error('closed before hello')));
			ws.once('error', reject);
			ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
		});
	}

	// Runs fn over items with at most `limit` in flight.
	async function pool(items, limit, fn) {
		let i = 0;
		const run = async () => {
			while (i < items.length) await fn(items[i++]);
		};
		await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
	}

	async function connectOps() {
		for (const o of cfg.ops) {
			const url = cfg.target === 'emma' ? wsUrl('/ws/operator') : wsUrl('/ws/operator?op=' + encodeURIComponent(o.name));
			const op = { ws: null, name: o.name, csrf: o.csrf, cookie: o.cookie, accepting: new Set() };
			op.ws = await openWs(url, o.cookie ? { Cookie: o.cookie } : undefined, (data) => onOperatorFrame(op, data));
			op.ws.on('close', () => noteError('operator_socket_closed'));
			ops.push(op);
		}
	}

	function onOperatorFrame(op, data) {
		let m;
		try {
			m = JSON.parse(data);
		} catch {
			return noteError('operator_bad_json');
		}
		if (m.type === 'msg') {
			if (m.author !== 'visitor' || typeof m.body !== 'string' || !m.body.startsWith('q:')) return;
			op.ws.send(
				JSON.stringify({ type: 'msg', conversation: m.conversation, client_id: 'r' + m.body.slice(2), body: 'r:' + m.body.slice(2) }),
			);
		} else if (m.type === 'ack') {
			if (phase && phase.measuring) phase.acks++;
		} else if (m.type === 'error') {
			noteError('operator_error_' + (m.error && m.error.code));
		} else if (m.type === 'conversation' || m.type === 'conversations') {
			// With broadcast routing a conversation waits in the queue: take it, as a console would.
			const list = m.type === 'conversation' ? [m.conversation] : m.conversations || [];
			for (const c of list) if (c && c.status === 'pending' && cfg.target === 'emma') accept(op, c.id);
		}
	}

	async function accept(op, id) {
		if (op.accepting.has(id)) return;
		op.accepting.add(id);
		// Spread the queue over the operators instead of racing all of them on every chat.
		const mine = cfg.allOps.indexOf(op.name);
		let h = 0;
		for (const ch of id) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
		if (h % cfg.allOps.length !== mine) return;
		const res = await fetch(cfg.url + `/api/v1/conversations/${encodeURIComponent(id)}/accept`, {
			method: 'POST',
			headers: { Cookie: op.cookie, 'X-CSRF-Token': op.csrf, 'Content-Type': 'application/json' },
			body: '{}',
		});
		if (res.status !== 200) noteError('accept_' + res.status);
		await res.arrayBuffer();
	}

	async function connectIdle() {
		const vids = Array.from({ length: cfg.idle }, (_, i) => `bi${cfg.index}x${i}`);
		await pool(vids, 100, async (vid) => {
			for (let attempt = 0; ; attempt++) {
				try {
					const ws = await openWs(wsUrl(`/ws/visitor?site=${cfg.site}&vid=${vid}`), undefined, () => {});
					ws.on('close', () => noteError('idle_socket_closed'));
					idle.push(ws);
					return;
				} catch (e) {
					if (attempt >= 5) throw e;
					await sleep(200 * (attempt + 1));
				}
			}
		});
	}

	function sendQuestion(v) {
		const cid = `${cfg.index}.${v.i}.${++seqNo}`;
		const t = performance.now();
		v.pending.set(cid, t);
		v.ws.send(JSON.stringify({ type: 'msg', client_id: cid, body: 'q:' + cid }));
		if (phase && phase.measuring) phase.sent++;
	}

	function onVisitorFrame(v, data) {
		let m;
		try {
			m = JSON.parse(data);
		} catch {
			return noteError('visitor_bad_json');
		}
		const now = performance.now();
		if (m.type === 'ack') {
			const t = v.pending.get(m.client_id);
			if (t === undefined) return;
			if (phase && phase.measuring) {
				phase.acks++;
				if (t >= phase.t0) phase.ack.push(now - t);
			}
			if (m.conversation) v.conv = m.conversation;
		} else if (m.type === 'msg') {
			if (m.author !== 'operator' || typeof m.body !== 'string' || !m.body.startsWith('r:')) return;
			const cid = m.body.slice(2);
			const t = v.pending.get(cid);
			if (t === undefined) return noteError('reply_unknown_or_twice');
			v.pending.delete(cid);
			v.replies++;
			if (phase && phase.measuring && t >= phase.t0) phase.rtt.push(now - t);
			if (v.onReply) v.onReply();
		} else if (m.type === 'error') {
			noteError('visitor_error_' + (m.error && m.error.code));
			if (m.client_id) v.pending.delete(m.client_id);
			if (v.onReply) setTimeout(() => v.onReply && v.onReply(), 100);
		}
	}

	async function connectConversations() {
		const list = cfg.convs.map((i) => ({ i, vid: `ba${cfg.index}x${i}`, pending: new Map(), replies: 0, onReply: null }));
		await pool(list, 50, async (v) => {
			v.ws = await openWs(wsUrl(`/ws/visitor?site=${cfg.site}&vid=${v.vid}`), undefined, (data) => onVisitorFrame(v, data));
			v.ws.on('close', () => noteError('visitor_socket_closed'));
			v.ws.send(JSON.stringify({ type: 'start', name: v.vid }));
			// One round trip proves that an operator has the conversation.
			const deadline = Date.now() + 60000;
			while (v.replies === 0) {
				if (Date.now() > deadline) throw new Error(`conversation of ${v.vid} got no operator reply in 60 s`);
				const before = v.replies;
				sendQuestion(v);
				for (let k = 0; k < 40 && v.replies === before; k++) await sleep(50);
			}
			v.pending.clear();
		});
		visitors.push(...list);
	}

	function startPhase(kind) {
		const p = { kind, measuring: false, t0: 0, acks: 0, sent: 0, rtt: [], ack: [], cpu0: null, cpu: null };
		phase = p;
		for (const v of visitors) v.pending.clear();
		return p;
	}

	async function runFixed() {
		const p = startPhase('fixed');
		const rate = cfg.rate; // this worker's share, messages/s
		const tick = 5;
		let due = 0;
		let next = 0;
		const start = performance.now();
		let last = start;
		const timer = setInterval(() => {
			const now = performance.now();
			due += ((now - last) / 1000) * rate;
			last = now;
			while (due >= 1) {
				due--;
				sendQuestion(visitors[next]);
				next = (next + 1) % visitors.length;
			}
		}, tick);
		await measure(p);
		clearInterval(timer);
		return finish(p);
	}

	async function runMax() {
		const p = startPhase('max');
		let running = true;
		for (const v of visitors) {
			v.onReply = () => {
				if (running && v.pending.size === 0) sendQuestion(v);
			};
			sendQuestion(v);
		}
		await measure(p);
		running = false;
		for (const v of visitors) v.onReply = null;
		return finish(p);
	}

	async function measure(p) {
		await sleep(cfg.warmup * 1000);
		p.cpu0 = process.cpuUsage();
		p.lag = monitorEventLoopDelay({ resolution: 1 });
		p.lag.enable();
		p.t0 = performance.now();
		p.measuring = true;
		process.send({ type: 'window_start' });
		await sleep(cfg.duration * 1000);
		p.measuring = false;
		p.t1 = performance.now();
		p.cpu = process.cpuUsage(p.cpu0);
		p.lag.disable();
	}

	async function finish(p) {
		// Let the answers to the last messages come in (they are not counted), then count
		// what stayed without an answer.
		await sleep(3000);
		let lost = 0;
		for (const v of visitors) for (const t of v.pending.values()) if (t >= p.t0 && t <= p.t1) lost++;
		return {
			kind: p.kind,
			seconds: (p.t1 - p.t0) / 1000,
			acks: p.acks,
			sent: p.sent,
			unanswered: lost,
			rtt: p.rtt,
			ack: p.ack,
			cpu_s: (p.cpu.user + p.cpu.system) / 1e6,
			loop_delay_ms: { p99: f2(p.lag.percentile(99) / 1e6), max: f2(p.lag.max / 1e6) },
		};
	}

	process.on('disconnect', () => process.exit(0)); // the orchestrator is gone
	process.on('message', async (m) => {
		try {
			if (m.type === 'config') {
				cfg = m.cfg;
				process.send({ type: 'done' });
			} else if (m.type === 'ops') {
				await connectOps();
				process.send({ type: 'done' });
			} else if (m.type === 'idle') {
				const c0 = process.cpuUsage();
				await connectIdle();
				const c = process.cpuUsage(c0);
				process.send({ type: 'done', connected: idle.length, cpu_s: (c.user + c.system) / 1e6 });
			} else if (m.type === 'convs') {
				await connectConversations();
				process.send({ type: 'done', conversations: visitors.length });
			} else if (m.type === 'fixed') {
				process.send({ type: 'done', result: await runFixed() });
			} else if (m.type === 'max') {
				process.send({ type: 'done', result: await runMax() });
			} else if (m.type === 'stats') {
				const open = idle.filter((w) => w.readyState === 1).length;
				process.send({ type: 'done', idle_open: open, errors });
			} else if (m.type === 'close') {
				for (const w of [...idle, ...visitors.map((v) => v.ws), ...ops.map((o) => o.ws)]) w.terminate();
				process.send({ type: 'done' });
				setTimeout(() => process.exit(0), 100);
			}
		} catch (e) {
			process.send({ type: 'fail', error: String(e && e.stack ? e.stack : e) });
		}
	});
}

// ---------------------------------------------------------------------------------------------
// Orchestrator.
// ---------------------------------------------------------------------------------------------
function parseArgs() {
	const a = process.argv.slice(2);
	const o = {
		target: 'emma',
		url: null,
		pid: 0,
		adminPassword: process.env.EMMA_ADMIN_PASSWORD || '',
		idle: 10000,
		convs: 500,
		ops: 10,
		workers: 2,
		idleWorkers: 2,
		rate: 1000,
		duration: 10,
		warmup: 2,
		site: 'default',
		json: null,
		perfOut: null,
		maxChats: 50,
	};
	for (let i = 0; i < a.length; i += 2) {
		const k = a[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
		if (!(k in o)) throw new Error(`unknown option ${a[i]}`);
		o[k] = typeof o[k] === 'number' ? Number(a[i + 1]) : a[i + 1];
	}
	if (!o.url) throw new Error('--url is required');
	return o;
}

async function http(url, method, path, { cookie, csrf, body } = {}) {
	const headers = { 'Content-Type': 'application/json' };
	if (cookie) headers.Cookie = cookie;
	if (csrf) headers['X-CSRF-Token'] = csrf;
	const res = await fetch(url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
	const text = await res.text();
	let json = null;
	try {
		json = JSON.parse(text);
	} catch {
		// not JSON
	}
	return { status: res.status, json, text, headers: res.headers };
}

async function login(url, email, password) {
	const r = await http(url, 'POST', '/api/v1/login', { body: { email, password } });
	if (r.status !== 200) throw new Error(`login ${email}: ${r.status} ${r.text}`);
	const cookie = r.headers
		.getSetCookie()
		.map((c) => c.split(';')[0])
		.join('; ');
	return { cookie, csrf: r.json.csrf, operator: r.json.operator };
}

// Agents for emma: created (or updated) through the REST API, each signed in once.
async function emmaOperators(o) {
	const admin = await login(o.url, 'admin@localhost', o.adminPassword);
	const password = 'bench-operator-password';
	const out = [];
	for (let i = 0; i < o.ops; i++) {
		const email = `bench-op${i}@localhost`;
		let r = await http(o.url, 'POST', '/api/v1/operators', {
			...admin,
			body: { email, name: `Bench ${i}`, role: 'agent', password, max_chats: o.maxChats },
		});
		if (r.status !== 201) throw new Error(`create operator ${email}: ${r.status} ${r.text}`);
		const s = await login(o.url, email, password);
		out.push({ name: email, cookie: s.cookie, csrf: s.csrf });
	}
	return out;
}

function rssKb(pid) {
	try {
		const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
		return m ? Number(m[1]) : 0;
	} catch {
		return 0;
	}
}

// utime + stime of a process (all threads), in seconds.
function cpuSeconds(pid) {
	try {
		const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
		const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
		return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ is 100 on Linux
	} catch {
		return 0;
	}
}

// Read and write system calls from /proc/PID/io: of the whole process (r, w; with emma this
// includes the store's writes to the database files) and of its main thread (lr, lw: the
// event loop that reads and writes the sockets, in emma and in Node alike).
function syscalls(pid) {
	const read = (path) => {
		const t = readFileSync(path, 'utf8');
		return [Number(/syscr:\s+(\d+)/.exec(t)[1]), Number(/syscw:\s+(\d+)/.exec(t)[1])];
	};
	try {
		const [r, w] = read(`/proc/${pid}/io`);
		const [lr, lw] = read(`/proc/${pid}/task/${pid}/io`);
		return { r, w, lr, lw };
	} catch {
		return null;
	}
}

function pct(sorted, p) {
	if (!sorted.length) return null;
	return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function orchestrate() {
	const o = parseArgs();
	const log = (...a) => process.stderr.write(`load[${o.target}]: ${a.join(' ')}\n`);
	const opsCfg =
		o.target === 'emma' ? await emmaOperators(o) : Array.from({ length: o.ops }, (_, i) => ({ name: `op${i}` }));
	const allOps = opsCfg.map((x) => x.name);

	// Two kinds of worker process: "chat" workers hold the operators and the conversations and
	// take every timestamp; "idle" workers hold the idle sockets. Kept apart so that answering
	// thousands of server pings at once never stalls the event loop that timestamps messages
	// (one process holding 5 000 sockets answers their pings in one long run of callbacks; the
	// browsers these sockets stand for each answer one).
	const nWorkers = o.workers + o.idleWorkers;
	const workers = [];
	for (let w = 0; w < nWorkers; w++) {
		const child = fork(fileURLToPath(import.meta.url), ['--worker'], {
			stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
			detached: true, // own session, hence own autogroup: not one CPU share with the server
		});
		const wk = { child, queue: [], chat: w < o.workers };
		// BENCH_CHAT_AUTOGROUP_NICE (see run.sh): the worker's session gets that nice value.
		if (process.env.BENCH_CHAT_AUTOGROUP_NICE)
			writeFileSync(`/proc/${child.pid}/autogroup`, process.env.BENCH_CHAT_AUTOGROUP_NICE);
		child.on('message', (m) => {
			if (m.type === 'window_start') return;
			const q = wk.queue.shift();
			if (!q) return;
			if (m.type === 'fail') q.reject(new Error(`worker ${w}: ${m.error}`));
			else q.resolve(m);
		});
		child.on('exit', (code) => {
			for (const q of wk.queue.splice(0)) q.reject(new Error(`worker ${w} exited with ${code}`));
		});
		workers.push(wk);
	}
	const chatWorkers = workers.filter((wk) => wk.chat);
	const idleWorkers = o.idleWorkers > 0 ? workers.filter((wk) => !wk.chat) : chatWorkers;
	const ask = (wk, msg) =>
		new Promise((resolve, reject) => {
			wk.queue.push({ resolve, reject });
			wk.child.send(msg);
		});
	const all = (msg) => Promise.all(workers.map((wk) => ask(wk, msg)));
	const chatAll = (msg) => Promise.all(chatWorkers.map((wk) => ask(wk, msg)));
	const share = (n, k, i) => Math.floor(n / k) + (i < n % k ? 1 : 0);

	let convBase = 0;
	await Promise.all(
		workers.map((wk, w) => {
			const ci = chatWorkers.indexOf(wk);
			const ii = idleWorkers.indexOf(wk);
			const nConv = ci >= 0 ? share(o.convs, chatWorkers.length, ci) : 0;
			const convs = Array.from({ length: nConv }, (_, i) => convBase + i);
			convBase += nConv;
			return ask(wk, {
				type: 'config',
				cfg: {
					index: w,
					target: o.target,
					url: o.url,
					site: o.site,
					idle: ii >= 0 ? share(o.idle, idleWorkers.length, ii) : 0,
					convs,
					ops: ci >= 0 ? opsCfg.filter((_, i) => i % chatWorkers.length === ci) : [],
					allOps,
					rate: o.rate / chatWorkers.length,
					duration: o.duration,
					warmup: o.warmup,
				},
			});
		}),
	);

	const report = {
		target: o.target,
		idle: o.idle,
		conversations: o.convs,
		operators: o.ops,
		workers: o.workers,
		idle_workers: o.idleWorkers,
	};
	try {
		await chatAll({ type: 'ops' });
		await sleep(500);
		const rss0 = rssKb(o.pid);
		const t = performance.now();
		const idleRes = await all({ type: 'idle' });
		report.idle_connect_s = (performance.now() - t) / 1000;
		report.idle_connect_generator_cpu_s = idleRes.reduce((s, r) => s + r.cpu_s, 0);
		await sleep(2000);
		report.kb_per_fresh_connection = (rssKb(o.pid) - rss0) / o.idle;
		// Idle means quiet for a while: a server may give back per-socket
		// buffers then (emma does after 5 s); both peers are measured alike.
		await sleep(6000);
		const rss1 = rssKb(o.pid);
		report.rss_before_idle_kb = rss0;
		report.rss_with_idle_kb = rss1;
		report.kb_per_idle_connection = (rss1 - rss0) / o.idle;
		log(`${o.idle} idle sockets in ${report.idle_connect_s.toFixed(1)} s, RSS ${rss0} → ${rss1} kB after 8 s idle (${report.kb_per_fresh_connection.toFixed(2)} KB each 2 s after connecting)`);

		await chatAll({ type: 'convs' });
		log(`${o.convs} conversations answered once`);

		for (const kind of ['fixed', 'max']) {
			// Server CPU over the same window as the workers' (they all start after `warmup`).
			let c0 = 0;
			let w0 = 0;
			let io0 = null;
			let io1 = null;
			const startedAt = Date.now();
			let perf = null;
			const windowTimer = setTimeout(() => {
				c0 = cpuSeconds(o.pid);
				io0 = syscalls(o.pid);
				w0 = performance.now();
				if (kind === 'max' && o.perfOut)
					perf = spawn('perf', ['record', '-g', '-q', '-p', String(o.pid), '-o', o.perfOut, '--', 'sleep', String(o.duration)], {
						stdio: 'ignore',
					});
			}, o.warmup * 1000);
			const endTimer = setTimeout(() => {
				report[kind + '_server_cpu'] = (cpuSeconds(o.pid) - c0) / ((performance.now() - w0) / 1000);
				io1 = syscalls(o.pid);
			}, (o.warmup + o.duration) * 1000);
			const res = (await chatAll({ type: kind })).map((r) => r.result);
			clearTimeout(windowTimer);
			clearTimeout(endTimer);
			if (perf && perf.exitCode === null) await new Promise((r) => perf.once('exit', r));
			const seconds = Math.max(...res.map((r) => r.seconds));
			const acked = res.reduce((s, r) => s + r.acks, 0);
			const perMsg = (k) => (io0 && io1 && acked ? Math.round(((io1[k] - io0[k]) / acked) * 100) / 100 : null);
			const rtt = res.flatMap((r) => r.rtt).sort((a, b) => a - b);
			const ack = res.flatMap((r) => r.ack).sort((a, b) => a - b);
			const f = (x) => (x === null ? null : Math.round(x * 100) / 100);
			report[kind] = {
				offered_visitor_msgs_per_s: kind === 'fixed' ? o.rate : null,
				seconds,
				sent_visitor_msgs: res.reduce((s, r) => s + r.sent, 0),
				acked_msgs_per_s: Math.round(res.reduce((s, r) => s + r.acks, 0) / seconds),
				round_trips_per_s: Math.round(rtt.length / seconds),
				rtt_ms: { p50: f(pct(rtt, 50)), p99: f(pct(rtt, 99)), max: f(rtt[rtt.length - 1] ?? null), n: rtt.length },
				ack_ms: { p50: f(pct(ack, 50)), p99: f(pct(ack, 99)), max: f(ack[ack.length - 1] ?? null), n: ack.length },
				unanswered: res.reduce((s, r) => s + r.unanswered, 0),
				generator_cpu_per_worker: res.map((r) => Math.round((r.cpu_s / r.seconds) * 100) / 100),
				generator_loop_delay_ms: res.map((r) => r.loop_delay_ms),
				server_cpu: report[kind + '_server_cpu'] !== undefined ? Math.round(report[kind + '_server_cpu'] * 100) / 100 : null,
				msgs_per_server_cpu_s: report[kind + '_server_cpu']
					? Math.round(acked / seconds / report[kind + '_server_cpu'])
					: null,
				server_read_syscalls_per_msg: perMsg('r'),
				server_write_syscalls_per_msg: perMsg('w'),
				server_loop_read_syscalls_per_msg: perMsg('lr'),
				server_loop_write_syscalls_per_msg: perMsg('lw'),
				wall_s: (Date.now() - startedAt) / 1000,
			};
			delete report[kind + '_server_cpu'];
			log(
				`${kind}: ${report[kind].acked_msgs_per_s} acked msgs/s, rtt p50 ${report[kind].rtt_ms.p50} p99 ${report[kind].rtt_ms.p99} ms, ` +
					`ack p50 ${report[kind].ack_ms.p50} p99 ${report[kind].ack_ms.p99} ms, generator CPU ${report[kind].generator_cpu_per_worker.join('/')}` +
					` (worst loop delay ${report[kind].generator_loop_delay_ms.map((x) => x.max).join('/')} ms), server CPU ${report[kind].server_cpu}`,
			);
		}
		const stats = await all({ type: 'stats' });
		report.idle_open_at_end = stats.reduce((s, r) => s + r.idle_open, 0);
		report.errors = {};
		for (const s of stats) for (const [k, v] of Object.entries(s.errors)) report.errors[k] = (report.errors[k] || 0) + v;
		report.rss_end_kb = rssKb(o.pid);
	} finally {
		await Promise.race([all({ type: 'close' }).catch(() => {}), sleep(3000)]);
		for (const wk of workers) wk.child.kill();
	}
	const text = JSON.stringify(report);
	if (o.json) writeFileSync(o.json, text + '\n');
	console.log(text);
}

if (process.argv.includes('--worker')) worker();
else
	orchestrate().catch((e) => {
		console.error(`load: ${e && e.stack ? e.stack : e}`);
		process.exit(1);
	});
