// views/rail.js — the history rail beside the studio: thumbnails grouped Today / Yesterday /
// This week / Earlier, showing more (and loading older pages) as it scrolls; its DOM grows only
// as far as it is scrolled. Also the tile builder. Must not: load full-size images for tiles.
import { h, tx, clear, dayGroup } from '../dom.js';
import { t } from '../i18n.js';
import { on, emit, state } from '../state.js';
import { history, thumbOf } from '../history.js';

export const GROUPS = ['today', 'yesterday', 'week', 'earlier'];

/** A thumbnail button for a history row. */
export function tile(row, onclick, cls = 'tile') {
  return h('button', { type: 'button', class: cls, dataset: { filename: row.filename },
    title: row.prompt || row.filename, onclick },
  h('img', { src: thumbOf(row), loading: 'lazy', decoding: 'async', width: 128, height: 128,
    alt: row.prompt || row.filename }),
  row.provider === 'offline'
    ? h('span', { class: 'badge offline-badge', text: t('provider.offline') }) : null);
}

/** While the end of the rail is in view: show 100 more images, loading pages as needed. */
async function fill(scroller, sentinel) {
  if (filling) return;
  filling = true;
  try {
    for (let i = 0; i < 50; i += 1) {
      if (scroller.offsetParent === null) return;
      const box = scroller.getBoundingClientRect();
      if (sentinel.getBoundingClientRect().top > box.bottom + 400) return;
      if (history.done && limit >= history.items.length) return;
      limit += 100;
      if (history.items.length < limit && !history.done) await history.loadMore();
      render();
      await new Promise((r) => requestAnimationFrame(r));
    }
  } catch (_) {
    // the status line says what is shown; scrolling again retries
  } finally {
    filling = false;
  }
}

let root = null;
const tiles = new Map();
const sections = {};
let status = null;
let limit = 100; // the rail shows the newest images (100 more per scroll); the gallery has them all
let filling = false;

function open(row) {
  const index = history.items.indexOf(row);
  emit('viewer:open', { rows: history.items, index: Math.max(0, index) });
}

let stale = false; // pages that landed while another view was shown (the gallery's scroll)

function render() {
  if (state.view !== 'studio') {
    stale = true;
    return;
  }
  stale = false;
  const now = Date.now();
  const buckets = { today: [], yesterday: [], week: [], earlier: [] };
  for (const row of history.items.slice(0, limit)) buckets[dayGroup(row.createdAt, now)].push(row);
  const alive = new Set();
  for (const name of GROUPS) {
    const sec = sections[name];
    sec.el.hidden = buckets[name].length === 0;
    const frag = document.createDocumentFragment();
    for (const row of buckets[name]) {
      alive.add(row.filename);
      let el = tiles.get(row.filename);
      if (!el) {
        el = tile(row, () => open(row), 'tile rail-tile');
        tiles.set(row.filename, el);
      }
      frag.append(el);
    }
    clear(sec.grid).append(frag);
  }
  for (const [name, el] of tiles) {
    if (!alive.has(name)) {
      el.remove();
      tiles.delete(name);
    }
  }
  status.textContent = history.items.length === 0 && history.done ? t('rail.empty')
    : history.done && limit >= history.items.length ? (history.items.length === 1 ? t('rail.end.one')
      : t('rail.end', { n: history.items.length })) : t('rail.loading');
}

export function initRail(container) {
  root = h('div', { class: 'rail-scroll', id: 'rail-scroll', tabindex: 0,
    'aria-labelledby': 'rail-title' });
  for (const name of GROUPS) {
    const grid = h('div', { class: 'rail-grid' });
    const el = h('section', { class: 'rail-group', dataset: { group: name }, hidden: true },
      tx('h3', 'rail.group.' + name, { class: 'rail-group-title' }), grid);
    sections[name] = { el, grid };
    root.append(el);
  }
  status = h('p', { class: 'muted small rail-status', id: 'rail-status' });
  const sentinel = h('div', { class: 'sentinel', 'aria-hidden': 'true' });
  root.append(status, sentinel);
  container.append(h('div', { class: 'rail-head' },
    tx('h2', 'rail.title', { id: 'rail-title', class: 'section-title' }),
    h('button', { type: 'button', class: 'btn btn-small', text: t('rail.all'),
      'data-i18n': 'rail.all', onclick: () => emit('view', 'gallery') })), root);
  on('history', render);
  on('lang', render);
  on('view', (view) => {
    if (view === 'studio' && stale) requestAnimationFrame(render);
  });
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) fill(root, sentinel);
  }, { root, rootMargin: '400px' }).observe(sentinel);
  render();
}
