// views/viewer.js — the image viewer: one gallery image at full size with its prompt and
// settings; arrows / Home / End move through the list it was opened with, Esc closes; actions
// download, use as reference, edit, restore settings, start a node, delete (with Undo).
// Must not: keep its own copy of the gallery (it is handed a list of rows).
import { h, tx, clear, icon, iconButton, trapFocus, fmtDate } from '../dom.js';
import { t } from '../i18n.js';
import { emit, on } from '../state.js';
import { history, fullOf } from '../history.js';
import { editFrom, offlineDetail } from './results.js';

let root = null;
let body = null;
let rows = [];
let index = 0;
let onMove = null;
let returnFocus = null;

function row() {
  return rows[index];
}

function detail(key, value) {
  if (value == null || value === '') return null;
  return h('div', { class: 'detail' }, tx('dt', key), h('dd', { text: String(value) }));
}

function render() {
  const r = row();
  clear(body);
  if (!r) {
    close();
    return;
  }
  const url = fullOf(r);
  body.append(
    h('div', { class: 'viewer-stage' },
      h('img', { src: url, alt: r.prompt || r.filename, class: 'viewer-image', id: 'viewer-image',
        dataset: { filename: r.filename } })),
    h('div', { class: 'viewer-side' },
      h('p', { class: 'muted small mono', id: 'viewer-position',
        text: t('viewer.position', { i: index + 1, n: rows.length }) }),
      h('dl', { class: 'details' },
        detail('result.prompt', r.userPrompt || r.prompt),
        r.revisedPrompt && r.revisedPrompt !== r.prompt ? detail('result.revised', r.revisedPrompt) : null,
        detail('result.model', r.model),
        offlineDetail(r.provider),
        detail('viewer.size', r.size),
        detail('viewer.quality', r.quality),
        detail('viewer.created', r.createdAt ? fmtDate(r.createdAt) : null),
        detail('viewer.file', r.filename)),
      h('div', { class: 'actions wrap' },
        h('a', { class: 'btn', href: url, download: r.filename.split('/').pop() },
          icon('download'), tx('span', 'result.download')),
        iconButton('ref', 'result.useRef', () => emit('refs:add-url', { url, name: r.filename }),
          { showLabel: true }),
        iconButton('edit', 'result.edit', () => {
          close();
          editFrom({ url, filename: r.filename });
        }, { showLabel: true }),
        iconButton('retry', 'viewer.restore', () => {
          emit('composer:apply', { prompt: r.userPrompt || r.prompt || '', quality: r.quality,
            size: r.size, model: r.model, format: r.format, mode: r.promptMode });
          close();
          emit('view', 'studio');
        }, { showLabel: true }),
        iconButton('node', 'viewer.toNode', () => {
          close();
          emit('nodes:from-image', { filename: r.filename, url, prompt: r.prompt || '' });
        }, { showLabel: true }),
        iconButton('trash', 'result.delete', () => remove(r), { showLabel: true, cls: 'danger' }))));
}

async function remove(r) {
  const done = await history.deleteWithUndo(r);
  if (!done) return;
  const at = rows.indexOf(r);
  if (at >= 0) {
    rows = rows.slice(0, at).concat(rows.slice(at + 1));
    if (index >= rows.length) index = rows.length - 1;
  }
  if (!rows.length) close();
  else render();
}

function move(to) {
  if (!rows.length) return;
  index = Math.max(0, Math.min(rows.length - 1, to));
  render();
  if (onMove) onMove(index);
}

export function open({ rows: list, index: at = 0, onMove: cb = null }) {
  rows = list.slice();
  index = Math.max(0, Math.min(rows.length - 1, at));
  onMove = cb;
  if (root.hidden) returnFocus = document.activeElement;
  root.hidden = false;
  document.body.classList.add('modal-open');
  render();
  root.querySelector('.viewer-close').focus();
}

export function close() {
  if (root.hidden) return;
  root.hidden = true;
  document.body.classList.remove('modal-open');
  if (returnFocus && returnFocus.isConnected) returnFocus.focus();
}

function onKey(event) {
  if (root.hidden) return;
  const keys = { ArrowRight: () => move(index + 1), ArrowLeft: () => move(index - 1),
    ArrowDown: () => move(index + 1), ArrowUp: () => move(index - 1),
    Home: () => move(0), End: () => move(rows.length - 1), Escape: close };
  if (event.key === 'Tab') {
    trapFocus(root, event);
    return;
  }
  const action = keys[event.key];
  if (!action) return;
  event.preventDefault();
  event.stopPropagation();
  action();
}

export function initViewer(container) {
  body = h('div', { class: 'viewer-body' });
  root = h('div', { class: 'viewer', id: 'viewer', role: 'dialog', 'aria-modal': 'true',
    'aria-labelledby': 'viewer-title', hidden: true,
    onclick: (e) => {
      if (e.target === root) close();
    } },
  h('div', { class: 'viewer-panel' },
    h('div', { class: 'viewer-bar' },
      tx('h2', 'viewer.title', { id: 'viewer-title', class: 'section-title' }),
      iconButton('left', 'viewer.prev', () => move(index - 1), { cls: 'viewer-prev' }),
      iconButton('right', 'viewer.next', () => move(index + 1), { cls: 'viewer-next' }),
      iconButton('x', 'viewer.close', close, { cls: 'viewer-close' })),
    body));
  container.append(root);
  document.addEventListener('keydown', onKey, true);
  on('viewer:open', open);
  on('lang', () => {
    if (!root.hidden) render();
  });
}
