// WebSocket clients for the chat protocol (docs/chat.md), for e2e tests.
//
//   const v = await visitor(emma, { vid: 'v1' });   // resolves after "hello"
//   v.send({ type: 'msg', client_id: 'a', body: 'hi' });
//   const ack = await v.next((m) => m.type === 'ack');
//
// Every frame received is kept in v.frames (in order) and matched by next()
// exactly once, so a test can assert on what arrived and how often.
import WebSocket from 'ws';
import { api, login } from './emma.mjs';

function wrap(ws) {
	const frames = [];
	const inbox = [];
	const waiters = [];
	ws.frames = frames;
	ws.on('message', (data) => {
		const msg = JSON.parse(data.toString());
		frames.push(msg);
		const w = waiters.findIndex((x) => x.pred(msg));
		if (w >= 0) waiters.splice(w, 1)[0].resolve(msg);
		else inbox.push(msg);
	});
	ws.next = (pred = () => true, ms = 5000, what = 'frame') => {
		const i = inbox.findIndex(pred);
		if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]);
		return new Promise((resolve, reject) => {
			const t = setTimeout(() => {
				const k = waiters.findIndex((x) => x.resolve === done);
				if (k >= 0) waiters.splice(k, 1);
				reject(new Error(`timeout waiting for ${what}; got ${JSON.stringify(frames.slice(-5))}`));
			}, ms);
			const done = (m) => { clearTimeout(t); resolve(m); };
			waiters.push({ pred, resolve: done });
		});
	};
	ws.send_ = ws.send.bind(ws);
	ws.sendJson = (obj) => ws.send_(JSON.stringify(obj));
	ws.opened = new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
	ws.closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
	return ws;
}

/** A visitor's chat socket; resolves once "hello" arrived (ws.hello). */
export async function visitor(emma, { site = 'default', vid = '', headers = {} } = {}) {
	const q = new URLSearchParams({ site });
	if (vid) q.set('vid', vid);
	const ws = wrap(new WebSocket(`ws://127.0.0.1:${emma.port}/ws/visitor?${q}`, { headers }));
	await ws.opened;
	ws.hello = await ws.next((m) => m.type === 'hello', 5000, 'hello');
	return ws;
}

/** An operator's console socket with a session; resolves after the snapshot frames. */
export async function operator(emma, session) {
	const ws = wrap(new WebSocket(`ws://127.0.0.1:${emma.port}/ws/operator`, { headers: { cookie: session.cookie } }));
	await ws.opened;
	ws.session = session;
	ws.hello = await ws.next((m) => m.type === 'hello', 5000, 'hello');
	ws.conversations = await ws.next((m) => m.type === 'conversations', 5000, 'conversations');
	ws.operators = await ws.next((m) => m.type === 'operators', 5000, 'operators');
	return ws;
}

/** Creates an agent through the API and signs them in. */
export async function newAgent(emma, admin, email, extra = {}) {
	const password = 'agent-password-123';
	const res = await api(emma.url, 'POST', '/api/v1/operators', {
		cookie: admin.cookie, csrf: admin.csrf,
		body: { email, name: extra.name || email.split('@')[0], role: 'agent', password, ...extra },
	});
	if (res.status !== 201) throw new Error(`create ${email}: ${res.status} ${res.text}`);
	return login(emma.url, email, password);
}

export function closeAll(...sockets) {
	for (const s of sockets) if (s && s.readyState <= 1) s.terminate();
}
