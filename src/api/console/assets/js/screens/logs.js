// Logs: search (phone or text) and status filters, paging, a message's timeline on click.

import { get } from '../api.js';
import { h, mount, errorBox, table, pager, time, badge, userText, field } from '../ui.js';
import { showTimeline } from './send.js';

const STATUSES = ['all', 'success', 'failed', 'pending', 'delivered', 'undelivered', 'read'];

export function render({ el, association }) {
  const search = h('input', { name: 'search', type: 'search', placeholder: 'Phone number or text', dir: 'auto' });
  const status = h('select', { name: 'status' }, STATUSES.map((s) => h('option', { value: s }, s)));
  const slot = h('div', { id: 'logs-body' });
  const side = h('div', { id: 'log-timeline', 'aria-live': 'polite' });
  let page = 1;
  const load = async () => {
    try {
      const d = (await get('/logs', { page, limit: 20, associationId: association, search: search.value.trim(), status: status.value })).data;
      mount(slot,
        d.searchLimited ? h('p', { class: 'muted' }, 'The search read only the newest messages (dashboard.logs_max_scan).') : null,
        table([
          ['Id', (m) => m.id],
          ['Recipient', (m) => h('span', { dir: 'ltr' }, m.recipient)],
          ['Message', (m) => userText(m.message)],
          ['Status', (m) => [badge(m.status), ' ', badge(m.deliveryStatus)]],
          ['Provider', (m) => m.provider || '—'],
          ['Error', (m) => (m.error ? h('span', { class: 'error-text' }, m.error) : '')],
          ['Created', (m) => time(m.createdAt)],
        ], d.items, { empty: 'No messages match.', onRow: (m) => showTimeline(side, m.id) }),
        pager(d, (p) => { page = p; load(); }));
    } catch (e) {
      mount(slot, errorBox(e));
    }
  };
  const form = h('form', { class: 'toolbar', id: 'logs-form', role: 'search' }, field('Search', search), field('Status', status), h('button', { type: 'submit' }, 'Search'));
  form.addEventListener('submit', (e) => { e.preventDefault(); page = 1; load(); });
  status.addEventListener('change', () => { page = 1; load(); });
  mount(el, form, h('div', { class: 'split' }, slot, side));
  load();
}
