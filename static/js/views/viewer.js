// views/viewer.js — the image viewer: a gallery or result image at full size with its prompt
// and settings. Opened on the gallery it walks the whole gallery (older pages load as it
// nears the end); arrows / Home / End / swipe move, a filmstrip shows the neighbours; zoom by
// wheel, pinch, double-click or buttons, fit / 1:1, full screen; actions download, copy,
// use as reference, edit, reuse settings, start a node, share, favourite, tags, delete (with
// Undo). Esc closes and focus returns where it was. Must not: keep its own copy of the gallery.
import { h, tx, clear, icon, iconButton, trapFocus, fmtDate } from '../dom.js';
import { t } from '../i18n.js';
import { emit, on } from '../state.js';
import { history, fullOf, thumbOf } from '../history.js';
import { editFrom, copyImage, copyText, offlineDetail } from './results.js';
import { shareButton } from './actions.js';

let root = null;
let body = null;
let rows = [];
let live = false; // rows is history.items (grows as pages load)
let index = 0;
let onMove = null;
let returnFocus = null;
let zoomLabel = null;
const view = { scale: 1, x: 0, y: 0 };
let img = null;
/** @type {Promise<typeof import('./tags.js')>|null} */
let tagsModule = null;

const row = () => rows[index];
const total = () => (live && history.total != null ? Math.max(history.total, rows.length) : rows.length);

function detail(key, value) {
  if (value == null || value === '') return null;
  return h('div', { class: 'detail' }, tx('dt', key), h('dd', { text: String(value) }));
}

function applyZoom() {
  if (!img) return;
  img.style.transform = `translate(${view.x}px, ${view.y}px) scale(${view.scale})`;
  img.classList.toggle('zoomed', view.scale > 1.01);
  zoomLabel.textContent = Math.round(view.scale * 100) + '%';
}

function zoomTo(scale, cx = null, cy = null) {
  const next = Math.min(8, Math.max(1, scale));
  if (cx != null && img) {
    const box = img.parentNode.getBoundingClientRect();
    const px = cx - box.left - box.width / 2;
    const py = cy - box.top - box.height / 2;
    view.x = px - ((px - view.x) * next) / view.scale;
    view.y = py - ((py - view.y) * next) / view.scale;
  }
  view.scale = next;
  if (next === 1) Object.assign(view, { x: 0, y: 0 });
  applyZoom();
}

/** 1:1 — one image pixel per screen pixel. */
function actualPixels() {
  if (!img || !img.naturalWidth) return;
  const box = img.getBoundingClientRect();
  const fitted = Math.min(box.width, box.height * (img.naturalWidth / img.naturalHeight)) / view.scale;
  zoomTo(Math.max(1, img.naturalWidth / fitted));
}

function filmstrip() {
  const strip = h('div', { class: 'filmstrip', role: 'group', 'aria-label': t('viewer.filmstrip') });
  const from = Math.max(0, index - 6);
  for (let i = from; i < Math.min(rows.length, from + 13); i += 1) {
    const r = rows[i];
    strip.append(h('button', { type: 'button', class: 'film' + (i === index ? ' current' : ''),
      'aria-current': i === index ? 'true' : null, 'aria-label': t('viewer.goto', { i: i + 1 }),
      onclick: () => move(i) }, h('img', { src: thumbOf(r), alt: '', loading: 'lazy', width: 56, height: 56 })));
  }
  return strip;
}

function render() {
  const r = row();
  clear(body);
  if (!r) {
    close();
    return;
  }
  const url = fullOf(r);
  Object.assign(view, { scale: 1, x: 0, y: 0 });
  img = h('img', { src: url, alt: r.prompt || r.filename, class: 'viewer-image', id: 'viewer-image',
    draggable: 'false', dataset: { filename: r.filename } });
  const prompt = r.userPrompt || r.prompt || '';
  // The favourite and tags (views/tags.js) load with the first image shown.
  const favSlot = h('span', { class: 'viewer-fav-slot' });
  const tagSlot = h('div', { class: 'viewer-tags-slot' });
  if (!tagsModule) tagsModule = import('./tags.js');
  tagsModule.then((mod) => {
    if (row() !== r || !favSlot.isConnected) return;
    favSlot.replaceWith(mod.favoriteToggle(r));
    tagSlot.replaceWith(mod.tagEditor(r));
  });
  body.append(
    h('div', { class: 'viewer-main' }, h('div', { class: 'viewer-stage', id: 'viewer-stage' }, img), filmstrip()),
    h('div', { class: 'viewer-side' },
      h('div', { class: 'viewer-side-head' }, h('p', { class: 'muted small mono', id: 'viewer-position',
        text: t('viewer.position', { i: index + 1, n: total() }) }), favSlot),
      h('dl', { class: 'details' },
        detail('result.prompt', prompt),
        r.revisedPrompt && r.revisedPrompt !== r.prompt ? detail('result.revised', r.revisedPrompt) : null,
        detail('result.model', r.model),
        r.renderPath ? detail('result.renderedBy', t('result.renderedVia', {
          model: r.renderModel || r.model, path: r.renderPath })) : null,
        offlineDetail(r.provider),
        detail('viewer.size', r.size ? String(r.size).replace('x', '×') : null),
        detail('viewer.quality', r.quality ? t('quality.' + r.quality) : null),
        detail('viewer.created', r.createdAt ? fmtDate(r.createdAt) : null),
        detail('viewer.file', r.filename)),
      tagSlot,
      h('div', { class: 'actions wrap' },
        iconButton('retry', 'viewer.restore', () => {
          emit('composer:apply', { prompt, quality: r.quality, size: r.size, model: r.model,
            format: r.format, mode: r.promptMode, moderation: r.moderation });
          close();
          emit('view', 'studio');
        }, { showLabel: true, cls: 'btn-primary' }),
        h('a', { class: 'btn', href: url, download: r.filename.split('/').pop() },
          icon('download'), tx('span', 'result.download')),
        iconButton('image', 'result.copyImage', () => copyImage(url), { showLabel: true }),
        iconButton('copy', 'result.copyPrompt', () => copyText(prompt), { showLabel: true }),
        iconButton('imgplus', 'result.useRef', () => emit('refs:add-url', { url, name: r.filename }),
          { showLabel: true }),
        iconButton('edit', 'result.edit', () => {
          close();
          editFrom({ url, filename: r.filename });
        }, { showLabel: true }),
        iconButton('node', 'viewer.toNode', () => {
          close();
          emit('nodes:from-image', { filename: r.filename, url, prompt: r.prompt || '' });
        }, { showLabel: true }),
        shareButton([r.filename], { showLabel: true })),
      h('div', { class: 'actions danger-zone' },
        iconButton('trash', 'result.delete', () => remove(r), { showLabel: true, cls: 'danger' }))));
  applyZoom();
  if (live && index >= rows.length - 4 && !history.done) history.loadMore().catch(() => {});
}

async function remove(r) {
  const done = await history.deleteWithUndo(r);
  if (!done) return;
  if (!live) {
    const at = rows.indexOf(r);
    if (at >= 0) rows.splice(at, 1);
  }
  if (index >= rows.length) index = rows.length - 1;
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
  live = list === history.items;
  rows = live ? list : list.slice();
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
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  root.hidden = true;
  document.body.classList.remove('modal-open');
  if (returnFocus && returnFocus.isConnected) returnFocus.focus();
}

function onKey(event) {
  if (root.hidden || document.querySelector('.dialog')) return; // a dialog opened from here
  const keys = { ArrowRight: () => move(index + 1), ArrowLeft: () => move(index - 1),
    ArrowDown: () => move(index + 1), ArrowUp: () => move(index - 1),
    Home: () => move(0), End: () => move(rows.length - 1), Escape: close,
    '+': () => zoomTo(view.scale * 1.25), '=': () => zoomTo(view.scale * 1.25),
    '-': () => zoomTo(view.scale / 1.25), 0: () => zoomTo(1), f: toggleFull };
  if (event.key === 'Tab') {
    trapFocus(root, event);
    return;
  }
  const action = keys[event.key];
  if (!action || (event.target.closest && event.target.closest('input, textarea'))) return;
  event.preventDefault();
  event.stopPropagation();
  action();
}

function toggleFull() {
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  else if (root.requestFullscreen) root.requestFullscreen().catch(() => {});
}

/** Wheel / pinch zoom, drag to pan when zoomed, swipe to move when not. */
function gestures(stage) {
  const pts = new Map();
  let start = null;
  stage.addEventListener('wheel', (e) => {
    if (!e.target.closest('.viewer-stage')) return;
    e.preventDefault();
    zoomTo(view.scale * Math.exp(-e.deltaY * 0.002), e.clientX, e.clientY);
  }, { passive: false });
  stage.addEventListener('dblclick', (e) => {
    if (e.target.closest('.viewer-stage')) zoomTo(view.scale > 1 ? 1 : 2.5, e.clientX, e.clientY);
  });
  stage.addEventListener('pointerdown', (e) => {
    if (!e.target.closest('.viewer-stage')) return;
    pts.set(e.pointerId, { x: e.clientX, y: e.clientY });
    start = { x: e.clientX, y: e.clientY, vx: view.x, vy: view.y, scale: view.scale,
      dist: pts.size === 2 ? spread(pts) : 0 };
    e.target.setPointerCapture && e.target.setPointerCapture(e.pointerId);
  });
  stage.addEventListener('pointermove', (e) => {
    if (!pts.has(e.pointerId) || !start) return;
    pts.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (pts.size === 2 && start.dist) {
      zoomTo(start.scale * (spread(pts) / start.dist));
    } else if (view.scale > 1) {
      view.x = start.vx + e.clientX - start.x;
      view.y = start.vy + e.clientY - start.y;
      applyZoom();
    }
  });
  const end = (e) => {
    if (!pts.has(e.pointerId)) return;
    pts.delete(e.pointerId);
    if (start && !pts.size && view.scale <= 1 && !start.dist) {
      const dx = e.clientX - start.x;
      if (Math.abs(dx) > 60 && Math.abs(dx) > Math.abs(e.clientY - start.y)) move(index + (dx < 0 ? 1 : -1));
    }
    if (!pts.size) start = null;
  };
  stage.addEventListener('pointerup', end);
  stage.addEventListener('pointercancel', end);
}

function spread(pts) {
  const [a, b] = Array.from(pts.values());
  return Math.hypot(a.x - b.x, a.y - b.y) || 1;
}

export function initViewer(container) {
  body = h('div', { class: 'viewer-body' });
  zoomLabel = h('span', { class: 'mono small zoom-level', 'aria-live': 'polite' });
  root = h('div', { class: 'viewer', id: 'viewer', role: 'dialog', 'aria-modal': 'true',
    'aria-labelledby': 'viewer-title', hidden: true,
    onclick: (e) => {
      if (e.target === root) close();
    } },
  h('div', { class: 'viewer-panel' },
    h('div', { class: 'viewer-bar' },
      tx('h2', 'viewer.title', { id: 'viewer-title', class: 'section-title' }),
      iconButton('minus', 'viewer.zoomOut', () => zoomTo(view.scale / 1.25), { cls: 'btn-small' }),
      zoomLabel,
      iconButton('plus', 'viewer.zoomIn', () => zoomTo(view.scale * 1.25), { cls: 'btn-small' }),
      iconButton('fit', 'viewer.fit', () => zoomTo(1), { cls: 'btn-small' }),
      h('button', { type: 'button', class: 'btn btn-small', title: t('viewer.actual'), onclick: actualPixels,
        'aria-label': t('viewer.actual'), 'data-i18n-label': 'viewer.actual', text: '1:1' }),
      iconButton('full', 'viewer.full', toggleFull, { cls: 'btn-small' }),
      iconButton('left', 'viewer.prev', () => move(index - 1), { cls: 'btn-small viewer-prev' }),
      iconButton('right', 'viewer.next', () => move(index + 1), { cls: 'btn-small viewer-next' }),
      iconButton('x', 'viewer.close', close, { cls: 'viewer-close' })),
    body));
  container.append(root);
  gestures(body);
  document.addEventListener('keydown', onKey, true);
  on('viewer:open', open);
  on('history', () => {
    if (!root.hidden && live) {
      const pos = root.querySelector('#viewer-position');
      if (pos) pos.textContent = t('viewer.position', { i: index + 1, n: total() });
    }
  });
  on('lang', () => {
    if (!root.hidden) render();
  });
}
