// Small SVG charts (no library): a line chart of rates over time and a grouped bar chart.
// Colours come from CSS classes (series-0..3) so the dark scheme can change them.

const NS = 'http://www.w3.org/2000/svg';
const W = 640;
const H = 220;
const PAD = { l: 48, r: 12, t: 12, b: 28 };

function s(tag, attrs, ...kids) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const k of kids) el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return el;
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function legend(names) {
  const ul = document.createElement('ul');
  ul.className = 'legend';
  names.forEach((n, i) => {
    const li = document.createElement('li');
    li.className = `series-${i}`;
    li.textContent = n;
    ul.append(li);
  });
  return ul;
}

/** points: [{at, values:[...]}]; names: the series. `label` is the accessible name. */
export function lineChart(points, names, { label = 'Chart', unit = '/s' } = {}) {
  const wrap = document.createElement('figure');
  wrap.className = 'chart';
  const max = niceMax(Math.max(0, ...points.flatMap((p) => p.values)));
  const t0 = points.length ? points[0].at : 0;
  const t1 = points.length ? points[points.length - 1].at : 1;
  const x = (t) => PAD.l + ((t - t0) / Math.max(1, t1 - t0)) * (W - PAD.l - PAD.r);
  const y = (v) => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label });
  for (let i = 0; i <= 4; i++) {
    const v = (max / 4) * i;
    svg.append(s('line', { x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(s('text', { x: PAD.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, `${+v.toFixed(2)}${i === 4 ? unit : ''}`));
  }
  if (points.length > 1) {
    // Seconds too when the window is short (a freshly started engine), so labels differ.
    const fmt = new Intl.DateTimeFormat(undefined, t1 - t0 < 10 * 60 * 1000 ? { hour: '2-digit', minute: '2-digit', second: '2-digit' } : { hour: '2-digit', minute: '2-digit' });
    for (const [t, anchor] of [[t0, 'start'], [(t0 + t1) / 2, 'middle'], [t1, 'end']]) {
      svg.append(s('text', { x: x(t), y: H - 8, 'text-anchor': anchor, class: 'axis' }, fmt.format(new Date(t))));
    }
    names.forEach((_, i) => {
      const d = points.map((p, j) => `${j ? 'L' : 'M'}${x(p.at).toFixed(1)},${y(p.values[i]).toFixed(1)}`).join('');
      svg.append(s('path', { d, class: `line series-${i}` }));
    });
  } else {
    svg.append(s('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'axis' }, 'Collecting samples…'));
  }
  wrap.append(svg, legend(names));
  return wrap;
}

/** groups: [{label, values:[...]}], one bar per series in each group. */
export function barChart(groups, names, { label = 'Chart' } = {}) {
  const wrap = document.createElement('figure');
  wrap.className = 'chart';
  const max = niceMax(Math.max(0, ...groups.flatMap((g) => g.values)));
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label });
  const y = (v) => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
  for (let i = 0; i <= 4; i++) {
    const v = (max / 4) * i;
    svg.append(s('line', { x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(s('text', { x: PAD.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, Math.round(v).toLocaleString()));
  }
  const gw = (W - PAD.l - PAD.r) / Math.max(1, groups.length);
  const bw = Math.max(2, (gw * 0.8) / Math.max(1, names.length));
  groups.forEach((g, gi) => {
    const gx = PAD.l + gi * gw + gw * 0.1;
    g.values.forEach((v, i) => {
      const r = s('rect', { x: gx + i * bw, y: y(v), width: bw - 1, height: Math.max(0, H - PAD.b - y(v)), class: `bar series-${i}` });
      r.append(s('title', {}, `${g.label} · ${names[i]}: ${v.toLocaleString()}`));
      svg.append(r);
    });
    if (groups.length <= 16 || gi % Math.ceil(groups.length / 16) === 0) {
      svg.append(s('text', { x: gx + (gw * 0.8) / 2, y: H - 8, 'text-anchor': 'middle', class: 'axis' }, g.label));
    }
  });
  wrap.append(svg, legend(names));
  return wrap;
}
