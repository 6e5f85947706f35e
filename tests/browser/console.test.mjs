// Browser test of the operator console against the real emma binary:
// sign-in, the shell, language switch, operators, API tokens, sign-out,
// and that names from users are shown as text, never as markup.
// Runs in Debian's Chromium through playwright-core.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { startEmma } from '../e2e/lib/emma.mjs';
import { strings } from '../../web/console/strings.js';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ADMIN = 'admin@localhost';
const XSS_NAME = '<img src=x onerror=alert(1)>';
const AGENT_PASSWORD = 'agent-password-1';

let emma;
let browser;
let page;
const dialogs = [];
const pageErrors = [];

function watch(p) {
  p.setDefaultTimeout(10_000);
  p.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  p.on('pageerror', (e) => pageErrors.push(e.message));
}

async function newPage() {
  const ctx = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 900 } });
  const p = await ctx.newPage();
  watch(p);
  return p;
}

async function signIn(p, email, password) {
  await p.getByLabel('E-mail').fill(email);
  await p.getByLabel('Password').fill(password);
  await p.getByRole('button', { name: 'Sign in' }).click();
}

const nav = (p) => p.getByRole('navigation');

// Static checks of the console's sources (no browser needed).
const consoleDir = new URL('../../web/console/', import.meta.url);
function consoleSources() {
  const out = [];
  for (const e of readdirSync(consoleDir, { recursive: true })) {
    if (String(e).endsWith('.js')) out.push([String(e), readFileSync(new URL(String(e), consoleDir), 'utf8')]);
  }
  out.push(['shared/i18n.js', readFileSync(new URL('../shared/i18n.js', consoleDir), 'utf8')]);
  return out;
}

test('every console string exists in German and English', () => {
  const en = Object.keys(strings.en).sort();
  const de = Object.keys(strings.de).sort();
  assert.deepEqual(de, en, 'the same keys in both languages');
  for (const lang of ['en', 'de']) {
    for (const [k, v] of Object.entries(strings[lang])) {
      const forms = typeof v === 'object' ? [v.one, v.other] : [v];
      for (const f of forms) assert.ok(typeof f === 'string' && f.length > 0, `${lang} ${k} is text`);
    }
  }
  // Every literal key the code uses is in the table (catches typos).
  const prefixes = new Set(en.map((k) => k.split('.')[0]));
  for (const [file, src] of consoleSources()) {
    for (const [, key] of src.matchAll(/'([a-z_]+(?:\.[a-z_]+)+)'/g)) {
      if (prefixes.has(key.split('.')[0])) assert.ok(key in strings.en, `${file}: unknown string key ${key}`);
    }
  }
  // Keys built at run time.
  for (const area of ['live', 'chats', 'contacts', 'callbacks', 'help']) {
    assert.ok(`nav.${area}` in strings.en && `empty.${area}.text` in strings.en, area);
  }
  for (const k of ['role.admin', 'role.agent', 'lang.de', 'lang.en', 'scope.read', 'scope.write',
    'live.live_hint', 'live.offline_hint', 'live.connecting_hint']) assert.ok(k in strings.en, k);
});

test('the console never inserts HTML from strings', () => {
  for (const [file, src] of consoleSources()) {
    assert.doesNotMatch(src, /\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(/, file);
  }
});

before(async () => {
  emma = await startEmma();
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  page = await newPage();
});

after(async () => {
  await browser?.close();
  await emma?.stop();
});

test('an unknown visitor sees the sign-in page', async () => {
  await page.goto(emma.url + '/');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  assert.equal(await page.getByLabel('E-mail').isVisible(), true);
  assert.equal(await page.getByLabel('Password').getAttribute('type'), 'password');
  assert.equal(await nav(page).count(), 0, 'no navigation before sign-in');
});

test('a wrong password shows an error and stays on sign-in', async () => {
  await signIn(page, ADMIN, 'not-the-password');
  await page.getByRole('alert').filter({ hasText: 'Wrong e-mail or password' }).waitFor();
  assert.equal(await page.getByLabel('Password').inputValue(), '', 'the wrong password is cleared');
  assert.equal(await nav(page).count(), 0);
});

test('the right password shows the shell with the operator', async () => {
  await signIn(page, ADMIN, emma.adminPassword);
  await nav(page).waitFor();
  await page.locator('.topbar').getByText(ADMIN).waitFor();
  assert.match(await page.locator('.topbar .who').innerText(), /Administrator|Admin/);
  // The session is kept across a reload (cookie + CSRF token in sessionStorage).
  await page.reload();
  await nav(page).waitFor();
  // The operator WebSocket connects.
  await page.locator('.live-status[data-state="live"]').waitFor();
});

test('switching to Deutsch relabels the navigation and is remembered', async () => {
  const lang = page.getByLabel(/^(Language|Sprache)$/);
  if ((await lang.inputValue()) !== 'en') await lang.selectOption('en');
  await nav(page).getByRole('link', { name: 'Operators' }).waitFor();
  await nav(page).getByRole('link', { name: 'Live visitors' }).waitFor();

  const saved = page.waitForResponse((r) => r.request().method() === 'PATCH' && r.url().includes('/api/v1/operators/'));
  await lang.selectOption('de');
  await nav(page).getByRole('link', { name: 'Mitarbeiter' }).waitFor();
  await nav(page).getByRole('link', { name: 'Besucher live' }).waitFor();
  assert.equal(await nav(page).getByRole('link', { name: 'Operators' }).count(), 0);
  assert.equal(await page.locator('html').getAttribute('lang'), 'de');
  await page.getByRole('button', { name: 'Abmelden' }).waitFor();

  // Stored on the operator (PATCH), so it survives a reload.
  assert.equal((await saved).ok(), true, 'the language is saved on the operator');
  await page.reload();
  await nav(page).getByRole('link', { name: 'Mitarbeiter' }).waitFor();

  await page.getByLabel('Sprache').selectOption('en');
  await nav(page).getByRole('link', { name: 'Operators' }).waitFor();
  assert.equal(await page.locator('html').getAttribute('lang'), 'en');
});

test('an admin adds an agent and it appears in the list', async () => {
  await nav(page).getByRole('link', { name: 'Operators' }).click();
  await page.getByRole('heading', { name: 'Operators', level: 1 }).waitFor();
  await page.locator('table.data').getByText(ADMIN).waitFor();

  const form = page.getByRole('form', { name: 'Add an operator' });
  await form.getByLabel('Name').fill('Alice Agent');
  await form.getByLabel('E-mail').fill('alice@example.com');
  await form.getByLabel('Initial password').fill(AGENT_PASSWORD);
  await form.getByLabel('Role').selectOption('agent');
  await form.getByRole('button', { name: 'Add operator' }).click();

  const row = page.locator('table.data tr', { hasText: 'alice@example.com' });
  await row.waitFor();
  assert.match(await row.innerText(), /Alice Agent/);
  assert.match(await row.innerText(), /Agent/);
  assert.equal(await form.getByLabel('E-mail').inputValue(), '', 'the form is reset');

  // Still there after reloading the list from the server.
  await page.reload();
  await page.locator('table.data tr', { hasText: 'alice@example.com' }).waitFor();

  // A duplicate e-mail is refused with a clear message.
  await form.getByLabel('Name').fill('Alice Again');
  await form.getByLabel('E-mail').fill('alice@example.com');
  await form.getByLabel('Initial password').fill(AGENT_PASSWORD);
  await form.getByRole('button', { name: 'Add operator' }).click();
  await form.getByText('An operator with this e-mail address already exists.').waitFor();
});

test('an operator name with markup is shown as text', async () => {
  const form = page.getByRole('form', { name: 'Add an operator' });
  await form.getByLabel('Name').fill(XSS_NAME);
  await form.getByLabel('E-mail').fill('mallory@example.com');
  await form.getByLabel('Initial password').fill(AGENT_PASSWORD);
  await form.getByRole('button', { name: 'Add operator' }).click();

  const row = page.locator('table.data tr', { hasText: 'mallory@example.com' });
  await row.waitFor();
  assert.ok((await row.innerText()).includes(XSS_NAME), 'the name is shown literally');
  assert.equal(await page.locator('img').count(), 0, 'no img element was created');

  await page.reload();
  await page.locator('table.data tr', { hasText: 'mallory@example.com' }).waitFor();
  assert.equal(await page.locator('img').count(), 0);

  // The same operator signed in sees the name as text in the header, and as
  // an agent sees the operator list read-only.
  const p2 = await newPage();
  await p2.goto(emma.url + '/');
  await signIn(p2, 'mallory@example.com', AGENT_PASSWORD);
  await nav(p2).waitFor();
  assert.equal(await p2.locator('.topbar .who-name').textContent(), XSS_NAME);
  assert.equal(await p2.locator('img').count(), 0);
  await nav(p2).getByRole('link', { name: 'Operators' }).click();
  await p2.locator('table.data').getByText(ADMIN).waitFor();
  assert.equal(await p2.getByRole('form', { name: 'Add an operator' }).count(), 0, 'agents cannot add operators');
  assert.equal(await p2.locator('table.data select, table.data button').count(), 0, 'agents see the list read-only');
  assert.equal(await nav(p2).getByRole('link', { name: 'Audit log' }).count(), 0, 'agents have no audit log');
  assert.equal(await p2.locator('img').count(), 0);
  await p2.context().close();
  assert.deepEqual(dialogs, [], 'no script ran');
});

test('an admin changes an agent\'s role and disables the account', async () => {
  const row = () => page.locator('table.data tr', { hasText: 'alice@example.com' });
  let saved = page.waitForResponse((r) => r.request().method() === 'PATCH');
  await row().getByLabel('Role of Alice Agent').selectOption('admin');
  assert.equal((await saved).status(), 200);
  saved = page.waitForResponse((r) => r.request().method() === 'PATCH');
  await row().getByRole('button', { name: 'Disable Alice Agent' }).click();
  assert.equal((await saved).status(), 200);
  await row().getByText('Disabled').waitFor();

  await page.reload();
  await row().getByText('Disabled').waitFor();
  assert.equal(await row().getByLabel('Role of Alice Agent').inputValue(), 'admin');
  saved = page.waitForResponse((r) => r.request().method() === 'PATCH');
  await row().getByRole('button', { name: 'Enable Alice Agent' }).click();
  assert.equal((await saved).status(), 200);
  await row().getByText('Active').waitFor();
});

test('a new API token secret is shown once', async () => {
  await nav(page).getByRole('link', { name: 'API tokens' }).click();
  await page.getByRole('heading', { name: 'API tokens', level: 1 }).waitFor();
  const form = page.getByRole('form', { name: 'Create a token' });
  await form.getByLabel('Name').fill('Shop backend');
  await form.getByLabel('Access').selectOption('write');
  await form.getByRole('button', { name: 'Create token' }).click();

  const secretBox = page.getByLabel('Token', { exact: true });
  await secretBox.waitFor();
  const secret = await secretBox.inputValue();
  assert.match(secret, /^emt_\S+$/);
  await page.getByText('It is shown only this once').waitFor();
  await page.getByRole('button', { name: 'Copy' }).waitFor();
  await page.locator('table.data tr', { hasText: 'Shop backend' }).waitFor();

  await page.getByRole('button', { name: 'Done' }).click();
  assert.equal(await secretBox.count(), 0, 'the secret is gone after Done');

  await nav(page).getByRole('link', { name: 'Operators' }).click();
  await nav(page).getByRole('link', { name: 'API tokens' }).click();
  const row = page.locator('table.data tr', { hasText: 'Shop backend' });
  await row.waitFor();
  assert.equal((await page.content()).includes(secret), false, 'the secret is not shown again');

  // Revoking asks once more, then marks the token revoked.
  await row.getByRole('button', { name: 'Revoke Shop backend' }).click();
  await row.getByRole('button', { name: 'Yes, revoke' }).click();
  await page.locator('table.data tr', { hasText: 'Shop backend' }).getByText('Revoked').waitFor();
});

test('the audit log opens for an admin', async () => {
  await nav(page).getByRole('link', { name: 'Audit log' }).click();
  await page.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
  await page.locator('.list-area table.data:visible, .list-area .empty-inline:visible').first().waitFor();
  assert.equal(await page.locator('.list-area [role="alert"]:visible').count(), 0);
});

test('signing out returns to the sign-in page', async () => {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  assert.equal(await nav(page).count(), 0);
  await page.reload();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
});

test('a session that ends returns to the sign-in page', async () => {
  await signIn(page, ADMIN, emma.adminPassword);
  await nav(page).waitFor();
  await page.context().clearCookies();
  await nav(page).getByRole('link', { name: 'Operators' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.getByText('Your session has ended').waitFor();
  assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
});

test('too many wrong passwords are rate limited with a wait', async (t) => {
  const limited = await startEmma({ t, env: { EMMA_AUTH_LOGIN_ATTEMPTS_PER_MIN: '2' } });
  const p = await newPage();
  await p.goto(limited.url + '/');
  const submit = p.getByRole('button', { name: 'Sign in' });
  const attempt = async () => {
    const answered = p.waitForResponse((r) => r.url().endsWith('/api/v1/login'));
    await signIn(p, ADMIN, 'not-the-password');
    return (await answered).status();
  };
  for (let i = 0; i < 2; i++) {
    assert.equal(await attempt(), 401);
    await p.getByRole('alert').filter({ hasText: 'Wrong e-mail or password' }).waitFor();
  }
  assert.equal(await attempt(), 429);
  await p.getByRole('alert').filter({ hasText: /Too many attempts\. Please try again in \d+ seconds?\./ }).waitFor();
  assert.equal(await submit.isDisabled(), true, 'sign-in waits for Retry-After');
  await p.context().close();
});
