// Proactive invitations against the real binary (docs/chat.md, "Invitations"):
// rules fire from tracked batches and from the once-a-second timer, the /t
// answer and the visitor socket carry the invitation, every brake holds
// (dismissal, one per visit, daily cap, no operator free, in a chat), the
// history survives a restart, manual invitations start a chat with the
// inviting operator, bad rules answer 422, agents cannot write rules, and
// the rule statistics count what happened.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { api, login, sleep, startEmma, waitFor } from './lib/emma.mjs';
import { closeAll, newAgent, operator, visitor } from './lib/chat.mjs';

const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
let emma, admin, op;

before(async () => {
	emma = await startEmma({ env: { EMMA_CHAT_OFFLINE_GRACE_S: '0' } });
	admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
	op = await operator(emma, admin);
});
after(async () => {
	closeAll(op);
	await emma?.stop();
});

async function track(server, vid, events, headers = {}) {
	const res = await fetch(`${server.url}/t`, {
		method: 'POST',
		headers: { 'content-type': 'text/plain', 'user-agent': CHROME, ...headers },
		body: JSON.stringify({ site: 'default', vid, events }),
	});
	assert.equal(res.status, 200, await res.clone().text());
	return res.json();
}

const page = (url, { title = 'Page', ago = 0 } = {}) => ({ type: 'pageview', url: `https://shop.example${url}`, title, ts: Date.now() - ago });

async function createRule(server, session, body) {
	const r = await api(server.url, 'POST', '/api/v1/rules', { cookie: session.cookie, csrf: session.csrf, body });
	assert.equal(r.status, 201, r.text);
	return r.json.rule;
}

async function invitations(server, session, query = '') {
	const r = await api(server.url, 'GET', `/api/v1/invitations${query}`, { cookie: session.cookie });
	assert.equal(r.status, 200, r.text);
	return r.json.invitations;
}

test('a rule fires on time on page: the /t answer, the widget and the consoles get the invitation', async () => {
	const rule = await createRule(emma, admin, {
		name: 'Coats: lingering', message: 'Questions about {page_title}? Cart: {cart_total}',
		conditions: { url: { glob: '/t1/*' }, time_on_page_s: { gte: 30 } },
	});
	assert.match(rule.id, /^rule_/);
	assert.equal(rule.site, 'default');
	assert.equal(rule.enabled, true);
	assert.deepEqual(rule.conditions, { url: { glob: '/t1/*' }, time_on_page_s: { gte: 30 } });

	// 10 s on the page: nothing yet.
	let ans = await track(emma, 'fire-1', [page('/t1/coat', { title: 'Winter coat', ago: 10000 })]);
	assert.equal(ans.invite, undefined);
	// The same page, 40 s ago (a tracker catching up): the rule fires.
	ans = await track(emma, 'fire-2', [page('/t1/coat', { title: 'Winter coat', ago: 40000 }),
		{ type: 'cart', action: 'set', sku: 'C-1', qty: 1, price: 129, total: 129 }]);
	assert.ok(ans.invite, 'the /t answer carries the invitation');
	assert.match(ans.invite.invitation, /^inv_/);
	assert.equal(ans.invite.message, 'Questions about Winter coat? Cart: 129.00');
	assert.equal(ans.invite.operator, null);
	const id = ans.invite.invitation;

	const ev = await op.next((m) => m.type === 'invitation' && m.invitation.id === id);
	assert.equal(ev.invitation.status, 'offered');
	assert.equal(ev.invitation.rule, rule.id);
	assert.equal(ev.invitation.vid, 'fire-2');

	// Still pending: the next batch answers with it again, and the widget's hello has it.
	ans = await track(emma, 'fire-2', [{ type: 'ping', active_s: 5 }]);
	assert.equal(ans.invite.invitation, id);
	const v = await visitor(emma, { vid: 'fire-2' });
	assert.equal(v.hello.invite.invitation, id);
	assert.equal(v.hello.invite.message, 'Questions about Winter coat? Cart: 129.00');

	v.sendJson({ type: 'invite_shown', invitation: id });
	const shown = await op.next((m) => m.type === 'invitation' && m.invitation.id === id && m.invitation.status === 'shown');
	assert.equal(shown.invitation.rule, rule.id);
	const listed = await waitFor(async () => (await invitations(emma, admin, '?status=shown')).find((i) => i.id === id),
		{ what: 'the shown invitation in the list' });
	assert.equal(listed.rule.id, rule.id);
	assert.equal(listed.vid, 'fire-2');
	closeAll(v);
});

test('the timer fires a time-based rule without a new batch; a connected widget gets it at once', async () => {
	await createRule(emma, admin, { name: 'Timer', message: 'Still there?', conditions: { url: { glob: '/t2/*' }, time_on_page_s: { gte: 2 } } });
	const ans = await track(emma, 'timer-1', [page('/t2/x')]);
	assert.equal(ans.invite, undefined);
	const v = await visitor(emma, { vid: 'timer-1' });
	assert.equal(v.hello.invite, null);
	const inv = await v.next((m) => m.type === 'invite', 6000, 'a live invite');
	assert.equal(inv.message, 'Still there?');
	assert.match(inv.invitation, /^inv_/);
	closeAll(v);
});

test('a dismissal stops further invitations, also after a restart; the control visitor is invited again', async () => {
	await createRule(emma, admin, { name: 'Pages', message: 'Can we help?', conditions: { url: { glob: '/t3/*' }, pages: { gte: 1 } } });
	const a = await track(emma, 'dismiss-1', [page('/t3/a')]);
	const b = await track(emma, 'control-1', [page('/t3/a')]);
	assert.ok(a.invite && b.invite);
	const v = await visitor(emma, { vid: 'dismiss-1' });
	v.sendJson({ type: 'invite_dismiss', invitation: a.invite.invitation });
	await op.next((m) => m.type === 'invitation' && m.invitation.id === a.invite.invitation && m.invitation.status === 'dismissed');
	closeAll(v);
	// Both come back in a new visit (a new campaign starts one).
	const a2 = await track(emma, 'dismiss-1', [page('/t3/b?utm_source=mail')]);
	const b2 = await track(emma, 'control-1', [page('/t3/b?utm_source=mail')]);
	assert.equal(a2.invite, undefined, 'no invitation after a dismissal');
	assert.ok(b2.invite, 'the control visitor, who never answered, is invited in the new visit');
	assert.notEqual(b2.invite.invitation, b.invite.invitation);
	// The unanswered one of the old visit was recorded as ignored.
	await waitFor(async () => (await invitations(emma, admin, '?status=ignored')).some((i) => i.id === b.invite.invitation),
		{ what: 'the old invitation ignored' });

	// Restart: the dismissal is read back from the store.
	closeAll(op);
	await emma.restart();
	admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
	op = await operator(emma, admin);
	const a3 = await track(emma, 'dismiss-1', [page('/t3/c?utm_source=other')]);
	assert.equal(a3.invite, undefined, 'still no invitation after the restart');
	// The control visitor's pending invitation survived the restart too.
	const b3 = await track(emma, 'control-1', [{ type: 'ping', active_s: 3 }]);
	assert.equal(b3.invite?.invitation, b2.invite.invitation);
});

test('no invitation while no operator is available', async () => {
	await createRule(emma, admin, { name: 'Avail', message: 'Hello', conditions: { url: { glob: '/t4/*' } } });
	closeAll(op);
	await op.closed;
	await sleep(100);
	const a = await track(emma, 'avail-1', [page('/t4/a')]);
	assert.equal(a.invite, undefined, 'nobody online: no invitation');
	op = await operator(emma, admin);
	const b = await track(emma, 'avail-1', [page('/t4/b')]);
	assert.ok(b.invite, 'an operator came online: the next batch brings it');
});

test('manual invitation: accepted, it starts a chat assigned to the inviting agent; brakes answer 409', async () => {
	const agent = await newAgent(emma, admin, 'invite-agent@example.org', { name: 'Ina' });
	const aop = await operator(emma, agent);
	await track(emma, 'manual-1', [page('/elsewhere', { title: 'Tea' })]);
	const v = await visitor(emma, { vid: 'manual-1' });

	let r = await api(emma.url, 'POST', '/api/v1/visitors/nobody-here/invite', { ...agent, body: { message: 'Hi' } });
	assert.equal(r.status, 404);
	r = await api(emma.url, 'POST', '/api/v1/visitors/manual-1/invite', { ...agent, body: {} });
	assert.equal(r.status, 422);
	assert.equal(r.json.error.field, 'message');

	r = await api(emma.url, 'POST', '/api/v1/visitors/manual-1/invite', { ...agent, body: { message: 'Need help with {page_title}?' } });
	assert.equal(r.status, 201, r.text);
	const inv = r.json.invitation;
	assert.equal(inv.status, 'offered');
	assert.equal(inv.operator, agent.operator.id);
	assert.equal(inv.message, 'Need help with Tea?');
	const live = await v.next((m) => m.type === 'invite');
	assert.equal(live.invitation, inv.id);
	assert.equal(live.operator.name, 'Ina');

	// A second one while the first waits: refused.
	r = await api(emma.url, 'POST', '/api/v1/visitors/manual-1/invite', { ...agent, body: { message: 'Hello?' } });
	assert.equal(r.status, 409);

	v.sendJson({ type: 'invite_accept', invitation: inv.id });
	const joined = await v.next((m) => m.type === 'operator_joined', 5000, 'operator_joined');
	assert.equal(joined.operator.name, 'Ina');
	const conv = await aop.next((m) => m.type === 'conversation' && m.conversation.vid === 'manual-1' && m.conversation.status === 'open');
	assert.equal(conv.conversation.operator.id, agent.operator.id);
	await aop.next((m) => m.type === 'invitation' && m.invitation.id === inv.id && m.invitation.status === 'accepted');

	// In a chat now: no invitation by hand either.
	r = await api(emma.url, 'POST', '/api/v1/visitors/manual-1/invite', { ...admin, body: { message: 'More?' } });
	assert.equal(r.status, 409);
	assert.match(r.json.error.message, /in a chat/);

	const listed = await waitFor(async () => (await invitations(emma, admin, '?status=accepted')).find((i) => i.id === inv.id),
		{ what: 'the accepted invitation' });
	assert.equal(listed.operator.id, agent.operator.id);
	assert.equal(listed.conversation, conv.conversation.id);
	closeAll(v, aop);
});

test('rule validation answers 422 with the field; agents read rules but cannot change them', async () => {
	let r = await api(emma.url, 'POST', '/api/v1/rules', { ...admin, body: { name: 'Bad', message: 'x', conditions: { url: { regex: '^/p/(' } } } });
	assert.equal(r.status, 422);
	assert.equal(r.json.error.field, 'conditions.url.regex');
	assert.match(r.json.error.message, /offset 5/);
	assert.match(r.json.error.message, /parenthesis/);
	r = await api(emma.url, 'POST', '/api/v1/rules', { ...admin, body: { name: 'Bad', message: 'x', conditions: { event: { name: 'size_guide', count: 99 } } } });
	assert.equal(r.json.error.field, 'conditions.event.count');
	r = await api(emma.url, 'POST', '/api/v1/rules', { ...admin, body: { name: 'Bad', message: 'x', conditions: { moon_phase: 'full' } } });
	assert.equal(r.json.error.field, 'conditions.moon_phase');
	r = await api(emma.url, 'POST', '/api/v1/rules', { ...admin, body: { name: 'Bad', conditions: {} } });
	assert.equal(r.json.error.field, 'message');
	r = await api(emma.url, 'POST', '/api/v1/rules', { ...admin, body: { name: 'Bad', message: 'x', conditions: {}, site: 'nope' } });
	assert.equal(r.json.error.field, 'site');
	r = await api(emma.url, 'POST', '/api/v1/rules', { ...admin, body: { name: 'Bad', message: 'x', conditions: {}, department: 'dep_nope' } });
	assert.equal(r.status, 422);
	assert.equal(r.json.error.field, 'department');

	const rule = await createRule(emma, admin, { name: 'Editable', message: 'Hi', priority: 5, enabled: false, conditions: { url: { regex: '^/t6/[0-9]+$' } } });
	const agent = await login(emma.url, 'invite-agent@example.org', 'agent-password-123');
	r = await api(emma.url, 'GET', '/api/v1/rules', { cookie: agent.cookie });
	assert.equal(r.status, 200);
	assert.ok(r.json.rules.some((x) => x.id === rule.id));
	r = await api(emma.url, 'GET', `/api/v1/rules/${rule.id}`, { cookie: agent.cookie });
	assert.equal(r.json.rule.priority, 5);
	for (const [method, path, body] of [['POST', '/api/v1/rules', { name: 'x', message: 'x', conditions: {} }],
		['PATCH', `/api/v1/rules/${rule.id}`, { enabled: true }], ['DELETE', `/api/v1/rules/${rule.id}`, undefined]]) {
		r = await api(emma.url, method, path, { ...agent, body });
		assert.equal(r.status, 403, `${method} ${path} by an agent`);
	}

	r = await api(emma.url, 'PATCH', `/api/v1/rules/${rule.id}`, { ...admin, body: { enabled: true, conditions: { url: { regex: '[' } } } });
	assert.equal(r.status, 422);
	assert.equal(r.json.error.field, 'conditions.url.regex');
	r = await api(emma.url, 'PATCH', `/api/v1/rules/${rule.id}`, { ...admin, body: { enabled: true, name: 'Edited' } });
	assert.equal(r.status, 200);
	assert.equal(r.json.rule.enabled, true);
	assert.equal(r.json.rule.name, 'Edited');
	assert.equal(r.json.rule.priority, 5, 'fields not given stay');
	const fired = await track(emma, 'regex-1', [page('/t6/42')]);
	assert.ok(fired.invite, 'the enabled regex rule fires');
	r = await api(emma.url, 'DELETE', `/api/v1/rules/${rule.id}`, admin);
	assert.equal(r.status, 204);
	r = await api(emma.url, 'GET', `/api/v1/rules/${rule.id}`, admin);
	assert.equal(r.status, 404);
	// Audit entries are written right after the answer: wait for the last one.
	let actions = [];
	for (let i = 0; i < 50 && actions.length < 3; i++) {
		const audit = await api(emma.url, 'GET', '/api/v1/audit?limit=50', admin);
		actions = audit.json.entries.filter((e) => e.target === rule.id).map((e) => e.action);
		if (actions.length < 3) await new Promise((res) => setTimeout(res, 50));
	}
	assert.deepEqual(actions.sort(), ['rule.create', 'rule.delete', 'rule.update']);
});

test('rule statistics count offered, shown, accepted, dismissed, ignored, the chats and orders that followed', async () => {
	const rule = await createRule(emma, admin, { name: 'Stats', message: 'Hi', conditions: { url: { glob: '/t7/*' } } });
	const a = await track(emma, 'stats-a', [page('/t7/a')]);
	const b = await track(emma, 'stats-b', [page('/t7/a')]);
	const c = await track(emma, 'stats-c', [page('/t7/a')]);
	const va = await visitor(emma, { vid: 'stats-a' });
	va.sendJson({ type: 'invite_shown', invitation: a.invite.invitation });
	va.sendJson({ type: 'invite_dismiss', invitation: a.invite.invitation });
	const vb = await visitor(emma, { vid: 'stats-b' });
	vb.sendJson({ type: 'invite_accept', invitation: b.invite.invitation });
	await vb.next((m) => m.type === 'operator_joined' || (m.type === 'conversation' && m.conversation), 5000, 'the chat');
	await track(emma, 'stats-b', [{ type: 'order', id: 'O-1', total: 50, items: [{ sku: 'T', qty: 1, price: 50 }] }]);
	// c never answers and comes back in a new visit: ignored, then invited again.
	const c2 = await track(emma, 'stats-c', [page('/t7/b?utm_campaign=later')]);
	assert.ok(c2.invite && c.invite && c2.invite.invitation !== c.invite.invitation);

	const row = await waitFor(async () => {
		const r = await api(emma.url, 'GET', '/api/v1/rules/stats?days=1', admin);
		assert.equal(r.status, 200, r.text);
		const x = r.json.rules.find((s) => s.rule.id === rule.id);
		return x && x.offered === 4 && x.accepted === 1 && x.chats === 1 && x.orders === 1 && x.ignored === 1 && x;
	}, { what: 'the rule statistics' });
	assert.equal(row.dismissed, 1);
	assert.equal(row.shown, 2, 'shown counts what was seen: the dismissed and the accepted one');
	assert.equal(row.acceptance_rate, 0.25);
	assert.equal(row.rule.name, 'Stats');
	const r = await api(emma.url, 'GET', '/api/v1/rules/stats', admin);
	assert.ok(r.json.manual.offered >= 1, 'manual invitations are counted apart');
	closeAll(va, vb);
});

test('one per visit, ignored on leaving, and the daily cap', async (t) => {
	const short = await startEmma({ t, env: { EMMA_TRACK_LIVE_TIMEOUT_S: '10', EMMA_CHAT_OFFLINE_GRACE_S: '0' } });
	const s = await login(short.url, 'admin@localhost', short.adminPassword);
	const o = await operator(short, s);
	t.after(() => closeAll(o));
	await createRule(short, s, { name: 'Everyone', message: 'Hi', conditions: { pages: { gte: 1 } } });
	const first = await track(short, 'cap-1', [page('/a')]);
	assert.ok(first.invite);
	// The visitor goes quiet: after the live timeout they leave and the invitation is ignored.
	await o.next((m) => m.type === 'invitation' && m.invitation.id === first.invite.invitation && m.invitation.status === 'ignored', 15000, 'ignored');
	// Back within the same visit (30 min): no second invitation in it.
	const again = await track(short, 'cap-1', [page('/b')]);
	assert.equal(again.invite, undefined, 'one per visit');
	// A new visit: invited again (2 of 2 today).
	const second = await track(short, 'cap-1', [page('/c?utm_source=ad')]);
	assert.ok(second.invite, 'a new visit may be invited');
	const v = await visitor(short, { vid: 'cap-1' });
	v.sendJson({ type: 'invite_accept', invitation: second.invite.invitation });
	const joined = await v.next((m) => m.type === 'operator_joined', 5000, 'operator_joined');
	const closed = await api(short.url, 'POST', `/api/v1/conversations/${joined.conversation}/close`, { ...s, body: { outcome: 'support' } });
	assert.equal(closed.status, 200, closed.text);
	closeAll(v);
	// Another new visit the same day: the daily cap (2) holds — and so does "chatted today".
	const third = await track(short, 'cap-1', [page('/d?utm_source=again')]);
	assert.equal(third.invite, undefined, 'daily cap');
	// A visitor who never chatted but reached the cap: two visits with ignored invitations.
	const x1 = await track(short, 'cap-2', [page('/a')]);
	const x2 = await track(short, 'cap-2', [page('/b?utm_source=one')]);
	const x3 = await track(short, 'cap-2', [page('/c?utm_source=two')]);
	assert.ok(x1.invite && x2.invite);
	assert.equal(x3.invite, undefined, 'the third visit of the day gets none');
});
