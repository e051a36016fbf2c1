// Routing: country allocations (list, create with country pickers, change priority,
// delete) and the route tester: "where would +9665… go?", with the failover order.

import { get, post, put, del } from '../api.js';
import { h, mount, errorBox, okBox, table, field, countryOptions, countryName } from '../ui.js';
import { associationField } from './send.js';

export async function render({ el, association, associations }) {
  const assoc = await associationField(association, associations);
  const note = h('div', { 'aria-live': 'polite', id: 'routing-note' });
  const list = h('div', { id: 'allocations' });
  const credSel = h('select', { name: 'credentialId', required: true });
  const loadCredentials = async () => {
    const a = assoc.value();
    if (a == null) { mount(credSel, h('option', { value: '' }, 'Choose an association first')); return; }
    try {
      const creds = (await get('/credentials', { associationId: a })).data;
      mount(credSel, creds.length ? creds.map((c) => h('option', { value: c.id }, `${c.id} · ${c.provider ? c.provider.name : c.providerId} · ${c.senderName}${c.isDefault ? ' (default)' : ''}`))
        : h('option', { value: '' }, 'No credentials: add one under Credentials'));
    } catch (e) { mount(note, errorBox(e)); }
  };
  const load = async () => {
    try {
      const rows = (await get('/allocations', { associationId: association })).data;
      mount(list, table([
        ['Id', (a) => a.id],
        ['Association', (a) => a.associationId],
        ['Credential', (a) => a.credentialId],
        ['Type', (a) => a.routingType],
        ['Countries', (a) => (a.routingType === 'include' ? `${countryName(a.countryCode)} (${a.countryCode})` : `all except ${(a.excludedCountries || []).join(', ')}`)],
        ['Priority', (a) => {
          const inp = h('input', { type: 'number', value: a.priority, class: 'narrow', 'aria-label': `Priority of allocation ${a.id}` });
          inp.addEventListener('change', async () => {
            try { const r = await put(`/allocations/${a.id}`, { priority: Number(inp.value) }); mount(note, okBox(r.message)); } catch (e) { mount(note, errorBox(e)); }
            load();
          });
          return inp;
        }],
        ['', (a) => h('button', { type: 'button', class: 'danger', onclick: async () => {
          if (!window.confirm(`Delete allocation ${a.id}?`)) return;
          try { const r = await del(`/allocations/${a.id}`); mount(note, okBox(r.message)); } catch (e) { mount(note, errorBox(e)); }
          load();
        } }, 'Delete')],
        ['', (a) => h('button', { type: 'button', 'data-edit': a.id, onclick: () => edit(a) }, 'Edit')],
      ], rows, { empty: 'No allocations: every message goes to the default credential.' }));
    } catch (e) { mount(list, errorBox(e)); }
  };

  const type = h('select', { name: 'routingType' }, h('option', { value: 'include' }, 'include: these countries go here'), h('option', { value: 'exclude' }, 'exclude: all countries except…'));
  const country = h('select', { name: 'countryCode' }, h('option', { value: '' }, 'Choose a country'), countryOptions());
  const excluded = h('select', { name: 'excludedCountries', multiple: true, size: 6 }, countryOptions([]));
  const priority = h('input', { name: 'priority', type: 'number', value: 0, class: 'narrow' });
  const countryField = field('Country', country);
  const excludedField = field('Excluded countries', excluded, 'Ctrl/Cmd-click to choose several');
  const syncType = () => { countryField.hidden = type.value !== 'include'; excludedField.hidden = type.value !== 'exclude'; };
  type.addEventListener('change', syncType);
  syncType();
  // One form creates, or (after Edit) saves changes to an existing allocation.
  let editing = null;
  const formTitle = h('h2', {}, 'New allocation');
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Create allocation');
  const edit = (a) => {
    editing = a.id;
    mount(formTitle, `Edit allocation ${a.id}`);
    submit.textContent = 'Save allocation';
    credSel.value = String(a.credentialId);
    type.value = a.routingType;
    country.value = a.countryCode || '';
    for (const o of excluded.options) o.selected = (a.excludedCountries || []).includes(o.value);
    priority.value = a.priority;
    syncType();
    form.scrollIntoView();
  };
  const form = h('form', { class: 'card form', id: 'allocation-form' }, formTitle, assoc.input,
    field('Credential', credSel), field('Routing type', type), countryField, excludedField, field('Priority', priority, 'Higher wins within a level'),
    h('div', { class: 'actions' }, submit));
  if (assoc.input) assoc.input.querySelector('select').addEventListener('change', loadCredentials);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { associationId: assoc.value(), credentialId: Number(credSel.value), routingType: type.value, priority: Number(priority.value || 0) };
    if (type.value === 'include') { body.countryCode = country.value; body.countryName = country.value ? countryName(country.value) : undefined; } else body.excludedCountries = [...excluded.selectedOptions].map((o) => o.value);
    try {
      const r = editing == null ? await post('/allocations', body) : await put(`/allocations/${editing}`, body);
      mount(note, okBox(`${r.message} (id ${r.data.id})`));
      editing = null;
      mount(formTitle, 'New allocation');
      submit.textContent = 'Create allocation';
    } catch (err) { mount(note, errorBox(err)); }
    load();
  });

  const phone = h('input', { name: 'phoneNumber', type: 'tel', dir: 'ltr', placeholder: '+966501234567', required: true });
  const testAssoc = await associationField(association, associations);
  const result = h('div', { id: 'route-result', 'aria-live': 'polite' });
  const tester = h('form', { class: 'card form', id: 'route-form' }, h('h2', {}, 'Route tester'), testAssoc.input, field('Where would this number go?', phone),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Test route')), result);
  tester.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const d = (await get('/route-test', { associationId: testAssoc.value(), phoneNumber: phone.value })).data;
      mount(result, h('p', {}, h('span', { dir: 'ltr' }, d.phoneNumber), ` (${d.country ? `${countryName(d.country)}, ${d.country}` : 'country unknown'}) over ${d.channel}:`),
        d.route.length ? h('ol', { class: 'route' }, d.route.map((s, i) => h('li', {}, h('strong', {}, i === 0 ? 'Route: ' : 'Failover: '),
          `credential ${s.credentialId} · ${s.provider || '?'} · `, h('span', { dir: 'auto' }, s.senderName), ` — ${s.reason}`)))
          : errorBox({ message: 'No credential serves this channel: the message would fail.' }));
    } catch (err) { mount(result, errorBox(err)); }
  });
  mount(el, note, h('div', { class: 'two' }, form, tester), h('h2', {}, 'Allocations'), list);
  loadCredentials();
  load();
}
