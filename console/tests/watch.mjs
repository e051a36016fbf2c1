// Keeps N operator consoles open against a running engine, for the load measurement in
// load-tests/console.sh: each is its own headless chromium context (its own session) that
// logs in and stays on a live screen (overview, campaigns, logs in turn: the overview on its
// event stream, the others polling as a person watching would), for DURATION seconds. Prints the dashboard requests they made and any
// that failed.
//   node console/tests/watch.mjs <baseUrl> <username> <password> <durationSecs> [count]

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, username, password, durationArg, countArg] = process.argv.slice(2);
const duration = Number(durationArg || 20) * 1000;
const count = Number(countArg || 3);
const screens = ['overview', 'campaigns', 'logs'];
const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
let requests = 0;
let failures = 0;
const contexts = [];
const profiles = [];
try {
  const pages = [];
  for (let i = 0; i < count; i++) {
    // One browser per console, each with a fresh profile (its own session), as three operators would have.
    const profile = mkdtempSync(join(tmpdir(), 'jood-console-watch-'));
    profiles.push(profile);
    const ctx = await chromium.launchPersistentContext(profile, { executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args });
    contexts.push(ctx);
    const page = ctx.pages()[0] || await ctx.newPage();
    page.on('response', (r) => {
      if (!r.url().includes('/api/v1/dashboard/')) return;
      requests++;
      // The page's first /auth/me is a 401 by design (no session yet: it shows the log-in).
      if (r.status() >= 400 && !(r.status() === 401 && r.url().endsWith('/auth/me'))) failures++;
    });
    await page.goto(`${base}/console/`);
    await page.fill('#login-form input[name=username]', username);
    await page.fill('#login-form input[name=password]', password);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#logout');
    const screen = screens[i % screens.length];
    await page.goto(`${base}/console/#/${screen}`);
    await page.waitForSelector(`#screen-${screen}`);
    pages.push(page);
  }
  console.log(`consoles: ${count} open (${pages.map((_, i) => screens[i % screens.length]).join(', ')})`);
  const started = Date.now();
  // The logs screen polls nothing by itself: refresh its search now and then, as a person would.
  while (Date.now() - started < duration) {
    await new Promise((r) => setTimeout(r, 5000));
    for (const [i, p] of pages.entries()) {
      if (screens[i % screens.length] === 'logs') await p.click('#logs-form button[type=submit]').catch(() => {});
    }
  }
  for (const [i, p] of pages.entries()) {
    if (screens[i % screens.length] === 'overview') console.log(`consoles: the overview is ${await p.getAttribute('#ov-live', 'data-mode').catch(() => '?')}`);
  }
  const secs = (Date.now() - started) / 1000;
  console.log(`consoles: ${requests} dashboard requests in ${secs.toFixed(0)} s (${(requests / secs).toFixed(1)}/s), ${failures} failed`);
} finally {
  for (const c of contexts) await c.close().catch(() => {});
  for (const p of profiles) rmSync(p, { recursive: true, force: true });
}
process.exit(failures ? 1 : 0);
