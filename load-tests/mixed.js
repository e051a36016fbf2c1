// Single OTP sends while bulk campaigns run: the OTP's dispatch latency (accepted -> sent
// to the provider, from GET /api/v1/notifications/:id) is the figure of interest.
//
// Settings (environment): BASE_URL, ASSOCIATION_ID, SECRET, API_KEY (for the status reads),
// OTP_RATE, BULK_RATE, RECIPIENTS, DURATION.
import http from 'k6/http';
import crypto from 'k6/crypto';
import { check, sleep } from 'k6';
import { Trend } from 'k6/metrics';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';
const ASSOCIATION_ID = Number(__ENV.ASSOCIATION_ID || 1);
const SECRET = __ENV.SECRET;
const API_KEY = __ENV.API_KEY;
const RECIPIENTS = Number(__ENV.RECIPIENTS || 20000);
const otpDispatch = new Trend('otp_dispatch_ms', true);

export const options = {
  scenarios: {
    campaigns: { executor: 'constant-arrival-rate', exec: 'bulk', rate: Number(__ENV.BULK_RATE || 1), timeUnit: '5s', duration: __ENV.DURATION || '30s', preAllocatedVUs: 2, maxVUs: 8 },
    otp: { executor: 'constant-arrival-rate', exec: 'otp', rate: Number(__ENV.OTP_RATE || 5), timeUnit: '1s', duration: __ENV.DURATION || '30s', preAllocatedVUs: 8, maxVUs: 32 },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    otp_dispatch_ms: ['p(99)<1000'],
    checks: ['rate>0.99'],
  },
};

function signed(path, body) {
  const ts = Date.now().toString();
  const sig = crypto.hmac('sha256', SECRET, ts + '.' + body, 'hex');
  return http.post(BASE_URL + path, body, { headers: { 'Content-Type': 'application/json', 'X-Webhook-Timestamp': ts, 'X-Webhook-Signature': sig }, timeout: '120s' });
}

export function bulk() {
  const recipients = [];
  const base = (__VU * 104729 + __ITER * RECIPIENTS) % 8000000;
  for (let i = 0; i < RECIPIENTS; i++) recipients.push('+9665' + String(10000000 + ((base + i) % 8000000)).slice(-8).replace(/^0/, '5'));
  const res = signed('/api/v1/webhook/bulk', JSON.stringify({ associationId: ASSOCIATION_ID, message: 'Campaign message', recipients: recipients }));
  check(res, { 'campaign created': (r) => r.status === 200 });
}

export function otp() {
  const n = (__VU * 7907 + __ITER) % 1000000;
  const res = signed('/api/v1/webhook/notification', JSON.stringify({ associationId: ASSOCIATION_ID, recipient: '+96655' + String(n).padStart(7, '0'), message: `OTP ${n}` }));
  if (!check(res, { 'otp queued': (r) => r.status === 200 })) return;
  const id = res.json('data.queueId');
  for (let i = 0; i < 100; i++) {
    const s = http.get(`${BASE_URL}/api/v1/notifications/${id}`, { headers: { 'x-api-key': API_KEY, 'x-api-secret': SECRET }, tags: { name: 'notification-status' } });
    const st = s.json('data.status');
    if (st === 'sent' || st === 'failed') {
      const created = Date.parse(s.json('data.createdAt'));
      const attempts = s.json('data.attempts');
      if (attempts && attempts.length) otpDispatch.add(Date.parse(attempts[0].at) - created);
      return;
    }
    sleep(0.02);
  }
}
