// graph.js — the node graph of the current session and keeping it saved. Owns: nodes and
// edges, debounced autosave (PUT …/graph with If-Match and the save-id / reason / tab-id
// headers, one request per burst of changes), and GRAPH_VERSION_CONFLICT handling: reload the
// newest graph and merge it three-way with our unsaved changes so neither side is silently
// overwritten. Transient state (partial previews, phases) lives in `live`, never saved.
// Announces 'graph' and 'graph:notice'. Must not: build DOM or run generations.
import { api } from './api.js';
import { emit, uid, tabId } from './state.js';

const DEBOUNCE_MS = 700;
const RETRY_MS = 4000;

export const graph = {
  sessionId: null,
  version: 0,
  nodes: new Map(), // id -> {id, x, y, data}
  edges: new Map(), // id -> {id, source, target, data}
  live: new Map(), // node id -> {phase, partial, startedAt} (not saved)
};

let base = { nodes: new Map(), edges: new Map() }; // JSON of each item at the last sync
let changeSeq = 0;
let savedSeq = 0;
let timer = null;
let saving = null;
const reasons = new Set();

const nodeJson = (n) => JSON.stringify({ x: n.x, y: n.y, data: n.data });
const edgeJson = (e) => JSON.stringify({ source: e.source, target: e.target, data: e.data || {} });

function snapshot(nodes, edges) {
  return {
    nodes: new Map(Array.from(nodes.values(), (n) => [n.id, nodeJson(n)])),
    edges: new Map(Array.from(edges.values(), (e) => [e.id, edgeJson(e)])),
  };
}

function adopt(session) {
  graph.nodes = new Map();
  graph.edges = new Map();
  for (const n of session.nodes || []) {
    graph.nodes.set(n.id, { id: n.id, x: Number(n.x) || 0, y: Number(n.y) || 0,
      data: n.data && typeof n.data === 'object' ? n.data : {} });
  }
  for (const e of session.edges || []) {
    graph.edges.set(e.id, { id: e.id, source: e.source, target: e.target, data: e.data || {} });
  }
  graph.version = Number(session.graphVersion) || 0;
  base = snapshot(graph.nodes, graph.edges);
}

export const isDirty = () => changeSeq !== savedSeq;

function schedule(ms) {
  clearTimeout(timer);
  timer = setTimeout(() => {
    timer = null;
    save();
  }, ms);
}

function unschedule() {
  clearTimeout(timer);
  timer = null;
}

/** Load a session's graph (drops unsaved changes of the previous one after flushing them). */
export async function loadSession(sessionId) {
  if (graph.sessionId && graph.sessionId !== sessionId) await flush();
  const data = await api.session(sessionId);
  graph.sessionId = sessionId;
  graph.live = new Map();
  adopt(data.session);
  changeSeq = savedSeq = 0;
  emit('graph', { reason: 'load' });
}

/** Record a change; the save follows DEBOUNCE_MS after the last change of a burst. */
export function touch(reason, { render = true } = {}) {
  changeSeq += 1;
  reasons.add(reason);
  schedule(DEBOUNCE_MS);
  if (render) emit('graph', { reason });
}

/** Save now if anything is unsaved; resolves when the graph on the server is current. */
export async function flush() {
  unschedule();
  for (let i = 0; i < 3 && (isDirty() || saving); i += 1) {
    if (saving) await saving.catch(() => {});
    else await save();
  }
}

function serialize() {
  return {
    nodes: Array.from(graph.nodes.values(), (n) => ({ id: n.id, x: Math.round(n.x),
      y: Math.round(n.y), data: n.data })),
    edges: Array.from(graph.edges.values(), (e) => ({ id: e.id, source: e.source,
      target: e.target, data: e.data || {} })),
  };
}

async function save() {
  if (saving || !graph.sessionId || !isDirty()) return saving;
  unschedule();
  const seq = changeSeq;
  const sessionId = graph.sessionId;
  const body = serialize();
  const sent = snapshot(graph.nodes, graph.edges);
  const reason = Array.from(reasons).join(',').slice(0, 100) || 'change';
  reasons.clear();
  saving = (async () => {
    try {
      const res = await api.saveGraph(sessionId, body, graph.version, {
        'X-Ima2-Graph-Save-Id': uid('save_'), 'X-Ima2-Graph-Save-Reason': reason,
        'X-Ima2-Tab-Id': tabId() });
      if (sessionId !== graph.sessionId) return;
      graph.version = Number(res.graphVersion);
      base = sent;
      savedSeq = seq;
      emit('graph:saved', { version: graph.version });
    } catch (err) {
      if (sessionId !== graph.sessionId) return;
      if (err.code === 'GRAPH_VERSION_CONFLICT') {
        try {
          await resolveConflict();
        } catch (again) {
          emit('graph:notice', { kind: 'error', key: 'graph.saveFailed', vars: { message: again.message } });
          schedule(RETRY_MS);
        }
      } else {
        emit('graph:notice', { kind: 'error', key: 'graph.saveFailed', vars: { message: err.message } });
        schedule(RETRY_MS);
      }
    }
  })();
  try {
    await saving;
  } finally {
    saving = null;
  }
  if (isDirty() && !timer) schedule(DEBOUNCE_MS);
  return null;
}

/**
 * Three-way merge by id: an item changed only on one side takes that side; changed on both,
 * the server's wins except that a newer generated image of ours is kept; an item deleted on
 * one side and untouched on the other is deleted; added on either side is kept.
 */
function merge3(baseMap, localMap, remoteMap, toJson, pickBoth) {
  const out = new Map();
  let keptLocal = 0;
  const ids = new Set([...baseMap.keys(), ...localMap.keys(), ...remoteMap.keys()]);
  for (const id of ids) {
    const b = baseMap.get(id);
    const l = localMap.get(id);
    const r = remoteMap.get(id);
    const lj = l ? toJson(l) : null;
    const rj = r ? toJson(r) : null;
    if (l && r) {
      if (lj === b || lj === rj) out.set(id, r);
      else if (rj === b) {
        out.set(id, l);
        keptLocal += 1;
      } else out.set(id, pickBoth(l, r));
    } else if (l) {
      if (b === undefined || lj !== b) {
        out.set(id, l);
        keptLocal += 1;
      }
    } else if (r) {
      if (b === undefined || rj !== b) out.set(id, r);
    }
  }
  return { out, keptLocal };
}

function pickNode(l, r) {
  const lt = Number(l.data.generatedAt) || 0;
  const rt = Number(r.data.generatedAt) || 0;
  return lt > rt && l.data.imageUrl ? { ...r, data: { ...r.data, ...l.data } } : r;
}

/** Someone else saved first: take their graph, re-apply ours on top, tell the user. */
export async function resolveConflict() {
  const data = await api.session(graph.sessionId);
  const remote = data.session;
  const remoteNodes = new Map((remote.nodes || []).map((n) => [n.id,
    { id: n.id, x: Number(n.x) || 0, y: Number(n.y) || 0, data: n.data || {} }]));
  const remoteEdges = new Map((remote.edges || []).map((e) => [e.id,
    { id: e.id, source: e.source, target: e.target, data: e.data || {} }]));
  const nodes = merge3(base.nodes, graph.nodes, remoteNodes, nodeJson, pickNode);
  const edges = merge3(base.edges, graph.edges, remoteEdges, edgeJson, (l, r) => r);
  // Drop edges that lost an end, and second parents (a node has at most one).
  const parentOf = new Set();
  for (const [id, e] of Array.from(edges.out)) {
    if (!nodes.out.has(e.source) || !nodes.out.has(e.target) || parentOf.has(e.target)) {
      edges.out.delete(id);
    } else parentOf.add(e.target);
  }
  graph.nodes = nodes.out;
  graph.edges = edges.out;
  graph.version = Number(remote.graphVersion) || 0;
  base = snapshot(remoteNodes, remoteEdges);
  const changed = nodes.keptLocal + edges.keptLocal > 0;
  savedSeq = changed ? changeSeq - 1 : changeSeq;
  emit('graph', { reason: 'conflict' });
  emit('graph:notice', { kind: 'warn', key: changed ? 'graph.conflictMerged' : 'graph.conflict',
    vars: { n: nodes.keptLocal } });
  if (changed) schedule(50);
}

/** Pick up a newer server version (other tab, asset-missing marking) without losing ours. */
export async function refreshFromServer() {
  if (!graph.sessionId) return;
  if (saving) await saving.catch(() => {});
  if (!isDirty()) {
    const data = await api.session(graph.sessionId);
    if (Number(data.session.graphVersion) === graph.version) return;
    adopt(data.session);
    emit('graph', { reason: 'refresh' });
    return;
  }
  await resolveConflict();
}

// --- edits -------------------------------------------------------------------------------
export function addNode({ x, y, data }) {
  const node = { id: uid('cn_'), x, y, data: { prompt: '', status: 'empty', ...data } };
  graph.nodes.set(node.id, node);
  return node;
}

export function addEdge(source, target) {
  for (const e of graph.edges.values()) if (e.target === target) graph.edges.delete(e.id);
  const edge = { id: 'e_' + source + '_' + target, source, target, data: {} };
  graph.edges.set(edge.id, edge);
  return edge;
}

export function removeNodes(ids) {
  for (const id of ids) {
    graph.nodes.delete(id);
    graph.live.delete(id);
  }
  for (const e of Array.from(graph.edges.values())) {
    if (ids.includes(e.source) || ids.includes(e.target)) graph.edges.delete(e.id);
  }
}

export function parentOf(id) {
  for (const e of graph.edges.values()) if (e.target === id) return graph.nodes.get(e.source) || null;
  return null;
}

export function incomingEdge(id) {
  for (const e of graph.edges.values()) if (e.target === id) return e;
  return null;
}

export const childrenOf = (id) => Array.from(graph.edges.values())
  .filter((e) => e.source === id).map((e) => graph.nodes.get(e.target)).filter(Boolean);

export function setData(id, patch) {
  const node = graph.nodes.get(id);
  if (node) node.data = { ...node.data, ...patch };
  return node;
}

/** Drag-to-connect: `target` now edits `source` (its old parent edge goes); refuses cycles. */
export function reparent(source, target) {
  for (let up = source; up; up = (incomingEdge(up) || {}).source) if (up === target) return false;
  const old = incomingEdge(target);
  if (old && old.source === source) return false;
  if (old) graph.edges.delete(old.id);
  addEdge(source, target);
  return true;
}
