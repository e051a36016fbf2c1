// Stats: totals, a chart by day (the counters' UTC days) and one by provider.

import { get } from '../api.js';
import { h, mount, errorBox, num, table } from '../ui.js';
import { barChart } from '../chart.js';

export async function render({ el, association }) {
  const slot = h('div', { id: 'stats-body' }, h('p', { class: 'muted' }, 'Loading…'));
  mount(el, slot);
  try {
    const [s, days] = await Promise.all([get('/stats', { associationId: association }), get('/stats/daily', { associationId: association, days: 14 })]);
    const d = s.data;
    const providers = Object.entries(d.byProvider);
    mount(slot,
      h('div', { class: 'cards' },
        [['Sent', d.totalSent], ['Delivered', d.totalDelivered], ['Failed', d.totalFailed], ['Pending', d.totalPending],
          ['Success rate', `${d.successRate}%`], ['Delivery rate', `${d.deliveryRate}%`], ['Today sent', d.todaySent], ['Today failed', d.todayFailed]]
          .map(([l, v]) => h('div', { class: 'stat card' }, h('div', { class: 'stat-label' }, l), h('div', { class: 'stat-value' }, typeof v === 'number' ? num(v) : v)))),
      h('section', {}, h('h2', {}, 'By day (UTC), last 14 days'),
        barChart(days.data.map((x) => ({ label: x.date.slice(5), values: [x.sent, x.delivered, x.failed] })), ['sent', 'delivered', 'failed'], { label: 'Messages by day' })),
      h('section', {}, h('h2', {}, 'By provider'),
        providers.length ? barChart(providers.map(([p, v]) => ({ label: p, values: [v.sent, v.delivered, v.failed + v.undelivered] })), ['sent', 'delivered', 'failed'], { label: 'Messages by provider' }) : null,
        table([['Provider', ([p]) => p], ['Sent', ([, v]) => num(v.sent)], ['Delivered', ([, v]) => num(v.delivered)], ['Undelivered', ([, v]) => num(v.undelivered)], ['Failed', ([, v]) => num(v.failed)]],
          providers, { empty: 'Nothing sent yet.' })));
  } catch (e) {
    mount(slot, errorBox(e));
  }
}
