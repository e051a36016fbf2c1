// Browser tests of the operator console: headless Debian chromium driven by playwright-core
// (no browser download), against a running engine. Started by `tests/console.rs` with:
//   node console/tests/run.mjs <baseUrl> <config.json>
// config: {super: {username, password}, bound: {username, password, associationId},
//          associationId, phone, arabicText, scheduledText, boundText, zoneText,
//          routeCredentialId, screenshots}
// The flows run in the machine's zone; then zone.mjs checks the times in a browser set to
// Asia/Riyadh. Exits 0 when every flow passed; prints each step, and on a failure the step,
// the error and the page's text (and saves a screenshot next to the others as failure.png).

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zoneFlow, ZONE } from './zone.mjs';

const [base, configJson] = process.argv.slice(2);
if (!base || !configJson) {
  console.error('usage: node run.mjs <baseUrl> <config.json>');
  process.exit(2);
}
const cfg = JSON.parse(configJson);
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const STEP_TIMEOUT = 20_000;

let step = 'start';
const log = (s) => { step = s; console.log(`console test: ${s}`); };
const fail = (msg) => { throw new Error(msg); };
const expect = (cond, msg) => { if (!cond) fail(msg); };

function localInput(d) {
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Polls `cond` from node (page.waitForFunction would eval in the page, which the console's CSP forbids). */
async function waitUntil(cond, what, ms = STEP_TIMEOUT) {
  const started = Date.now();
  for (;;) {
    if (await cond()) return;
    if (Date.now() - started > ms) fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function login(page, user, password) {
  await page.goto(`${base}/`);
  await page.waitForSelector('#login-form');
  expect(new URL(page.url()).pathname === '/console/', `/ should redirect to /console/, got ${page.url()}`);
  await page.fill('#login-form input[name=username]', user);
  await page.fill('#login-form input[name=password]', password);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#logout');
}

async function go(page, screen) {
  await page.goto(`${base}/console/#/${screen}`);
  await page.waitForSelector(`#screen-${screen}`);
}

async function pickAssociation(page, id) {
  await page.selectOption('select#association', String(id));
  await page.waitForTimeout(50);
}

async function run(page) {
  // ---- log-in: a wrong password shows the API's message, then the right one gets in.
  log('log-in refuses a wrong password with the API message');
  await page.goto(`${base}/`);
  await page.waitForSelector('#login-form');
  await page.fill('#login-form input[name=username]', cfg.super.username);
  await page.fill('#login-form input[name=password]', 'not the password');
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#login-form .error');
  const loginErr = await page.textContent('#login-form .error');
  expect(loginErr.includes('Invalid username or password'), `login error was "${loginErr}"`);

  log('log in as the super operator');
  await login(page, cfg.super.username, cfg.super.password);
  await page.waitForSelector('#overview-body .cards');

  // ---- two screen changes before the first has rendered (an operator switching association
  // twice in a row): only the last is shown, and the one it replaced keeps no stream open (the
  // next steps count the session's streams). Both changes are made in one task of the page,
  // so the first is always still loading its screen when the second starts.
  log('two association changes in a row: the last one\'s overview alone is shown');
  const other = cfg.bound.associationId;
  await page.locator('select#association').evaluate((sel, ids) => {
    for (const id of ids) {
      sel.value = String(id);
      sel.dispatchEvent(new Event('change'));
    }
  }, [other, cfg.associationId]);
  await page.waitForSelector('#ov-live[data-mode="stream"]');
  await page.waitForSelector('#overview-body table');
  const screens = await page.locator('#main .screen').count();
  expect(screens === 1, `${screens} screens are mounted at once`);
  const shownCreds = await page.textContent('#overview-body');
  expect(shownCreds.includes('Acme') && !shownCreds.includes('Other'), `the overview is not association ${cfg.associationId}'s alone: "${shownCreds.slice(0, 300)}"`);

  // ---- the overview is live: a send moves the accepted count through the event stream, no reload.
  log('the overview stream brings a send without a reload');
  await page.waitForSelector('#ov-accepted-window');
  const before = Number(await page.getAttribute('#ov-accepted-window', 'data-count'));
  let navigations = 0;
  const countNav = (f) => { if (f === page.mainFrame()) navigations += 1; };
  page.on('framenavigated', countNav);
  const me = await (await page.context().request.get(`${base}/api/v1/dashboard/auth/me`)).json();
  const sent = await page.context().request.post(`${base}/api/v1/dashboard/send-sms`, {
    headers: { 'x-csrf-token': me.data.csrfToken }, data: { associationId: cfg.associationId, phoneNumber: cfg.phone, message: 'stream check' } });
  expect(sent.ok(), `send-sms answered ${sent.status()}`);
  // The next sample (every 5 s) counts it and the stream brings it to the page.
  await waitUntil(async () => Number(await page.getAttribute('#ov-accepted-window', 'data-count')) > before,
    `the accepted count to move past ${before} through the stream`, 60_000);
  page.off('framenavigated', countNav);
  expect(navigations === 0, `the page navigated ${navigations} times`);
  expect((await page.getAttribute('#ov-live', 'data-mode')) === 'stream', 'still on the stream');

  // ---- the stream refused (the session holds its 3 already): the screen polls and says why.
  log('with no stream to be had the overview polls and shows the API\'s reason');
  await go(page, 'send');
  const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
  const held = [];
  for (let i = 0; i < 3; i++) {
    await waitUntil(async () => {
      const ctl = new AbortController();
      const r = await fetch(`${base}/api/v1/dashboard/overview/stream`, { headers: { cookie }, signal: ctl.signal });
      if (r.ok) { held.push(ctl); return true; }
      ctl.abort();
      return false;
    }, `stream ${i + 1} of the session`);
  }
  await go(page, 'overview');
  await page.waitForSelector('#ov-live[data-mode="polling"]');
  const why = await page.textContent('#ov-live');
  expect(why.includes('already has 3 overview streams open'), `polling note was "${why}"`);
  await page.waitForSelector('#overview-body .cards');
  for (const c of held) c.abort();

  // ---- send: an Arabic test SMS, its result and timeline; a bad number shows its error.
  log('send a test SMS in Arabic and see its timeline');
  await go(page, 'send');
  await page.fill('#send-form input[name=phoneNumber]', 'not a phone');
  await page.fill('#send-form textarea[name=message]', cfg.arabicText);
  await page.click('#send-button');
  await page.waitForSelector('#send-result .error');
  const sendErr = await page.textContent('#send-result .error');
  expect(sendErr.includes('phoneNumber'), `send error was "${sendErr}"`);
  await page.fill('#send-form input[name=phoneNumber]', cfg.phone);
  await page.click('#send-button');
  await page.waitForSelector('#send-result .ok', { timeout: STEP_TIMEOUT });
  const okText = await page.textContent('#send-result .ok');
  expect(okText.startsWith('Sent'), `send result was "${okText}"`);
  await page.waitForSelector('#send-timeline .timeline li');
  const shown = page.locator('#send-timeline .user-text').first();
  expect((await shown.getAttribute('dir')) === 'auto', 'message text must carry dir=auto');
  expect((await shown.textContent()) === cfg.arabicText, 'the Arabic text is shown as sent');
  const title = await page.getAttribute('#send-timeline time', 'title');
  expect(/ UTC$/.test(title || ''), `times carry UTC on hover, got "${title}"`);

  // ---- schedule one for tomorrow, then cancel it from the queue.
  log('schedule a message, then cancel it from the queue');
  await page.fill('#send-form textarea[name=message]', cfg.scheduledText);
  await page.fill('#send-form input[name=scheduledAt]', localInput(new Date(Date.now() + 24 * 3600 * 1000)));
  await page.click('#send-button');
  await page.waitForSelector('#send-result .ok');
  const queued = await page.textContent('#send-result .ok');
  const queueId = (queued.match(/queue id (\d+)/) || [])[1];
  expect(queueId, `schedule result was "${queued}"`);
  await go(page, 'queue');
  await page.waitForSelector(`[data-cancel="${queueId}"]`);
  await page.click(`[data-cancel="${queueId}"]`);
  await page.waitForSelector('#queue-note .ok');
  expect((await page.textContent('#queue-note .ok')).includes('cancelled'), 'cancel confirmed');
  await waitUntil(async () => (await page.locator(`[data-cancel="${queueId}"]`).count()) === 0, 'the cancelled message to leave the queue');

  // ---- campaigns: a 10,000-recipient CSV with a {{name}} column, previewed, created, watched to 100%.
  log('create a 10,000-recipient campaign from a CSV and watch it reach 100%');
  await go(page, 'campaigns');
  const rows = ['phone,name'];
  for (let i = 0; i < 10_000; i++) rows.push(`+96650${1_000_000 + i},Sara ${i}`);
  rows.push('not-a-number,Nobody', '12,Short');
  await page.fill('#campaign-form input[name=name]', 'Console 10k');
  await page.fill('#campaign-form textarea[name=message]', 'مرحبا {{name}}: your code is ready');
  await page.setInputFiles('#campaign-form input[name=csv]', { name: 'recipients.csv', mimeType: 'text/csv', buffer: Buffer.from(rows.join('\n')) });
  await page.waitForSelector('#campaign-preview li');
  const preview = await page.textContent('#campaign-preview');
  expect(preview.includes('10,002 recipients') && preview.includes('variables: name'), `preview header was "${preview}"`);
  expect(preview.includes('مرحبا Sara 0: your code is ready'), `preview does not render {{name}}: "${preview}"`);
  await page.click('#campaign-create');
  await page.waitForSelector('#campaign-create-result .ok', { timeout: STEP_TIMEOUT });
  const created = await page.textContent('#campaign-create-result .ok');
  const campaignId = (created.match(/campaign (\d+)/) || [])[1];
  expect(campaignId && created.includes('10,000 recipients') && created.includes('2 invalid'), `create result was "${created}"`);
  const bar = `[data-campaign="${campaignId}"] .progress`;
  await page.waitForSelector(bar);
  // The detail (open while it runs) lists the invalid recipients with their reasons.
  await page.click(`[data-campaign="${campaignId}"]`);
  await page.waitForSelector('#campaign-detail');
  let lastPct = -1;
  let shot = false;
  const started = Date.now();
  for (;;) {
    const pct = Number(await page.getAttribute(bar, 'data-pct'));
    if (pct !== lastPct) { console.log(`console test:   campaign ${campaignId} at ${pct}%`); lastPct = pct; }
    if (cfg.screenshots && !shot && pct >= 40 && pct < 100) {
      // Mid-run: the live bar, the rate, the detail.
      await page.screenshot({ path: join(cfg.screenshots, 'console-campaigns.png'), fullPage: true });
      shot = true;
    }
    if (pct >= 100) break;
    expect(Date.now() - started < 180_000, `campaign stuck at ${pct}%`);
    await page.waitForTimeout(500);
  }
  const segs = await page.locator(`${bar} .seg.delivered, ${bar} .seg.sent`).evaluateAll((els) => els.map((e) => e.getBoundingClientRect().width));
  expect(segs.some((w) => w > 10), `the progress bar's segments are drawn (${segs})`);
  const detail = await page.textContent('#campaign-detail');
  expect(detail.includes('not-a-number') && detail.includes('10,000 recipients'), `campaign detail was "${detail.slice(0, 400)}"`);
  if (cfg.screenshots && !shot) await page.screenshot({ path: join(cfg.screenshots, 'console-campaigns.png'), fullPage: true });

  // ---- routing: an include allocation for Saudi Arabia, then the tester shows it first.
  log('create an allocation and test a route');
  await go(page, 'routing');
  await page.waitForSelector('#allocation-form select[name=credentialId] option[value]', { state: 'attached' });
  await page.selectOption('#allocation-form select[name=credentialId]', String(cfg.routeCredentialId));
  await page.selectOption('#allocation-form select[name=routingType]', 'include');
  await page.selectOption('#allocation-form select[name=countryCode]', 'SA');
  await page.fill('#allocation-form input[name=priority]', '5');
  await page.click('#allocation-form button[type=submit]');
  await page.waitForSelector('#routing-note .ok');
  expect((await page.textContent('#routing-note .ok')).includes('Allocation created'), 'allocation created');
  await page.waitForSelector('#allocations td:text("include")');
  await page.fill('#route-form input[name=phoneNumber]', cfg.phone);
  await page.click('#route-form button[type=submit]');
  await page.waitForSelector('#route-result ol.route li');
  const routeText = await page.textContent('#route-result');
  expect(routeText.includes(`Route: credential ${cfg.routeCredentialId}`) && routeText.includes('include allocation'), `route was "${routeText}"`);
  expect(routeText.includes('Failover: credential'), `no failover order in "${routeText}"`);
  // Edit it: priority 7, saved through PUT, shown in the list.
  await page.click('#allocations [data-edit]');
  await page.fill('#allocation-form input[name=priority]', '7');
  await page.click('#allocation-form button[type=submit]');
  await waitUntil(async () => (await page.textContent('#routing-note')).includes('Allocation updated'), 'the allocation update');
  await waitUntil(async () => (await page.locator('#allocations input[type=number]').first().inputValue()) === '7', 'priority 7 in the list');
  // A bad number shows the API's message.
  await page.fill('#route-form input[name=phoneNumber]', '+1');
  await page.click('#route-form button[type=submit]');
  await page.waitForSelector('#route-result .error');
  // Delete it: gone from the list.
  log('delete the allocation');
  await page.click('#allocations button.danger');
  await waitUntil(async () => (await page.textContent('#routing-note')).includes('Allocation deleted'), 'the allocation delete');
  await page.waitForSelector('#allocations .empty');

  // ---- logs: search by the Arabic text, open the timeline.
  log('search the logs and open a timeline');
  await go(page, 'logs');
  await page.fill('#logs-form input[name=search]', cfg.arabicText);
  await page.click('#logs-form button[type=submit]');
  await waitUntil(async () => (await page.locator('#logs-body tbody tr').count()) === 1, 'one log row for the Arabic text');
  await page.click('#logs-body tbody tr');
  await page.waitForSelector('#log-timeline .timeline li');
  await page.selectOption('#logs-form select[name=status]', 'pending');
  await page.waitForSelector('#logs-body .empty');

  // ---- credentials: add one, edit it (a bad sender name shows the API's message), delete it.
  log('add, edit and delete a credential; an API error shown as its message');
  await go(page, 'setup');
  await page.waitForSelector('#credential-form');
  await page.selectOption('#credential-form select[name=providerId]', '6');
  await page.fill('#credential-form input[name=senderName]', 'Throwaway');
  await page.fill('#credential-form input[name=apiKey]', 'SECRET-THROWAWAY');
  await page.click('#credential-form button[type=submit]');
  await page.waitForSelector('#setup-note .ok');
  const addedText = await page.textContent('#setup-note .ok');
  const credId = (addedText.match(/id (\d+)/) || [])[1];
  expect(credId && addedText.includes('Credential created'), `add result was "${addedText}"`);
  await page.waitForSelector(`[data-edit-credential="${credId}"]`);
  expect(!(await page.textContent('#credential-list')).includes('SECRET-THROWAWAY'), 'secrets are never shown');
  await page.click(`[data-edit-credential="${credId}"]`);
  expect((await page.inputValue('#credential-form input[name=apiKey]')) === '', 'the secret field starts empty when editing');
  await page.fill('#credential-form input[name=senderName]', 'x'.repeat(65));
  await page.click('#credential-form button[type=submit]');
  await page.waitForSelector('#setup-note .error');
  const credErr = await page.textContent('#setup-note .error');
  expect(credErr.includes('senderName must be at most 64 characters'), `edit error was "${credErr}"`);
  await page.click(`[data-edit-credential="${credId}"]`);
  await page.fill('#credential-form input[name=senderName]', 'Renamed');
  await page.click('#credential-form button[type=submit]');
  await waitUntil(async () => (await page.textContent('#setup-note')).includes('Credential updated'), 'the credential update');
  await waitUntil(async () => (await page.textContent('#credential-list')).includes('Renamed'), 'the new sender name in the list');
  await page.click(`[data-delete-credential="${credId}"]`);
  await waitUntil(async () => (await page.textContent('#setup-note')).includes('Credential deleted'), 'the credential delete');
  await waitUntil(async () => (await page.locator(`[data-edit-credential="${credId}"]`).count()) === 0, 'the deleted credential to leave the list');
  // A template: add, edit, delete.
  log('add, edit and delete a template');
  await page.fill('#template-form input[name=code]', 'welcome');
  await page.fill('#template-form textarea[name=content]', 'أهلا {{name}}');
  await page.click('#template-form button[type=submit]');
  await page.waitForSelector('[data-edit-template="welcome"]');
  await page.click('[data-edit-template="welcome"]');
  await page.fill('#template-form textarea[name=content]', 'أهلا {{name}}، رمزك {{code}}');
  await page.click('#template-form button[type=submit]');
  await waitUntil(async () => (await page.textContent('#template-list')).includes('name, code'), 'the edited template\'s variables');
  await page.click('[data-delete-template="welcome"]');
  await waitUntil(async () => (await page.locator('[data-edit-template="welcome"]').count()) === 0, 'the deleted template to leave the list');

  log('WhatsApp, links and callbacks for the chosen association');
  await go(page, 'activity');
  await page.waitForSelector('#links table');
  const superLinks = await page.textContent('#links');
  expect(superLinks.includes('Acme offer') && !superLinks.includes('Other offer'), `association 1's links only: "${superLinks}"`);
  await page.selectOption('#screen-activity select[aria-label="Callback outcome"]', 'failed');
  await page.waitForSelector('#callback-attempts .empty, #callback-attempts table');

  // ---- the other screens render without an error.
  for (const s of ['stats', 'setup', 'activity']) {
    log(`open ${s}`);
    await go(page, s);
    await page.locator(`#screen-${s} table, #screen-${s} .empty`).first().waitFor();
    const errs = await page.locator(`#screen-${s} .error`).count();
    expect(errs === 0, `${s} shows an error: ${await page.locator(`#screen-${s} .error`).first().textContent().catch(() => '')}`);
  }

  // ---- overview with the traffic of the campaign, then log out.
  log('overview screenshot');
  await go(page, 'overview');
  // Drawn, even when every rate is 0 (a flat line has no visible box).
  await page.waitForSelector('#overview-body .chart path.line', { state: 'attached' });
  await page.waitForSelector('#overview-body table');
  // The WA-Web gateway's client state, as the gateway reports it.
  await waitUntil(async () => ((await page.textContent('#gateway-health').catch(() => '')) || '').includes('Pending Authentication'), 'the gateway\'s client state', 30_000);
  const gwText = await page.textContent('#gateway-health');
  expect(gwText.includes('down') && gwText.includes('open'), `gateway health was "${gwText}"`);
  if (cfg.screenshots) await page.screenshot({ path: join(cfg.screenshots, 'console-overview.png'), fullPage: true });

  log('log out');
  await page.click('#logout');
  await page.waitForSelector('#login-form');
  await page.reload();
  await page.waitForSelector('#login-form');

  // ---- a bound operator sees only its association.
  log('a bound operator sees only its association');
  await login(page, cfg.bound.username, cfg.bound.password);
  const label = await page.textContent('#association');
  expect(label.includes(`Association ${cfg.bound.associationId}`), `bound label was "${label}"`);
  expect((await page.locator('select#association').count()) === 0, 'a bound operator has no association selector');
  await go(page, 'logs');
  await page.waitForSelector('#logs-body tbody tr, #logs-body .empty');
  const logsText = await page.textContent('#logs-body');
  expect(logsText.includes(cfg.boundText), 'the bound operator sees its own message');
  expect(!logsText.includes(cfg.arabicText) && !logsText.includes('Sara'), 'the bound operator sees no other association\'s messages');
  await go(page, 'campaigns');
  await page.waitForSelector('#campaign-list .empty, #campaign-list table');
  expect(!(await page.textContent('#campaign-list')).includes('Console 10k'), 'the bound operator sees no other association\'s campaign');
  await go(page, 'routing');
  await page.waitForSelector('#allocations .empty, #allocations table');
  expect(!(await page.textContent('#allocations')).includes('include'), 'the bound operator sees no other association\'s allocations');
  await go(page, 'activity');
  await page.waitForSelector('#links table');
  const boundLinks = await page.textContent('#links');
  expect(boundLinks.includes('Other offer') && !boundLinks.includes('Acme offer'), `the bound operator's links only: "${boundLinks}"`);
  expect((await page.locator('#screen-activity .error').count()) === 0, 'no error on the activity screen');
  await go(page, 'setup');
  await page.waitForSelector('#credential-list table');
  const boundCreds = await page.textContent('#credential-list');
  expect(boundCreds.includes('Other') && !boundCreds.includes('Acme'), `the bound operator's credentials only: "${boundCreds}"`);
  await go(page, 'overview');
  await page.waitForSelector('#ov-live[data-mode="stream"]');
  await page.waitForSelector('#overview-body table');
  const boundHealth = await page.textContent('#overview-body');
  expect(boundHealth.includes('Other') && !boundHealth.includes('Acme'), 'the bound operator\'s overview shows its own credentials only');
  await page.click('#logout');
  await page.waitForSelector('#login-form');
}

// Each run in a browser of its own: the flows above in the machine's zone, then the times
// checked in a browser whose zone is Asia/Riyadh (zone.mjs).
const runs = [
  { name: 'main flows', options: {}, flow: run },
  { name: `times in ${ZONE}`, options: { timezoneId: ZONE, locale: 'en-US' }, flow: (page) => zoneFlow(page, { cfg, log, expect, waitUntil, login, go, pickAssociation }) },
];

async function inBrowser({ options, flow }) {
  const profile = mkdtempSync(join(tmpdir(), 'jood-console-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
      ...options,
    });
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    console.error(`console test FAILED to start chromium (${executablePath}): ${e.message}`);
    return false;
  }
  try {
    context.setDefaultTimeout(STEP_TIMEOUT);
    const page = context.pages()[0] || await context.newPage();
    page.on('dialog', (d) => d.accept());
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    try {
      await flow(page);
      expect(pageErrors.length === 0, `uncaught errors in the page: ${pageErrors.join('; ')}`);
      return true;
    } catch (e) {
      console.error(`console test FAILED at "${step}": ${e.message}`);
      const text = await page.locator('body').innerText().catch(() => '');
      console.error(`page ${page.url()}:\n${text.slice(0, 3000)}`);
      if (cfg.screenshots) await page.screenshot({ path: join(cfg.screenshots, 'failure.png'), fullPage: true }).catch(() => {});
      return false;
    }
  } finally {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
}

if (cfg.screenshots) mkdirSync(cfg.screenshots, { recursive: true });
let code = 0;
for (const r of runs) {
  if (!(await inBrowser(r))) {
    code = 1;
    break;
  }
  console.log(`console test: ${r.name} passed`);
}
if (code === 0) console.log('console test: all flows passed');
process.exit(code);
