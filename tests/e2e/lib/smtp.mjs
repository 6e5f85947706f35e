// A real SMTP server on loopback for the mail tests: aiosmtpd (Debian's python3-aiosmtpd)
// with its Mailbox handler, which stores every accepted message in a Maildir.
//
//   const smtp = await startSmtp();            // smtp.url = 'smtp://127.0.0.1:PORT'
//   const [m] = await smtp.waitForMessages(1);  // m.headers.subject, m.subject (decoded), m.text
//   await smtp.stop();
//
// aiosmtpd un-stuffs leading dots as RFC 5321 says and adds X-MailFrom / X-RcptTo with the
// envelope, so a test sees exactly what a mailbox would. EMMA_PYTHON picks the interpreter
// (default /usr/bin/python3, the one Debian's package installs into).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PYTHON = process.env.EMMA_PYTHON || '/usr/bin/python3';

/** A loopback port that was free a moment ago. */
export function freePort() {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.once('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address();
			srv.close(() => resolve(port));
		});
	});
}

/** Resolves with the server's greeting line once something on port answers. */
function greeting(port) {
	return new Promise((resolve, reject) => {
		const s = net.connect(port, '127.0.0.1');
		let data = '';
		s.setTimeout(2000, () => { s.destroy(); reject(new Error('no greeting')); });
		s.on('data', (d) => {
			data += d;
			if (data.includes('\n')) { s.end('QUIT\r\n'); resolve(data.trim()); }
		});
		s.on('error', reject);
		// Closed without a greeting (another process had the port, or aiosmtpd died):
		// without this the promise would stay pending with nothing left to wake it.
		s.on('close', () => reject(new Error('closed without a greeting')));
	});
}

/** Decodes RFC 2047 encoded words (B and Q) in a header value. */
export function decodeWords(value) {
	return value
		.replace(/\?=\s+=\?/g, '?==?') // white space between two encoded words is not text
		.replace(/=\?([^?]+)\?([bBqQ])\?([^?]*)\?=/g, (_, charset, enc, text) => {
			const bytes = enc.toUpperCase() === 'B'
				? Buffer.from(text, 'base64')
				: Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, h) => String.fromCharCode(parseInt(h, 16))), 'latin1');
			return new TextDecoder(charset).decode(bytes);
		});
}

/** Decodes a quoted-printable body (LF line ends) into UTF-8 text. */
export function decodeQP(text) {
	const bin = text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
	return Buffer.from(bin, 'latin1').toString('utf8');
}

/** Splits a stored message into raw header lines, unfolded headers (lower-case names) and body. */
export function parseMessage(raw) {
	const text = raw.replace(/\r\n/g, '\n');
	const cut = text.indexOf('\n\n');
	const head = text.slice(0, cut);
	const body = text.slice(cut + 2);
	const headers = {};
	const all = [];
	for (const line of head.replace(/\n[ \t]/g, ' ').split('\n')) {
		const i = line.indexOf(':');
		const name = line.slice(0, i).toLowerCase();
		const value = line.slice(i + 1).trim();
		all.push([name, value]);
		if (!(name in headers)) headers[name] = value;
	}
	const qp = /quoted-printable/i.test(headers['content-transfer-encoding'] || '');
	return {
		raw,
		head,
		headers,
		all,
		body,
		subject: decodeWords(headers.subject || ''),
		text: qp ? decodeQP(body) : body,
	};
}

/**
 * Starts aiosmtpd on a free loopback port (or the given one) storing into a fresh Maildir.
 * Resolves once it greets.
 */
export async function startSmtp({ port } = {}) {
	// A port found free can be taken by another test file's process before aiosmtpd
	// binds it: then aiosmtpd exits, and a fresh port is tried (twice more).
	for (let attempt = 1; ; attempt++) {
		try {
			return await startSmtpOnce(port || (await freePort()));
		} catch (e) {
			if (port || attempt === 3 || !e.exited) throw e;
		}
	}
}

async function startSmtpOnce(port) {
	const dir = mkdtempSync(join(tmpdir(), 'emma-smtp-'));
	// Python's Maildir makes its tmp/new/cur only for a directory that does not exist yet.
	for (const sub of ['tmp', 'new', 'cur']) mkdirSync(join(dir, sub));
	const proc = spawn(PYTHON, ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'aiosmtpd.handlers.Mailbox', dir], {
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	let output = '';
	proc.stdout.on('data', (d) => { output += d; });
	proc.stderr.on('data', (d) => { output += d; });
	const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
	const deadline = Date.now() + 15000;
	let greet = null;
	while (!greet) {
		if (proc.exitCode !== null) {
			rmSync(dir, { recursive: true, force: true });
			throw Object.assign(new Error(`aiosmtpd exited (${proc.exitCode}) on port ${port}: ${output}`), { exited: true });
		}
		if (Date.now() > deadline) {
			proc.kill('SIGKILL');
			throw new Error(`aiosmtpd did not start on port ${port}: ${output}`);
		}
		greet = await greeting(port).catch(() => null);
		if (!greet) await new Promise((r) => setTimeout(r, 100));
	}
	const smtp = {
		port,
		url: `smtp://127.0.0.1:${port}`,
		dir,
		greeting: greet,
		output: () => output,
		/** Every stored message, oldest first. */
		messages() {
			const newDir = join(dir, 'new');
			let files = [];
			try {
				files = readdirSync(newDir);
			} catch {
				return [];
			}
			// Maildir names start with the delivery time in seconds; the rest orders within it.
			return files
				.map((f) => ({ f, raw: readFileSync(join(newDir, f), 'utf8') }))
				.sort((a, b) => a.f.localeCompare(b.f, 'en', { numeric: true }))
				.map(({ f, raw }) => ({ file: f, ...parseMessage(raw) }));
		},
		/** Waits until at least n messages are stored; resolves with all of them. */
		async waitForMessages(n, ms = 10000) {
			const end = Date.now() + ms;
			for (;;) {
				const all = smtp.messages();
				if (all.length >= n) return all;
				if (Date.now() > end) throw new Error(`expected ${n} mails, have ${all.length}; aiosmtpd said: ${output}`);
				await new Promise((r) => setTimeout(r, 50));
			}
		},
		async stop({ keep = false } = {}) {
			if (proc.exitCode === null && proc.signalCode === null) {
				proc.kill('SIGTERM');
				const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
				await exited;
				clearTimeout(t);
			}
			if (!keep) rmSync(dir, { recursive: true, force: true });
		},
	};
	return smtp;
}
