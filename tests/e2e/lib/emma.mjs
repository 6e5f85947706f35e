// The harness every end-to-end and browser test uses to run the real `emma` binary.
//
//   import { startEmma, login, api, rawRequest } from './lib/emma.mjs';
//   const emma = await startEmma({ t });          // t: the node:test context (optional)
//   const { cookie, csrf } = await login(emma.url, 'admin@localhost', emma.adminPassword);
//   const r = await api(emma.url, 'GET', '/api/v1/me', { cookie });
//   await emma.stop();                             // { code, signal }
//
// Each instance listens on an ephemeral loopback port with a fresh data directory (removed at
// the end of a passing run). Output is collected; it is printed when the test file fails, and
// streamed live with EMMA_DEBUG=1. With EMMA_SAN=1 (a sanitizer build) startup may take longer,
// leaks are checked at exit, and any sanitizer report in stderr fails stop().
//
// Environment: EMMA_BIN (default ./emma at the repository root), EMMA_SAN, EMMA_DEBUG,
// EMMA_KEEP_DATA=1 (keep data directories for inspection).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ADMIN_EMAIL = 'admin@localhost';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const SAN = process.env.EMMA_SAN === '1';
const DEBUG = !!process.env.EMMA_DEBUG && process.env.EMMA_DEBUG !== '0';
const START_TIMEOUT_MS = SAN ? 30000 : 10000;
const STOP_TIMEOUT_MS = SAN ? 30000 : 10000;
const SAN_PATTERNS = ['ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:'];

/** Every instance started by this test file, for the exit hook below. */
const instances = new Set();
/** Data directories this harness created (removed when the run passed). */
const createdDirs = new Set();

process.on('exit', (code) => {
	// A test that forgot stop(): never leave a server running behind the test runner.
	for (const inst of instances) {
		if (inst.proc && inst.proc.exitCode === null && inst.proc.signalCode === null) {
			try {
				inst.proc.kill('SIGKILL');
			} catch {
				// already gone
			}
		}
	}
	const failed = code !== 0 || (process.exitCode && process.exitCode !== 0);
	if (failed && !DEBUG) {
		for (const inst of instances) {
			if (inst.reported) continue;
			process.stderr.write(`\n----- emma output (${inst.label}) -----\n${tail(inst.logs(), 200)}\n`);
		}
	}
	if (!failed && !process.env.EMMA_KEEP_DATA) {
		for (const d of createdDirs) rmSync(d, { recursive: true, force: true });
	} else if (createdDirs.size) {
		process.stderr.write(`emma data kept in: ${[...createdDirs].join(' ')}\n`);
	}
});

function tail(text, lines) {
	const all = text.split('\n');
	return all.length > lines ? `[... ${all.length - lines} lines cut ...]\n` + all.slice(-lines).join('\n') : text;
}

function sanitizerReport(text) {
	return SAN_PATTERNS.some((p) => text.includes(p));
}

function binPath() {
	const bin = process.env.EMMA_BIN || 'emma';
	return resolve(repoRoot, bin);
}

function freshDataDir() {
	const d = mkdtempSync(join(tmpdir(), 'emma-e2e-'));
	createdDirs.add(d);
	return d;
}

/**
 * Starts `emma serve` and resolves once it logs msg=listening.
 * opts: { dataDir, args: [], env: {EMMA_*...}, adminPassword, t (node:test context: stop() runs
 *         in its after hook), startTimeoutMs }
 */
export async function startEmma(opts = {}) {
	const inst = new Emma(opts);
	instances.add(inst);
	if (opts.t && typeof opts.t.after === 'function') {
		opts.t.after(async () => {
			if (inst.running) await inst.stop();
			else inst.checkSanitizers();
		});
	}
	await inst.start();
	return inst;
}

class Emma {
	constructor(opts) {
		this.opts = { ...opts };
		this.dataDir = opts.dataDir || freshDataDir();
		this.adminEmail = ADMIN_EMAIL;
		this.adminPassword = opts.adminPassword || randomBytes(12).toString('base64url');
		this.label = `emma ${this.dataDir}`;
		this.output = [];
		this.stderrText = '';
		this.proc = null;
		this.exited = null; // promise of { code, signal } for the current process
		this.url = null;
		this.port = null;
	}

	get running() {
		return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
	}

	/** Everything the server printed so far (all runs of this instance), stderr and stdout interleaved. */
	logs() {
		return this.output.join('');
	}

	record(stream, chunk) {
		const s = chunk.toString('utf8');
		this.output.push(s);
		if (stream === 'stderr') this.stderrText += s;
		if (DEBUG) process.stderr.write(s.replace(/^(?=.)/gm, `[emma:${this.port ?? '?'} ${stream}] `));
	}

	async start() {
		const env = {
			...process.env,
			EMMA_INITIAL_ADMIN_PASSWORD: this.adminPassword,
			...(this.opts.env || {}),
		};
		if (SAN) {
			env.ASAN_OPTIONS = ['detect_leaks=1:abort_on_error=1', process.env.ASAN_OPTIONS].filter(Boolean).join(':');
			env.UBSAN_OPTIONS = ['print_stacktrace=1', process.env.UBSAN_OPTIONS].filter(Boolean).join(':');
		}
		const args = ['serve', '--listen', '127.0.0.1:0', '--data', this.dataDir, ...(this.opts.args || [])];
		const bin = binPath();
		const proc = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
		this.proc = proc;
		this.output.push(`$ ${bin} ${args.join(' ')}\n`);
		this.exited = new Promise((res) => {
			proc.on('exit', (code, signal) => res({ code, signal }));
		});
		proc.stdout.on('data', (c) => this.record('stdout', c));

		const timeoutMs = this.opts.startTimeoutMs || START_TIMEOUT_MS;
		const port = await new Promise((res, rej) => {
			let pending = '';
			let done = false;
			const finish = (err, p) => {
				if (done) return;
				done = true;
				clearTimeout(timer);
				if (err) rej(err);
				else res(p);
			};
			// Builds the error (and marks the output as reported) only if still waiting.
			const fail = (what) => {
				if (!done) finish(this.failure(what));
			};
			const timer = setTimeout(() => {
				proc.kill('SIGKILL');
				fail(`did not log msg=listening within ${timeoutMs} ms`);
			}, timeoutMs);
			proc.stderr.on('data', (c) => {
				this.record('stderr', c);
				pending += c.toString('utf8');
				let nl;
				while ((nl = pending.indexOf('\n')) >= 0) {
					const line = pending.slice(0, nl);
					pending = pending.slice(nl + 1);
					if (!line.includes('msg=listening')) continue;
					const m = line.match(/\bport=(\d+)/) || line.match(/\b(?:listen|addr)="?[^\s"]*:(\d+)/);
					if (m) finish(null, Number(m[1]));
					else fail(`cannot find port=NNNN in: ${line}`);
				}
			});
			proc.on('error', (e) => fail(`cannot start ${bin}: ${e.message}`));
			proc.on('exit', (code, signal) => fail(`exited during startup (code ${code}, signal ${signal})`));
		});
		this.port = port;
		this.url = `http://127.0.0.1:${port}`;
		this.label = `emma :${port} ${this.dataDir}`;
		return this;
	}

	failure(what) {
		this.reported = true; // the error carries the output; the exit hook need not repeat it
		return new Error(`emma ${what}\n----- emma output -----\n${tail(this.logs(), 200)}`);
	}

	/** Throws when stderr holds a sanitizer report (ASan, LSan, UBSan). */
	checkSanitizers() {
		if (sanitizerReport(this.stderrText)) throw this.failure('reported a sanitizer error');
	}

	/** Sends signal and waits for the exit. Resolves { code, signal }; rejects on a sanitizer
	 *  report or when the process has not exited within the stop timeout (then it is killed). */
	async stop(signal = 'SIGTERM') {
		if (!this.proc) return { code: null, signal: null };
		if (this.running) this.proc.kill(signal);
		let timer;
		const timeout = new Promise((res) => {
			timer = setTimeout(() => res(null), STOP_TIMEOUT_MS);
		});
		const result = await Promise.race([this.exited, timeout]);
		clearTimeout(timer);
		if (!result) {
			this.proc.kill('SIGKILL');
			await this.exited;
			throw this.failure(`did not exit within ${STOP_TIMEOUT_MS} ms of ${signal}`);
		}
		this.checkSanitizers();
		return result;
	}

	/** kill -9: no chance to clean up (crash-safety tests). Resolves { code, signal }. */
	async kill9() {
		if (!this.proc) return { code: null, signal: null };
		if (this.running) this.proc.kill('SIGKILL');
		const result = await this.exited;
		this.checkSanitizers();
		return result;
	}

	/** Stops (SIGTERM) if still running, then starts again on the same data directory.
	 *  extraOpts (args, env, ...) replace the original ones. url and port are updated in place. */
	async restart(extraOpts = {}) {
		if (this.running) await this.stop();
		this.opts = { ...this.opts, ...extraOpts };
		this.output.push('----- restart -----\n');
		this.stderrText = '';
		await this.start();
		return this;
	}
}

/** Signs in through POST /api/v1/login. Resolves { cookie, csrf, operator }. */
export async function login(url, email, password) {
	const res = await fetch(new URL('/api/v1/login', url), {
		method: 'POST',
		headers: { 'Content-Type': 'application/json' },
		body: JSON.stringify({ email, password }),
	});
	const text = await res.text();
	if (res.status !== 200) throw new Error(`login as ${email}: HTTP ${res.status} ${text}`);
	const json = JSON.parse(text);
	const setCookies = typeof res.headers.getSetCookie === 'function'
		? res.headers.getSetCookie()
		: [res.headers.get('set-cookie')].filter(Boolean);
	// Keep only name=value of each cookie, as a browser would send them back.
	const cookie = setCookies.map((c) => c.split(';')[0].trim()).filter(Boolean).join('; ');
	if (!cookie) throw new Error(`login as ${email}: no Set-Cookie in the answer`);
	return { cookie, csrf: json.csrf, operator: json.operator };
}

/**
 * One API call. body: an object (sent as JSON), a string or a Buffer (sent as is).
 * Resolves { status, headers, json (null when the body is not JSON), text }.
 */
export async function api(url, method, path, { cookie, csrf, token, body, headers = {} } = {}) {
	const h = { ...headers };
	if (cookie) h.Cookie = cookie;
	if (csrf) h['X-CSRF-Token'] = csrf;
	if (token) h.Authorization = `Bearer ${token}`;
	let payload;
	if (body !== undefined) {
		if (typeof body === 'string' || Buffer.isBuffer(body) || body instanceof Uint8Array) {
			payload = body;
		} else {
			payload = JSON.stringify(body);
			if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['Content-Type'] = 'application/json';
		}
	}
	const res = await fetch(new URL(path, url), { method, headers: h, body: payload, redirect: 'manual' });
	const text = await res.text();
	let json = null;
	try {
		json = text ? JSON.parse(text) : null;
	} catch {
		json = null;
	}
	return { status: res.status, headers: res.headers, json, text };
}

/**
 * Raw TCP: connects to 127.0.0.1:port, writes bytes (a string, a Buffer, or an array of them
 * written one after another, delayMs apart), and resolves with everything the server sent until
 * it closed the connection or timeoutMs passed.
 * opts: { timeoutMs = 5000, delayMs = 0, end = false (half-close after writing),
 *         encoding = 'utf8' | 'latin1' | 'buffer' }
 * The result is a string (a Buffer with encoding 'buffer').
 */
export function rawRequest(port, bytes, { timeoutMs = 5000, delayMs = 0, end = false, encoding = 'utf8', host = '127.0.0.1' } = {}) {
	const parts = Array.isArray(bytes) ? bytes : [bytes];
	return new Promise((res, rej) => {
		const chunks = [];
		const sock = net.connect({ port, host });
		let settled = false;
		const done = () => {
			if (settled) return;
			settled = true;
			clearTimeout(timer);
			sock.destroy();
			const buf = Buffer.concat(chunks);
			res(encoding === 'buffer' ? buf : buf.toString(encoding));
		};
		const timer = setTimeout(done, timeoutMs);
		sock.on('data', (c) => chunks.push(c));
		sock.on('end', done);
		sock.on('close', done);
		sock.on('error', (e) => {
			// A reset after the server answered is a close like any other.
			if (chunks.length || e.code === 'ECONNRESET' || e.code === 'EPIPE') return done();
			settled = true;
			clearTimeout(timer);
			rej(e);
		});
		sock.on('connect', async () => {
			for (let i = 0; i < parts.length; i++) {
				if (settled || sock.destroyed) return;
				if (i > 0 && delayMs) await new Promise((r) => setTimeout(r, delayMs));
				if (settled || sock.destroyed) return;
				sock.write(parts[i]);
			}
			if (end && !settled) sock.end();
		});
	});
}

/** Resolves after ms milliseconds. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a truthy value or timeoutMs passes (for "eventually" checks). */
export async function waitFor(fn, { timeoutMs = 5000, intervalMs = 50, what = 'condition' } = {}) {
	const until = Date.now() + timeoutMs;
	for (;;) {
		const v = await fn();
		if (v) return v;
		if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
		await sleep(intervalMs);
	}
}

/**
 * The audit log's newest entries (limit 200), read again until pred(entries)
 * holds or timeoutMs passes: an entry is written right after the answer of
 * the request it records, so a read straight after may come too early.
 * auth is what api() takes ({cookie} or {token}).
 */
export async function auditEntries(url, auth, pred, { timeoutMs = 3000 } = {}) {
	const end = Date.now() + timeoutMs;
	for (;;) {
		const r = await api(url, 'GET', '/api/v1/audit?limit=200', auth);
		const entries = r.json?.entries || [];
		if (r.status !== 200 || pred(entries) || Date.now() > end) return entries;
		await sleep(50);
	}
}
