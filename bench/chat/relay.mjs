// The peer of the chat benchmark: a minimal single-process Node.js relay on the `ws`
// package that speaks the visitor/operator chat protocol of docs/chat.md, but keeps
// everything in memory and stores nothing. It is what one would write as a quick relay:
// hello, msg → ack with a per-conversation seq, fan-out to the visitor's and the
// operator's sockets, resume from a bounded in-memory backlog, dedup by client id,
// auto-assignment to the connected operator with the fewest conversations, and
// server pings with a liveness check.
//
//   node bench/chat/relay.mjs [--port 0] [--host 127.0.0.1]
//   RELAY_PING_S=30  (ping interval; a socket without a pong for two intervals is dropped)
//
// Prints "listening port=N" on stdout once it accepts connections. Operators connect to
// /ws/operator?op=NAME (no sign-in: the relay has no accounts).
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { WebSocketServer } from 'ws';

const args = process.argv.slice(2);
const arg = (name, def) => {
	const i = args.indexOf(name);
	return i >= 0 ? args[i + 1] : def;
};
const PORT = Number(arg('--port', '0'));
const HOST = arg('--host', '127.0.0.1');
const PING_S = Number(process.env.RELAY_PING_S || 30);
const BACKLOG = 200; // messages kept per conversation for resume
const CLIENT_IDS = 1000; // client ids remembered per conversation for dedup
const BODY_MAX = 4000;

const visitors = new Map(); // vid -> { sockets: Set, conv: conversation|null }
const operators = new Map(); // name -> { sockets: Set, convs: Set }
const conversations = new Map(); // id -> { id, vid, operator, status, seq, backlog, cids }

const send = (ws, obj) => {
	if (ws.readyState === 1) ws.send(JSON.stringify(obj));
};
const convPublic = (c) => (c ? { id: c.id, status: c.status, channel: 'chat', operator: c.operator ? { name: c.operator } : null } : null);

function pickOperator() {
	let best = null;
	for (const [name, op] of operators) {
		if (op.sockets.size === 0) continue;
		if (!best || op.convs.size < best.op.convs.size) best = { name, op };
	}
	return best;
}

function startConversation(v, vid) {
	const c = { id: 'c' + randomUUID(), vid, operator: null, status: 'pending', seq: 0, backlog: [], cids: new Map() };
	conversations.set(c.id, c);
	v.conv = c;
	const best = pickOperator();
	if (best) {
		c.operator = best.name;
		c.status = 'open';
		best.op.convs.add(c.id);
		for (const s of best.op.sockets) send(s, { type: 'conversation', conversation: convPublic(c) });
		for (const s of v.sockets) send(s, { type: 'operator_joined', conversation: c.id, operator: { name: c.operator, avatar: null } });
	}
	return c;
}

// Stores nothing: assigns the next seq, remembers the client id, acks, fans out.
function post(c, author, clientId, body, from) {
	const known = clientId ? c.cids.get(clientId) : undefined;
	if (known !== undefined) {
		send(from, { type: 'ack', client_id: clientId, seq: known, conversation: c.id });
		return;
	}
	const m = {
		type: 'msg',
		conversation: c.id,
		seq: ++c.seq,
		author,
		body,
		created: new Date().toISOString(),
		client_id: clientId,
		operator: author === 'operator' ? { name: c.operator, avatar: null } : undefined,
	};
	if (clientId) {
		c.cids.set(clientId, m.seq);
		if (c.cids.size > CLIENT_IDS) c.cids.delete(c.cids.keys().next().value);
	}
	c.backlog.push(m);
	if (c.backlog.length > BACKLOG) c.backlog.shift();
	send(from, { type: 'ack', client_id: clientId, seq: m.seq, conversation: c.id });
	const v = visitors.get(c.vid);
	// Like emma: every socket of the visitor and of the operator gets the message, the
	// sender's included (other tabs stay in step the same way).
	if (v) for (const s of v.sockets) send(s, m);
	const op = c.operator && operators.get(c.operator);
	if (op) for (const s of op.sockets) send(s, m);
}

function onVisitor(ws, url) {
	const vid = url.searchParams.get('vid') || 'v' + randomUUID().replaceAll('-', '');
	let v = visitors.get(vid);
	if (!v) visitors.set(vid, (v = { sockets: new Set(), conv: null }));
	v.sockets.add(ws);
	send(ws, {
		type: 'hello',
		vid,
		resume_from: v.conv ? v.conv.seq : 0,
		conversation: convPublic(v.conv),
		available: !!pickOperator(),
		prechat: { name: 'optional', email: 'optional', consent: 'off' },
		greeting: '',
		color: '',
		invite: null,
	});
	if (v.conv && v.conv.operator)
		send(ws, { type: 'operator_joined', conversation: v.conv.id, operator: { name: v.conv.operator, avatar: null } });
	ws.on('message', (data) => {
		let m;
		try {
			m = JSON.parse(data);
		} catch {
			return send(ws, { type: 'error', error: { code: 'invalid_json', message: 'expected a JSON object', field: null } });
		}
		switch (m.type) {
			case 'start':
				if (!v.conv) startConversation(v, vid);
				send(ws, { type: 'conversation', conversation: convPublic(v.conv) });
				break;
			case 'msg':
				if (typeof m.body !== 'string' || !m.body || m.body.length > BODY_MAX)
					return send(ws, { type: 'error', client_id: m.client_id, error: { code: 'invalid_field', message: 'body', field: 'body' } });
				if (!v.conv) {
					startConversation(v, vid);
					send(ws, { type: 'conversation', conversation: convPublic(v.conv) });
				}
				post(v.conv, 'visitor', m.client_id, m.body, ws);
				break;
			case 'resume':
				if (v.conv) for (const b of v.conv.backlog) if (b.seq > (m.after | 0)) send(ws, b);
				break;
			case 'typing': {
				const op = v.conv && v.conv.operator && operators.get(v.conv.operator);
				if (op) for (const s of op.sockets) send(s, { type: 'typing', conversation: v.conv.id, typing: !!m.typing, author: 'visitor' });
				break;
			}
			case 'close':
				if (v.conv) {
					const c = v.conv;
					c.status = 'closed';
					v.conv = null;
					const op = c.operator && operators.get(c.operator);
					if (op) {
						op.convs.delete(c.id);
						for (const s of op.sockets) send(s, { type: 'conversation', conversation: convPublic(c) });
					}
					conversations.delete(c.id);
				}
				break;
			default:
				send(ws, { type: 'error', error: { code: 'unknown_type', message: 'unknown message type', field: 'type' } });
		}
	});
	ws.on('close', () => {
		v.sockets.delete(ws);
		if (v.sockets.size === 0 && !v.conv) visitors.delete(vid);
	});
}

function onOperator(ws, url) {
	const name = url.searchParams.get('op') || 'operator';
	let op = operators.get(name);
	if (!op) operators.set(name, (op = { sockets: new Set(), convs: new Set() }));
	op.sockets.add(ws);
	send(ws, { type: 'hello', operator: { id: name, email: name }, sockets: op.sockets.size });
	send(ws, { type: 'conversations', conversations: [...op.convs].map((id) => convPublic(conversations.get(id))) });
	ws.on('message', (data) => {
		let m;
		try {
			m = JSON.parse(data);
		} catch {
			return;
		}
		if (m.type === 'msg') {
			const c = conversations.get(m.conversation);
			if (!c || c.operator !== name)
				return send(ws, { type: 'error', client_id: m.client_id, error: { code: 'not_found', message: 'no such conversation', field: 'conversation' } });
			post(c, 'operator', m.client_id, m.body, ws);
		} else if (m.type === 'typing') {
			const c = conversations.get(m.conversation);
			const v = c && visitors.get(c.vid);
			if (v) for (const s of v.sockets) send(s, { type: 'typing', typing: !!m.typing, operator: { name } });
		} else if (m.type === 'ping') {
			send(ws, { type: 'pong' });
		}
	});
	ws.on('close', () => op.sockets.delete(ws));
}

const server = createServer((req, res) => {
	res.writeHead(req.url === '/healthz' ? 200 : 404).end(req.url === '/healthz' ? 'ok' : '');
});
const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
server.on('upgrade', (req, socket, head) => {
	const url = new URL(req.url, 'http://relay');
	if (url.pathname !== '/ws/visitor' && url.pathname !== '/ws/operator') return socket.destroy();
	wss.handleUpgrade(req, socket, head, (ws) => {
		ws.isAlive = true;
		ws.on('pong', () => (ws.isAlive = true));
		if (url.pathname === '/ws/visitor') onVisitor(ws, url);
		else onOperator(ws, url);
	});
});
setInterval(() => {
	for (const ws of wss.clients) {
		if (!ws.isAlive) {
			ws.terminate();
			continue;
		}
		ws.isAlive = false;
		ws.ping();
	}
}, PING_S * 1000).unref();
server.listen(PORT, HOST, () => console.log(`listening port=${server.address().port}`));
const stop = () => {
	for (const ws of wss.clients) ws.close(1001);
	server.close(() => process.exit(0));
	setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
