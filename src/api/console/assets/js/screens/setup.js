// Credentials and templates: lists, and forms to add them. The credential form is built
// from /providers/schemas; secrets are write-only (password inputs, never shown again: no
// API answer carries them). Beside them, read-only: WhatsApp templates and their Meta
// status, redirect links and their clicks, customer callback attempts.

import { get, post } from '../api.js';
import { h, mount, errorBox, okBox, table, field, time, badge, num, userText } from '../ui.js';

function needAssociation(el, association) {
  if (association != null) return false;
  mount(el, h('p', { class: 'muted' }, 'Choose an association at the top to see its credentials and templates.'));
  return true;
}

async function credentials(slot, note, association) {
  const list = h('div', { id: 'credential-list' });
  // The schemas come in the catalogue's order, and a provider's documented providerId is its
  // place in it (1-based), as in GET /api/v1/providers.
  const schemas = (await get('/providers/schemas')).data.map((s, i) => ({ ...s, providerId: i + 1 }));
  const load = async () => {
    try {
      mount(list, table([
        ['Id', (c) => c.id], ['Provider', (c) => (c.provider ? c.provider.name : c.providerId)], ['Channel', (c) => (c.provider ? c.provider.channel : '')],
        ['Sender', (c) => h('span', { dir: 'auto' }, c.senderName)], ['Default', (c) => (c.isDefault ? 'yes' : '')], ['API URL', (c) => c.apiUrl || '—'],
        ['Secrets', () => h('span', { class: 'muted' }, 'set (write-only)')], ['Updated', (c) => time(c.updatedAt)],
      ], (await get('/credentials', { associationId: association })).data, { empty: 'No credentials yet.' }));
    } catch (e) { mount(list, errorBox(e)); }
  };
  const provider = h('select', { name: 'providerId' }, schemas.map((s) => h('option', { value: s.providerId }, `${s.name} (${s.channel})`)));
  const sender = h('input', { name: 'senderName', required: true, dir: 'auto' });
  const apiUrl = h('input', { name: 'apiUrl', type: 'url', placeholder: 'optional: the provider’s base URL' });
  const isDefault = h('input', { name: 'isDefault', type: 'checkbox' });
  const secrets = h('fieldset', { class: 'secrets' });
  const syncFields = () => {
    const s = schemas.find((x) => x.providerId === Number(provider.value));
    mount(secrets, h('legend', {}, `${s.name} credentials (write-only)`),
      s.fields.map((f) => field(f, h('input', { name: f, 'data-secret': f, type: 'password', autocomplete: 'off', required: true }))));
  };
  provider.addEventListener('change', syncFields);
  syncFields();
  const form = h('form', { class: 'card form', id: 'credential-form' }, h('h2', {}, 'New credential'),
    field('Provider', provider), field('Sender name', sender), secrets, field('API URL', apiUrl), field('Default credential', isDefault),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Add credential')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const creds = {};
    for (const i of secrets.querySelectorAll('[data-secret]')) creds[i.dataset.secret] = i.value;
    try {
      const r = await post('/credentials', { associationId: association, providerId: Number(provider.value), senderName: sender.value, credentials: creds, apiUrl: apiUrl.value || undefined, isDefault: isDefault.checked });
      for (const i of secrets.querySelectorAll('[data-secret]')) i.value = '';
      mount(note, okBox(`${r.message} (id ${r.data.id})`));
    } catch (err) { mount(note, errorBox(err)); }
    load();
  });
  mount(slot, h('h2', {}, 'Credentials'), list, form);
  await load();
}

async function templates(slot, note, association) {
  const list = h('div', { id: 'template-list' });
  const load = async () => {
    try {
      mount(list, table([['Code', (t) => t.code], ['Name', (t) => userText(t.name || '')], ['Channel', (t) => t.channel], ['Content', (t) => userText(t.content)],
        ['Variables', (t) => t.variables.join(', ')], ['Updated', (t) => time(t.updatedAt)]], (await get('/templates', { associationId: association })).data, { empty: 'No templates yet.' }));
    } catch (e) { mount(list, errorBox(e)); }
  };
  const code = h('input', { name: 'code', required: true });
  const name = h('input', { name: 'name', dir: 'auto' });
  const content = h('textarea', { name: 'content', rows: 3, required: true, dir: 'auto', placeholder: 'Your code is {{code}}' });
  const form = h('form', { class: 'card form', id: 'template-form' }, h('h2', {}, 'New template'), field('Code', code), field('Name', name), field('Content', content),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Add template')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try { const r = await post('/templates', { associationId: association, code: code.value, name: name.value || undefined, content: content.value }); mount(note, okBox(`${r.message}: ${r.data.code}`)); } catch (err) { mount(note, errorBox(err)); }
    load();
  });
  mount(slot, h('h2', {}, 'Templates'), list, form);
  await load();
}

async function readOnly(slot, association) {
  const wa = h('div', { id: 'wa-templates' });
  const links = h('div', { id: 'links' });
  const cbs = h('div', { id: 'callback-attempts' });
  mount(slot, h('h2', {}, 'WhatsApp templates'), wa, h('h2', {}, 'Redirect links'), links, h('h2', {}, 'Callback delivery attempts'), cbs);
  const load = async (el, path, params, cols, empty) => {
    try {
      const d = (await get(path, { associationId: association, ...params })).data;
      mount(el, table(cols, Array.isArray(d) ? d : d.items, { empty }));
    } catch (e) { mount(el, errorBox(e)); }
  };
  await Promise.all([
    load(wa, '/whatsapp-templates', {}, [['Id', (t) => t.id], ['Name', (t) => t.name], ['Language', (t) => t.language], ['Category', (t) => t.category], ['Status', (t) => badge(t.status)], ['Updated', (t) => time(t.updatedAt)]], 'No WhatsApp templates.'),
    load(links, '/links', { limit: 50 }, [['Code', (l) => l.code], ['Name', (l) => userText(l.name || '')], ['Target', (l) => l.targetUrl], ['Short URL', (l) => l.shortUrl], ['Clicks', (l) => num(l.clickCount)], ['Last click', (l) => time(l.lastClickedAt)]], 'No redirect links.'),
    load(cbs, '/callbacks', { limit: 50 }, [['Event', (a) => a.eventId], ['Message', (a) => a.queueId], ['URL', (a) => a.url], ['Attempt', (a) => a.attempt], ['Status', (a) => badge(a.status)], ['HTTP', (a) => a.statusCode ?? '—'], ['Latency', (a) => `${a.latencyMs} ms`], ['At', (a) => time(a.at)], ['Next retry', (a) => time(a.nextRetryAt)], ['Error', (a) => a.error || '']], 'No callback attempts.'),
  ]);
}

export async function render({ el, association }) {
  if (needAssociation(el, association)) return undefined;
  const note = h('div', { 'aria-live': 'polite', id: 'setup-note' });
  const a = h('section', {});
  const b = h('section', {});
  const c = h('section', {});
  mount(el, note, a, b, c);
  try { await credentials(a, note, association); } catch (e) { mount(a, errorBox(e)); }
  try { await templates(b, note, association); } catch (e) { mount(b, errorBox(e)); }
  await readOnly(c, association);
  return undefined;
}
