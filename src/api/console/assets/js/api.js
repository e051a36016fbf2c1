// The dashboard API client: JSON in and out, the session cookie (sent by the browser,
// HttpOnly), the CSRF token on every change, and every failure turned into an ApiError
// carrying the API's own message (never a blank).

const BASE = '/api/v1/dashboard';
let csrf = null;
let onSessionLost = () => {};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function setCsrf(token) { csrf = token; }
export function whenSessionLost(fn) { onSessionLost = fn; }

/** Query string from an object, leaving out empty values. */
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** Calls the dashboard API; resolves to the envelope ({success, data, message}). */
export async function api(method, path, body) {
  const opts = { method, headers: { accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    opts.headers['content-type'] = 'application/json';
    opts.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  if (method !== 'GET' && csrf) opts.headers['x-csrf-token'] = csrf;
  let resp;
  try {
    resp = await fetch(BASE + path, opts);
  } catch (e) {
    throw new ApiError(0, `The engine did not answer (${e.message})`);
  }
  const text = await resp.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON: shown as text below */ }
  if (!resp.ok || !json || json.success === false) {
    const msg = (json && (json.error || json.message))
      || `${resp.status} ${resp.statusText}${text ? `: ${text.slice(0, 300)}` : ''}`;
    // A session that ended (expired, revoked, logged out elsewhere) brings back the log-in.
    if (resp.status === 401 && path !== '/auth/login' && path !== '/auth/me') onSessionLost(msg);
    throw new ApiError(resp.status, msg);
  }
  return json;
}

export const get = (path, params) => api('GET', path + qs(params));
export const post = (path, body) => api('POST', path, body ?? {});
export const put = (path, body) => api('PUT', path, body ?? {});
export const del = (path) => api('DELETE', path);
