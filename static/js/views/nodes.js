// views/nodes.js — node mode: the toolbar (sessions, new root, batch generate, delete, style
// sheet, save state), the canvas and what each node action does to the graph; keeps the
// graph current with the server (polling the session list, reloading after gallery deletes
// and restores, conflict notices). Must not: talk to the graph API directly (graph.js does).
import { h, tx, clear, icon, iconButton, toast } from '../dom.js';
import { t } from '../i18n.js';
import { state, on, emit, prefs } from '../state.js';
import { graph, loadSession, touch, flush, addNode, addEdge, removeNodes, incomingEdge,
  childrenOf, setData, refreshFromServer, isDirty, reparent } from '../graph.js';
import { generateNode, generateBatch, cancelNode, setSheetEnabled, isStreaming } from '../nodegen.js';
import { poll } from '../jobs.js';
import { createCanvas, NODE_W } from './canvas.js';
import { buildCard, updateCard, tickCards } from './nodecard.js';
import { initSessions, pickInitialSession, refreshSessions, renderSessions, askSession } from './sessions.js';
import { api } from '../api.js';

const POLL_MS = 4000;
const SLOT_W = NODE_W + 60;
const SLOT_H = 470; // a card with its image, prompt and buttons is about 440 px tall
let canvas = null;
const selected = new Set();
let selectedEdge = null;
let els = {};
let pending = false;
let cards = new Map();
let ready = null;

const act = {
  prompt(id, text) {
    setData(id, { prompt: text });
    touch('prompt', { render: false });
  },
  generate: (id) => generateNode(id),
  cancel: (id) => cancelNode(id),
  addChild(id) {
    const parent = graph.nodes.get(id);
    if (!parent) return;
    const n = childrenOf(id).length;
    const at = freeSpot(parent.x + SLOT_W + 40, parent.y + n * SLOT_H, [[0, 1], [1, 0]]);
    const child = addNode({ x: at.x, y: at.y, data: { prompt: parent.data.prompt || '' } });
    addEdge(id, child.id);
    selectOnly(child.id);
    canvas.reveal(child);
    touch('add-child');
    focusPrompt(child.id);
  },
  detach(id) {
    const edge = incomingEdge(id);
    if (!edge) return;
    graph.edges.delete(edge.id);
    touch('detach');
  },
  remove(id) {
    removeNodeIds([id]);
  },
};

function removeNodeIds(ids) {
  for (const id of ids) if (isStreaming(id)) cancelNode(id);
  removeNodes(ids);
  for (const id of ids) selected.delete(id);
  touch('delete');
}

/** The first place at or after (x, y), stepping along `dirs`, where no card sits. */
function freeSpot(x, y, dirs = [[1, 0], [0, 1], [-1, 0], [0, -1]]) {
  const taken = (px, py) => Array.from(graph.nodes.values())
    .some((n) => Math.abs(n.x - px) < SLOT_W && Math.abs(n.y - py) < SLOT_H);
  for (let ring = 0; ring < 40; ring += 1) {
    for (const [dx, dy] of dirs) {
      const px = x + dx * ring * SLOT_W;
      const py = y + dy * ring * SLOT_H;
      if (!taken(px, py)) return { x: px, y: py };
    }
  }
  return { x, y };
}

function focusPrompt(id) {
  requestAnimationFrame(() => {
    const el = canvas.nodeEl(id);
    if (el) el.querySelector('textarea').focus();
  });
}

function selectOnly(id) {
  selected.clear();
  selected.add(id);
  selectedEdge = null;
}

const handlers = {
  label: () => t('canvas.label'),
  nodes: () => Array.from(graph.nodes.values()),
  node: (id) => graph.nodes.get(id),
  move(id, x, y, final) {
    const node = graph.nodes.get(id);
    if (!node) return;
    node.x = Math.round(x);
    node.y = Math.round(y);
    canvas.place(id, node.x, node.y);
    canvas.renderEdges(graph.edges.values(), graph.nodes, selectedEdge);
    if (final) touch('move', { render: false });
  },
  nudge(dx, dy) {
    if (!selected.size) return;
    for (const id of selected) {
      const n = graph.nodes.get(id);
      if (n) handlers.move(id, n.x + dx, n.y + dy, false);
    }
    touch('move', { render: false });
  },
  select(id, add) {
    if (add) {
      if (selected.has(id)) selected.delete(id);
      else selected.add(id);
    } else selectOnly(id);
    selectedEdge = null;
    render();
  },
  selectEdge(id) {
    selected.clear();
    selectedEdge = id;
    render();
  },
  clearSelection() {
    selected.clear();
    selectedEdge = null;
    render();
  },
  connect: (source, target) => reparent(source, target) && touch('connect'),
  open(id) {
    const d = (graph.nodes.get(id) || {}).data || {};
    if (d.imageUrl) emit('viewer:open', { rows: [{ filename: d.filename || id, url: d.imageUrl, prompt: d.prompt || '' }] });
  },
  deleteSelection() {
    if (selected.size) removeNodeIds(Array.from(selected));
    else if (selectedEdge) {
      graph.edges.delete(selectedEdge);
      selectedEdge = null;
      touch('delete-edge');
    }
  },
};

function render() {
  if (!canvas) return;
  for (const id of Array.from(selected)) if (!graph.nodes.has(id)) selected.delete(id);
  canvas.render({ nodes: graph.nodes, edges: graph.edges, selected, selectedEdge,
    build: (node) => {
      const el = buildCard(node, act);
      cards.set(node.id, el);
      return el;
    },
    update: updateCard });
  for (const id of Array.from(cards.keys())) if (!graph.nodes.has(id)) cards.delete(id);
  els.batch.disabled = selected.size === 0;
  els.batch.querySelector('.btn-label').textContent = t('nodes.generateSelected', { n: selected.size });
  els.remove.disabled = selected.size === 0 && !selectedEdge;
  els.count.textContent = t('nodes.count', { n: graph.nodes.size });
  if (state.liveNodes !== graph.nodes.size) {
    state.liveNodes = graph.nodes.size; // the session picker shows the live count
    renderSessions();
  }
  els.empty.hidden = graph.nodes.size > 0;
}

function scheduleRender() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    render();
  });
}

function saveState() {
  const text = isDirty() ? t('nodes.unsaved') : t('nodes.saved', { v: graph.version });
  els.save.textContent = text;
  els.save.dataset.version = String(graph.version);
}

function notice({ kind, key, vars }) {
  clear(els.notice);
  els.notice.hidden = false;
  els.notice.dataset.kind = kind;
  els.notice.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  els.notice.append(h('span', { text: t(key, vars) }),
    iconButton('x', 'common.dismiss', () => {
      els.notice.hidden = true;
    }, { cls: 'btn-small' }));
}

async function refreshSheetBadge() {
  const data = await api.styleSheet(graph.sessionId).catch(() => null); // the dialog loads on first use
  showSheetState(Boolean(data && data.enabled && data.styleSheet));
}

/** Generation and the badge follow the sheet; the badge keeps its key in data-i18n, so a
 * language switch re-translates it. */
function showSheetState(enabled) {
  setSheetEnabled(enabled);
  const key = enabled ? 'nodes.sheetOn' : 'nodes.sheetOff';
  els.sheetState.dataset.i18n = key;
  els.sheetState.textContent = t(key);
  els.sheetState.dataset.enabled = String(enabled);
}

async function switchSession(id) {
  state.sessionId = id;
  selected.clear();
  selectedEdge = null;
  els.notice.hidden = true;
  try {
    await loadSession(id);
    performance.mark('ima2:graph-loaded'); // bench_ui.py: graph in hand → cards on screen
  } catch (err) {
    notice({ kind: 'error', key: 'nodes.loadFailed', vars: { message: err.message } });
    return;
  }
  renderSessions();
  canvas.fit();
  refreshSheetBadge();
  poll();
}

async function pollServer() {
  if (state.view !== 'nodes' || document.visibilityState === 'hidden' || !graph.sessionId) return;
  try {
    const list = await refreshSessions();
    const cur = list.find((s) => s.id === graph.sessionId);
    if (cur && Number(cur.graphVersion) > graph.version) await refreshFromServer();
  } catch (_) {
    // offline for a moment: the next poll tries again
  }
}

/** A root node showing a gallery image (children edit it through externalSrc), in the session
 *  the user picks (or a new one). */
export async function rootFromImage({ filename, url, prompt }) {
  await ready;
  const target = await askSession();
  if (!target) return;
  if (target !== graph.sessionId) {
    await flush();
    prefs.set('sessionId', target);
    await switchSession(target);
  }
  const center = canvas.center();
  const at = freeSpot(center.x, center.y);
  const node = addNode({ x: at.x, y: at.y, data: { externalSrc: filename, filename,
    imageUrl: url, status: 'done', prompt: prompt || '' } });
  selectOnly(node.id);
  canvas.reveal(node);
  touch('root-from-gallery');
  toast(t('nodes.fromGalleryDone'));
}

function newRoot() {
  const center = canvas.center();
  const at = freeSpot(center.x, center.y);
  const node = addNode({ x: at.x, y: at.y, data: {} });
  selectOnly(node.id);
  canvas.reveal(node);
  touch('add-root');
  focusPrompt(node.id);
}

export function initNodes(root) {
  const bar = h('div', { class: 'nodes-toolbar', role: 'toolbar', 'aria-label': t('nodes.toolbar') });
  initSessions(bar, (id) => flush().then(() => switchSession(id)));
  els.batch = iconButton('spark', 'nodes.generateSelected', () => generateBatch(Array.from(selected)),
    { showLabel: true, cls: 'btn-small' });
  els.remove = iconButton('trash', 'nodes.deleteSelected', () => handlers.deleteSelection(),
    { showLabel: true, cls: 'btn-small danger' });
  [els.batch.id, els.remove.id] = ['nodes-generate-selected', 'nodes-delete-selected'];
  els.sheetState = h('span', { class: 'badge', id: 'sheet-state' });
  els.save = h('span', { class: 'muted small', id: 'graph-save-state', 'aria-live': 'polite' });
  els.count = h('span', { class: 'muted small', id: 'node-count' });
  bar.append(
    h('button', { type: 'button', class: 'btn btn-small', id: 'nodes-new-root', onclick: newRoot },
      icon('plus'), tx('span', 'nodes.newRoot')),
    els.batch, els.remove,
    h('button', { type: 'button', class: 'btn btn-small', id: 'nodes-style-sheet',
      onclick: () => import('./stylesheet.js').then((m) => m.openSheet()) },
      icon('palette'), tx('span', 'nodes.styleSheet'), els.sheetState),
    h('span', { class: 'spacer' }), els.count, els.save);
  els.notice = h('div', { class: 'notice graph-notice', id: 'graph-notice', hidden: true });
  root.append(bar, els.notice, tx('p', 'nodes.keys', { class: 'muted small keys-hint nodes-keys' }));
  canvas = createCanvas(root, handlers);
  els.empty = h('div', { class: 'canvas-empty empty-state', id: 'canvas-empty', hidden: true },
    tx('p', 'nodes.empty'), h('button', { type: 'button', class: 'btn btn-primary', onclick: newRoot },
      icon('plus'), tx('span', 'nodes.newRoot')));
  canvas.el.append(els.empty);
  bar.insertBefore(canvas.controls, els.count.previousSibling);
  on('graph', ({ reason, id }) => {
    if (reason === 'live' && id && cards.has(id)) updateCard(cards.get(id), graph.nodes.get(id));
    else scheduleRender();
    saveState();
  });
  on('graph:saved', saveState);
  on('graph:notice', notice);
  on('stylesheet', ({ enabled }) => showSheetState(enabled));
  const refresh = () => setTimeout(() => refreshFromServer().catch(() => {}), 50);
  for (const topic of ['assets:deleted', 'assets:restored']) on(topic, refresh);
  on('view', (view) => view === 'nodes' && pollServer());
  on('lang', () => {
    for (const [id, el] of cards) updateCard(el, graph.nodes.get(id));
    render();
    saveState();
  });
  window.addEventListener('pagehide', () => flush());
  setInterval(pollServer, POLL_MS);
  setInterval(() => tickCards(cards), 500);
  ready = pickInitialSession().then(switchSession).catch((err) => {
    notice({ kind: 'error', key: 'nodes.loadFailed', vars: { message: err.message } });
  });
  emit('nodes:ready');
  return ready;
}
