// Browser test of Settings → Sites in the operator console against the real
// emma binary: an admin adds a site (a bad domain is shown at its line),
// edits its domains, deletes an empty one and is told why a site with data
// cannot be deleted; an agent sees the list without the form.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startEmma, login, api } from '../e2e/lib/emma.mjs';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
const AGENT_PASSWORD = 'agent-password-1';

let emma, browser;
const pageErrors = [];

before(async () => {
  emma = await startEmma();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});
after(async () => {
  await browser?.close();
  await emma?.stop();
});

async function signedInPage(email, password) {
  const ctx = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 900 } });
  const p = await ctx.newPage();
  p.setDefaultTimeout(10_000);
  p.on('pageerror', (e) => pageErrors.push(e.message));
  await p.goto(emma.url + '/');
  await p.getByLabel('E-mail').fill(email);
  await p.getByLabel('Password').fill(password);
  await p.getByRole('button', { name: 'Sign in' }).click();
  await p.getByRole('navigation').waitFor();
  return p;
}

test('an admin adds, edits and deletes sites', async () => {
  const p = await signedInPage('admin@localhost', emma.adminPassword);
  await p.getByRole('navigation').getByRole('link', { name: 'Sites' }).click();
  await p.getByRole('heading', { name: 'Sites', level: 1 }).waitFor();
  await p.locator('tr[data-key="default"]').waitFor();

  await p.getByLabel('Key').fill('tea-shop');
  await p.getByLabel('Name').fill('Tea shop');
  await p.getByLabel('Allowed domains').fill('tea.example\nhttps://www.tea.example');
  await p.getByRole('button', { name: 'Add site' }).click();
  const fieldErr = p.locator('.field-error').filter({ hasText: 'Line 2:' });
  await fieldErr.waitFor();
  assert.match(await fieldErr.textContent(), /without scheme/);

  await p.getByLabel('Allowed domains').fill('tea.example\n*.tea.example');
  await p.getByRole('button', { name: 'Add site' }).click();
  const row = p.locator('tr[data-key="tea-shop"]');
  await row.waitFor();
  assert.match(await row.textContent(), /tea\.example, \*\.tea\.example/);
  assert.match(await row.textContent(), /data-site="tea-shop"/, 'the row shows the tracking tag');

  // The new domains apply to tracking at once.
  const t = await fetch(`${emma.url}/t`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain', 'user-agent': CHROME, origin: 'https://evil.example' },
    body: JSON.stringify({ site: 'tea-shop', events: [{ type: 'pageview', url: '/' }] }),
  });
  assert.equal(t.status, 403);

  // Edit: the key is fixed, the domains change.
  await row.getByRole('button', { name: 'Edit Tea shop' }).click();
  assert.equal(await p.getByLabel('Key').isDisabled(), true);
  await p.getByLabel('Allowed domains').fill('');
  await p.getByRole('button', { name: 'Save' }).click();
  await p.locator('tr[data-key="tea-shop"]').filter({ hasText: 'any domain' }).waitFor();

  // A duplicate key is shown at the key field.
  await p.getByLabel('Key').fill('tea-shop');
  await p.getByRole('button', { name: 'Add site' }).click();
  await p.locator('.field-error').filter({ hasText: 'exists already' }).waitFor();
  await p.getByLabel('Key').fill('empty');
  await p.getByRole('button', { name: 'Add site' }).click();
  await p.locator('tr[data-key="empty"]').waitFor();

  // Data on tea-shop: it cannot be deleted; "empty" can.
  const ok = await fetch(`${emma.url}/t`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain', 'user-agent': CHROME },
    body: JSON.stringify({ site: 'tea-shop', events: [{ type: 'pageview', url: '/' }] }),
  });
  assert.equal(ok.status, 200);
  await p.locator('tr[data-key="tea-shop"]').getByRole('button', { name: 'Delete Tea shop' }).click();
  await p.getByRole('alert').filter({ hasText: 'cannot be deleted' }).waitFor();
  await p.locator('tr[data-key="empty"]').getByRole('button', { name: 'Delete empty' }).click();
  await p.locator('tr[data-key="empty"]').waitFor({ state: 'detached' });
  assert.equal(await p.locator('tr[data-key="default"] button', { hasText: 'Delete' }).count(), 0,
    'the default site offers no delete');
  assert.deepEqual(pageErrors, []);
  await p.context().close();
});

test('an agent sees the sites but no form', async () => {
  const admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
  const r = await api(emma.url, 'POST', '/api/v1/operators', {
    ...admin, body: { email: 'agent@example.com', name: 'Agent', role: 'agent', password: AGENT_PASSWORD },
  });
  assert.equal(r.status, 201, r.text);
  const p = await signedInPage('agent@example.com', AGENT_PASSWORD);
  await p.goto(emma.url + '/#/settings/sites');
  await p.locator('tr[data-key="tea-shop"]').waitFor();
  assert.equal(await p.getByRole('button', { name: 'Add site' }).count(), 0);
  assert.equal(await p.getByRole('button', { name: /^Edit / }).count(), 0);
  assert.deepEqual(pageErrors, []);
  await p.context().close();
});
