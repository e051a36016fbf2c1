// The console's shell: log-in (the dashboard's session cookie + CSRF token), the
// association selector (every association for a super operator, its own for a bound one),
// the navigation, and a hash router that mounts one screen at a time. Each screen module
// exports `render(ctx)` and may return a function that stops its polling.

import { api, get, post, setCsrf, whenSessionLost } from './api.js';
import { h, mount, errorBox, field } from './ui.js';

const SCREENS = [
  ['overview', 'Overview', () => import('./screens/overview.js')],
  ['send', 'Send', () => import('./screens/send.js')],
  ['queue', 'Queue', () => import('./screens/queue.js')],
  ['campaigns', 'Campaigns', () => import('./screens/campaigns.js')],
  ['logs', 'Logs', () => import('./screens/logs.js')],
  ['stats', 'Stats', () => import('./screens/stats.js')],
  ['routing', 'Routing', () => import('./screens/routing.js')],
  ['setup', 'Credentials & templates', () => import('./screens/setup.js')],
  ['activity', 'WhatsApp, links & callbacks', () => import('./screens/activity.js')],
];

const root = document.getElementById('app');
const state = { me: null, associations: [], association: null, stop: null };

function selected() {
  return state.me && state.me.associationId != null ? state.me.associationId : state.association;
}

function loginScreen(message) {
  stopScreen();
  const user = h('input', { name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const slot = h('div', { 'aria-live': 'polite' }, message ? errorBox({ message }) : null);
  const form = h('form', { class: 'login card', id: 'login-form' },
    h('h1', {}, 'Jood console'),
    field('Username', user),
    field('Password', pass),
    h('button', { type: 'submit', class: 'primary' }, 'Log in'),
    slot);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const r = await post('/auth/login', { username: user.value, password: pass.value });
      await start(r.data);
    } catch (err) {
      mount(slot, errorBox(err));
      pass.select();
    }
  });
  mount(root, h('main', { id: 'main', class: 'login-page' }, form));
  user.focus();
}

async function start(me) {
  state.me = me;
  setCsrf(me.csrfToken);
  try {
    state.associations = (await get('/associations')).data;
  } catch (e) {
    state.associations = [];
  }
  if (me.associationId == null) {
    const saved = sessionStorage.getItem('jood.association');
    state.association = saved === '' || saved === null ? null : Number(saved);
    if (state.association != null && !state.associations.some((a) => a.id === state.association)) state.association = null;
  }
  shell();
}

function associationPicker() {
  if (state.me.associationId != null) {
    const a = state.associations.find((x) => x.id === state.me.associationId);
    return h('span', { class: 'assoc-fixed', id: 'association' }, `Association ${state.me.associationId}${a ? ` · ${a.name}` : ''}`);
  }
  const sel = h('select', { id: 'association', 'aria-label': 'Association' },
    h('option', { value: '' }, 'All associations'),
    state.associations.map((a) => h('option', { value: a.id, selected: a.id === state.association }, `${a.id} · ${a.name}`)));
  sel.addEventListener('change', () => {
    state.association = sel.value === '' ? null : Number(sel.value);
    sessionStorage.setItem('jood.association', sel.value);
    route();
  });
  return sel;
}

async function logout() {
  try { await post('/auth/logout'); } catch { /* the session may be gone already */ }
  state.me = null;
  setCsrf(null);
  loginScreen();
}

function shell() {
  const nav = h('nav', { class: 'nav', 'aria-label': 'Screens' },
    h('ul', {}, SCREENS.map(([id, title]) => h('li', {}, h('a', { href: `#/${id}`, 'data-screen': id }, title)))));
  const header = h('header', { class: 'top' },
    h('a', { class: 'brand', href: '#/overview' }, 'Jood'),
    associationPicker(),
    h('span', { class: 'who' }, `${state.me.username} (${state.me.role})`),
    h('button', { type: 'button', id: 'logout', onclick: logout }, 'Log out'));
  mount(root, header, h('div', { class: 'layout' }, nav, h('main', { id: 'main', tabindex: '-1' })));
  route();
}

function stopScreen() {
  if (typeof state.stop === 'function') state.stop();
  state.stop = null;
}

// Each route() takes a number; one that finds a newer number after an await gives way. Two
// routes close together (an association picked, then a screen) would otherwise both mount
// their screen, and the one whose stop function was overwritten would keep its polling and
// its overview stream (a slot of the session's three) for as long as the page lives.
let routes = 0;

async function route() {
  if (!state.me) return;
  const mine = ++routes;
  const id = (location.hash.replace(/^#\/?/, '').split('/')[0]) || 'overview';
  const screen = SCREENS.find(([s]) => s === id) || SCREENS[0];
  for (const a of root.querySelectorAll('.nav a')) {
    if (a.dataset.screen === screen[0]) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  stopScreen();
  const main = document.getElementById('main');
  mount(main, h('h1', {}, screen[1]));
  document.title = `${screen[1]} · Jood console`;
  try {
    const mod = await screen[2]();
    if (mine !== routes) return;
    const body = h('div', { class: 'screen', id: `screen-${screen[0]}` });
    main.append(body);
    const stop = await mod.render({ el: body, me: state.me, association: selected(), associations: state.associations });
    if (mine !== routes) {
      // A newer route has replaced this screen while it rendered: stop it, it is not shown.
      if (typeof stop === 'function') stop();
      return;
    }
    state.stop = stop;
  } catch (e) {
    if (mine === routes) main.append(errorBox(e));
  }
}

window.addEventListener('hashchange', route);
whenSessionLost((msg) => { state.me = null; loginScreen(msg); });

// An open session (a reload) goes straight in; otherwise the log-in.
api('GET', '/auth/me').then((r) => start(r.data), () => loginScreen());
