// Overview: live rates over the last 15 minutes (from /dashboard/overview, which samples the
// engine's own counters), queue figures, and each credential's health.

import { get } from '../api.js';
import { h, mount, errorBox, table, num, duration, every, badge } from '../ui.js';
import { lineChart } from '../chart.js';

const NAMES = ['accepted', 'sent', 'delivered', 'failed'];

function card(label, value, hint, id) {
  return h('div', { class: 'stat card', id }, h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-value' }, value), hint ? h('small', { class: 'muted' }, hint) : null);
}

export function render({ el, association }) {
  const slot = h('div', { id: 'overview-body', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading…'));
  mount(el, slot);
  return every(3000, async () => {
    let d;
    try {
      d = (await get('/overview', { associationId: association })).data;
    } catch (e) {
      mount(slot, errorBox(e));
      return;
    }
    const last = d.series.length ? d.series[d.series.length - 1] : null;
    const cards = h('div', { class: 'cards' },
      card('Accepted /s', last ? num(last.accepted) : '—', `${num(d.window.accepted)} in the window`, 'ov-accepted'),
      card('Sent /s', last ? num(last.sent) : '—', `${num(d.window.sent)} in the window`, 'ov-sent'),
      card('Delivered /s', last ? num(last.delivered) : '—', `${num(d.window.delivered)} in the window`, 'ov-delivered'),
      card('Failed /s', last ? num(last.failed) : '—', `${num(d.window.failed)} in the window`, 'ov-failed'),
      card('Queued', num(d.queued), 'single messages not yet final', 'ov-queued'),
      card('Oldest queued', duration(d.oldestQueuedAgeMs), 'age of the oldest', 'ov-oldest'),
      card('Scheduled', num(d.scheduledMessages), 'single messages waiting for their time', 'ov-scheduled'),
      d.dispatchQueueDepth !== undefined ? card('Dispatch queue', num(d.dispatchQueueDepth), 'held by dispatch, engine-wide', 'ov-dispatch') : null,
      d.scheduleBacklog !== undefined ? card('Schedule backlog', `${num(d.scheduleBacklog)}${d.scheduleBacklogCapped ? '+' : ''}`, 'messages and campaigns, engine-wide', 'ov-backlog') : null);
    const chart = lineChart(d.series.map((p) => ({ at: p.at, values: NAMES.map((n) => p[n]) })), NAMES,
      { label: 'Messages per second over the last 15 minutes' });
    const health = table([
      ['Credential', (c) => `${c.id}${c.isDefault ? ' (default)' : ''}`],
      ['Association', (c) => c.associationId],
      ['Provider', (c) => c.providerName],
      ['Sender', (c) => h('span', { dir: 'auto' }, c.senderName)],
      ['Circuit', (c) => badge(c.circuit)],
      ['Error rate', (c) => (c.calls ? `${(c.errorRate * 100).toFixed(1)}%` : '—')],
      ['p99', (c) => (c.p99Ms != null ? `${c.p99Ms} ms` : '—')],
      ['In flight', (c) => `${num(c.inFlight)}${c.inFlightPerCredential ? '' : ' (provider)'}`],
      ['Recent calls', (c) => num(c.calls)],
    ], d.credentials, { empty: 'No provider credentials yet.', caption: 'Error rate, p99 and recent calls are the provider’s, over its last 5 minutes of calls (at most the last 2,048)' });
    mount(slot, cards, h('section', {}, h('h2', {}, 'Rates, last 15 minutes'), chart), h('section', {}, h('h2', {}, 'Credential health'), health));
  });
}
