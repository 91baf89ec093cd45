// views/gallery.js — the full gallery: every image (infinite scroll over cursor pages),
// search over prompts and file names, grouping by session, keyboard navigation that works
// without focusing an image (arrows, Home/End, Enter opens, Delete, Esc), delete with Undo.
// Must not: request full-size images for tiles (thumbnails only).
import { h, tx, clear, isTyping } from '../dom.js';
import { t } from '../i18n.js';
import { on, emit, state } from '../state.js';
import { api } from '../api.js';
import { history, matches } from '../history.js';
import { tile, infiniteScroll } from './rail.js';

let grid = null;
let scroller = null;
let search = null;
let grouped = false;
let count = null;
let shown = []; // rows in display order
let selected = -1;
const tiles = new Map();
let titles = {};
let searching = false;
const SEARCH_PAGE = 500; // the server's default IMA2_HISTORY_MAX_PAGE

const active = () => state.view === 'gallery' && !document.querySelector('.viewer:not([hidden])');

function groupsOf(rows) {
  const groups = new Map();
  for (const row of rows) {
    const key = row.sessionId || '';
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(row);
  }
  return Array.from(groups.entries());
}

function labelOf(sessionId) {
  if (!sessionId) return t('gallery.noSession');
  return titles[sessionId] || sessionId.slice(0, 8);
}

function tileFor(row) {
  let el = tiles.get(row.filename);
  if (!el) {
    el = tile(row, () => {
      select(shown.indexOf(row));
      openSelected();
    }, 'tile gallery-tile');
    el.tabIndex = -1;
    tiles.set(row.filename, el);
  }
  return el;
}

function render() {
  if (!grid) return;
  const query = search.value.trim();
  const rows = history.items.filter((row) => matches(row, query));
  const keep = selected >= 0 ? shown[selected] : null;
  clear(grid);
  if (grouped) {
    shown = [];
    for (const [sessionId, list] of groupsOf(rows)) {
      const sec = h('div', { class: 'gallery-grid' });
      list.forEach((row) => sec.append(tileFor(row)));
      shown.push(...list);
      grid.append(h('section', { class: 'gallery-group', dataset: { session: sessionId } },
        h('h3', { class: 'rail-group-title', text: labelOf(sessionId) }), sec));
    }
  } else {
    shown = rows;
    const sec = h('div', { class: 'gallery-grid' });
    rows.forEach((row) => sec.append(tileFor(row)));
    grid.append(sec);
  }
  const alive = new Set(history.items.map((r) => r.filename));
  for (const name of Array.from(tiles.keys())) if (!alive.has(name)) tiles.delete(name);
  selected = keep ? shown.indexOf(keep) : -1;
  markSelected();
  const total = history.total != null ? history.total : history.items.length;
  count.textContent = query
    ? t(history.done ? 'gallery.matches' : 'gallery.searching',
      { n: rows.length, loaded: history.items.length, total })
    : t('gallery.count', { n: history.items.length, total });
  if (query && !history.done) searchAll();
}

/** While a search is active, keep loading pages so every image is searched. */
async function searchAll() {
  if (searching) return;
  searching = true;
  try {
    // Bigger pages while searching: fewer round trips and re-renders over a large gallery.
    while (search.value.trim() && !history.done) await history.loadMore(SEARCH_PAGE);
  } catch (_) {
    // a failed page ends the search; the count shows what was searched
  } finally {
    searching = false;
  }
}

function markSelected() {
  for (const el of grid.querySelectorAll('.tile.selected')) {
    el.classList.remove('selected');
    el.removeAttribute('aria-current');
  }
  const row = shown[selected];
  if (!row) return;
  const el = tiles.get(row.filename);
  el.classList.add('selected');
  el.setAttribute('aria-current', 'true');
  el.scrollIntoView({ block: 'nearest' });
}

function select(index) {
  if (!shown.length) return;
  selected = Math.max(0, Math.min(shown.length - 1, index));
  markSelected();
  if (selected >= shown.length - 8 && !history.done) history.loadMore().catch(() => {});
}

function columns() {
  const els = Array.from(grid.querySelectorAll('.tile'));
  if (els.length < 2) return 1;
  const top = els[0].offsetTop;
  const n = els.findIndex((el) => el.offsetTop !== top);
  return n < 0 ? els.length : n;
}

function openSelected() {
  if (selected < 0) return;
  emit('viewer:open', { rows: shown, index: selected, onMove: (i) => select(i) });
}

function onKey(event) {
  if (!active() || event.altKey || event.ctrlKey || event.metaKey) return;
  if (isTyping(event)) {
    if (event.key === 'Escape' && event.target === search) search.blur();
    if (event.key !== 'ArrowDown' || event.target !== search) return;
  }
  const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(), ArrowUp: -columns() };
  if (event.key in moves) {
    select(selected < 0 ? 0 : selected + moves[event.key]);
  } else if (event.key === 'Home') {
    select(0);
  } else if (event.key === 'End') {
    select(shown.length - 1);
  } else if (event.key === 'Enter' || event.key === ' ') {
    if (selected < 0 || event.target.closest('button, a, label, input, select')) return;
    openSelected();
  } else if (event.key === 'Delete') {
    if (selected < 0) return;
    history.deleteWithUndo(shown[selected]);
  } else if (event.key === 'Escape') {
    selected = -1;
    markSelected();
  } else {
    return;
  }
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
  search = h('input', { type: 'search', id: 'gallery-search', class: 'input',
    'data-i18n-placeholder': 'gallery.search', placeholder: t('gallery.search'),
    'aria-label': t('gallery.search'), oninput: render });
  const groupBox = h('input', { type: 'checkbox', id: 'gallery-group', onchange: () => {
    grouped = groupBox.checked;
    if (grouped) loadTitles();
    render();
  } });
  count = h('span', { class: 'muted small', id: 'gallery-count', 'aria-live': 'polite' });
  grid = h('div', { class: 'gallery-body', id: 'gallery-grid' });
  const sentinel = h('div', { class: 'sentinel', 'aria-hidden': 'true' });
  scroller = h('div', { class: 'gallery-scroll', id: 'gallery-scroll' }, grid, sentinel);
  root.append(h('div', { class: 'gallery-toolbar' },
    tx('h2', 'gallery.title', { class: 'section-title' }), search,
    h('label', { class: 'check' }, groupBox, tx('span', 'gallery.group')), count,
    tx('p', 'gallery.keys', { class: 'muted small keys-hint' })), scroller);
  on('history', render);
  on('lang', render);
  on('view', (view) => {
    if (view === 'gallery' && history.items.length === 0) history.loadMore().catch(() => {});
  });
  document.addEventListener('keydown', onKey);
  infiniteScroll(scroller, sentinel, () => state.view === 'gallery');
  render();
}
