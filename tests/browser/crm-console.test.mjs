// Browser test of the console's customer pages against the real emma
// binary: contacts (create, search, stage, notes with history, duplicates and
// merge, export, erase), leads from the business card as a toast, the
// callback queue, CSV import with a dry run, webhooks with the delivery log
// (a receiver on loopback), what an agent may not see, and that a name with
// markup is shown as text everywhere.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startEmma, login, api, waitFor } from '../e2e/lib/emma.mjs';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ADMIN = 'admin@localhost';
const AGENT = { email: 'agnes@example.com', password: 'agent-password-1', name: 'Agnes Agent' };
const XSS = '<img src=x onerror=window.__xss=1>';

let emma;
let browser;
let page;
let admin; // {cookie, csrf} for API calls beside the browser
let receiver;
const received = [];
const pageErrors = [];

const A = (method, path, body) => api(emma.url, method, path, { ...admin, body });
const nav = (p) => p.getByRole('navigation');

async function newPage() {
  const ctx = await browser.newContext({ locale: 'en-US', viewport: { width: 1400, height: 1000 }, acceptDownloads: true });
  const p = await ctx.newPage();
  p.setDefaultTimeout(10_000);
  p.on('pageerror', (e) => pageErrors.push(e.message));
  return p;
}

async function signIn(p, email, password) {
  await p.goto(emma.url + '/');
  await p.getByLabel('E-mail').fill(email);
  await p.getByLabel('Password').fill(password);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await nav(p).waitFor();
  await p.locator('.live-status[data-state="live"]').waitFor();
}

async function go(p, hash) {
  await p.evaluate((h) => { location.hash = h; }, hash);
}

async function noMarkup(p, where) {
  assert.equal(await p.locator('main img, .crm-toasts img').count(), 0, `no img element (${where})`);
  assert.equal(await p.evaluate(() => window.__xss), undefined, `no script ran (${where})`);
}

before(async () => {
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  emma = await startEmma();
  admin = await login(emma.url, ADMIN, emma.adminPassword);
  const r = await A('POST', '/api/v1/operators', { email: AGENT.email, name: AGENT.name, password: AGENT.password, role: 'agent' });
  assert.equal(r.status, 201, r.text);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  page = await newPage();
  await signIn(page, ADMIN, emma.adminPassword);
});

after(async () => {
  await browser?.close();
  await emma?.stop();
  receiver?.close();
});

let juergenId = null;

test('an admin creates a contact in the form and finds it by an umlaut substring', async () => {
  await nav(page).getByRole('link', { name: 'Contacts' }).click();
  await page.getByRole('heading', { name: 'Contacts', level: 1 }).waitFor();
  await page.getByRole('link', { name: 'New contact' }).click();
  const form = page.getByRole('form', { name: 'New contact' });
  // Field errors come from the server's 422 with the field path.
  await form.getByLabel('Name').fill('Jürgen Müller-Lüdenscheidt');
  await form.getByLabel('Phone').fill('030 1234567');
  await form.getByRole('button', { name: 'Create contact' }).click();
  await form.locator('.field-error:not([hidden])').filter({ hasText: /country code/ }).waitFor();
  assert.equal(await form.getByLabel('Phone').getAttribute('aria-invalid'), 'true');

  await form.getByLabel('Phone').fill('+49 30 1234567');
  await form.getByLabel('E-mail').fill('juergen@example.com');
  await form.getByLabel('Company').fill('Müller GmbH');
  await form.getByRole('button', { name: 'Create contact' }).click();
  await page.getByRole('heading', { name: 'Jürgen Müller-Lüdenscheidt', level: 1 }).waitFor();
  juergenId = decodeURIComponent(page.url().split('#/contacts/')[1]);
  assert.match(juergenId, /^ct/);

  // The same e-mail again: a duplicate hint with a link to the existing contact.
  await go(page, '#/contacts/new');
  await form.getByLabel('Name').fill('Jürgen Again');
  await form.getByLabel('E-mail').fill('juergen@example.com');
  await form.getByRole('button', { name: 'Create contact' }).click();
  const link = form.getByRole('link', { name: 'Open the existing contact' });
  await link.waitFor();
  assert.equal(await link.getAttribute('href'), `#/contacts/${juergenId}`);

  // Search: "üller" (an umlaut in the middle of the name), debounced as one types.
  assert.equal((await A('POST', '/api/v1/contacts', { name: 'Zora Other', email: 'zora@example.com' })).status, 201);
  await go(page, '#/contacts');
  const rows = page.locator('table.data tbody tr');
  await page.locator('table.data tbody tr', { hasText: 'Zora Other' }).waitFor();
  assert.equal(await rows.count(), 2);
  await page.getByLabel('Search').pressSequentially('üller', { delay: 30 });
  await waitFor(async () => (await rows.count()) === 1 && (await rows.first().innerText()).includes('Jürgen'), { what: 'the search result', timeoutMs: 8000 });
  const row = rows.first();
  assert.match(await row.innerText(), /juergen@example\.com/);
  assert.match(await row.innerText(), /\+49301234567\b/, 'the phone in E.164');
  assert.match(await row.innerText(), /Lead/);
  assert.match(page.url(), /q=%C3%BCller|q=üller/, 'the search is kept in the address');
  await page.getByLabel('Search').fill('nobody-by-this-name');
  await page.getByText('No contact matches').waitFor();
});

test('the contact page: stage, a note edited with its history, the timeline', async () => {
  await go(page, `#/contacts/${juergenId}`);
  await page.getByRole('heading', { name: 'Jürgen Müller-Lüdenscheidt', level: 1 }).waitFor();
  await page.getByLabel('Stage', { exact: true }).selectOption('customer');
  await page.locator('.crm-title .badge', { hasText: 'Customer' }).waitFor();
  const tl = page.locator('.crm-timeline');
  await tl.locator('li[data-type="contact_event"]', { hasText: 'Stage changed' }).waitFor();
  assert.equal((await A('GET', `/api/v1/contacts/${juergenId}`)).json.contact.stage, 'customer');

  await page.getByLabel('New note').fill('Called about the order');
  await page.getByRole('button', { name: 'Add note' }).click();
  const note = page.locator('.crm-notes .crm-note').first();
  await note.getByText('Called about the order').waitFor();
  await note.getByRole('button', { name: 'Edit' }).click();
  await note.getByLabel('Note text').fill('Called about order 42: sent again');
  await note.getByRole('button', { name: 'Save note' }).click();
  const edited = page.locator('.crm-notes .crm-note').first();
  await edited.getByText('Called about order 42: sent again').waitFor();
  await edited.getByText('edited once').waitFor();
  await edited.getByRole('button', { name: 'Earlier versions' }).click();
  await edited.locator('.crm-note-history').getByText('Called about the order', { exact: true }).waitFor();
  await tl.locator('li[data-type="note"]', { hasText: 'order 42' }).waitFor();
  assert.equal(pageErrors.length, 0, pageErrors.join('\n'));
});

test('a business card shows a toast and the lead appears in the list', async () => {
  await go(page, '#/contacts');
  await page.locator('table.data tbody tr').first().waitFor();
  const status = await page.evaluate(async () => {
    const r = await fetch('/api/v1/public/card', {
      method: 'POST', headers: { 'Content-Type': 'text/plain' },
      body: JSON.stringify({ site: 'default', vid: 'v-card-browser-1', name: 'Carla Card', email: 'carla@example.com', message: 'Please send a catalogue' }),
    });
    return r.status;
  });
  assert.equal(status, 201);
  const toast = page.locator('.crm-toast', { hasText: 'New lead: Carla Card — from business card' });
  await toast.waitFor();
  // The list follows the socket.
  await page.locator('table.data tbody tr', { hasText: 'carla@example.com' }).waitFor();
  await toast.getByRole('link', { name: 'Open contact' }).click();
  await page.getByRole('heading', { name: 'Carla Card', level: 1 }).waitFor();
  // The card's message became a note.
  await page.locator('.crm-notes').getByText('Please send a catalogue').waitFor();
});

test('a callback from the widget appears in the queue, overdue, and becomes "called"', async () => {
  const res = await page.evaluate(async () => {
    const r = await fetch('/api/v1/public/callbacks', {
      method: 'POST', headers: { 'Content-Type': 'text/plain' },
      body: JSON.stringify({ site: 'default', vid: 'v-cb-browser-1', name: 'Bernd Rückruf', phone: '+49 40 7654321', topic: 'Delivery date' }),
    });
    return { status: r.status, body: await r.json() };
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  await nav(page).getByRole('link', { name: /Callbacks/ }).click();
  await page.getByRole('heading', { name: 'Callbacks', level: 1 }).waitFor();
  const row = page.locator('table.data tbody tr', { hasText: 'Bernd Rückruf' });
  await row.waitFor();
  assert.match(await row.innerText(), /Delivery date/);
  // Due at once, so it turns overdue within a second: every console is told.
  await page.locator('.crm-toast', { hasText: 'Callback overdue: Bernd Rückruf' }).waitFor();
  assert.match(await row.innerText(), /\+49407654321/);
  // Due now: overdue a moment later, shown as a word, and counted beside "Callbacks".
  await page.reload();
  await row.getByText('Overdue').waitFor();
  const badge = nav(page).locator('a[data-path="/callbacks"] .nav-badge');
  await waitFor(async () => (await badge.isVisible()) && (await badge.innerText()) === '1', { what: 'the overdue badge', timeoutMs: 8000 });

  await row.getByRole('button', { name: 'Take' }).click();
  await row.getByRole('button', { name: 'Take' }).waitFor({ state: 'detached' });
  assert.equal((await A('GET', '/api/v1/callbacks?assigned=me')).json.callbacks.length, 1, 'taken by the admin');
  await row.getByRole('button', { name: 'Called' }).click();
  await row.locator('.badge', { hasText: 'Called' }).waitFor();
  const list = await A('GET', '/api/v1/callbacks?status=called');
  assert.equal(list.json.callbacks.length, 1);
  assert.equal(list.json.callbacks[0].name, 'Bernd Rückruf');
  await waitFor(async () => !(await badge.isVisible()), { what: 'the badge goes away', timeoutMs: 8000 });
});

test('possible duplicates are merged after a confirmation', async () => {
  const a = await A('POST', '/api/v1/contacts', { name: 'Dora Dupont', email: 'dora@example.com' });
  const b = await A('POST', '/api/v1/contacts', { name: 'Dora D.', email: 'dora@example.com', phone: '+4989111222', allow_duplicate: true });
  assert.equal(a.status, 201);
  assert.equal(b.status, 201, b.text);
  const n = await A('POST', `/api/v1/contacts/${b.json.contact.id}/notes`, { body: 'Note on the second Dora' });
  assert.equal(n.status, 201);
  await go(page, `#/contacts/${a.json.contact.id}`);
  await page.getByRole('heading', { name: 'Dora Dupont', level: 1 }).waitFor();
  const dups = page.locator('.crm-dups');
  await dups.getByText('Dora D.').waitFor();
  await dups.getByText('same e-mail', { exact: true }).waitFor();
  await dups.getByRole('button', { name: 'Merge Dora D. into this contact' }).click();
  const dlg = page.getByRole('dialog');
  await dlg.getByText('Everything of Dora D. moves to Dora Dupont').waitFor();
  await dlg.getByRole('button', { name: 'Merge' }).click();
  await dups.waitFor({ state: 'hidden' });
  // The phone came along, and the other contact's note.
  await page.locator('.crm-facts').getByText('+4989111222').waitFor();
  await page.locator('.crm-notes').getByText('Note on the second Dora').waitFor();
  assert.equal((await A('GET', `/api/v1/contacts/${b.json.contact.id}`)).status, 409, 'the merged contact points to the survivor');
});

test('CSV import: the dry run names the broken line and field, then the import applies', async () => {
  await go(page, '#/contacts');
  await page.getByRole('link', { name: 'Import CSV' }).click();
  await page.getByRole('heading', { name: 'Import contacts', level: 1 }).waitFor();
  const csv = 'name,email,phone,tags\nEva Import,eva@example.com,+49301111111,vip;b2b\nBroken Row,not-an-email,,\nJürgen Müller-Lüdenscheidt,juergen@example.com,,\n';
  await page.getByLabel('CSV file').setInputFiles({ name: 'contacts.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.getByRole('button', { name: 'Check file' }).click();
  const report = page.locator('.import-report');
  await report.getByRole('heading', { name: 'What the import would do' }).waitFor();
  const errRow = report.locator('table.data tbody tr').first();
  assert.match(await errRow.innerText(), /\b3\b/);
  assert.match(await errRow.innerText(), /email/);
  assert.equal(await report.locator('[data-k="created"] dd').innerText(), '1');
  assert.equal(await report.locator('[data-k="skipped"] dd').innerText(), '1');
  assert.equal((await A('GET', '/api/v1/contacts?q=eva%40example.com')).json.contacts.length, 0, 'the dry run changed nothing');
  await report.getByRole('button', { name: 'Import' }).click();
  await report.getByRole('heading', { name: 'Import finished' }).waitFor();
  assert.equal(await report.locator('[data-k="created"] dd').innerText(), '1');
  const eva = (await A('GET', '/api/v1/contacts?q=eva%40example.com')).json.contacts;
  assert.equal(eva.length, 1);
  assert.deepEqual(eva[0].tags, ['b2b', 'vip']);
});

test('a webhook: the secret is shown once, a test delivery shows in the log', async () => {
  await nav(page).getByRole('link', { name: 'Webhooks' }).click();
  await page.getByRole('heading', { name: 'Webhooks', level: 1 }).waitFor();
  const url = `http://127.0.0.1:${receiver.address().port}/hook`;
  const form = page.getByRole('form', { name: 'Add a webhook' });
  await form.getByLabel('Address').fill(url);
  await form.getByRole('button', { name: 'Add webhook' }).click();
  await form.getByText('Please choose at least one event.').waitFor();
  await form.getByLabel(/lead\.created/).check();
  await form.getByLabel(/callback\.requested/).check();
  await form.getByRole('button', { name: 'Add webhook' }).click();
  const secret = page.getByLabel('Signing secret', { exact: true });
  await secret.waitFor();
  const secretValue = await secret.inputValue();
  assert.match(secretValue, /^whsec_/);
  const row = page.locator('table.data tbody tr', { hasText: url });
  await row.waitFor();
  assert.match(await row.innerText(), /lead\.created/);
  // Shown once: not after a reload, nor in the API.
  await page.reload();
  await row.waitFor();
  assert.equal(await page.getByLabel('Signing secret', { exact: true }).count(), 0);
  assert.equal(JSON.stringify((await A('GET', '/api/v1/webhooks')).json).includes('whsec_'), false);

  await row.getByRole('button', { name: 'Send test' }).click();
  const log = page.locator('.wh-log');
  await log.locator('tbody tr[data-status="delivered"]').waitFor({ timeout: 15_000 });
  assert.match(await log.locator('tbody tr').first().innerText(), /HTTP 200/);
  const ping = received.find((r) => r.body.includes('Hello from Emma'));
  assert.ok(ping, 'the receiver got the test');
  // Signed with the secret the page showed once.
  const want = 'sha256=' + createHmac('sha256', secretValue).update(`${ping.headers['x-emma-timestamp']}.${ping.body}`).digest('hex');
  assert.equal(ping.headers['x-emma-signature'], want, 'the signature checks out with the shown secret');

  // Switched off, then on again.
  await row.getByRole('button', { name: 'Switch off' }).click();
  await page.locator('table.data tbody tr', { hasText: url }).getByText('Off', { exact: true }).waitFor();
  await page.locator('table.data tbody tr', { hasText: url }).getByRole('button', { name: 'Switch on' }).click();
  await page.locator('table.data tbody tr', { hasText: url }).getByText('On', { exact: true }).waitFor();
});

test('a delivery that fails shows the error and can be retried', async () => {
  // A port nobody listens on.
  const dead = http.createServer();
  await new Promise((r) => dead.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${dead.address().port}/gone`;
  await new Promise((r) => dead.close(r));
  const wh = await A('POST', '/api/v1/webhooks', { url, events: ['*'] });
  assert.equal(wh.status, 201, wh.text);
  await page.reload();
  const row = page.locator('table.data tbody tr', { hasText: url });
  await row.getByRole('button', { name: 'Send test' }).click();
  const log = page.locator('.wh-log');
  await log.getByText(url).waitFor();
  const d = log.locator('tbody tr').first();
  await waitFor(async () => /\b1\b/.test(await d.locator('td').nth(3).innerText()) && (await d.locator('td').nth(4).innerText()).trim() !== '', { what: 'the first failed attempt', timeoutMs: 15_000 });
  assert.match(await d.innerText(), /Waiting|Failed/);
  await d.getByRole('button', { name: 'Retry' }).click();
  await waitFor(async () => /\b2\b/.test(await log.locator('tbody tr').first().locator('td').nth(3).innerText()), { what: 'the retry', timeoutMs: 15_000 });
});

test('the timeline loads older entries when scrolled to its end', async () => {
  const c = await A('POST', '/api/v1/contacts', { name: 'Tim Line', email: 'tim@example.com' });
  for (let i = 1; i <= 40; i++) {
    const r = await A('POST', `/api/v1/contacts/${c.json.contact.id}/notes`, { body: `Line note ${i}` });
    assert.equal(r.status, 201);
  }
  const paged = page.waitForRequest((r) => /\/timeline\?.*cursor=/.test(r.url()));
  await go(page, `#/contacts/${c.json.contact.id}`);
  const items = page.locator('.crm-timeline > li');
  await page.locator('.crm-timeline').getByText('Line note 40').waitFor();
  await page.locator('.crm-sentinel').scrollIntoViewIfNeeded();
  await paged; // the second page was asked for with the cursor of the first
  await page.locator('.crm-timeline').getByText('Contact created').waitFor();
  assert.equal(await items.count(), 41, '40 notes and the creation');
});

test('export downloads the JSON with the e-mail; erase asks for the name and removes the contact', async () => {
  await go(page, `#/contacts/${juergenId}`);
  await page.getByRole('heading', { name: 'Jürgen Müller-Lüdenscheidt', level: 1 }).waitFor();
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Export data (JSON)' }).click(),
  ]);
  const text = readFileSync(await download.path(), 'utf8');
  const doc = JSON.parse(text);
  assert.equal(doc.contact.email, 'juergen@example.com');
  assert.ok(doc.notes.some((x) => x.body.includes('order 42')));

  await page.getByRole('button', { name: 'Erase person…' }).click();
  const dlg = page.getByRole('dialog');
  const sure = dlg.getByRole('button', { name: 'Erase for ever' });
  assert.equal(await sure.isDisabled(), true, 'disabled until the name is typed');
  await dlg.getByLabel(/To confirm, type/).fill('Jürgen');
  assert.equal(await sure.isDisabled(), true);
  await dlg.getByLabel(/To confirm, type/).fill('Jürgen Müller-Lüdenscheidt');
  await sure.click();
  await page.getByRole('heading', { name: 'Contacts', level: 1 }).waitFor();
  assert.equal((await A('GET', `/api/v1/contacts/${juergenId}`)).status, 404);
  assert.equal((await A('GET', '/api/v1/contacts?q=juergen%40example.com')).json.contacts.length, 0);
});

test('a contact named with markup is shown as text everywhere', async () => {
  const c = await A('POST', '/api/v1/contacts', { name: XSS, email: 'xss@example.com', company: XSS, tags: ['x'] });
  assert.equal(c.status, 201, c.text);
  await A('POST', `/api/v1/contacts/${c.json.contact.id}/notes`, { body: XSS });
  await go(page, '#/callbacks');
  await go(page, '#/contacts');
  const row = page.locator('table.data tbody tr', { hasText: 'xss@example.com' });
  await row.waitFor();
  assert.ok((await row.innerText()).includes(XSS));
  await noMarkup(page, 'list');
  await row.getByRole('link', { name: XSS }).click();
  await page.getByRole('heading', { name: XSS, level: 1 }).waitFor();
  await page.locator('.crm-notes').getByText(XSS).waitFor();
  await noMarkup(page, 'contact page');
  // A card with that name: the toast shows it as text.
  await page.evaluate(async (name) => {
    await fetch('/api/v1/public/card', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ site: 'default', vid: 'v-xss', name, email: 'xss2@example.com' }) });
  }, XSS);
  await page.locator('.crm-toast', { hasText: `New lead: ${XSS}` }).waitFor();
  await noMarkup(page, 'toast');
  // And a callback with that name in the queue.
  await page.evaluate(async (name) => {
    await fetch('/api/v1/public/callbacks', { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ site: 'default', vid: 'v-xss-cb', name, phone: '+4930999888', topic: name }) });
  }, XSS);
  await go(page, '#/callbacks');
  await page.locator('table.data tbody tr', { hasText: '+4930999888' }).waitFor();
  await noMarkup(page, 'callbacks');
  assert.equal(pageErrors.length, 0, pageErrors.join('\n'));
});

test('an agent sees no admin actions', async () => {
  const p = await newPage();
  await signIn(p, AGENT.email, AGENT.password);
  assert.equal(await nav(p).getByRole('link', { name: 'Webhooks' }).count(), 0);
  await nav(p).getByRole('link', { name: 'Contacts' }).click();
  await p.locator('table.data tbody tr').first().waitFor();
  await p.getByRole('link', { name: 'New contact' }).waitFor();
  assert.equal(await p.getByRole('link', { name: 'Export CSV' }).count(), 0);
  assert.equal(await p.getByRole('link', { name: 'Import CSV' }).count(), 0);
  await p.locator('table.data tbody tr', { hasText: 'carla@example.com' }).getByRole('link').click();
  await p.getByRole('heading', { name: 'Carla Card', level: 1 }).waitFor();
  await p.getByRole('heading', { name: 'Notes' }).waitFor();
  // The admin has the same contact open.
  await go(page, `#${new URL(p.url()).hash.slice(1)}`);
  await page.getByRole('heading', { name: 'Carla Card', level: 1 }).waitFor();
  await page.locator('.crm-notes').getByText('Please send a catalogue').waitFor();
  assert.equal(await p.getByRole('link', { name: 'Export data (JSON)' }).count(), 0);
  assert.equal(await p.getByRole('button', { name: 'Erase person…' }).count(), 0);
  // An agent may write notes.
  await p.getByLabel('New note').fill('Agent was here');
  await p.getByRole('button', { name: 'Add note' }).click();
  await p.locator('.crm-notes').getByText('Agent was here').waitFor();
  // The admin's open page follows the note over the socket, without a reload.
  await page.locator('.crm-notes').getByText('Agent was here').waitFor();
  await page.locator('.crm-timeline li[data-type="note"]', { hasText: 'Agent was here' }).waitFor();
  await go(p, '#/settings/webhooks');
  await p.getByText('Only administrators can see this page.').waitFor();
  await go(p, '#/contacts/import');
  assert.equal(await p.getByLabel('CSV file').count(), 0);
  await p.context().close();
});
