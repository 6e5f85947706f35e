// Writes the seed corpora for the fuzz targets into tests/fuzz/corpus/<name>/.
// The seeds are small, real inputs (requests the widget and console send, WebSocket
// frames as a browser masks them, beacon JSON) that the fuzzer mutates from.
// Run: node tests/fuzz/make-corpus.mjs   (the output is committed; rerun after edits)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), 'corpus');

function put(target, name, data) {
	const dir = join(root, target);
	mkdirSync(dir, { recursive: true });
	writeFileSync(join(dir, name), data);
}

// ---- HTTP requests -------------------------------------------------------
const crlf = (lines) => lines.join('\r\n');
const beacon = JSON.stringify({
	site: 'default',
	vid: 'v_1',
	events: [{ type: 'pageview', url: 'https://shop.example/p/1', title: 'Shoe', ref: '' }],
});
put('http', 'get_healthz', crlf(['GET /healthz HTTP/1.1', 'Host: 127.0.0.1', '', '']));
put('http', 'get_query', crlf(['GET /api/v1/contacts?q=m%C3%BCller&limit=20&cursor=abc HTTP/1.1',
	'Host: x', 'Cookie: emma_session=s1; other=2', 'Accept-Encoding: gzip, br', '', '']));
put('http', 'post_beacon', crlf(['POST /t HTTP/1.1', 'Host: x', 'Content-Type: application/json',
	`Content-Length: ${Buffer.byteLength(beacon)}`, '', beacon]));
put('http', 'post_chunked', crlf(['POST /api/v1/login HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked',
	'Content-Type: application/json', '', '10', '{"email":"a@b.c"', '1', '}', '0', '', '']));
put('http', 'pipelined', crlf(['GET /a HTTP/1.1', 'Host: x', '', 'GET /b HTTP/1.1', 'Host: x',
	'Connection: close', '', '']));
put('http', 'ws_upgrade', crlf(['GET /ws/visitor?site=default&vid=v_1 HTTP/1.1', 'Host: x',
	'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
	'Sec-WebSocket-Version: 13', 'Origin: http://x', '', '']));
put('http', 'http10', crlf(['GET /t.gif?site=default&type=pageview&url=%2F HTTP/1.0', 'Connection: keep-alive', '', '']));
put('http', 'forwarded', crlf(['DELETE /api/v1/contacts/c_1 HTTP/1.1', 'Host: x',
	'X-Forwarded-For: 203.0.113.9, 10.0.0.1', 'X-Forwarded-Proto: https', 'X-CSRF-Token: t',
	'Authorization: Bearer tok', 'Content-Length: 0', '', '']));
put('http', 'bad_request', 'GET / HTTP/9.9\r\nHost x\r\n\r\n');

// ---- WebSocket frames (client to server, so masked) ----------------------
function frame(opcode, payload, { fin = true, mask = [0x12, 0x34, 0x56, 0x78] } = {}) {
	const body = Buffer.from(payload);
	let head;
	if (body.length < 126) {
		head = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | body.length]);
	} else {
		head = Buffer.alloc(4);
		head[0] = (fin ? 0x80 : 0) | opcode;
		head[1] = 0x80 | 126;
		head.writeUInt16BE(body.length, 2);
	}
	const masked = Buffer.from(body.map((b, i) => b ^ mask[i % 4]));
	return Buffer.concat([head, Buffer.from(mask), masked]);
}
const close = (code, reason) => {
	const b = Buffer.alloc(2 + Buffer.byteLength(reason));
	b.writeUInt16BE(code, 0);
	b.write(reason, 2);
	return b;
};
put('ws', 'text_msg', frame(1, JSON.stringify({ type: 'msg', client_id: '6f1c2d3e-0000-4000-8000-000000000001', body: 'Hallo!' })));
put('ws', 'resume', frame(1, '{"type":"resume","after":12}'));
put('ws', 'ping_pong', Buffer.concat([frame(9, 'p'), frame(10, '')]));
put('ws', 'fragmented', Buffer.concat([frame(1, '{"type":"ty', { fin: false }), frame(9, 'x'),
	frame(0, 'ping"}')]));
put('ws', 'close_1000', frame(8, close(1000, 'bye')));
put('ws', 'binary_126', frame(2, Buffer.alloc(300, 7)));
put('ws', 'unmasked', Buffer.from([0x81, 0x02, 0x68, 0x69]));
put('ws', 'two_msgs', Buffer.concat([frame(1, '{"type":"typing"}'), frame(1, '{"type":"msg","body":"x"}')]));

// ---- JSON documents ------------------------------------------------------
put('json', 'beacon', beacon);
put('json', 'all_events', JSON.stringify({
	site: 'default', events: [
		{ type: 'ping', active_s: 12 },
		{ type: 'event', name: 'newsletter', props: { list: 'de', n: 1.5, ok: true, none: null } },
		{ type: 'search', query: 'schuhe grün', results: 3 },
		{ type: 'cart', action: 'add', sku: 'S1', qty: 2, price: 19.99, total: 39.98 },
		{ type: 'order', id: 'o1', total: 39.98, items: [{ sku: 'S1', qty: 2, price: 19.99 }] },
		{ type: 'identify', email: 'kim@example.com', name: 'Kim' },
		{ type: 'consent', granted: false, ts: 1700000000000 },
	],
}));
put('json', 'error_body', '{"error":{"code":"invalid_json","message":"expected \',\' at line 1 column 17","field":"events[2].url"}}');
put('json', 'escapes', '["\\u00fc\\ud83d\\ude00\\n\\t\\"\\\\\\/", -0.0, 1e-7, 9007199254740993, []]');
put('json', 'nested', '{"a":[[[[{"b":{}}]]]]}');
put('json', 'broken', '{"site":"default","events":[{"type":"pageview",}]}');

// ---- Tracker batches (POST /t bodies) ------------------------------------
put('beacon', 'pageview', beacon);
put('beacon', 'all_events', readFileSync(join(root, 'json', 'all_events')));
put('beacon', 'cookieless', JSON.stringify({ site: 'shop', events: [{ type: 'pageview', url: '/p?utm_source=nl&utm_campaign=x', ts: 1 }] }));
put('beacon', 'bad_url', JSON.stringify({ site: 'default', events: [{ type: 'pageview', url: 'javascript:alert(1)' }] }));
put('beacon', 'bad_vid', JSON.stringify({ site: 'default', vid: 'a b', events: [{ type: 'ping', active_s: 5 }] }));
