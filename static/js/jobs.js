// jobs.js — running generations. Owns: starting this tab's generate (SSE over fetch, partial
// previews) and edit (JSON) requests — both sent with `X-Ima2-On-Disconnect: continue` so a
// reload does not lose the job — Cancel (DELETE /api/inflight/:id, which aborts the upstream
// call, then the fetch), and polling /api/inflight?includeTerminal=1 so jobs from other tabs,
// node mode, the CLI and before a reload are listed too. Announces 'jobs', 'job:start',
// 'job:done', 'job:error', 'job:canceled', 'inflight', 'inflight:terminal' and
// 'history:refresh' on the bus. While the live stream (live.js) is open, a job.* event triggers
// the poll and the timer only runs a slow safety poll. Must not: build DOM.
import { api, postStream, encodePath, ApiError, toApiError } from './api.js';
import { emit, on, uid } from './state.js';

const local = new Map(); // requestId -> job started by this tab
let remote = []; // ActiveJob rows of /api/inflight not started here
let pollTimer = null;
let polling = false;
let liveOpen = false; // the live stream's state, as announced on the bus ('live:state')
const POLL_MS = 1500;
const LIVE_POLL_EVERY = 10; // with the live stream open: one safety poll every 15 s
const KEEP = { 'X-Ima2-On-Disconnect': 'continue' };

export function runningJobs() {
  const mine = Array.from(local.values());
  const others = remote.filter((j) => !local.has(j.requestId)).map((j) => ({
    requestId: j.requestId, kind: j.meta && j.meta.kind === 'edit' ? 'edit' : j.kind,
    prompt: j.prompt || '', startedAt: j.startedAt, phase: j.phase, local: false,
    previews: new Map(), meta: j.meta || {},
  }));
  return mine.concat(others).sort((a, b) => a.startedAt - b.startedAt);
}

const changed = () => emit('jobs', runningJobs());

/** Register a job this tab runs (node mode uses this too); returns the job. */
export function trackJob(fields) {
  const job = { phase: 'queued', startedAt: Date.now(), previews: new Map(), local: true,
    controller: new AbortController(), canceled: false, ...fields };
  local.set(job.requestId, job);
  changed();
  return job;
}

export function updateJob(job, fields) {
  Object.assign(job, fields);
  changed();
}

export function untrackJob(job) {
  local.delete(job.requestId);
  changed();
}

function resultEntries(job, payload) {
  const list = Array.isArray(payload.images) ? payload.images : [payload];
  const elapsed = Number(payload.elapsed);
  return list.filter((img) => img && img.filename).map((img) => ({
    filename: img.filename,
    url: img.url || '/generated/' + encodePath(img.filename),
    prompt: job.request.prompt,
    revisedPrompt: img.revisedPrompt || payload.revisedPrompt || null,
    model: payload.model || job.request.model,
    renderPath: payload.renderPath || null,
    renderModel: payload.renderModel || null,
    requestedSize: payload.size || job.request.size,
    quality: payload.quality || job.request.quality,
    format: img.filename.split('.').pop(),
    elapsed: Number.isFinite(elapsed) ? elapsed * 1000 : Date.now() - job.startedAt,
    requestId: payload.requestId || job.requestId,
    warnings: payload.warnings || [],
    usage: payload.usage || null,
    kind: job.kind,
    provider: payload.provider || null,
  }));
}

function finish(job, payload) {
  untrackJob(job);
  emit('job:done', { requestId: job.requestId, entries: resultEntries(job, payload),
    usage: payload.usage || null, revisedPrompt: payload.revisedPrompt || null });
  emit('history:refresh');
}

// A reload or a closed tab cuts this tab's streams, but the jobs go on server-side (KEEP): a
// stream that breaks while the page is leaving is not a failure to record (the next page
// picks the job up from /api/inflight).
let leaving = false;
if (typeof window !== 'undefined') {
  window.addEventListener('beforeunload', () => { leaving = true; });
  window.addEventListener('pagehide', () => { leaving = true; });
  window.addEventListener('pageshow', () => { leaving = false; });
}

function fail(job, error) {
  if (leaving && !job.canceled) return;
  untrackJob(job);
  if (job.canceled || error.code === 'CANCELED' || error.name === 'AbortError') {
    emit('job:canceled', job);
    return;
  }
  emit('job:error', { error, kind: job.kind, request: job.request, requestId: job.requestId });
}

/** POST /api/generate as SSE: phase → partial* → done | error. */
export async function startGenerate(request) {
  const requestId = uid('ui_');
  const job = trackJob({ requestId, kind: 'generate', prompt: request.prompt, request });
  emit('job:start', job);
  const body = { prompt: request.prompt, quality: request.quality, size: request.size,
    format: request.format, moderation: request.moderation, model: request.model,
    n: request.count, mode: request.mode, references: request.references || [], requestId };
  let settled = false;
  try {
    await postStream('/api/generate', body, {
      signal: job.controller.signal,
      headers: KEEP,
      onEvent: ({ event, data }) => {
        if (settled) return;
        if (event === 'phase') updateJob(job, { phase: data.phase || job.phase });
        else if (event === 'partial' && data && data.image) {
          const key = data.imageIndex != null ? data.imageIndex : (data.slot != null ? data.slot : 0);
          job.previews.set(key, data.image);
          updateJob(job, { phase: 'partial' });
        } else if (event === 'done') {
          settled = true;
          finish(job, data || {});
        } else if (event === 'error') {
          settled = true;
          fail(job, errorOf(data));
        }
      },
    });
    if (!settled) fail(job, new ApiError('The stream ended without a result', { code: 'STREAM_CUT' }));
  } catch (err) {
    if (!settled) fail(job, err);
  }
  poll();
}

/** POST /api/edit (JSON); progress comes from /api/inflight polling. */
export async function startEdit(request) {
  const requestId = uid('ui_');
  const job = trackJob({ requestId, kind: 'edit', prompt: request.prompt, request });
  emit('job:start', job);
  const image = request.image.slice(request.image.indexOf(',') + 1);
  poll();
  try {
    const payload = await api.edit({ prompt: request.prompt, image, quality: request.quality,
      size: request.size, moderation: request.moderation, model: request.model,
      mode: request.mode, requestId }, job.controller.signal, KEEP);
    finish(job, payload || {});
  } catch (err) {
    fail(job, err);
  }
}

/** An SSE `error` event's data (either error family) → ApiError. */
export function errorOf(data) {
  const body = data && typeof data === 'object' ? data : { error: String(data || '') };
  return toApiError(body, 0);
}

/** Cancel any job: the server aborts the upstream call; our own fetch is aborted after. */
export async function cancelJob(requestId) {
  const job = local.get(requestId);
  if (job) job.canceled = true;
  try {
    await api.cancel(requestId);
  } catch (err) {
    // 404 JOB_NOT_FOUND / 409 JOB_FINISHED: the job is not running (any more).
    if (err.status !== 404 && err.status !== 409) throw err;
  } finally {
    if (job) setTimeout(() => job.controller.abort(), 1500);
    remote = remote.filter((j) => j.requestId !== requestId);
    changed();
    poll();
  }
}

/** One /api/inflight poll; emits 'inflight' with the raw rows. */
export async function poll() {
  if (polling) return;
  polling = true;
  try {
    const data = await api.inflight('?includeTerminal=1');
    const rows = Array.isArray(data && data.jobs) ? data.jobs : [];
    for (const row of rows) {
      // JSON requests (edit) have no stream: their phase comes from the registry.
      const mine = local.get(row.requestId);
      if (mine && mine.kind === 'edit' && row.phase) mine.phase = row.phase;
    }
    const before = new Set(remote.map((j) => j.requestId));
    remote = rows;
    const now = new Set(rows.map((j) => j.requestId));
    if (Array.from(before).some((id) => !now.has(id) && !local.has(id))) emit('history:refresh');
    emit('inflight', rows);
    emit('inflight:terminal', Array.isArray(data && data.terminalJobs) ? data.terminalJobs : []);
    changed();
  } catch (_) {
    // the status view reports an unreachable server; keep the last list
  } finally {
    polling = false;
  }
}

export function startPolling() {
  if (pollTimer) return;
  let ticks = 0;
  const tick = () => {
    ticks += 1;
    if (document.visibilityState === 'hidden') return;
    if (!liveOpen || local.size || remote.length || ticks % LIVE_POLL_EVERY === 0) poll();
  };
  pollTimer = setInterval(tick, POLL_MS);
  tick();
  // Jobs started elsewhere (CLI, other tabs, the queue) show up as soon as they are announced.
  on('live:job', () => poll());
  on('live:state', (open) => {
    liveOpen = open;
    if (open) poll(); // catch up with what happened while disconnected
  });
}
