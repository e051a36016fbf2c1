// WhatsApp, links and callbacks: what the WhatsApp, redirect-link and delivery-tracking
// parts keep, for the chosen association (a bound operator: its own only, the API decides):
// WhatsApp templates with their Meta status (filtered by status and category), redirect
// links with their clicks (paged), and the customer callback delivery attempts (filtered by
// outcome). Read-only; every API error is shown as its message.

import { get } from '../api.js';
import { h, mount, errorBox, table, field, time, badge, num, userText, pager } from '../ui.js';
import { needAssociation } from './setup.js';

function select(name, label, options) {
  return h('select', { name, 'aria-label': label }, options.map(([v, t]) => h('option', { value: v }, t)));
}

export async function render({ el, association }) {
  if (needAssociation(el, association, 'WhatsApp templates, links and callback attempts')) return undefined;
  const wa = h('div', { id: 'wa-templates' });
  const links = h('div', { id: 'links' });
  const cbs = h('div', { id: 'callback-attempts' });
  const waStatus = select('status', 'Template status', [['', 'Any status'], ['APPROVED', 'Approved'], ['PENDING', 'Pending'], ['REJECTED', 'Rejected'], ['PAUSED', 'Paused'], ['DISABLED', 'Disabled']]);
  const waCategory = select('category', 'Template category', [['', 'Any category'], ['MARKETING', 'Marketing'], ['UTILITY', 'Utility'], ['AUTHENTICATION', 'Authentication']]);
  const cbStatus = select('status', 'Callback outcome', [['', 'Any outcome'], ['delivered', 'Delivered'], ['pending', 'Pending retry'], ['failed', 'Failed']]);

  const loadWa = async () => {
    try {
      const d = (await get('/whatsapp-templates', { associationId: association, status: waStatus.value, category: waCategory.value })).data;
      mount(wa, table([['Id', (t) => t.id], ['Name', (t) => t.name], ['Language', (t) => t.language], ['Category', (t) => t.category],
        ['Status', (t) => badge(t.status)], ['Reason', (t) => userText(t.statusReason || '')], ['Updated', (t) => time(t.updatedAt)]], d, { empty: 'No WhatsApp templates.' }));
    } catch (e) { mount(wa, errorBox(e)); }
  };
  const loadLinks = async (page = 1) => {
    try {
      const d = (await get('/links', { associationId: association, page, limit: 20 })).data;
      mount(links, table([['Code', (l) => l.code], ['Name', (l) => userText(l.name || '')], ['Target', (l) => h('span', { dir: 'ltr' }, l.targetUrl)],
        ['Short URL', (l) => h('span', { dir: 'ltr' }, l.shortUrl)], ['Clicks', (l) => h('span', { 'data-clicks': l.code }, num(l.clickCount))], ['Last click', (l) => time(l.lastClickedAt)]],
      d.items, { empty: 'No redirect links.' }), d.total > d.limit ? pager(d, loadLinks) : null);
    } catch (e) { mount(links, errorBox(e)); }
  };
  const loadCbs = async () => {
    try {
      const d = (await get('/callbacks', { associationId: association, status: cbStatus.value, limit: 50 })).data;
      mount(cbs, table([['Event', (a) => a.eventId], ['Message', (a) => a.queueId], ['URL', (a) => h('span', { dir: 'ltr' }, a.url)], ['Attempt', (a) => a.attempt],
        ['Outcome', (a) => badge(a.status)], ['HTTP', (a) => a.statusCode ?? '—'], ['Latency', (a) => `${a.latencyMs} ms`], ['At', (a) => time(a.at)],
        ['Next retry', (a) => time(a.nextRetryAt)], ['Error', (a) => a.error || '']], d, { empty: 'No callback attempts.' }));
    } catch (e) { mount(cbs, errorBox(e)); }
  };
  waStatus.addEventListener('change', loadWa);
  waCategory.addEventListener('change', loadWa);
  cbStatus.addEventListener('change', loadCbs);
  mount(el,
    h('section', {}, h('h2', {}, 'WhatsApp templates'), h('div', { class: 'toolbar' }, field('Status', waStatus), field('Category', waCategory)), wa),
    h('section', {}, h('h2', {}, 'Redirect links and their clicks'), links),
    h('section', {}, h('h2', {}, 'Callback delivery attempts'), h('div', { class: 'toolbar' }, field('Outcome', cbStatus)), cbs));
  await Promise.all([loadWa(), loadLinks(), loadCbs()]);
  return undefined;
}
