// nodegen.js — generating node images: one node over SSE (POST /api/node/generate, partial
// previews, cancel, errors), batches in parent-before-child order, and reconciling nodes that
// were generating when the page was reloaded (from /api/inflight by clientNodeId, then the
// terminal record or the gallery) so no spinner is left stale and no node is duplicated.
// Must not: build DOM.
import { api, postStream, encodePath, ApiError } from './api.js';
import { on, emit, uid, prefs } from './state.js';
import { graph, parentOf, setData, touch, flush } from './graph.js';
import { trackJob, updateJob, untrackJob, cancelJob, errorOf } from './jobs.js';

const BATCH_PARALLEL = 3;
const streaming = new Map(); // node id -> this tab's open generation of it ({ job })
let sheetEnabled = false;

export const isStreaming = (id) => streaming.has(id);
export function setSheetEnabled(value) {
  sheetEnabled = Boolean(value);
}

function settings() {
  const s = prefs.get('composer', {});
  const size = s.size === 'custom' ? `${s.customW}x${s.customH}` : s.size;
  return { quality: s.quality || 'medium', size: size || '1024x1024', format: s.format || 'png',
    moderation: s.moderation || 'low', model: s.model || undefined, mode: s.mode || 'auto' };
}

function live(id, patch) {
  graph.live.set(id, { ...(graph.live.get(id) || {}), ...patch });
  emit('graph', { reason: 'live', id });
}

/** Where the image to edit comes from: the parent node, or the node's own gallery source. */
export function sourceOf(node) {
  const parent = parentOf(node.id);
  if (parent) {
    if (parent.data.status === 'asset-missing') return { error: 'parentMissing' };
    if (parent.data.serverNodeId) return { parentNodeId: parent.data.serverNodeId };
    const file = parent.data.filename || parent.data.externalSrc;
    if (file) return { externalSrc: file };
    return { error: 'parentEmpty' };
  }
  if (node.data.externalSrc) return { externalSrc: node.data.externalSrc };
  return {};
}

function fail(node, error) {
  setData(node.id, { status: error.code === 'CANCELED' ? 'canceled' : 'error',
    error: { code: error.code || null, message: error.message || '', status: error.status || 0,
      retryAfter: error.retryAfter != null ? error.retryAfter : null } });
  graph.live.delete(node.id);
  touch('generate-error');
}

function succeed(node, payload) {
  const filename = payload.filename;
  setData(node.id, {
    status: 'done', imageUrl: payload.url || '/generated/' + encodePath(filename), filename,
    serverNodeId: payload.nodeId || null, elapsed: Number(payload.elapsed) || null, error: null,
    revisedPrompt: payload.revisedPrompt || null, generatedAt: Date.now(),
    styleApplied: Boolean(payload.styleSheetApplied || payload.effectivePrompt || sheetEnabled),
    model: payload.model || null, size: payload.size || null,
  });
  graph.live.delete(node.id);
  touch('generate-done');
  emit('history:refresh');
}

// A page being left (reload, navigation) cuts its streams; the jobs go on server-side and the
// next page reconciles them, so a cut seen while leaving is not a failure to save.
let leaving = false;
for (const name of ['beforeunload', 'pagehide']) {
  window.addEventListener(name, () => {
    leaving = true;
  });
}
window.addEventListener('pageshow', () => {
  leaving = false;
});

/** Generate one node's image; resolves when it is done, failed or canceled. */
export async function generateNode(id) {
  const node = graph.nodes.get(id);
  if (!node || streaming.has(id)) return;
  const prompt = String(node.data.prompt || '').trim();
  const source = sourceOf(node);
  if (!prompt || source.error) {
    fail(node, new ApiError('', { code: prompt ? 'NODE_' + source.error.toUpperCase() : 'NODE_NO_PROMPT' }));
    return;
  }
  const requestId = uid('node_');
  // Ours from now on: while the save below is on its way the job is not in /api/inflight
  // yet, and the reconciliation must not take the node for an interrupted one.
  const run = { job: null };
  streaming.set(id, run);
  // Released as soon as the outcome is known (not when the stream closes): a Retry clicked
  // right after an error card appears must start a new generation, not be ignored.
  const release = () => {
    if (streaming.get(id) === run) streaming.delete(id);
  };
  setData(id, { status: 'running', requestId, startedAt: Date.now(), error: null });
  live(id, { phase: 'queued', partial: null, startedAt: Date.now() });
  touch('generate-start');
  let job = null;
  let settled = false;
  try {
    await flush(); // the node is on the server before its job starts (reload reconciliation)
    job = trackJob({ requestId, kind: 'node', prompt });
    run.job = job;
    const body = { prompt, ...settings(), ...source, sessionId: graph.sessionId,
      clientNodeId: id, requestId };
    await postStream('/api/node/generate', body, {
      signal: job.controller.signal,
      // Node jobs outlive a page reload: the server keeps them running when we disconnect.
      headers: { 'X-Ima2-On-Disconnect': 'continue' },
      onEvent: ({ event, data }) => {
        if (settled) return;
        if (event === 'phase') {
          updateJob(job, { phase: data.phase });
          live(id, { phase: data.phase });
        } else if (event === 'partial' && data && data.image) {
          job.previews.set(0, data.image);
          updateJob(job, { phase: 'partial' });
          live(id, { phase: 'partial', partial: data.image });
        } else if (event === 'done') {
          settled = true;
          release();
          succeed(graph.nodes.get(id) || node, data || {});
        } else if (event === 'error') {
          settled = true;
          release();
          fail(graph.nodes.get(id) || node, errorOf(data));
        }
      },
    });
    if (!settled) fail(node, new ApiError('The stream ended without a result', { code: 'STREAM_CUT' }));
  } catch (err) {
    if (!settled && !(leaving && !(job && job.canceled))) {
      fail(graph.nodes.get(id) || node, (job && job.canceled) || err.name === 'AbortError'
        ? new ApiError('', { code: 'CANCELED' }) : err);
    }
  } finally {
    release();
    if (job) untrackJob(job);
  }
}

export async function cancelNode(id) {
  const node = graph.nodes.get(id);
  if (!node || !node.data.requestId) return;
  try {
    await cancelJob(node.data.requestId);
  } catch (_) {
    // the server is unreachable: the next /api/inflight poll settles the node
  }
}

/** Generate several nodes: parents before their children, a few at a time. */
export async function generateBatch(ids) {
  const wanted = new Set(ids.filter((id) => graph.nodes.has(id)));
  const done = new Map();
  for (const id of wanted) {
    setData(id, { status: 'queued', error: null });
    live(id, { phase: 'queued' });
  }
  touch('batch-queued');
  const run = (id) => {
    if (!done.has(id)) {
      const parent = parentOf(id);
      const wait = parent && wanted.has(parent.id) ? run(parent.id) : Promise.resolve();
      done.set(id, wait.then(() => slot(() => generateNode(id))));
    }
    return done.get(id);
  };
  let active = 0;
  const queue = [];
  const slot = (fn) => new Promise((resolve) => {
    const start = () => {
      active += 1;
      fn().finally(() => {
        active -= 1;
        if (queue.length) queue.shift()();
        resolve();
      });
    };
    if (active < BATCH_PARALLEL) start();
    else queue.push(start);
  });
  await Promise.all(Array.from(wanted, run));
}

// --- after a reload: nodes that were generating -------------------------------------------
async function settleFinished(node) {
  const { requestId } = node.data;
  try {
    const data = await api.inflight('?includeTerminal=1');
    const rows = (data.terminalJobs || []).filter((j) => j.requestId === requestId
      || (j.meta && j.meta.clientNodeId === node.id));
    const job = rows[0];
    if (job && job.status === 'completed' && job.meta && job.meta.filename) {
      succeed(node, { filename: job.meta.filename, nodeId: job.meta.nodeId,
        elapsed: job.durationMs ? job.durationMs / 1000 : null });
      return;
    }
    if (job) {
      fail(node, new ApiError('', { code: job.status === 'canceled' ? 'CANCELED'
        : job.errorCode || 'INTERRUPTED', status: job.httpStatus || 0 }));
      return;
    }
    const page = await api.history({ limit: 50, sessionId: graph.sessionId });
    const row = (page.items || []).find((r) => r.clientNodeId === node.id
      && (!r.requestId || !requestId || r.requestId === requestId));
    if (row) succeed(node, { filename: row.filename, url: row.url, nodeId: row.nodeId });
    else fail(node, new ApiError('', { code: 'INTERRUPTED' }));
  } catch (_) {
    // try again on the next poll
  }
}

function reconcile(rows) {
  if (!graph.sessionId) return;
  for (const node of graph.nodes.values()) {
    if (!['running', 'queued'].includes(node.data.status) || streaming.has(node.id)) continue;
    const job = rows.find((j) => j.requestId === node.data.requestId
      || (j.meta && j.meta.clientNodeId === node.id));
    if (job) {
      live(node.id, { phase: job.phase, startedAt: job.startedAt, remote: true });
    } else if (node.data.status === 'running' && !node.settling) {
      node.settling = true;
      settleFinished(node).finally(() => {
        node.settling = false;
      });
    } else if (node.data.status === 'queued' && !graph.live.has(node.id)) {
      setData(node.id, { status: node.data.imageUrl ? 'done' : 'empty' });
      touch('queued-reset');
    }
  }
}

on('inflight', reconcile);
