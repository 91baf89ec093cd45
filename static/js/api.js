// api.js — the only place that talks HTTP. Owns: one fetch wrapper that turns both error
// families (flat {"error": "msg", "code"} and nested {"error": {"code", "message"}}) into a
// thrown ApiError with code/message/status, and a spec-exact SSE reader over fetch (so we can
// POST JSON; EventSource cannot). Must not: touch the DOM or hold UI state.

/** An error answered by the server (or the network), with its machine code. */
export class ApiError extends Error {
  constructor(message, { code = null, status = 0, body = null, retryAfter = null } = {}) {
    super(message || 'Request failed');
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.body = body;
    this.retryAfter = retryAfter;
    this.requestId = body && typeof body.requestId === 'string' ? body.requestId : null;
  }
}

/** Seconds to wait, from a Retry-After header or the retry fields an error body may carry. */
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

/** Any error body (family A, family B, or something else) → ApiError. */
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

/** JSON request → parsed body (null for 204). Throws ApiError for any non-2xx answer. */
export async function request(method, path, options = {}) {
  const res = await send(method, path, options);
  if (res.status === 204) return null;
  const type = res.headers.get('Content-Type') || '';
  if (type.includes('json')) return res.json();
  return res.text();
}

export const get = (path, options) => request('GET', path, options);
export const post = (path, json, options = {}) => request('POST', path, { ...options, json });
export const del = (path, options) => request('DELETE', path, options);

/**
 * WHATWG event-stream parser: LF, CR and CRLF line ends (also split across chunks), comments,
 * one leading space stripped, multi-line data joined with "\n", a trailing event without its
 * blank line is discarded at the end of the stream. Long lines are kept as pieces and joined
 * once, so a multi-megabyte base64 line costs linear time.
 */
export class SSEParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.pieces = [];
    this.afterCR = false;
    this.started = false;
    this.lastEventId = '';
    this.retry = null;
    this.resetEvent();
  }

  resetEvent() {
    this.eventType = '';
    this.data = [];
  }

  feed(text) {
    if (!text) return;
    let start = 0;
    if (!this.started) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) start = 1;
    }
    if (this.afterCR) {
      this.afterCR = false;
      if (text.charCodeAt(start) === 10) start += 1;
    }
    const ends = /[\r\n]/g;
    ends.lastIndex = start;
    let match;
    while ((match = ends.exec(text)) !== null) {
      const at = match.index;
      const tail = text.slice(start, at);
      const line = this.pieces.length ? this.pieces.join('') + tail : tail;
      this.pieces = [];
      start = at + 1;
      if (text.charCodeAt(at) === 13) {
        if (start < text.length) {
          if (text.charCodeAt(start) === 10) start += 1;
        } else {
          this.afterCR = true;
        }
      }
      ends.lastIndex = start;
      this.line(line);
    }
    if (start < text.length) this.pieces.push(text.slice(start));
  }

  line(line) {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ':' comment / keepalive
    const colon = line.indexOf(':');
    let field = line;
    let value = '';
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.charCodeAt(0) === 32) value = value.slice(1);
    }
    if (field === 'event') this.eventType = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id') {
      if (!value.includes('\0')) this.lastEventId = value;
    } else if (field === 'retry') {
      if (/^\d+$/.test(value)) this.retry = Number(value);
    }
  }

  dispatch() {
    if (!this.data.length) {
      this.resetEvent();
      return;
    }
    const event = { event: this.eventType || 'message', data: this.data.join('\n'),
      id: this.lastEventId };
    this.resetEvent();
    this.onEvent(event);
  }

  /** End of stream: an event without its blank line is dropped (HTML spec). */
  end() {
    this.pieces = [];
    this.resetEvent();
  }
}

/** Read a fetch Response body as SSE; `onEvent({event, data})` gets JSON-decoded data. */
export async function readEventStream(res, onEvent) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder('utf-8');
  const parser = new SSEParser((ev) => {
    let data = ev.data;
    try {
      data = JSON.parse(ev.data);
    } catch (_) {
      // not JSON: hand over the text
    }
    onEvent({ event: ev.event, data });
  });
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.feed(decoder.decode(value, { stream: true }));
  }
  parser.feed(decoder.decode());
  parser.end();
}

/**
 * POST JSON asking for SSE. Early errors (before the stream starts) throw ApiError; a JSON
 * answer (a server without the stream mode) is delivered as one `done` event.
 */
export async function postStream(path, json, { onEvent, signal, headers = {} } = {}) {
  const res = await send('POST', path, { json, signal, headers, accept: 'text/event-stream' });
  const type = res.headers.get('Content-Type') || '';
  if (!type.includes('text/event-stream')) {
    onEvent({ event: 'done', data: await res.json() });
    return;
  }
  await readEventStream(res, onEvent);
}

// --- the routes the studio uses (docs/API.md §6) ---------------------------------------------
const enc = encodeURIComponent;
export const encodePath = (name) => String(name).split('/').map(enc).join('/');

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
};
