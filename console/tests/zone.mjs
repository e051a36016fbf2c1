// The console's times in another zone: run by run.mjs in a browser whose zone is Asia/Riyadh
// (UTC+3 all year, no daylight saving, so every local time is the UTC time plus three hours)
// and whose locale is en-US (so the expected text can be computed here). A time is shown in
// the browser's zone, and its hover text (title) is the same instant in UTC; a time typed into
// the schedule field is read in the browser's zone too.

export const ZONE = 'Asia/Riyadh';
// Two days ahead (schedules are refused beyond 366 days), 09:30 on Riyadh's calendar, typed
// as the browser's local time; the same instant in UTC is 06:30.
const day = Object.fromEntries(new Intl.DateTimeFormat('en-CA', { timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit' })
  .formatToParts(new Date(Date.now() + 2 * 86_400_000)).map((p) => [p.type, p.value]));
const LOCAL_INPUT = `${day.year}-${day.month}-${day.day}T09:30`;
const INSTANT = `${day.year}-${day.month}-${day.day}T06:30:00.000Z`;

const shown = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'medium', timeZone: ZONE });
const inUtc = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'medium', timeZone: 'UTC' });
// Whitespace compared as plain spaces: ICU versions differ on the space before AM/PM (U+202F or not).
const plain = (text) => text.replace(/\s+/g, ' ');
const utcTitle = (iso) => `${iso.replace('T', ' ').replace(/\.\d+Z$/, '')} UTC`;

/** Every <time> under `root`: its text in the zone, its title in UTC, for the same instant. */
async function checkTimes(page, root, expect, what) {
  const times = await page.locator(`${root} time`).evaluateAll((els) => els.map((e) => ({ datetime: e.getAttribute('datetime'), title: e.getAttribute('title'), text: e.textContent })));
  expect(times.length > 0, `no time shown in ${what}`);
  for (const t of times) {
    const at = new Date(t.datetime);
    expect(!Number.isNaN(at.getTime()), `${what}: a time without a readable datetime (${JSON.stringify(t)})`);
    expect(plain(t.text) === plain(shown.format(at)), `${what}: "${t.text}" is not ${t.datetime} in ${ZONE} ("${shown.format(at)}"; in UTC it reads "${inUtc.format(at)}")`);
    expect(t.title === utcTitle(at.toISOString()), `${what}: hover text "${t.title}" is not ${t.datetime} in UTC ("${utcTitle(at.toISOString())}")`);
  }
  return times;
}

export async function zoneFlow(page, { cfg, log, expect, waitUntil, login, go, pickAssociation }) {
  log(`in ${ZONE}: a schedule typed in local time, shown in local time with UTC on hover`);
  await login(page, cfg.super.username, cfg.super.password);
  await pickAssociation(page, cfg.associationId);
  await go(page, 'send');
  await page.fill('#send-form input[name=phoneNumber]', cfg.phone);
  await page.fill('#send-form textarea[name=message]', cfg.zoneText);
  await page.fill('#send-form input[name=scheduledAt]', LOCAL_INPUT);
  await page.click('#send-button');
  await page.waitForSelector('#send-result .ok time');
  const [at] = await checkTimes(page, '#send-result .ok', expect, 'the schedule result');
  // The typed 09:30 is Riyadh's: 06:30 UTC (a browser reading it in UTC would send 09:30 UTC).
  expect(at.datetime === INSTANT, `09:30 typed in ${ZONE} was sent as ${at.datetime}, not ${INSTANT}`);
  expect(plain(at.text).includes('9:30:00 AM') && at.title === `${day.year}-${day.month}-${day.day} 06:30:00 UTC`, `shown "${at.text}", hover "${at.title}"`);
  const queueId = ((await page.textContent('#send-result .ok')).match(/queue id (\d+)/) || [])[1];
  expect(queueId, 'the schedule result names its queue id');

  log(`in ${ZONE}: the queue and the logs show local times, UTC on hover`);
  await go(page, 'queue');
  const row = `tr:has([data-cancel="${queueId}"])`;
  await page.waitForSelector(row);
  const queued = await checkTimes(page, row, expect, 'the queue row');
  expect(queued.some((t) => t.datetime === INSTANT), `the queue row does not show the scheduled time ${INSTANT}: ${JSON.stringify(queued)}`);
  await page.click(`[data-cancel="${queueId}"]`);
  await page.waitForSelector('#queue-note .ok');
  await go(page, 'logs');
  await page.fill('#logs-form input[name=search]', cfg.zoneText);
  await page.click('#logs-form button[type=submit]');
  await waitUntil(async () => (await page.locator('#logs-body tbody tr').count()) === 1, 'the scheduled message in the logs');
  await checkTimes(page, '#logs-body tbody', expect, 'the logs');
  await page.click('#logs-body tbody tr');
  await page.waitForSelector('#log-timeline .timeline li');
  await checkTimes(page, '#log-timeline', expect, 'the timeline');
  await page.click('#logout');
  await page.waitForSelector('#login-form');
}
