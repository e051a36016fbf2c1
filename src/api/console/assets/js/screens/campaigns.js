// Campaigns: the list with live progress (sent / delivered / failed / remaining) and rate,
// a detail with the invalid recipients, cancel, and create from a pasted list or a CSV file
// whose columns are {{variables}}, with a preview of the first rendered messages.

import { get, post, del } from '../api.js';
import { h, mount, errorBox, okBox, table, pager, time, badge, num, progress, every, field, userText } from '../ui.js';
import { associationField } from './send.js';

const PHONE_COLUMNS = ['phone', 'phonenumber', 'phone_number', 'recipient', 'number', 'mobile', 'msisdn'];

/** Parses CSV (quoted fields, "" escapes, CRLF) into rows of strings. */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') quoted = false; else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell); cell = '';
      if (row.some((x) => x.trim() !== '')) rows.push(row);
      row = [];
    } else cell += c;
  }
  row.push(cell);
  if (row.some((x) => x.trim() !== '')) rows.push(row);
  return rows;
}

/** Recipients from a CSV with a header row (phone column + variable columns) or one number a line. */
export function recipientsFrom(text) {
  const first = text.split(/\r?\n/, 1)[0] || '';
  if (first.includes(',')) {
    const rows = parseCsv(text.replace(/^\uFEFF/, ''));
    const header = rows[0].map((x) => x.trim());
    let pi = header.findIndex((x) => PHONE_COLUMNS.includes(x.toLowerCase()));
    if (pi < 0) pi = 0;
    const vars = header.map((name, i) => [name, i]).filter(([name, i]) => i !== pi && name !== '');
    return {
      variables: vars.map(([n]) => n),
      list: rows.slice(1).map((r) => {
        const variables = {};
        for (const [n, i] of vars) variables[n] = (r[i] ?? '').trim();
        return vars.length ? { phone: (r[pi] ?? '').trim(), variables } : (r[pi] ?? '').trim();
      }),
    };
  }
  return { variables: [], list: text.split(/\r?\n/).map((x) => x.trim()).filter(Boolean) };
}

export function renderMessage(template, r) {
  const vars = typeof r === 'object' ? r.variables : {};
  return template.replace(/\{\{\s*([^}]+?)\s*\}\}/g, (m, name) => (vars && vars[name] !== undefined ? vars[name] : m));
}

const invalidKey = (id) => `jood.invalid.${id}`;

function createForm(assoc, onCreated) {
  const name = h('input', { name: 'name', required: true });
  const message = h('textarea', { name: 'message', required: true, rows: 3, dir: 'auto', placeholder: 'Hello {{name}}, …' });
  const pasted = h('textarea', { name: 'recipients', rows: 5, dir: 'ltr', placeholder: '+966501234567\n+966501234568\n\nor CSV: phone,name\n+966501234567,Sara' });
  const file = h('input', { name: 'csv', type: 'file', accept: '.csv,text/csv,text/plain' });
  const when = h('input', { name: 'scheduledAt', type: 'datetime-local' });
  const preview = h('div', { id: 'campaign-preview', 'aria-live': 'polite' });
  const slot = h('div', { id: 'campaign-create-result', 'aria-live': 'polite' });
  let fileText = '';
  const current = () => recipientsFrom(fileText || pasted.value);
  const showPreview = () => {
    const r = current();
    if (!r.list.length) { mount(preview); return; }
    mount(preview, h('h3', {}, `Preview (${num(r.list.length)} recipients${r.variables.length ? `; variables: ${r.variables.join(', ')}` : ''})`),
      h('ol', { class: 'preview' }, r.list.slice(0, 3).map((x) => h('li', {},
        h('span', { dir: 'ltr', class: 'muted' }, typeof x === 'object' ? x.phone : x), ' ', userText(renderMessage(message.value, x))))));
  };
  file.addEventListener('change', async () => {
    fileText = file.files[0] ? await file.files[0].text() : '';
    showPreview();
  });
  pasted.addEventListener('input', () => { fileText = ''; file.value = ''; showPreview(); });
  message.addEventListener('input', showPreview);
  const form = h('form', { class: 'card form', id: 'campaign-form' },
    h('h2', {}, 'New campaign'), assoc.input, field('Name', name), field('Message', message, 'Use {{column}} for the CSV’s columns'),
    field('Recipients', pasted, 'One number a line, or CSV with a header row'), field('…or a CSV file', file),
    field('Schedule for (optional)', when, 'Your browser’s time zone'), preview,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', id: 'campaign-create' }, 'Create campaign')), slot);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const r = current();
    const body = { associationId: assoc.value(), name: name.value, message: message.value, recipients: r.list };
    if (when.value) body.scheduledAt = new Date(when.value).toISOString();
    mount(slot, h('p', { class: 'muted' }, `Creating with ${num(r.list.length)} recipients…`));
    try {
      const res = await post('/campaigns', body);
      const d = res.data;
      sessionStorage.setItem(invalidKey(d.campaignId), JSON.stringify(d.invalid || []));
      mount(slot, okBox(`${res.message}: campaign ${d.campaignId}, ${num(d.totalRecipients)} recipients, ${num(d.invalidRecipients)} invalid, ${num(d.duplicatesRemoved)} duplicates removed`));
      onCreated(d.campaignId);
    } catch (err) {
      mount(slot, errorBox(err));
    }
  });
  return form;
}

function detail(c, slot, reload) {
  const invalid = JSON.parse(sessionStorage.getItem(invalidKey(c.id)) || 'null');
  mount(slot, h('div', { class: 'card', id: 'campaign-detail' },
    h('h2', {}, 'Campaign ', c.id, ': ', userText(c.name)),
    h('p', {}, badge(c.status), ` ${num(c.totalRecipients)} recipients · sent ${num(c.sent)} · delivered ${num(c.delivered)} · undelivered ${num(c.undelivered)} · failed ${num(c.failed)} · cancelled ${num(c.cancelled)}`),
    c.scheduledAt ? h('p', {}, 'Scheduled for ', time(c.scheduledAt)) : null,
    h('h3', {}, 'Invalid recipients'),
    invalid === null ? h('p', { class: 'muted' }, 'Listed when the campaign is created from this browser.')
      : table([['Row', (x) => x.index + 1], ['Recipient', (x) => h('span', { dir: 'ltr' }, x.recipient)], ['Reason', (x) => x.reason]], invalid, { empty: 'None.' }),
    ['scheduled', 'processing'].includes(c.status)
      ? h('button', { type: 'button', class: 'danger', id: 'campaign-cancel', onclick: async () => {
        if (!window.confirm(`Cancel campaign ${c.id}?`)) return;
        try { const r = await del(`/campaigns/${c.id}`); slot.prepend(okBox(r.message)); } catch (e) { slot.prepend(errorBox(e)); }
        reload();
      } }, 'Cancel campaign') : null));
}

export async function render({ el, association, associations }) {
  const assoc = await associationField(association, associations);
  const list = h('div', { id: 'campaign-list', 'aria-live': 'off' });
  const detailSlot = h('div', { id: 'campaign-detail-slot' });
  let page = 1;
  let selected = null;
  const last = new Map(); // id -> [ms, done] for the rate
  const load = async () => {
    let d;
    try {
      d = (await get('/campaigns', { page, limit: 10, associationId: association })).data;
    } catch (e) {
      mount(list, errorBox(e));
      return;
    }
    const now = Date.now();
    const rates = new Map();
    for (const c of d.items) {
      const done = c.sent + c.failed + (c.cancelled || 0);
      const prev = last.get(c.id);
      if (prev && now > prev[0]) rates.set(c.id, ((done - prev[1]) * 1000) / (now - prev[0]));
      last.set(c.id, [now, done]);
    }
    mount(list, table([
      ['Id', (c) => c.id],
      ['Name', (c) => userText(c.name)],
      ['Status', (c) => badge(c.status)],
      ['Progress', (c) => {
        const total = c.totalRecipients;
        const sentOnly = Math.max(0, c.sent - c.delivered - c.undelivered);
        return h('div', { class: 'progress-cell', 'data-campaign': c.id },
          progress([['delivered', c.delivered, 'delivered'], ['sent', sentOnly, 'sent, no report yet'], ['failed', c.failed + c.undelivered, 'failed or undelivered'], ['cancelled', c.cancelled || 0, 'cancelled']], total),
          h('small', { class: 'muted' }, `sent ${num(c.sent)} · delivered ${num(c.delivered)} · failed ${num(c.failed + c.undelivered)} · remaining ${num(Math.max(0, total - c.sent - c.failed - (c.cancelled || 0)))}`));
      }],
      ['Rate', (c) => (rates.has(c.id) ? `${num(Math.max(0, Math.round(rates.get(c.id))))}/s` : '—')],
      ['Created', (c) => time(c.createdAt)],
    ], d.items, { empty: 'No campaigns yet.', onRow: (c) => { selected = c.id; detail(c, detailSlot, load); } }),
    pager(d, (p) => { page = p; load(); }));
    const sel = d.items.find((c) => c.id === selected);
    if (sel) detail(sel, detailSlot, load);
  };
  mount(el, createForm(assoc, (id) => { selected = id; page = 1; load(); }), h('h2', {}, 'Campaigns'), list, detailSlot);
  return every(1500, load);
}
