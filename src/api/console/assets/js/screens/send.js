// Send: a test SMS through /dashboard/send-sms (synchronous: the provider's answer comes
// back) with its timeline, or scheduled for later through /dashboard/schedule-sms.

import { get, post } from '../api.js';
import { h, mount, errorBox, okBox, field, badge, time, userText } from '../ui.js';

export async function associationField(association, associations) {
  if (association != null) return { input: null, value: () => association };
  const sel = h('select', { name: 'associationId', required: true },
    h('option', { value: '' }, 'Choose an association'),
    associations.map((a) => h('option', { value: a.id }, `${a.id} · ${a.name}`)));
  return { input: field('Association', sel), value: () => (sel.value === '' ? null : Number(sel.value)) };
}

export function timelineView(m) {
  return h('div', { class: 'timeline-box' },
    h('p', {}, 'Message ', h('strong', {}, m.id), ' to ', h('span', { dir: 'ltr' }, m.recipient), ': ', badge(m.status),
      m.provider ? ` via ${m.provider}` : '', m.error ? h('span', { class: 'error-text' }, ` — ${m.error}`) : ''),
    userText(m.message, 'p'),
    h('ol', { class: 'timeline' }, (m.timeline || []).map((e) => h('li', {},
      time(e.at), ' ', h('strong', {}, e.event), e.status ? [' ', badge(e.status)] : '',
      e.source ? ` (${e.source})` : '', e.attempt ? ` attempt ${e.attempt}` : '', e.result ? ` → ${e.result}` : '',
      e.providerStatus ? ` · provider: ${e.providerStatus}` : '', e.error ? h('span', { class: 'error-text' }, ` — ${e.error}`) : ''))));
}

export async function showTimeline(slot, id) {
  try {
    mount(slot, timelineView((await get(`/messages/${id}`)).data));
  } catch (e) {
    mount(slot, errorBox(e));
  }
}

export async function render({ el, association, associations }) {
  const assoc = await associationField(association, associations);
  const phone = h('input', { name: 'phoneNumber', type: 'tel', required: true, placeholder: '+966501234567', dir: 'ltr' });
  const message = h('textarea', { name: 'message', required: true, rows: 4, dir: 'auto' });
  const when = h('input', { name: 'scheduledAt', type: 'datetime-local' });
  const slot = h('div', { id: 'send-result', 'aria-live': 'polite' });
  const form = h('form', { class: 'card form', id: 'send-form' },
    assoc.input,
    field('Phone number', phone, 'E.164, 00… or digits with the country code'),
    field('Message', message, 'Arabic and other right-to-left text is shown in its own direction'),
    field('Schedule for (optional)', when, 'Your browser’s time zone; empty sends now'),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'send-button' }, 'Send')),
    slot);
  when.addEventListener('input', () => { form.querySelector('#send-button').textContent = when.value ? 'Schedule' : 'Send'; });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { associationId: assoc.value(), phoneNumber: phone.value, message: message.value };
    mount(slot, h('p', { class: 'muted' }, when.value ? 'Scheduling…' : 'Sending, waiting for the provider…'));
    try {
      if (when.value) {
        const at = new Date(when.value);
        const r = await post('/schedule-sms', { ...body, scheduledAt: at.toISOString() });
        const box = okBox(`${r.message}: queue id ${r.data.queueId}, at `);
        box.append(time(at));
        mount(slot, box);
      } else {
        const r = await post('/send-sms', body);
        const d = r.data;
        const box = h('div', { id: 'send-timeline' });
        mount(slot, d.success ? okBox(`Sent: ${d.status} (log ${d.logId})`) : errorBox({ message: `Not sent: ${d.status}${d.error ? ` — ${d.error}` : ''}` }), box);
        await showTimeline(box, d.logId);
      }
    } catch (err) {
      mount(slot, errorBox(err));
    }
  });
  mount(el, form);
}
