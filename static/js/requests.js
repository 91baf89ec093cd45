// requests.js — the studio's recent requests, one record per generate/edit request: its
// prompt and settings, state (running / done / error / canceled / interrupted), results and
// error. Records are kept in localStorage so a reload brings them back, and requests still
// running (or finished meanwhile) are resolved from /api/inflight?includeTerminal=1.
// Announces 'requests' ({record} changed, or null for the list). Must not: build DOM.
import { on, emit, prefs } from './state.js';
import { encodePath } from './api.js';

const KEY = 'requests';
const MAX = 30;
export const records = []; // newest first
let firstPoll = true;

function persist() {
  prefs.set(KEY, records.filter((r) => !r.elsewhere).slice(0, MAX).map((r) => {
    const { previews, ...rest } = r;
    const request = { ...r.request };
    delete request.references;
    delete request.image;
    return { ...rest, request, fresh: false };
  }));
}

export function find(id) {
  return records.find((r) => r.id === id) || null;
}

function changed(record) {
  persist();
  emit('requests', record);
}

export function upsert(fields) {
  let rec = find(fields.id);
  if (!rec) {
    rec = { state: 'running', startedAt: Date.now(), entries: [], previews: new Map(), ...fields };
    records.unshift(rec);
    while (records.length > MAX) records.pop();
    persist();
    emit('requests', null);
    return rec;
  }
  Object.assign(rec, fields);
  changed(rec);
  return rec;
}

export function dismiss(id) {
  const at = records.findIndex((r) => r.id === id);
  if (at >= 0) records.splice(at, 1);
  persist();
  emit('requests', null);
}

/** A terminal /api/inflight snapshot → the record's final state. */
function settle(rec, snap) {
  const meta = snap.meta || {};
  const elapsed = snap.durationMs != null ? snap.durationMs : Date.now() - rec.startedAt;
  if (snap.status === 'completed') {
    const names = meta.filenames || (meta.filename ? [meta.filename] : []);
    const entries = names.map((filename) => ({ filename, url: '/generated/' + encodePath(filename),
      prompt: rec.prompt, requestedSize: rec.request && rec.request.size,
      model: rec.request && rec.request.model, elapsed, warnings: [] }));
    upsert({ id: rec.id, state: 'done', entries, elapsed });
  } else if (snap.status === 'canceled') {
    upsert({ id: rec.id, state: 'canceled', elapsed });
  } else {
    upsert({ id: rec.id, state: 'error', elapsed, error: { code: snap.errorCode || 'INTERRUPTED',
      status: snap.httpStatus || 0, message: snap.errorCode || 'INTERRUPTED', requestId: rec.id } });
  }
}

export function loadSaved() {
  const saved = prefs.get(KEY, []);
  for (const r of Array.isArray(saved) ? saved : []) {
    if (!r || typeof r.id !== 'string') continue;
    records.push({ ...r, previews: new Map(), local: false, restored: true });
  }
}

/** Jobs running somewhere (this tab, other tabs, the CLI, before the reload). */
export function syncRunning(jobs, isLocal) {
  for (const job of jobs) {
    if (job.kind === 'node' || (job.meta && job.meta.kind === 'node')) continue;
    const rec = find(job.requestId);
    if (rec) {
      if (rec.state !== 'running') continue;
      rec.phase = job.phase;
      if (job.previews && job.previews.size) rec.previews = job.previews;
    } else if (!isLocal(job.requestId)) {
      upsert({ id: job.requestId, kind: job.kind, prompt: job.prompt, elsewhere: true,
        startedAt: job.startedAt, phase: job.phase, request: { size: job.meta && job.meta.size,
          model: job.meta && job.meta.model, quality: job.meta && job.meta.quality } });
    }
  }
}

let active = [];
on('inflight', (rows) => {
  active = rows;
});

on('inflight:terminal', (terminal) => {
  const running = new Set(active.map((j) => j.requestId));
  for (const rec of records.slice()) {
    if (rec.state !== 'running' || rec.local || running.has(rec.id)) continue;
    const snap = terminal.find((s) => s.requestId === rec.id);
    if (rec.elsewhere) {
      if (snap && snap.status === 'completed') settle(rec, snap);
      else dismiss(rec.id);
    } else if (snap) {
      settle(rec, snap);
    } else if (!firstPoll || rec.restored) {
      upsert({ id: rec.id, state: 'interrupted' });
    }
  }
  firstPoll = false;
});
