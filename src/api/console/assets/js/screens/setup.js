// Credentials and templates: lists, and forms to add, edit and delete them. The credential
// form is built from /providers/schemas; secrets are write-only (password inputs, never shown
// again: no API answer carries them; editing leaves them as they are unless new ones are
// typed). Every error the API answers is shown as its message.

import { get, post, put, del, qs } from '../api.js';
import { h, mount, errorBox, okBox, table, field, time, userText } from '../ui.js';

export function needAssociation(el, association, what) {
  if (association != null) return false;
  mount(el, h('p', { class: 'muted' }, `Choose an association at the top to see its ${what}.`));
  return true;
}

async function credentials(slot, note, association) {
  const list = h('div', { id: 'credential-list' });
  // The schemas come in the catalogue's order, and a provider's documented providerId is its
  // place in it (1-based), as in GET /api/v1/providers.
  const schemas = (await get('/providers/schemas')).data.map((s, i) => ({ ...s, providerId: i + 1 }));
  let editing = null;
  const scoped = (id) => `/credentials/${id}${qs({ associationId: association })}`;
  const load = async () => {
    try {
      mount(list, table([
        ['Id', (c) => c.id], ['Provider', (c) => (c.provider ? c.provider.name : c.providerId)], ['Channel', (c) => (c.provider ? c.provider.channel : '')],
        ['Sender', (c) => h('span', { dir: 'auto' }, c.senderName)], ['Default', (c) => (c.isDefault ? 'yes' : '')], ['API URL', (c) => c.apiUrl || '—'],
        ['Secrets', () => h('span', { class: 'muted' }, 'set (write-only)')], ['Updated', (c) => time(c.updatedAt)],
        ['', (c) => h('span', { class: 'actions' },
          h('button', { type: 'button', 'data-edit-credential': c.id, onclick: () => edit(c) }, 'Edit'),
          h('button', { type: 'button', class: 'danger', 'data-delete-credential': c.id, onclick: async () => {
            if (!window.confirm(`Delete credential ${c.id} (${c.senderName})?`)) return;
            try { const r = await del(scoped(c.id)); mount(note, okBox(`${r.message} (id ${c.id})`)); } catch (e) { mount(note, errorBox(e)); }
            load();
          } }, 'Delete'))],
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
    mount(secrets, h('legend', {}, `${s.name} credentials (write-only${editing ? ': leave blank to keep the current ones' : ''})`),
      s.fields.map((f) => field(f, h('input', { name: f, 'data-secret': f, type: 'password', autocomplete: 'off', required: !editing }))));
  };
  provider.addEventListener('change', syncFields);
  const title = h('h2', {}, 'New credential');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Add credential');
  const cancel = h('button', { type: 'button', hidden: true }, 'Cancel edit');
  const reset = () => {
    editing = null;
    mount(title, 'New credential');
    submit.textContent = 'Add credential';
    cancel.hidden = true;
    provider.disabled = false;
    form.reset();
    syncFields();
  };
  const edit = (c) => {
    editing = c;
    mount(title, `Edit credential ${c.id}`);
    submit.textContent = 'Save credential';
    cancel.hidden = false;
    provider.value = String(c.providerId);
    provider.disabled = true; // a credential's provider is fixed: add a new one instead
    sender.value = c.senderName;
    apiUrl.value = c.apiUrl || '';
    isDefault.checked = !!c.isDefault;
    syncFields();
    form.scrollIntoView();
  };
  cancel.addEventListener('click', reset);
  const form = h('form', { class: 'card form', id: 'credential-form' }, title,
    field('Provider', provider), field('Sender name', sender), secrets, field('API URL', apiUrl), field('Default credential', isDefault),
    h('div', { class: 'actions' }, submit, cancel));
  syncFields();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const creds = {};
    for (const i of secrets.querySelectorAll('[data-secret]')) if (i.value !== '' || !editing) creds[i.dataset.secret] = i.value;
    try {
      let r;
      if (editing) {
        const body = { senderName: sender.value, apiUrl: apiUrl.value === '' ? null : apiUrl.value, isDefault: isDefault.checked };
        if (Object.keys(creds).length) body.credentials = creds;
        r = await put(scoped(editing.id), body);
      } else {
        r = await post('/credentials', { associationId: association, providerId: Number(provider.value), senderName: sender.value, credentials: creds, apiUrl: apiUrl.value || undefined, isDefault: isDefault.checked });
      }
      mount(note, okBox(`${r.message} (id ${r.data.id})`));
      reset();
    } catch (err) { mount(note, errorBox(err)); }
    for (const i of secrets.querySelectorAll('[data-secret]')) i.value = '';
    load();
  });
  mount(slot, h('h2', {}, 'Credentials'), list, form);
  await load();
}

async function templates(slot, note, association) {
  const list = h('div', { id: 'template-list' });
  let editing = null;
  const scoped = (code) => `/templates/${encodeURIComponent(code)}${qs({ associationId: association })}`;
  const load = async () => {
    try {
      mount(list, table([['Code', (t) => t.code], ['Name', (t) => userText(t.name || '')], ['Channel', (t) => t.channel], ['Content', (t) => userText(t.content)],
        ['Variables', (t) => t.variables.join(', ')], ['Updated', (t) => time(t.updatedAt)],
        ['', (t) => h('span', { class: 'actions' },
          h('button', { type: 'button', 'data-edit-template': t.code, onclick: () => edit(t) }, 'Edit'),
          h('button', { type: 'button', class: 'danger', 'data-delete-template': t.code, onclick: async () => {
            if (!window.confirm(`Delete template ${t.code}?`)) return;
            try { const r = await del(scoped(t.code)); mount(note, okBox(`${r.message}: ${t.code}`)); } catch (e) { mount(note, errorBox(e)); }
            load();
          } }, 'Delete'))]], (await get('/templates', { associationId: association })).data, { empty: 'No templates yet.' }));
    } catch (e) { mount(list, errorBox(e)); }
  };
  const code = h('input', { name: 'code', required: true });
  const name = h('input', { name: 'name', dir: 'auto' });
  const content = h('textarea', { name: 'content', rows: 3, required: true, dir: 'auto', placeholder: 'Your code is {{code}}' });
  const title = h('h2', {}, 'New template');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Add template');
  const cancel = h('button', { type: 'button', hidden: true }, 'Cancel edit');
  const reset = () => { editing = null; mount(title, 'New template'); submit.textContent = 'Add template'; cancel.hidden = true; code.disabled = false; form.reset(); };
  const edit = (t) => {
    editing = t.code;
    mount(title, `Edit template ${t.code}`);
    submit.textContent = 'Save template';
    cancel.hidden = false;
    code.value = t.code;
    code.disabled = true; // the code is the template's name in the API
    name.value = t.name || '';
    content.value = t.content;
    form.scrollIntoView();
  };
  cancel.addEventListener('click', reset);
  const form = h('form', { class: 'card form', id: 'template-form' }, title, field('Code', code), field('Name', name), field('Content', content),
    h('div', { class: 'actions' }, submit, cancel));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const r = editing
        ? await put(scoped(editing), { name: name.value || undefined, content: content.value })
        : await post('/templates', { associationId: association, code: code.value, name: name.value || undefined, content: content.value });
      mount(note, okBox(`${r.message}: ${r.data.code}`));
      reset();
    } catch (err) { mount(note, errorBox(err)); }
    load();
  });
  mount(slot, h('h2', {}, 'Templates'), list, form);
  await load();
}

export async function render({ el, association }) {
  if (needAssociation(el, association, 'credentials and templates')) return undefined;
  const note = h('div', { 'aria-live': 'polite', id: 'setup-note' });
  const a = h('section', {});
  const b = h('section', {});
  mount(el, note, a, b);
  try { await credentials(a, note, association); } catch (e) { mount(a, errorBox(e)); }
  try { await templates(b, note, association); } catch (e) { mount(b, errorBox(e)); }
  return undefined;
}
