// Single signed sends through POST /api/v1/webhook/notification. Each request carries a
// unique body, so each is uniquely signed (HMAC-SHA256 of `timestamp.body` with k6/crypto)
// and passes replay protection like real traffic.
//
// Settings (environment): BASE_URL, ASSOCIATION_ID, SECRET, RATE (requests/s), DURATION
// (e.g. 30s), VUS (pre-allocated virtual users).
import http from 'k6/http';
import crypto from 'k6/crypto';
import { check } from 'k6';

const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:8080';
const ASSOCIATION_ID = Number(__ENV.ASSOCIATION_ID || 1);
const SECRET = __ENV.SECRET;
const RATE = Number(__ENV.RATE || 1000);

export const options = {
  scenarios: {
    single: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: __ENV.DURATION || '30s',
      preAllocatedVUs: Number(__ENV.VUS || 64),
      maxVUs: Number(__ENV.MAX_VUS || 256),
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{expected_response:true}': ['p(99)<100'],
    checks: ['rate>0.99'],
  },
};

export function signedPost(path, body) {
  const ts = Date.now().toString();
  const sig = crypto.hmac('sha256', SECRET, ts + '.' + body, 'hex');
  return http.post(BASE_URL + path, body, {
    headers: { 'Content-Type': 'application/json', 'X-Webhook-Timestamp': ts, 'X-Webhook-Signature': sig },
  });
}

export default function () {
  const n = (__VU * 1000003 + __ITER) % 1000000;
  const recipient = '+96650' + String(n).padStart(6, '0') + String(1 + (n % 9));
  const body = JSON.stringify({ associationId: ASSOCIATION_ID, recipient: recipient, message: `Your code is ${__VU}-${__ITER}` });
  const res = signedPost('/api/v1/webhook/notification', body);
  check(res, { 'queued (200)': (r) => r.status === 200 });
}
