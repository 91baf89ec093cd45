// views/gallery.js — the full gallery, virtualized: only the rows in view (plus a margin) are
// in the DOM, so 50,000 images keep a small page. Date headers (Today, Yesterday, This week,
// then months), search and filters served by the server (views/galleryfilter.js: the listing is
// a separate makeHistory() while any filter is set), live updates (history.js), grouping by
// session, keyboard navigation without focusing an image (arrows, Home/End, Enter opens, F
// favourites, Delete, Esc), tiles (views/gallerytiles.js), multi-select and the bulk bar
// (views/gallerypick.js), empty and no-match states. Must not: request full-size images for
// tiles (thumbnails only).
import { h, tx, clear, isTyping } from '../dom.js';
import { t } from '../i18n.js';
import { layoutOf, sectionTitle, HEAD_H } from './gallerylayout.js';
import { tileRow, tilesKey, tileInfo, markTiles } from './gallerytiles.js';
import { picked, pickClick, pickedAll, bulkBar, renderBulk, bulkDelete, clearPicks, selectMatching, favoritePicked,
  favoriteOne } from './gallerypick.js';
import { on, emit, state } from '../state.js';
import { api } from '../api.js';
import { history, makeHistory, dropHistory } from '../history.js';
import { filterBar, filterKey, clearFilters, learn, redrawFilters, searchBox } from './galleryfilter.js';

const OVERSCAN = 400;
let lastTop = 0;
let fast = false; // scrolling by more than a screen per frame: tiles wait for their image
let settle = 0;
const PAGE = 500; // the server's default IMA2_HISTORY_MAX_PAGE
let els = {};
let shown = []; // rows in display order
let layout = { rows: [], height: 0, cols: 1, size: 140 };
let selected = -1; // keyboard cursor
let grouped = false;
let titles = {};
let frame = 0;
let params = {}; // the filter bar's query parameters
let list = history; // the listing shown: the whole gallery, or a filtered one
const live = new Map(); // row index -> element in the DOM (dataset.key says what it shows)

const active = () => state.view === 'gallery' && !document.querySelector('.viewer:not([hidden])');

export const galleryOrder = () => shown.map((r) => r.filename);

let laidOut = null; // the listing `layout` was made for: a new page of it only adds rows
function computeLayout() {
  const out = layoutOf(shown, { width: els.scroll.clientWidth - 2, grouped, prev: laidOut === list ? layout : null,
    missing: Math.max(0, (filtering() ? list.filteredTotal || 0 : list.total || 0) - list.items.length) });
  laidOut = list;
  shown = out.shown;
  return out;
}

const rowEl = (r) => (r.head != null
  ? h('h2', { class: 'gallery-head', text: sectionTitle(r.head, grouped, titles) })
  : tileRow(r.items, shown, fast));
const rowKey = (r) => (r.head != null ? 'h:' + r.head + ':' + r.top + ':' + document.documentElement.lang
  : r.top + ':' + layout.size + ':' + tilesKey(r.items, shown));
const infoFor = (tile) => tileInfo(tile, shown);

/** A frame after a fling's last move: the rows left on screen get their tiles. Counted in
 * frames, not time, so a slow frame (a page landing) never turns a fling into real tiles. */
function settleCheck() {
  settle = 0;
  if (!fast || !els.scroll) return;
  if (els.scroll.scrollTop === lastTop) {
    fast = false;
    paint();
  } else settle = requestAnimationFrame(settleCheck);
}

/** Put the rows in view (plus a margin) into the DOM; `scrolled` is true when the scroll
 * position is what changed (only then can the fling state change: new rows from a page, a
 * resize or a re-render keep it). */
function paint(scrolled = false) {
  frame = 0;
  scrolledSince = false;
  if (scrolled) {
    const delta = Math.abs(els.scroll.scrollTop - lastTop);
    lastTop = els.scroll.scrollTop;
    fast = delta > els.scroll.clientHeight;
    if (fast && !settle) settle = requestAnimationFrame(settleCheck);
  }
  // A fling draws only the screen: rows above or below it are gone before they show.
  const margin = fast ? 0 : OVERSCAN;
  // Read before any change to the DOM (a read after one forces a layout in the frame).
  const scrollTop = els.scroll.scrollTop;
  const height = els.scroll.clientHeight;
  const top = scrollTop - margin;
  const bottom = scrollTop + height + margin;
  // The next page is asked for a few screens ahead (a fling covers a screen and a half a frame).
  const ahead = scrollTop + height * 4 + OVERSCAN;
  const want = new Set();
  const rows = layout.rows;
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) { // first row whose bottom is below `top`
    const mid = (lo + hi) >> 1;
    if (rows[mid].top + rows[mid].h < top) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < rows.length && rows[i].top < bottom; i += 1) {
    want.add(i);
    const real = rowKey(rows[i]);
    const key = fast && rows[i].head == null ? 'sk:' + real : real;
    const have = live.get(i);
    if (have && have.dataset.key !== key && have.dataset.key !== real) { // a real row stays
      have.remove();
      live.delete(i);
    }
    if (!live.has(i)) {
      const el = rowEl(rows[i]);
      el.dataset.key = key;
      el.style.transform = `translateY(${rows[i].top}px)`;
      live.set(i, el);
      els.grid.append(el);
    }
  }
  for (const [i, el] of live) {
    if (!want.has(i)) {
      el.remove();
      live.delete(i);
    }
  }
  markSelected();
  const last = rows[rows.length - 1];
  if (!list.done && (!last || last.top < ahead) && state.view === 'gallery') loadMore();
}

let scrolledSince = false; // a scroll event came since the last paint
const repaint = () => paint(scrolledSince);
const schedule = () => {
  if (!frame) frame = requestAnimationFrame(repaint);
};
const onScroll = () => {
  scrolledSince = true;
  schedule();
};

let pendingLoad = false;
async function loadMore() {
  if (pendingLoad) return;
  pendingLoad = true;
  try {
    await list.loadMore(PAGE); // joins a load already under way
  } catch (_) {
    return; // the count shows what was loaded; the next scroll tries again
  } finally {
    pendingLoad = false;
  }
  schedule(); // still short of the viewport (tall screens, fast scrolling): the next page
}

const filtering = () => Object.keys(params).length > 0;

/** The filter bar changed: a new listing from the server, the virtual list from its top. */
function setFilters(next) {
  if (filterKey(next) === filterKey(params)) return;
  params = next;
  if (list !== history) dropHistory(list);
  list = filtering() ? makeHistory(params, 'history:filtered') : history;
  for (const el of live.values()) el.remove();
  live.clear();
  selected = -1;
  clearPicks();
  els.scroll.scrollTop = 0;
  lastTop = 0;
  els.grid.dataset.filters = filterKey(params);
  render();
  if (state.view === 'gallery' && list.items.length === 0 && !list.done) loadMore();
}

function render() {
  if (!els.grid) return;
  const keep = selected >= 0 ? shown[selected] : null;
  shown = list.items.slice();
  // Filter options learn from the newest rows; favourites once rows carry `favorite`.
  learn(history.items.slice(0, 200), history.items.length > 0 && 'favorite' in history.items[0]);
  layout = computeLayout();
  els.grid.style.height = layout.height + 'px';
  els.grid.style.setProperty('--tile', layout.size + 'px');
  els.grid.dataset.columns = String(layout.cols);
  els.grid.dataset.count = String(shown.length);
  els.grid.dataset.done = String(list.done);
  selected = keep ? shown.indexOf(keep) : -1;
  const total = history.total != null ? history.total : history.items.length;
  els.count.textContent = filtering()
    ? t('gallery.filtered', { n: list.filteredTotal != null ? list.filteredTotal : shown.length, total })
    : t('gallery.count', { n: list.items.length, total });
  els.empty.hidden = !(list.done && shown.length === 0);
  clear(els.empty);
  if (!els.empty.hidden) {
    els.empty.append(tx('p', filtering() ? 'gallery.noMatch' : 'gallery.empty'),
      filtering() ? tx('button', 'gallery.clearSearch', { type: 'button', class: 'btn', id: 'gallery-clear',
        onclick: clearFilters })
        : tx('button', 'gallery.toStudio', { type: 'button', class: 'btn btn-primary', onclick: () => emit('view', 'studio') }));
  }
  renderBulk();
  paint();
}

const markSelected = () => markTiles(els.grid, selected, shown);

function reveal(i) {
  const r = layout.rows.find((row) => row.items && row.items.includes(i));
  if (!r) return;
  const s = els.scroll;
  if (r.top < s.scrollTop) s.scrollTop = r.top - HEAD_H;
  else if (r.top + r.h > s.scrollTop + s.clientHeight) s.scrollTop = r.top + r.h - s.clientHeight;
}

function select(index) {
  if (!shown.length) return;
  selected = Math.max(0, Math.min(shown.length - 1, index));
  reveal(selected);
  paint();
}

function openSelected() {
  if (selected < 0) return;
  // Unfiltered, the viewer walks the whole gallery (and loads pages as it goes).
  emit('viewer:open', { rows: filtering() || grouped ? shown : history.items, index: selected, onMove: (i) => select(i) });
}

function onTileClick(event) {
  const fav = event.target.closest('.tile-fav');
  if (fav) {
    favoriteOne(shown[Number(fav.dataset.fav)]);
    return;
  }
  const check = event.target.closest('.tile-check');
  const tile = check || event.target.closest('.tile');
  if (!tile) return;
  const i = Number(check ? check.dataset.pick : tile.dataset.index);
  selected = i;
  if (pickClick(event, i, shown, Boolean(check))) markSelected();
  else openSelected();
}

/** The rows, filter and number of matching images the bulk bar acts on. */
const bulkContext = () => ({ shown, params, matching: (filtering() ? list.filteredTotal : list.total) ?? shown.length });

function onKey(event) {
  if (!active() || event.altKey) return;
  if ((event.ctrlKey || event.metaKey) && event.key === 'a' && !isTyping(event)) {
    selectMatching();
    event.preventDefault();
    return;
  }
  if (event.ctrlKey || event.metaKey) return;
  if (isTyping(event)) {
    if (event.key === 'Escape' && event.target === searchBox()) searchBox().blur();
    if (event.key !== 'ArrowDown' || event.target !== searchBox()) return;
  }
  els.grid.classList.add('kbd'); // the cursor's tile shows its info until the mouse moves
  const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: layout.cols, ArrowUp: -layout.cols };
  if (event.key in moves) select(selected < 0 ? 0 : selected + moves[event.key]);
  else if (event.key === 'Home') select(0);
  else if (event.key === 'End') select(shown.length - 1);
  else if (event.key === 'Enter' || event.key === ' ') {
    if (selected < 0 || event.target.closest('button, a, label, input, select')) return;
    openSelected();
  } else if (event.key === 'Delete') {
    if (picked.size || pickedAll()) bulkDelete(shown);
    else if (selected >= 0) history.deleteWithUndo(shown[selected]);
    else return;
  } else if (event.key === 'Escape') {
    selected = -1;
    clearPicks();
  } else if (event.key === 'f' || event.key === 'F') favoritePicked(shown[selected]);
  else if ((event.key === 'x' || event.key === 'X') && selected >= 0) { // pick the cursor's image
    pickClick({ shiftKey: event.shiftKey }, selected, shown, true);
    markSelected();
  } else return;
  event.preventDefault();
}

async function loadTitles() {
  try {
    const data = await api.sessions();
    titles = {};
    for (const s of data.sessions || []) titles[s.id] = s.title;
  } catch (_) {
    titles = {};
  }
  render();
}

export function initGallery(root) {
  const filters = filterBar(setFilters);
  const groupBox = h('input', { type: 'checkbox', id: 'gallery-group', onchange: () => {
    grouped = groupBox.checked;
    if (grouped) loadTitles();
    render();
  } });
  els.count = h('span', { class: 'muted small', id: 'gallery-count', 'aria-live': 'polite' });
  els.grid = h('div', { class: 'gallery-body', id: 'gallery-grid', onclick: onTileClick });
  els.empty = h('div', { class: 'empty-state', id: 'gallery-empty', hidden: true });
  els.scroll = h('div', { class: 'gallery-scroll', id: 'gallery-scroll', onscroll: onScroll }, els.grid);
  els.bulk = bulkBar({ context: bulkContext, none: clearPicks, remove: () => bulkDelete(shown),
    onChange: () => paint() });
  els.grid.addEventListener('mouseover', (e) => infoFor(e.target.closest && e.target.closest('.tile')));
  els.grid.addEventListener('pointermove', () => els.grid.classList.remove('kbd'));
  root.append(h('div', { class: 'gallery-toolbar' },
    tx('h1', 'gallery.title', { id: 'gallery-h1', class: 'section-title' }),
    h('label', { class: 'check' }, groupBox, tx('span', 'gallery.group')), els.count,
    tx('p', 'gallery.keys', { class: 'muted small keys-hint' })), filters, els.bulk, els.empty, els.scroll);
  on('history', render);
  on('history:filtered', render);
  on('oauth', redrawFilters);
  on('assets:favorite', () => paint()); // a tile's star follows (its row key changed)
  on('assets:tags', () => paint());
  on('lang', () => { redrawFilters(); render(); });
  on('view', (view) => {
    if (view === 'gallery') {
      if (list.items.length === 0) loadMore();
      requestAnimationFrame(render);
    }
  });
  new ResizeObserver(() => {
    if (state.view === 'gallery') render();
  }).observe(els.scroll);
  document.addEventListener('keydown', onKey);
  render(); // first opened now (main.js loads the gallery on demand)
}
