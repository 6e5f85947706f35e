// The console's first live list is capped: with more live visitors than
// fit, the most recently active are sent and the total is told, so a big
// shop's console connects instead of being cut off by the output limit.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { login, startEmma } from './lib/emma.mjs';
import { closeAll, operator } from './lib/chat.mjs';

const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36';
let emma;
before(async () => { emma = await startEmma({ env: { EMMA_TRACK_RATE_PER_S: '100000', EMMA_TRACK_RATE_BURST: '100000' } }); });
after(async () => { await emma?.stop(); });

test('2,100 live visitors: the snapshot lists the 2,000 most recent and says 2,100', async () => {
	const N = 2100;
	for (let i = 0; i < N; i += 50) {
		await Promise.all(Array.from({ length: Math.min(50, N - i) }, (_, k) => fetch(`${emma.url}/t`, {
			method: 'POST', headers: { 'Content-Type': 'application/json', 'User-Agent': UA },
			body: JSON.stringify({ site: 'default', vid: `snap${i + k}`, events: [{ type: 'pageview', url: `/p/${i + k}`, title: 'P' }] }),
		}).then((r) => assert.equal(r.status, 200))));
	}
	const admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
	const op = await operator(emma, admin);
	const snap = op.frames.find((f) => f.type === 'visitors');
	assert.equal(snap.total, N);
	assert.equal(snap.truncated, true);
	assert.equal(snap.visitors.length, 2000);
	// The most recent are in it: the last one sent, not the first.
	const vids = new Set(snap.visitors.map((v) => v.vid));
	assert.ok(vids.has(`snap${N - 1}`));
	closeAll(op);
});
