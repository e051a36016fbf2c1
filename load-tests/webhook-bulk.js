// Bulk campaigns through POST /api/v1/webhook/bulk: each iteration sends one signed
// campaign of RECIPIENTS personalised recipients.
//
// Settings (environment): BASE_URL, ASSOCIATION_ID, SECRET, RECIPIENTS (per request),
// RATE (requests/s), DURATION.
import http from 'k6/http';
import crypto from 'k6/crypto';
import { check } from 'k6';
import { Counter } from 'k6/metrics';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';
const ASSOCIATION_ID = Number(__ENV.ASSOCIATION_ID || 1);
const SECRET = __ENV.SECRET;
const RECIPIENTS = Number(__ENV.RECIPIENTS || 10000);
const accepted = new Counter('recipients_accepted');

export const options = {
  scenarios: {
    bulk: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 2),
      timeUnit: '1s',
      duration: __ENV.DURATION || '30s',
      preAllocatedVUs: Number(__ENV.VUS || 4),
      maxVUs: Number(__ENV.MAX_VUS || 16),
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{expected_response:true}': ['p(95)<5000'],
    checks: ['rate>0.99'],
  },
};

export default function () {
  const base = (__VU * 7919 + __ITER * RECIPIENTS) % 9000000;
  const recipients = [];
  for (let i = 0; i < RECIPIENTS; i++) {
    const n = (base + i) % 9000000;
    recipients.push({ phone: '+9665' + String(10000000 + n).slice(-8).replace(/^0/, '5'), variables: { name: `User${n}` } });
  }
  const body = JSON.stringify({ associationId: ASSOCIATION_ID, message: 'Hello {{name}}, your offer: {{offer}}', data: { offer: 'JOOD' }, campaignName: `k6 ${__VU}-${__ITER}`, recipients: recipients });
  const ts = Date.now().toString();
  const sig = crypto.hmac('sha256', SECRET, ts + '.' + body, 'hex');
  const res = http.post(BASE_URL + '/api/v1/webhook/bulk', body, {
    headers: { 'Content-Type': 'application/json', 'X-Webhook-Timestamp': ts, 'X-Webhook-Signature': sig },
    timeout: '120s',
  });
  const ok = check(res, { 'campaign created (200)': (r) => r.status === 200 });
  if (ok) accepted.add(res.json('data.totalRecipients'));
}
