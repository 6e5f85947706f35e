// Idle WebSockets give back their framing buffers (src/net/ws.c, "parking")
// and must work exactly as before when traffic resumes: in both directions,
// and in the middle of a fragmented message, which must never be parked.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { login, sleep, startEmma } from './lib/emma.mjs';
import { closeAll, operator, visitor } from './lib/chat.mjs';

let emma, admin;
before(async () => {
	emma = await startEmma();
	admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
});
after(async () => { await emma?.stop(); });

test('after 7 s of silence both directions still work, and a fragmented message survives the pause', async () => {
	const op = await operator(emma, admin);
	const v = await visitor(emma, { vid: 'idle-1' });
	v.sendJson({ type: 'msg', client_id: 'i1', body: 'vorher' });
	const conv = (await v.next((m) => m.type === 'ack')).conversation;
	await op.next((m) => m.type === 'msg' && m.client_id === 'i1');

	// Half a message from the operator, then silence longer than the parking delay.
	const echo = JSON.stringify({ type: 'echo', text: 'x'.repeat(300) });
	op.send(echo.slice(0, 100), { fin: false });
	// The visitor pings all along (a parked socket answers every ping).
	let pongs = 0;
	v.on('pong', () => { pongs++; });
	for (let i = 0; i < 14; i++) {
		v.ping();
		await sleep(500);
	}
	assert.ok(pongs >= 12, `pongs: ${pongs}`);
	op.send(echo.slice(100), { fin: true });
	const back = await op.next((m) => m.type === 'echo');
	assert.equal(back.text.length, 300);

	// The visitor's socket was quiet for 7 s: server -> client and client -> server.
	op.sendJson({ type: 'msg', conversation: conv, client_id: 'o1', body: 'nachher' });
	assert.equal((await v.next((m) => m.type === 'msg' && m.client_id === 'o1')).body, 'nachher');
	v.sendJson({ type: 'msg', client_id: 'i2', body: 'auch nachher' });
	assert.equal((await v.next((m) => m.type === 'ack' && m.client_id === 'i2')).seq, 3);
	await op.next((m) => m.type === 'msg' && m.client_id === 'i2');
	closeAll(v, op);
});

test('a parked socket is pinged by the server, its pongs keep it open, and it works after', async (t) => {
	// Server pings every second, silence closes after 3 s: only answered pings keep an idle
	// socket open. Parked sockets (quiet for 5 s) get the ping and take the pong without
	// wslay's context; a socket that stops answering is closed as silent.
	const e = await startEmma({ t, env: { EMMA_WS_PING_INTERVAL_S: '1', EMMA_WS_SILENT_CLOSE_S: '3' } });
	const adm = await login(e.url, 'admin@localhost', e.adminPassword);
	const op = await operator(e, adm);
	const v = await visitor(e, { vid: 'idle-ping-1' });
	v.sendJson({ type: 'msg', client_id: 'p1', body: 'vorher' });
	const conv = (await v.next((m) => m.type === 'ack')).conversation;
	await op.next((m) => m.type === 'msg' && m.client_id === 'p1');
	let pings = 0;
	v.on('ping', () => { pings++; });
	// A socket that never answers pings must be closed as silent.
	const mute = new WebSocket(`ws://127.0.0.1:${e.port}/ws/visitor?site=default&vid=idle-ping-mute`, { autoPong: false });
	const muteClosed = new Promise((resolve) => mute.once('close', (code) => resolve(code)));
	await new Promise((resolve, reject) => { mute.once('message', resolve); mute.once('error', reject); });
	// Longer than the parking delay and twice the silence limit.
	await sleep(8000);
	assert.ok(pings >= 6, `pings seen: ${pings}`);
	assert.equal(v.readyState, 1, 'the answering socket stayed open');
	assert.equal(await Promise.race([muteClosed, sleep(2000).then(() => 'open')]), 1006, 'the mute socket was cut off as silent');
	op.sendJson({ type: 'msg', conversation: conv, client_id: 'o1', body: 'nachher' });
	assert.equal((await v.next((m) => m.type === 'msg' && m.client_id === 'o1')).body, 'nachher');
	v.sendJson({ type: 'msg', client_id: 'p2', body: 'auch nachher' });
	assert.equal((await v.next((m) => m.type === 'ack' && m.client_id === 'p2')).seq, 3);
	closeAll(v, op, mute);
});
