// DOM helpers shared by the screens. Elements are built with `h` (text always goes in as
// text nodes: nothing from the API is parsed as HTML); message text gets dir="auto" so
// Arabic reads right to left inside left-to-right pages; times show in the browser's zone
// with the UTC time on hover.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else if (k === 'style') throw new Error('style attributes are refused by the CSP: set el.style instead');
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Text written by people (messages, names): its own direction. */
export const userText = (s, tag = 'span') => h(tag, { dir: 'auto', class: 'user-text' }, s ?? '');

const fmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** A timestamp (ISO string or ms) in the browser's zone; UTC on hover. */
export function time(ts) {
  if (ts === undefined || ts === null || ts === '') return h('span', { class: 'muted' }, '—');
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return h('span', {}, String(ts));
  return h('time', { datetime: d.toISOString(), title: `${d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}` }, fmt.format(d));
}

export function duration(ms) {
  if (ms === undefined || ms === null) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export const num = (n) => (n === undefined || n === null ? '—' : Number(n).toLocaleString());

/** An error as its message, announced to screen readers. */
export function errorBox(err) {
  const msg = err && err.message ? err.message : String(err || 'Unknown error');
  return h('div', { class: 'error', role: 'alert' }, msg);
}

export function okBox(msg) {
  return h('div', { class: 'ok', role: 'status' }, msg);
}

/** Runs `fn`, showing its error (the API's message) in `slot`; resolves to its value or undefined. */
export async function guard(slot, fn) {
  try {
    const v = await fn();
    return v;
  } catch (e) {
    if (slot) mount(slot, errorBox(e));
    return undefined;
  }
}

/** A table: columns are [header, row => cell]. `onRow` makes rows clickable and focusable. */
export function table(columns, rows, { onRow, empty = 'Nothing here yet.', caption } = {}) {
  if (!rows || rows.length === 0) return h('p', { class: 'muted empty' }, empty);
  const head = h('tr', {}, columns.map(([title]) => h('th', { scope: 'col' }, title)));
  const body = rows.map((r) => {
    const tr = h('tr', {}, columns.map(([, cell]) => h('td', {}, cell(r))));
    if (onRow) {
      tr.tabIndex = 0;
      tr.classList.add('clickable');
      tr.addEventListener('click', (e) => { if (!e.target.closest('button, a, input, select')) onRow(r); });
      tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') onRow(r); });
    }
    return tr;
  });
  return h('div', { class: 'table-wrap' }, h('table', {}, caption ? h('caption', {}, caption) : null, h('thead', {}, head), h('tbody', {}, body)));
}

/** Previous / next paging for {total, page, limit}. */
export function pager(p, go) {
  const pages = Math.max(1, Math.ceil((p.total || 0) / p.limit));
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    h('button', { type: 'button', disabled: p.page <= 1, onclick: () => go(p.page - 1) }, '‹ Previous'),
    h('span', { class: 'page-of' }, `Page ${p.page} of ${pages} · ${num(p.total)} in all`),
    h('button', { type: 'button', disabled: p.page >= pages, onclick: () => go(p.page + 1) }, 'Next ›'));
}

/** A labelled form field. */
export function field(label, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('small', { class: 'muted' }, hint) : null);
}

export function badge(status) {
  return h('span', { class: `badge s-${String(status).replace(/[^a-z_]/gi, '')}` }, status);
}

export function progress(parts, total) {
  // parts: [[className, value, label]]; the bar's text is the share done.
  const done = parts.reduce((a, [, v]) => a + v, 0);
  const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 0;
  return h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct, 'data-pct': pct, title: parts.map(([, v, l]) => `${l}: ${num(v)}`).join(' · ') },
    parts.map(([cls, v]) => {
      // Through the CSSOM: the console's CSP refuses style attributes.
      const seg = h('span', { class: `seg ${cls}` });
      seg.style.width = `${total > 0 ? (v / total) * 100 : 0}%`;
      return seg;
    }),
    h('span', { class: 'pct' }, `${pct}%`));
}

/** Calls `fn` every `ms` while the page is visible; returns a stop function. */
export function every(ms, fn) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) await fn();
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

/** The ISO 3166-1 alpha-2 codes, for the country pickers (names from the browser). */
export const COUNTRIES = ('AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW').split(' ');

let regionNames = null;
export function countryName(code) {
  try {
    regionNames = regionNames || new Intl.DisplayNames([navigator.language || 'en'], { type: 'region' });
    return regionNames.of(code) || code;
  } catch { return code; }
}

export function countryOptions(selected) {
  return COUNTRIES.map((c) => ({ c, n: countryName(c) }))
    .sort((a, b) => a.n.localeCompare(b.n))
    .map(({ c, n }) => h('option', { value: c, selected: Array.isArray(selected) ? selected.includes(c) : selected === c }, `${n} (${c})`));
}
