// The console's REST client. It keeps the CSRF token (memory, plus
// sessionStorage so a reload in the same tab works), sends it on every
// state-changing request, turns error bodies into ApiError and reports any
// 401 so the app can return to the sign-in page.

const CSRF_KEY = 'emma.csrf';
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export class ApiError extends Error {
  constructor(status, code, message, field, retryAfter) {
    super(message || code);
    this.status = status;       // HTTP status; 0 when the server was not reached
    this.code = code;           // error.code from the body, or a local code
    this.detail = message || ''; // error.message from the body (server text, shown as text)
    this.field = field || null;
    this.retryAfter = retryAfter; // seconds, for 429/503
  }
}

function parseRetryAfter(value) {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(1, Math.ceil((at - Date.now()) / 1000));
}

function readStored() {
  try { return sessionStorage.getItem(CSRF_KEY) || ''; } catch { return ''; }
}

export function createApi({ onUnauthorized } = {}) {
  let csrf = readStored();

  function setCsrf(token) {
    csrf = token || '';
    try {
      if (csrf) sessionStorage.setItem(CSRF_KEY, csrf);
      else sessionStorage.removeItem(CSRF_KEY);
    } catch { /* storage disabled: memory only */ }
  }

  /**
   * request('POST', '/tokens', {name}) → parsed JSON (null for 204).
   * opts.signal aborts; opts.expect401 keeps a 401 from signing the console out
   * (used by login and the first /me).
   */
  async function request(method, path, body, opts = {}) {
    const headers = { Accept: 'application/json' };
    // opts.contentType sends body as it is (a CSV file), not as JSON.
    if (body !== undefined) headers['Content-Type'] = opts.contentType || 'application/json';
    if (UNSAFE.has(method) && csrf) headers['X-CSRF-Token'] = csrf;
    let res;
    try {
      res = await fetch('/api/v1' + path, {
        method,
        headers,
        body: body === undefined ? undefined : opts.contentType ? body : JSON.stringify(body),
        credentials: 'same-origin',
        cache: 'no-store',
        signal: opts.signal,
      });
    } catch (e) {
      if (e?.name === 'AbortError') throw e;
      throw new ApiError(0, 'network', '');
    }
    let data = null;
    if (res.status !== 204) {
      const text = await res.text();
      if (text) {
        try { data = JSON.parse(text); } catch { data = null; }
      }
    }
    if (res.ok) return data;
    const e = (data && data.error) || {};
    // A stale CSRF token (e.g. from an older tab's storage): fetch the
    // session's current one from /me and try once more.
    if (res.status === 403 && e.code === 'csrf_failed' && !opts.retried) {
      const me = await request('GET', '/me', undefined, { signal: opts.signal }).catch(() => null);
      if (me?.csrf && me.csrf !== csrf) {
        setCsrf(me.csrf);
        return request(method, path, body, { ...opts, retried: true });
      }
    }
    const err = new ApiError(res.status, e.code || `http_${res.status}`, e.message, e.field,
      parseRetryAfter(res.headers.get('Retry-After')));
    err.body = data; // the whole answer (e.g. "existing_id" beside "error")
    if (res.status === 401 && !opts.expect401 && onUnauthorized) onUnauthorized(err);
    throw err;
  }

  return {
    setCsrf,
    get: (path, opts) => request('GET', path, undefined, opts),
    post: (path, body, opts) => request('POST', path, body ?? {}, opts),
    postRaw: (path, body, contentType, opts) => request('POST', path, body, { ...opts, contentType }),
    put: (path, body, opts) => request('PUT', path, body ?? {}, opts),
    patch: (path, body, opts) => request('PATCH', path, body, opts),
    del: (path, opts) => request('DELETE', path, undefined, opts),
  };
}
