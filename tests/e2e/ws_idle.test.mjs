// Idle WebSockets give back their framing buffers (src/net/ws.c, "parking")
// and must work exactly as before when traffic resumes: in both directions,
// and in the middle of a fragmented message, which must never be parked.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
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
