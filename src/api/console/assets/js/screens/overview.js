// Overview: live rates over the last 15 minutes, queue figures, each credential's health
// (its own p99 and error rate, from its credential actor) and the WhatsApp gateways' state.
// Fed by the server-sent-event stream /dashboard/overview/stream (one event after every
// sample of the engine's counters); when the stream cannot be had (refused: too many open
// for the session; or dropped) the screen polls /dashboard/overview every 3 s and tries the
// stream again every 30 s. A stream the engine ends (log-out, session gone) is not retried.

import { get, qs, ApiError } from '../api.js';
import { h, mount, errorBox, table, num, duration, every, badge } from '../ui.js';
import { lineChart } from '../chart.js';

const NAMES = ['accepted', 'sent', 'delivered', 'failed'];
const POLL_MS = 3000;
const RETRY_STREAM_MS = 30_000;

function card(label, value, hint, id) {
  return h('div', { class: 'stat card', id }, h('div', { class: 'stat-label' }, label), h('div', { class: 'stat-value' }, value), hint ? h('small', { class: 'muted' }, hint) : null);
}

function draw(slot, d) {
  const last = d.series.length ? d.series[d.series.length - 1] : null;
  const cards = h('div', { class: 'cards' },
    card('Accepted /s', last ? num(last.accepted) : '—', h('span', { id: 'ov-accepted-window', 'data-count': d.window.accepted }, `${num(d.window.accepted)} in the window`), 'ov-accepted'),
    card('Sent /s', last ? num(last.sent) : '—', `${num(d.window.sent)} in the window`, 'ov-sent'),
    card('Delivered /s', last ? num(last.delivered) : '—', `${num(d.window.delivered)} in the window`, 'ov-delivered'),
    card('Failed /s', last ? num(last.failed) : '—', `${num(d.window.failed)} in the window`, 'ov-failed'),
    card('Queued', num(d.queued), 'single messages not yet final', 'ov-queued'),
    card('Oldest queued', duration(d.oldestQueuedAgeMs), 'age of the oldest', 'ov-oldest'),
    card('Scheduled', num(d.scheduledMessages), 'single messages waiting for their time', 'ov-scheduled'),
    d.dispatchQueueDepth !== undefined ? card('Dispatch queue', num(d.dispatchQueueDepth), 'held by dispatch, engine-wide', 'ov-dispatch') : null,
    d.scheduleBacklog !== undefined ? card('Schedule backlog', `${num(d.scheduleBacklog)}${d.scheduleBacklogCapped ? '+' : ''}`, 'messages and campaigns, engine-wide', 'ov-backlog') : null);
  const chart = lineChart(d.series.map((p) => ({ at: p.at, values: NAMES.map((n) => p[n]) })), NAMES,
    { label: 'Messages per second over the last 15 minutes' });
  const health = table([
    ['Credential', (c) => `${c.id}${c.isDefault ? ' (default)' : ''}`],
    ['Association', (c) => c.associationId],
    ['Provider', (c) => c.providerName],
    ['Sender', (c) => h('span', { dir: 'auto' }, c.senderName)],
    ['Circuit', (c) => badge(c.circuit)],
    ['Error rate', (c) => (c.calls ? `${(c.errorRate * 100).toFixed(1)}%` : '—')],
    ['p99', (c) => h('span', { 'data-p99': c.id }, c.p99Ms != null ? `${c.p99Ms} ms` : '—')],
    ['In flight', (c) => `${num(c.inFlight)}${c.inFlightPerCredential ? '' : ' (provider)'}`],
    ['Recent calls', (c) => num(c.calls)],
  ], d.credentials, { empty: 'No provider credentials yet.', caption: 'Error rate, p99 and recent calls are each credential’s own, over its last 5 minutes of calls (at most its last 1,024)' });
  const gateways = d.credentials.filter((c) => c.gateway);
  const gatewayTable = table([
    ['Credential', (c) => c.id],
    ['Association', (c) => c.associationId],
    ['Gateway', (c) => c.providerName],
    ['Sender', (c) => h('span', { dir: 'auto' }, c.senderName)],
    ['Circuit', (c) => badge(c.circuit)],
    ['Client (device/session)', (c) => (c.gateway.reportsClientState ? badge(c.gateway.client) : h('span', { class: 'muted' }, 'not reported by this gateway'))],
    ['Reason', (c) => c.gateway.reason || ''],
    ['p99', (c) => (c.p99Ms != null ? `${c.p99Ms} ms` : '—')],
  ], gateways, { empty: 'No WhatsApp gateway credentials (WA-Web gateway, Sidobe).' });
  mount(slot, cards, h('section', {}, h('h2', {}, 'Rates, last 15 minutes'), chart),
    h('section', {}, h('h2', {}, 'Credential health'), health),
    h('section', { id: 'gateway-health' }, h('h2', {}, 'WhatsApp gateways'), gatewayTable));
}

export function render({ el, association }) {
  const mode = h('p', { id: 'ov-live', class: 'muted', 'data-mode': 'connecting' }, 'Connecting…');
  const slot = h('div', { id: 'overview-body', 'aria-live': 'polite' }, h('p', { class: 'muted' }, 'Loading…'));
  mount(el, mode, slot);
  let stopped = false;
  let source = null;
  let stopPolling = null;
  let retry = null;
  const setMode = (m, text) => { mode.dataset.mode = m; mount(mode, text); };

  const poll = (why) => {
    if (stopped) return;
    setMode('polling', `Updated every ${POLL_MS / 1000} s: ${why || 'the live stream is unavailable'}`);
    if (!stopPolling) {
      stopPolling = every(POLL_MS, async () => {
        try { draw(slot, (await get('/overview', { associationId: association })).data); } catch (e) { mount(slot, errorBox(e)); }
      });
    }
    clearTimeout(retry);
    retry = setTimeout(() => { if (!stopped) openStream(); }, RETRY_STREAM_MS);
  };
  const stopPoll = () => {
    if (stopPolling) stopPolling();
    stopPolling = null;
    clearTimeout(retry);
  };
  const url = `/api/v1/dashboard/overview/stream${qs({ associationId: association })}`;
  // Why a stream was refused, as the API says it (EventSource hides the answer): asked
  // once more with fetch, which is aborted at once should the stream be granted this time.
  const explain = async () => {
    const ctl = new AbortController();
    try {
      const r = await fetch(url, { signal: ctl.signal, credentials: 'same-origin', headers: { accept: 'text/event-stream' } });
      let msg = null;
      if (!r.ok) msg = (await r.json().catch(() => null))?.error || `${r.status} ${r.statusText}`;
      ctl.abort();
      return msg;
    } catch (e) {
      ctl.abort();
      return e instanceof ApiError ? e.message : null;
    }
  };

  function openStream() {
    if (stopped) return;
    if (source) source.close();
    const es = new EventSource(url, { withCredentials: true });
    source = es;
    es.addEventListener('overview', (ev) => {
      stopPoll();
      setMode('stream', 'Live: updated as the engine samples its counters');
      draw(slot, JSON.parse(ev.data));
    });
    es.addEventListener('problem', (ev) => mount(slot, errorBox({ message: JSON.parse(ev.data).error })));
    es.addEventListener('end', (ev) => {
      es.close();
      source = null;
      setMode('ended', `The live stream ended: ${JSON.parse(ev.data).reason}`);
    });
    es.onerror = async () => {
      // Refused (an error answer closes it) or dropped and not back: poll meanwhile. A
      // dropped stream the browser is reconnecting keeps its last figures until then.
      if (es.readyState === EventSource.CLOSED || mode.dataset.mode !== 'stream') {
        es.close();
        if (source === es) source = null;
        poll(mode.dataset.mode === 'stream' ? 'the live stream dropped' : await explain());
      }
    };
  }
  openStream();
  return () => {
    stopped = true;
    if (source) source.close();
    stopPoll();
  };
}
