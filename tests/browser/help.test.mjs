// Browser test of the help centre (/help) against the real emma binary: a person searches
// "Ruecksendung" on the help home, opens the article, votes "helpful" and sees the thank-you,
// on a desktop and on a 375 px phone; and the same works with JavaScript turned off, since the
// pages are plain HTML forms and links. No errors in the console (a CSP violation would be one).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { startEmma, login, api } from '../e2e/lib/emma.mjs';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let emma, browser, admin, articleId;

before(async () => {
  emma = await startEmma();
  admin = await login(emma.url, 'admin@localhost', emma.adminPassword);
  const put = async (a) => {
    const r = await api(emma.url, 'POST', '/api/v1/faq', { cookie: admin.cookie, csrf: admin.csrf, body: a });
    assert.equal(r.status, 201, r.text);
    return r.json.article;
  };
  articleId = (await put({ lang: 'de', slug: 'ruecksendung', question: 'Wie funktioniert die Rücksendung?',
    answer: 'Drucken Sie das **Rücksendeetikett** in Ihrem Kundenkonto aus und geben Sie das Paket bei der Post ab.',
    category: 'Versand & Rückgabe', status: 'published' })).id;
  await put({ lang: 'de', slug: 'lieferzeit', question: 'Wie lange dauert der Versand?', answer: 'Zwei bis drei Werktage.',
    category: 'Versand & Rückgabe', status: 'published' });
  await put({ lang: 'de', slug: 'zahlung', question: 'Welche Zahlungsarten gibt es?', answer: 'Rechnung, PayPal, Kreditkarte.',
    category: 'Zahlung', status: 'published' });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
});
after(async () => {
  await browser?.close();
  await emma?.stop();
});

async function newPage(options) {
  const ctx = await browser.newContext({ locale: 'de-DE', ...options });
  const p = await ctx.newPage();
  p.setDefaultTimeout(10_000);
  const errors = [];
  p.on('pageerror', (e) => errors.push(e.message));
  p.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  return { ctx, p, errors };
}

/** The whole journey: /help → search → article → vote → thank-you. */
async function journey(p) {
  await p.goto(emma.url + '/help');
  assert.match(p.url(), /\/help\/default\/de$/, 'German browser lands on the German home');
  await p.getByRole('heading', { name: 'Wie können wir helfen?', level: 1 }).waitFor();
  // The site colour reaches the page.
  const brand = await p.evaluate(() => getComputedStyle(document.querySelector('.top')).backgroundColor);
  assert.equal(brand, 'rgb(170, 51, 0)');
  await p.getByRole('searchbox', { name: 'Hilfe durchsuchen' }).fill('Ruecksendung');
  await p.getByRole('button', { name: 'Suchen' }).click();
  await p.getByRole('heading', { name: /Suchergebnisse für/, level: 1 }).waitFor();
  const hit = p.locator('.results a').first();
  assert.equal((await hit.locator('mark').textContent()), 'Rücksendung', 'the matched word is highlighted');
  await hit.click();
  await p.getByRole('heading', { name: 'Wie funktioniert die Rücksendung?', level: 1 }).waitFor();
  assert.equal(await p.locator('.answer strong').textContent(), 'Rücksendeetikett');
  await p.getByRole('heading', { name: 'War dieser Artikel hilfreich?' }).waitFor();
  await p.getByRole('button', { name: 'Ja' }).click();
  const thanks = p.getByRole('status');
  await thanks.waitFor();
  assert.equal(await thanks.textContent(), 'Danke für Ihre Rückmeldung!');
  assert.match(p.url(), /\/help\/default\/de\/ruecksendung\?voted=yes#vote$/);
  // Breadcrumbs lead to the category.
  await p.getByRole('navigation', { name: 'Brotkrümelnavigation' }).getByRole('link', { name: 'Versand & Rückgabe' }).click();
  await p.getByRole('heading', { name: 'Versand & Rückgabe', level: 1 }).waitFor();
  assert.equal(await p.locator('.articles li').count(), 2);
}

async function helpfulVotes() {
  const r = await api(emma.url, 'GET', `/api/v1/faq/${articleId}`, { cookie: admin.cookie });
  return r.json.article.helpful_yes;
}

test('a person finds the return article by search and votes it helpful', async () => {
  await api(emma.url, 'PUT', '/api/v1/chat/settings?site=default', { cookie: admin.cookie, csrf: admin.csrf, body: { color: '#aa3300' } });
  const { ctx, p, errors } = await newPage({ viewport: { width: 1280, height: 900 } });
  const before = await helpfulVotes();
  await journey(p);
  assert.equal(await helpfulVotes(), before + 1);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('the same on a 375 px phone: nothing wider than the screen', async () => {
  const { ctx, p, errors } = await newPage({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });
  await journey(p);
  for (const path of ['/help/default/de', '/help/default/de/ruecksendung', '/help/default/de/search?q=Versand']) {
    await p.goto(emma.url + path);
    const wide = await p.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 375, `${path} is ${wide}px wide`);
    const box = await p.getByRole('button', { name: 'Suchen' }).boundingBox();
    assert.ok(box && box.x + box.width <= 375, `${path}: the search button is on the screen`);
  }
  assert.deepEqual(errors, []);
  await ctx.close();
});

test('it all works with JavaScript disabled', async () => {
  const { ctx, p, errors } = await newPage({ viewport: { width: 1024, height: 800 }, javaScriptEnabled: false });
  const before = await helpfulVotes();
  await journey_nojs(p);
  assert.equal(await helpfulVotes(), before + 1);
  assert.deepEqual(errors, []);
  await ctx.close();
});

/** Like journey, but without page.evaluate (no scripts run in this context). */
async function journey_nojs(p) {
  await p.goto(emma.url + '/help');
  await p.getByRole('heading', { name: 'Wie können wir helfen?', level: 1 }).waitFor();
  await p.getByRole('searchbox', { name: 'Hilfe durchsuchen' }).fill('Ruecksendung');
  await p.getByRole('searchbox', { name: 'Hilfe durchsuchen' }).press('Enter');
  await p.getByRole('heading', { name: /Suchergebnisse für/, level: 1 }).waitFor();
  await p.locator('.results a').first().click();
  await p.getByRole('heading', { name: 'Wie funktioniert die Rücksendung?', level: 1 }).waitFor();
  await p.getByRole('button', { name: 'Ja' }).click();
  await p.getByRole('status').waitFor();
  assert.equal(await p.getByRole('status').textContent(), 'Danke für Ihre Rückmeldung!');
  // And the language switch is a plain link too.
  await p.getByRole('link', { name: 'English' }).click();
  await p.getByRole('heading', { name: 'How can we help?', level: 1 }).waitFor();
}
