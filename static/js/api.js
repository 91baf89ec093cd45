// api.js — the only place that talks HTTP. Owns: one fetch wrapper that turns both error
// families (flat {"error": "msg", "code"} and nested {"error": {"code", "message"}}) into a
// thrown ApiError with code/message/status, and POST-then-stream over fetch (the SSE reader
// is sse.js, imported with the first stream: it is not part of the first load). Must not:
// touch the DOM or hold UI state.

/** @typedef {import('./types.js').RequestOptions} RequestOptions */
/** @typedef {import('./types.js').ApiErrorDetails} ApiErrorDetails */
/** @typedef {import('./types.js').StreamEvent} StreamEvent */

/** An error answered by the server (or the network), with its machine code. */
export class ApiError extends Error {
  /**
   * @param {string|null|undefined} message
   * @param {ApiErrorDetails} [details]
   */
  constructor(message, { code = null, status = 0, body = null, retryAfter = null } = {}) {
    super(message || 'Request failed');
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.body = body;
    this.retryAfter = retryAfter;
    /** @type {string|null} */
    this.requestId = body && typeof body.requestId === 'string' ? body.requestId : null;
  }
}

/**
 * Seconds to wait, from a Retry-After header or the retry fields an error body may carry.
 * @param {any} body the parsed error body (or null)
 * @param {string|null} header the Retry-After header (seconds or an HTTP date)
 * @returns {number|null}
 */
function retryAfterOf(body, header) {
  const fields = body ? [body.retryAfter, body.retryAfterSec, body.retry_after] : [];
  for (const value of fields) {
    const n = Number(value);
    if (value != null && Number.isFinite(n) && n >= 0) return n;
  }
  if (body && Number.isFinite(Number(body.retryAfterMs))) return Number(body.retryAfterMs) / 1000;
  if (header) {
    const n = Number(header);
    if (Number.isFinite(n)) return n;
    const when = Date.parse(header);
    if (!Number.isNaN(when)) return Math.max(0, Math.round((when - Date.now()) / 1000));
  }
  return null;
}

/**
 * Any error body (family A, family B, or something else) → ApiError.
 * @param {any} body the parsed body (or null)
 * @param {number} status the HTTP status; 0 lets the body's own `status` field decide
 * @param {string|null} [retryHeader] the Retry-After header
 * @returns {ApiError}
 */
export function toApiError(body, status, retryHeader = null) {
  let code = null;
  let message = null;
  if (body && typeof body === 'object') {
    if (typeof body.error === 'string') {
      message = body.error;
      code = typeof body.code === 'string' ? body.code : null;
    } else if (body.error && typeof body.error === 'object') {
      message = typeof body.error.message === 'string' ? body.error.message : null;
      code = typeof body.error.code === 'string' ? body.error.code : null;
    }
    if (!code && typeof body.code === 'string') code = body.code;
    if (!status && Number.isFinite(Number(body.status))) status = Number(body.status);
  }
  if (!message) message = status ? `HTTP ${status}` : 'Request failed';
  return new ApiError(message, { code, status, body, retryAfter: retryAfterOf(body, retryHeader) });
}

/** @param {Response} res a non-2xx answer @returns {Promise<ApiError>} */
async function errorFromResponse(res) {
  let body = null;
  try {
    const text = await res.text();
    body = text ? JSON.parse(text) : null;
  } catch (_) {
    body = null;
  }
  return toApiError(body, res.status, res.headers.get('Retry-After'));
}

/**
 * The one fetch: throws ApiError for a non-2xx answer or no answer (an abort is rethrown).
 * @param {string} method
 * @param {string} path
 * @param {RequestOptions} [options]
 * @returns {Promise<Response>}
 */
async function send(method, path, { json, body, headers = {}, signal, accept } = {}) {
  const opts = { method, headers: { Accept: accept || 'application/json', ...headers }, signal };
  if (json !== undefined) {
    opts.body = JSON.stringify(json);
    opts.headers['Content-Type'] = 'application/json';
  } else if (body !== undefined) {
    opts.body = body;
  }
  let res;
  try {
    res = await fetch(path, opts);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError('The ima2 server did not answer', { code: 'SERVER_UNREACHABLE' });
  }
  if (!res.ok) throw await errorFromResponse(res);
  return res;
}

/**
 * JSON request → parsed body (null for 204). Throws ApiError for any non-2xx answer.
 * @param {string} method
 * @param {string} path
 * @param {RequestOptions} [options]
 * @returns {Promise<any>} the JSON body, the text of a non-JSON answer, or null
 */
export async function request(method, path, options = {}) {
  const res = await send(method, path, options);
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') || '';
  if (type.includes('json')) return res.json();
  return res.text();
}

/** @type {(path: string, options?: RequestOptions) => Promise<any>} */
export const get = (path, options) => request('GET', path, options);
/** @type {(path: string, json: any, options?: RequestOptions) => Promise<any>} */
export const post = (path, json, options = {}) => request('POST', path, { ...options, json });
/** @type {(path: string, options?: RequestOptions) => Promise<any>} */
export const del = (path, options) => request('DELETE', path, options);


/**
 * POST JSON asking for SSE. Early errors (before the stream starts) throw ApiError; a JSON
 * answer (a server without the stream mode) is delivered as one `done` event.
 * @param {string} path
 * @param {any} json the request body
 * @param {{onEvent?: (event: StreamEvent) => void, signal?: AbortSignal,
 *   headers?: Record<string, string>}} [options] `onEvent` receives every event
 * @returns {Promise<void>}
 */
export async function postStream(path, json, { onEvent, signal, headers = {} } = {}) {
  const reader = import('./sse.js'); // fetched while the request is sent
  reader.catch(() => {}); // a failure surfaces below, if the stream needs it
  const res = await send('POST', path, { json, signal, headers, accept: 'text/event-stream' });
  const type = res.headers.get('Content-Type') || '';
  if (!type.includes('text/event-stream')) {
    onEvent({ event: 'done', data: await res.json() });
    return;
  }
  await (await reader).readEventStream(res, onEvent);
}

// --- the routes the studio uses (docs/API.md §6) ---------------------------------------------
const enc = encodeURIComponent;
/** @type {(name: string) => string} each path segment URL-encoded, the slashes kept */
export const encodePath = (name) => String(name).split('/').map(enc).join('/');

/** The studio's routes, one function each; every one returns the parsed answer or throws
 * ApiError (see the README's API table for the bodies). */
export const api = {
  health: () => get('/api/health'),
  oauthStatus: () => get('/api/oauth/status'),
  storageStatus: () => get('/api/storage/status'),
  openGeneratedDir: () => post('/api/storage/open-generated-dir', {}),
  inflight: (query = '') => get('/api/inflight' + query),
  jobs: (limit = 200) => get('/api/jobs?limit=' + limit),
  pauseQueue: () => post('/api/queue/pause', {}),
  resumeQueue: () => post('/api/queue/resume', {}),
  retryJob: (id) => post('/api/jobs/' + enc(id) + '/retry', {}),
  cancelQueued: (id) => del('/api/jobs/' + enc(id)),
  cancel: (requestId) => del('/api/inflight/' + enc(requestId)),
  edit: (body, signal, headers) => post('/api/edit', body, { signal, headers }),
  history: (params) => get('/api/history?' + new URLSearchParams(params).toString()),
  deleteAsset: (filename) => del('/api/history/' + enc(filename)),
  restoreAsset: (filename, trashId) =>
    post('/api/history/' + enc(filename) + '/restore', { trashId }),
  readMetadata: (blob) => request('POST', '/api/metadata/read', {
    body: blob, headers: { 'Content-Type': blob.type || 'application/octet-stream' } }),
  sessions: () => get('/api/sessions'),
  session: (id) => get('/api/sessions/' + enc(id)),
  createSession: (title) => post('/api/sessions', { title }),
  renameSession: (id, title) => request('PATCH', '/api/sessions/' + enc(id), { json: { title } }),
  deleteSession: (id) => del('/api/sessions/' + enc(id)),
  saveGraph: (id, graph, version, headers) => request('PUT', '/api/sessions/' + enc(id) + '/graph',
    { json: graph, headers: { 'If-Match': String(version), ...headers } }),
  styleSheet: (id) => get('/api/sessions/' + enc(id) + '/style-sheet'),
  saveStyleSheet: (id, styleSheet, enabled) => request('PUT',
    '/api/sessions/' + enc(id) + '/style-sheet', { json: { styleSheet, enabled } }),
  setStyleSheetEnabled: (id, enabled) => request('PATCH',
    '/api/sessions/' + enc(id) + '/style-sheet/enabled', { json: { enabled } }),
  extractStyleSheet: (id, prompt) =>
    post('/api/sessions/' + enc(id) + '/style-sheet/extract', { prompt }),
  // the prompt library (saved prompts with settings); share links
  prompts: (q = '') => get('/api/prompts' + (q ? '?q=' + enc(q) : '')),
  savePrompt: (body) => post('/api/prompts', body),
  updatePrompt: (id, body) => request('PUT', '/api/prompts/' + enc(id), { json: body }),
  deletePrompt: (id) => del('/api/prompts/' + enc(id)),
  promptVersions: (id) => get('/api/prompts/' + enc(id) + '/versions'),
  restorePromptVersion: (id, n) => post('/api/prompts/' + enc(id) + '/versions/' + enc(n) + '/restore', {}),
  createShare: (body) => post('/api/shares', body),
  revokeShare: (id) => del('/api/shares/' + enc(id)),
  // favourites, tags and bulk actions of gallery images (library.js)
  patchImage: (filename, change) => request('PATCH', '/api/history/' + enc(filename), { json: change }),
  bulk: (body) => post('/api/history/bulk', body),
};
