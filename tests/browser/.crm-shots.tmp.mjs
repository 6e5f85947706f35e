import { chromium } from 'playwright-core';
import { startEmma, login, api } from '../e2e/lib/emma.mjs';
const emma = await startEmma();
const admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
const A = (m, p, b) => api(emma.url, m, p, { ...admin, body: b });
const c = await A('POST', '/api/v1/contacts', { name: 'Erika Mustermann', email: 'erika@example.com', phone: '+49301234567', company: 'Muster GmbH', tags: ['vip', 'b2b'] });
const id = c.json.contact.id;
await A('POST', '/api/v1/contacts', { name: 'Erika M.', email: 'erika@example.com', allow_duplicate: true });
await A('POST', `/api/v1/contacts/${id}/notes`, { body: 'Wants the blue one' });
await A('PATCH', `/api/v1/contacts/${id}`, { stage: 'customer' });
await A('POST', '/api/v1/callbacks', { contact: id, topic: 'Delivery', due_at: new Date(Date.now() - 600000).toISOString() });
await A('POST', '/api/v1/webhooks', { url: 'http://127.0.0.1:9/x', events: ['*'] });
const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox'] });
const p = await (await b.newContext({ viewport: { width: 1400, height: 1100 } })).newPage();
p.on('pageerror', (e) => console.log('ERR', e.message));
await p.goto(emma.url + '/');
await p.getByLabel('E-mail').fill('admin@localhost'); await p.getByLabel('Password').fill(emma.adminPassword);
await p.getByRole('button', { name: 'Sign in' }).click(); await p.getByRole('navigation').waitFor();
for (const [h, f] of [['#/contacts', 'list'], [`#/contacts/${id}`, 'contact'], ['#/callbacks', 'callbacks'], ['#/settings/webhooks', 'webhooks'], ['#/contacts/import', 'import'], ['#/contacts/new', 'new']]) {
  await p.evaluate((x) => { location.hash = x; }, h); await p.waitForTimeout(1200);
  await p.screenshot({ path: `/tmp/crmshots/${f}.png`, fullPage: true });
}
await b.close(); await emma.stop();
