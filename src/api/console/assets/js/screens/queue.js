// Queue: single messages accepted and not yet final, and scheduled ones; paging and cancel.

import { get, del } from '../api.js';
import { h, mount, errorBox, okBox, table, pager, time, badge, userText } from '../ui.js';

export function render({ el, association }) {
  const note = h('div', { 'aria-live': 'polite', id: 'queue-note' });
  const slot = h('div', { id: 'queue-body' });
  let page = 1;
  const load = async () => {
    try {
      const d = (await get('/queue', { page, limit: 20, associationId: association })).data;
      mount(slot,
        table([
          ['Id', (m) => m.id],
          ['Association', (m) => m.associationId],
          ['Recipient', (m) => h('span', { dir: 'ltr' }, m.recipient)],
          ['Message', (m) => userText(m.message)],
          ['Status', (m) => badge(m.status)],
          ['Scheduled for', (m) => time(m.scheduledAt)],
          ['Created', (m) => time(m.createdAt)],
          ['', (m) => h('button', { type: 'button', class: 'danger', 'data-cancel': m.id, onclick: () => cancel(m) }, 'Cancel')],
        ], d.items, { empty: 'The queue is empty.' }),
        pager(d, (p) => { page = p; load(); }));
    } catch (e) {
      mount(slot, errorBox(e));
    }
  };
  const cancel = async (m) => {
    if (!window.confirm(`Cancel message ${m.id} to ${m.recipient}?`)) return;
    try {
      const r = await del(`/queue/${m.id}`);
      mount(note, okBox(`${r.message} (${m.id})`));
    } catch (e) {
      mount(note, errorBox(e));
    }
    load();
  };
  mount(el, h('div', { class: 'toolbar' }, h('button', { type: 'button', onclick: load }, 'Refresh')), note, slot);
  load();
}
