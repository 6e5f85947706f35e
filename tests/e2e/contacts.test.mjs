// Contacts and leads against the real binary (docs/contacts.md): create, read, change, search
// with filters and cursor paging, duplicates (409 and the duplicates list), merge keeping every
// visit, conversation, note and order, custom fields, identify from the tracker, lifetime value
// from orders, and the 401/403/422 answers.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEmma, login, api, waitFor } from './lib/emma.mjs';
import { visitor, newAgent, closeAll } from './lib/chat.mjs';

let emma, admin, agent, agent2;
const call = (who, method, path, body) => api(emma.url, method, path, { ...who, body });

before(async () => {
  emma = await startEmma();
  admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
  agent = await newAgent(emma, admin, 'agent1@shop.example', { name: 'Agnes Agent' });
  agent2 = await newAgent(emma, admin, 'agent2@shop.example', { name: 'Bernd Agent' });
});
after(async () => { await emma?.stop(); });

async function track(body) {
  const res = await fetch(`${emma.url}/t`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain', 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

async function create(body, who = admin) {
  const r = await call(who, 'POST', '/api/v1/contacts', body);
  assert.equal(r.status, 201, r.text);
  return r.json.contact;
}

test('create, read and change a contact; e-mail and phone are normalised', async () => {
  const c = await create({ name: ' Erika Mustermann ', email: ' Erika.Mustermann@Example.COM ', phone: '+49 (0)30 123 456-78',
    company: 'Muster GmbH', tags: ['VIP', 'newsletter'] });
  assert.match(c.id, /^ct[a-z0-9]+$/);
  assert.equal(c.name, 'Erika Mustermann');
  assert.equal(c.email, 'erika.mustermann@example.com');
  assert.equal(c.phone, '+493012345678');
  assert.equal(c.stage, 'lead');
  assert.equal(c.source, 'api');
  assert.deepEqual(c.tags, ['newsletter', 'vip']);
  assert.equal(c.owner, null);
  assert.equal(c.lifetime_value, 0);
  assert.match(c.created_at, /^\d{4}-\d\d-\d\dT/);

  const g = await call(admin, 'GET', `/api/v1/contacts/${c.id}`);
  assert.equal(g.status, 200);
  assert.equal(g.json.contact.email, 'erika.mustermann@example.com');
  assert.deepEqual(g.json.contact.visitors, []);

  const p = await call(admin, 'PATCH', `/api/v1/contacts/${c.id}`, { stage: 'customer', tags: ['b2b'], owner: agent.operator.id, company: null });
  assert.equal(p.status, 200, p.text);
  assert.equal(p.json.contact.stage, 'customer');
  assert.deepEqual(p.json.contact.tags, ['b2b']);
  assert.equal(p.json.contact.owner.id, agent.operator.id);
  assert.equal(p.json.contact.owner.name, 'Agnes Agent');
  assert.equal(p.json.contact.company, '');
  assert.equal(p.json.contact.name, 'Erika Mustermann', 'fields not given stay');

  // The stage change is on the contact's timeline, with who made it.
  const tl = await call(admin, 'GET', `/api/v1/contacts/${c.id}/timeline`);
  assert.equal(tl.status, 200, tl.text);
  const stageEv = tl.json.items.find((i) => i.type === 'contact_event' && i.event === 'stage');
  assert.ok(stageEv, `a stage event in ${tl.text}`);
  assert.deepEqual(stageEv.detail, { from: 'lead', to: 'customer', reason: 'operator' });
  assert.equal(stageEv.operator.id, admin.operator.id);
});

test('bad input answers 422 with the field and a clear message', async () => {
  const cases = [
    [{ email: 'erika.example.com' }, 'email', /needs an '@'/],
    [{ email: 'erika@example' }, 'email', /needs a dot/],
    [{ email: 'er ika@example.com' }, 'email', /no spaces/],
    [{ email: 'a@b@example.com' }, 'email', /exactly one '@'/],
    [{ phone: '030 1234567' }, 'phone', /country code/],
    [{ phone: '+49 30 CALL-ME' }, 'phone', /no letters/],
    [{ phone: '+49 30 1234 5678 9012 34' }, 'phone', /at most 15 digits/],
    [{ name: 'x', tags: ['ok', ''] }, 'tags[1]', /not empty/],
    [{ name: 'x', tags: ['ok', 7] }, 'tags[1]', /string/],
    [{ name: 'x', stage: 'prospect' }, 'stage', /lead, customer/],
    [{ name: 'x', custom: { shoe_size: 42 } }, 'custom.shoe_size', /no custom field/],
    [{ name: 'x', colour: 'red' }, 'colour', /unknown field/],
    [{ name: 'x'.repeat(128) }, 'name', /127/],
    [{ company: 'only a company' }, 'name', /needs a name, an e-mail/],
    [{ name: 'x', owner: 'op_nobody' }, 'owner', /no operator/],
  ];
  for (const [body, field, msg] of cases) {
    const r = await call(admin, 'POST', '/api/v1/contacts', body);
    assert.equal(r.status, 422, `${JSON.stringify(body)} -> ${r.text}`);
    assert.equal(r.json.error.field, field, r.text);
    assert.match(r.json.error.message, msg, r.text);
  }
  const bad = await api(emma.url, 'POST', '/api/v1/contacts', { ...admin, body: '{"name":', headers: { 'content-type': 'application/json' } });
  assert.equal(bad.status, 400);
  const badLimit = await call(admin, 'GET', '/api/v1/contacts?limit=0');
  assert.equal(badLimit.status, 422);
  assert.equal(badLimit.json.error.field, 'limit');
});

test('401 without a session, 403 for what the role does not allow', async () => {
  const c = await create({ name: 'Owned By Admin', owner: admin.operator.id });
  assert.equal((await api(emma.url, 'GET', '/api/v1/contacts')).status, 401);
  assert.equal((await api(emma.url, 'POST', '/api/v1/contacts', { body: { name: 'x' } })).status, 401);
  assert.equal((await api(emma.url, 'GET', `/api/v1/contacts/${c.id}`)).status, 401);
  // Agents read every contact ...
  assert.equal((await call(agent, 'GET', `/api/v1/contacts/${c.id}`)).status, 200);
  // ... but change only their own or unowned ones, and own them only themselves.
  const p = await call(agent, 'PATCH', `/api/v1/contacts/${c.id}`, { name: 'Changed' });
  assert.equal(p.status, 403, p.text);
  const free = await create({ name: 'Nobody Owns Me' });
  assert.equal((await call(agent, 'PATCH', `/api/v1/contacts/${free.id}`, { owner: agent2.operator.id })).status, 403);
  const mine = await call(agent, 'PATCH', `/api/v1/contacts/${free.id}`, { owner: agent.operator.id, name: 'Now Mine' });
  assert.equal(mine.status, 200, mine.text);
  assert.equal((await call(agent2, 'PATCH', `/api/v1/contacts/${free.id}`, { name: 'Not yours' })).status, 403);
  // CSRF on cookie sessions.
  assert.equal((await api(emma.url, 'POST', '/api/v1/contacts', { cookie: admin.cookie, body: { name: 'x' } })).status, 403);
  // Read-only tokens read, never write.
  const tok = await call(admin, 'POST', '/api/v1/tokens', { name: 'reader', scope: 'read' });
  assert.equal(tok.status, 201, tok.text);
  const token = tok.json.secret;
  assert.equal((await api(emma.url, 'GET', '/api/v1/contacts', { token })).status, 200);
  assert.equal((await api(emma.url, 'POST', '/api/v1/contacts', { token, body: { name: 'x' } })).status, 403);
  // Custom field definitions and merges of others' contacts.
  assert.equal((await call(agent, 'POST', '/api/v1/custom-fields', { key: 'size', label: 'Size', type: 'text' })).status, 403);
  const other = await create({ name: 'Second Admin Contact', owner: admin.operator.id });
  assert.equal((await call(agent, 'POST', `/api/v1/contacts/${c.id}/merge`, { from: [other.id] })).status, 403);
});

test('a duplicate e-mail or phone answers 409 with the existing id unless allowed', async () => {
  const a = await create({ name: 'Hans Dampf', email: 'hans@dampf.example', phone: '+41 44 123 45 67', company: 'Dampf AG' });
  const r = await call(admin, 'POST', '/api/v1/contacts', { name: 'Hans D.', email: 'HANS@dampf.example' });
  assert.equal(r.status, 409, r.text);
  assert.equal(r.json.error.code, 'duplicate');
  assert.equal(r.json.error.field, 'email');
  assert.equal(r.json.existing_id, a.id);
  const ph = await call(admin, 'POST', '/api/v1/contacts', { name: 'Other', phone: '0041 44 123 45 67' });
  assert.equal(ph.status, 409);
  assert.equal(ph.json.error.field, 'phone');
  assert.equal(ph.json.existing_id, a.id);
  const b = await create({ name: 'Hans D.', email: 'hans@dampf.example', allow_duplicate: true });
  const c = await create({ name: '  hans   DAMPF ', company: 'dampf ag' });
  const d = await call(admin, 'GET', `/api/v1/contacts/${a.id}/duplicates`);
  assert.equal(d.status, 200, d.text);
  const byId = Object.fromEntries(d.json.duplicates.map((x) => [x.id, x.reasons]));
  assert.deepEqual(byId[b.id], ['email']);
  assert.deepEqual(byId[c.id], ['name_company']);
  assert.equal(Object.keys(byId).length, 2);
  // A PATCH to someone else's e-mail is a conflict too.
  const p = await call(admin, 'PATCH', `/api/v1/contacts/${c.id}`, { email: 'hans@dampf.example' });
  assert.equal(p.status, 409);
  assert.equal(p.json.existing_id, a.id);
});

test('search by name, e-mail, phone, company and tag; filters; newest first; cursor paging', async () => {
  const ids = {};
  for (const [k, body] of Object.entries({
    anna: { name: 'Anna Schäfer', email: 'anna.schaefer@mail.example', phone: '+49 89 5550 1234', company: 'Bäckerei Sonne', tags: ['bakery'] },
    bert: { name: 'Bert Bäcker', email: 'bert@sonnenschein.example', phone: '+43 1 5550 999', company: 'Teehaus Wien', stage: 'customer', tags: ['tea'] },
    carl: { name: 'Carl Sonnberg', email: 'carl@carl.example', company: 'Sonnberg KG', tags: ['tea', 'b2b'], owner: agent.operator.id },
    dora: { name: 'Dora Zeta', email: 'zz@zeta.example', tags: ['sonne'] },
  })) ids[k] = (await create(body)).id;
  const search = async (qs) => {
    const r = await call(admin, 'GET', `/api/v1/contacts?${qs}`);
    assert.equal(r.status, 200, r.text);
    return r.json;
  };
  const names = (j) => j.contacts.map((c) => c.name);
  // A fragment inside a name, an e-mail address and a company, newest first.
  assert.deepEqual(names(await search('q=sonn')), ['Carl Sonnberg', 'Bert Bäcker', 'Anna Schäfer']);
  assert.deepEqual(names(await search('q=SCHÄF')), ['Anna Schäfer']);
  assert.deepEqual(names(await search('q=' + encodeURIComponent('anna.sch'))), ['Anna Schäfer']);
  // Phone digits, written the national way or with the country code.
  assert.deepEqual(names(await search('q=' + encodeURIComponent('089 5550'))), ['Anna Schäfer']);
  assert.deepEqual(names(await search('q=' + encodeURIComponent('+43 1 5550'))), ['Bert Bäcker']);
  // A tag that is also a word: tag members and text matches together.
  assert.deepEqual(names(await search('q=sonne')), ['Dora Zeta', 'Bert Bäcker', 'Anna Schäfer']);
  // One or two characters: the start of an e-mail address.
  assert.deepEqual(names(await search('q=zz')), ['Dora Zeta']);
  // Filters, alone and together with a search.
  assert.deepEqual(names(await search('tag=tea')), ['Carl Sonnberg', 'Bert Bäcker']);
  assert.deepEqual(names(await search('tag=tea&stage=customer')), ['Bert Bäcker']);
  assert.deepEqual(names(await search('q=sonn&stage=lead&tag=tea')), ['Carl Sonnberg']);
  assert.deepEqual(names(await search(`owner=${agent.operator.id}&q=sonn`)), ['Carl Sonnberg']);
  const me = await call(agent, 'GET', '/api/v1/contacts?owner=me&q=carl');
  assert.deepEqual(names(me.json), ['Carl Sonnberg']);
  assert.ok(names(await search('owner=none&q=sonn')).every((n) => n !== 'Carl Sonnberg'));
  // FTS syntax in the search text is only text.
  assert.equal((await search('q=' + encodeURIComponent('"sonn* OR NEAR(a b)'))).contacts.length, 0);
  // Paging: no overlaps, no gaps, a null cursor at the end.
  const all = [];
  let cursor = '';
  for (let i = 0; i < 20; i++) {
    const page = await search(`q=sonn&limit=1${cursor ? `&cursor=${cursor}` : ''}`);
    all.push(...names(page));
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  assert.deepEqual(all, ['Carl Sonnberg', 'Bert Bäcker', 'Anna Schäfer']);
  const full = await search('limit=200');
  assert.ok(full.contacts.length >= 4);
  for (let i = 1; i < full.contacts.length; i++)
    assert.ok(full.contacts[i - 1].created_at >= full.contacts[i].created_at, 'newest first');
  assert.equal((await call(admin, 'GET', '/api/v1/contacts?stage=prospect')).status, 422);
  assert.equal((await call(admin, 'GET', '/api/v1/contacts?owner=op_nobody')).status, 422);
  assert.equal((await call(admin, 'GET', '/api/v1/contacts?site=nosuchsite')).status, 422);
});

test('identify from the tracker creates a lead and links the visitor\'s history; orders add up', async () => {
  const vid = (await track({ site: 'default', events: [
    { type: 'pageview', url: 'https://shop.example/mantel', title: 'Mantel' },
    { type: 'order', id: 'A-1', total: 120.5, items: [{ sku: 'M-1', qty: 1, price: 120.5 }] },
  ] })).vid;
  await track({ site: 'default', vid, events: [{ type: 'identify', email: 'Ida.Identify@Example.com', name: 'Ida Identify' }] });
  const found = await call(admin, 'GET', '/api/v1/contacts?q=ida.identify');
  assert.equal(found.json.contacts.length, 1, found.text);
  let c = found.json.contacts[0];
  assert.equal(c.email, 'ida.identify@example.com');
  assert.equal(c.name, 'Ida Identify');
  assert.equal(c.source, 'identify');
  // The order placed before anyone knew her counts, and made her a customer.
  assert.equal(c.orders, 1);
  assert.equal(c.lifetime_value, 120.5);
  assert.equal(c.stage, 'customer');
  const g = await call(admin, 'GET', `/api/v1/contacts/${c.id}`);
  assert.deepEqual(g.json.contact.visitors, [vid]);
  // A later order adds up; the same order sent again (a reloaded thank-you page) does not.
  await track({ site: 'default', vid, events: [{ type: 'order', id: 'A-2', total: 30, items: [] }] });
  await track({ site: 'default', vid, events: [{ type: 'order', id: 'A-2', total: 30, items: [] }] });
  c = (await call(admin, 'GET', `/api/v1/contacts/${c.id}`)).json.contact;
  assert.equal(c.orders, 2);
  assert.equal(c.lifetime_value, 150.5);
  // A second browser of the same person joins the same contact.
  const vid2 = (await track({ site: 'default', events: [{ type: 'pageview', url: '/phone' }, { type: 'identify', email: 'ida.identify@example.com' }] })).vid;
  const again = await call(admin, 'GET', '/api/v1/contacts?q=ida.identify');
  assert.equal(again.json.contacts.length, 1);
  const g2 = await call(admin, 'GET', `/api/v1/contacts/${c.id}`);
  assert.ok(g2.json.contact.visitors.includes(vid2), g2.text);
  // An address the contact rules reject leaves the visitor alone and creates nobody.
  await track({ site: 'default', events: [{ type: 'identify', email: 'broken@localhost' }] });
  assert.equal((await call(admin, 'GET', '/api/v1/contacts?q=broken')).json.contacts.length, 0);
});

test('a lost customer who orders again is won back', async () => {
  const vid = (await track({ site: 'default', events: [{ type: 'identify', email: 'lost@example.org' }] })).vid;
  const c = (await call(admin, 'GET', '/api/v1/contacts?q=lost%40example')).json.contacts[0];
  assert.equal((await call(admin, 'PATCH', `/api/v1/contacts/${c.id}`, { stage: 'lost' })).json.contact.stage, 'lost');
  await track({ site: 'default', vid, events: [{ type: 'order', id: 'W-1', total: 10, items: [] }] });
  const g = await call(admin, 'GET', `/api/v1/contacts/${c.id}`);
  assert.equal(g.json.contact.stage, 'won_back');
});

test('merge moves visits, conversations, notes and orders; the source answers 409 merged_into', async () => {
  // Two contacts of one person, each with a browser history, an order, a chat and a note.
  const v1 = (await track({ site: 'default', events: [{ type: 'pageview', url: '/a', title: 'Page A' },
    { type: 'order', id: 'M-1', total: 10, items: [] }, { type: 'identify', email: 'mia@one.example', name: 'Mia' }] })).vid;
  const v2 = (await track({ site: 'default', events: [{ type: 'pageview', url: '/b', title: 'Page B' },
    { type: 'order', id: 'M-2', total: 5.25, items: [] }, { type: 'identify', email: 'mia@two.example' }] })).vid;
  const target = (await call(admin, 'GET', '/api/v1/contacts?q=mia%40one')).json.contacts[0];
  const source = (await call(admin, 'GET', '/api/v1/contacts?q=mia%40two')).json.contacts[0];
  await call(admin, 'PATCH', `/api/v1/contacts/${source.id}`, { phone: '+44 20 7946 0000', tags: ['from-two'] });
  const ws = await visitor(emma, { vid: v2 });
  ws.sendJson({ type: 'msg', client_id: 'm-1', body: 'Hello from the second browser' });
  await ws.next((m) => m.type === 'ack');
  closeAll(ws);
  const note = await call(admin, 'POST', `/api/v1/contacts/${source.id}/notes`, { body: 'Prefers e-mail' });
  assert.equal(note.status, 201, note.text);

  const m = await call(admin, 'POST', `/api/v1/contacts/${target.id}/merge`, { from: [source.id] });
  assert.equal(m.status, 200, m.text);
  const t = m.json.contact;
  assert.equal(t.email, 'mia@one.example');
  assert.equal(t.phone, '+442079460000', 'empty fields are filled from the source');
  assert.deepEqual(t.tags, ['from-two']);
  assert.equal(t.orders, 2);
  assert.equal(t.lifetime_value, 15.25);

  const g = await call(admin, 'GET', `/api/v1/contacts/${target.id}`);
  assert.deepEqual([...g.json.contact.visitors].sort(), [v1, v2].sort());
  const tl = await call(admin, 'GET', `/api/v1/contacts/${target.id}/timeline?limit=200`);
  assert.equal(tl.status, 200, tl.text);
  const types = tl.json.items.map((i) => i.type);
  for (const ty of ['visit', 'chat', 'order', 'note']) assert.ok(types.includes(ty), `${ty} in ${types}`);
  assert.equal(tl.json.items.filter((i) => i.type === 'order').length, 2);
  assert.equal(tl.json.items.filter((i) => i.type === 'visit').length, 2);

  const s = await call(admin, 'GET', `/api/v1/contacts/${source.id}`);
  assert.equal(s.status, 409);
  assert.equal(s.json.error.code, 'merged');
  assert.equal(s.json.merged_into, target.id);
  assert.equal((await call(admin, 'PATCH', `/api/v1/contacts/${source.id}`, { name: 'x' })).status, 409);
  // Hidden from lists and search; its e-mail leads to the target from now on.
  assert.equal((await call(admin, 'GET', '/api/v1/contacts?q=mia%40two')).json.contacts.length, 0);
  await track({ site: 'default', events: [{ type: 'identify', email: 'mia@two.example' }] });
  assert.equal((await call(admin, 'GET', '/api/v1/contacts?q=mia%40')).json.contacts.length, 1);
  // Bad merges.
  const self = await call(admin, 'POST', `/api/v1/contacts/${target.id}/merge`, { from: [target.id] });
  assert.equal(self.status, 422);
  assert.equal(self.json.error.field, 'from[0]');
  const again = await call(admin, 'POST', `/api/v1/contacts/${target.id}/merge`, { from: [source.id] });
  assert.equal(again.status, 422);
  assert.match(again.json.error.message, /merged into/);
  assert.equal((await call(admin, 'POST', `/api/v1/contacts/${target.id}/merge`, { from: [] })).status, 422);
  assert.equal((await call(admin, 'POST', `/api/v1/contacts/${target.id}/merge`, { from: ['ctnothing'] })).json.error.field, 'from[0]');
});

test('an agent merges contacts they own', async () => {
  const a = await create({ name: 'Own A', email: 'own-a@example.net' }, agent);
  const b = await create({ name: 'Own B', email: 'own-b@example.net' }, agent);
  await call(agent, 'PATCH', `/api/v1/contacts/${a.id}`, { owner: agent.operator.id });
  const m = await call(agent, 'POST', `/api/v1/contacts/${a.id}/merge`, { from: [b.id] });
  assert.equal(m.status, 200, m.text);
});

test('custom fields: defined per site by admins, values checked by type, removed with their field', async () => {
  const f = await call(admin, 'POST', '/api/v1/custom-fields', { key: 'size', label: 'Size', type: 'text' });
  assert.equal(f.status, 201, f.text);
  assert.deepEqual(f.json.custom_field, { key: 'size', label: 'Size', type: 'text', site: 'default' });
  assert.equal((await call(admin, 'POST', '/api/v1/custom-fields', { key: 'size', label: 'Again', type: 'text' })).status, 409);
  assert.equal((await call(admin, 'POST', '/api/v1/custom-fields', { key: 'vip', label: 'VIP', type: 'bool' })).status, 201);
  assert.equal((await call(admin, 'POST', '/api/v1/custom-fields', { key: 'birthday', label: 'Birthday', type: 'date' })).status, 201);
  const bad = await call(admin, 'POST', '/api/v1/custom-fields', { key: 'Bad Key', label: 'x', type: 'text' });
  assert.equal(bad.status, 422);
  assert.equal(bad.json.error.field, 'key');
  assert.equal((await call(admin, 'POST', '/api/v1/custom-fields', { key: 'x', label: 'x', type: 'colour' })).json.error.field, 'type');
  const list = await call(agent, 'GET', '/api/v1/custom-fields');
  assert.deepEqual(list.json.custom_fields.map((x) => x.key), ['birthday', 'size', 'vip']);

  const c = await create({ name: 'Custom Carla', custom: { size: 'M', vip: true } });
  assert.deepEqual(c.custom, { size: 'M', vip: true });
  const wrong = await call(admin, 'PATCH', `/api/v1/contacts/${c.id}`, { custom: { vip: 'yes' } });
  assert.equal(wrong.status, 422);
  assert.equal(wrong.json.error.field, 'custom.vip');
  const badDate = await call(admin, 'PATCH', `/api/v1/contacts/${c.id}`, { custom: { birthday: '31.12.1990' } });
  assert.equal(badDate.json.error.field, 'custom.birthday');
  const p = await call(admin, 'PATCH', `/api/v1/contacts/${c.id}`, { custom: { birthday: '1990-12-31', size: null } });
  assert.equal(p.status, 200, p.text);
  assert.deepEqual(p.json.contact.custom, { vip: true, birthday: '1990-12-31' });
  assert.equal((await call(agent, 'DELETE', '/api/v1/custom-fields/vip')).status, 403);
  assert.equal((await call(admin, 'DELETE', '/api/v1/custom-fields/vip')).status, 204);
  assert.equal((await call(admin, 'DELETE', '/api/v1/custom-fields/vip')).status, 404);
  const after = await call(admin, 'GET', `/api/v1/contacts/${c.id}`);
  assert.deepEqual(after.json.contact.custom, { birthday: '1990-12-31' });
});

test('contacts survive a restart and stay searchable', async () => {
  const c = await create({ name: 'Restart Rita', email: 'rita@restart.example' });
  await emma.restart();
  admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
  const r = await waitFor(async () => {
    const x = await call(admin, 'GET', '/api/v1/contacts?q=restart');
    return x.status === 200 && x.json.contacts.length ? x : null;
  }, { what: 'search after restart' });
  assert.equal(r.json.contacts[0].id, c.id);
});
