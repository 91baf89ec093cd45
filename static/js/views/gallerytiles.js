// views/gallerytiles.js — the gallery's rows of tiles: a tile (thumbnail only) opens the viewer,
// its circle selects and its star favourites (siblings: a button holds no button); hover info
// (prompt, size, model, date, tags) is made when a tile is first pointed at or selected; a
// fling gets empty rows. Must not: lay out, scroll or keep state.
import { h, icon, fmtDate } from '../dom.js';
import { t } from '../i18n.js';
import { thumbOf } from '../history.js';
import { picked, pickedAll } from './gallerypick.js';

/**
 * One row of the grid: the tiles of rows[items] (indexes into `shown`), or nothing while flinging.
 * @param {number[]} items
 * @param {any[]} shown
 * @param {boolean} fast
 * @returns {HTMLElement}
 */
export function tileRow(items, shown, fast) {
  // A fling (more than a screen a frame) draws nothing but the date headers: an empty area
  // needs no raster and composites as one colour (per frame ~4 ms less CPU than grey blocks).
  if (fast) return h('div', { class: 'gallery-row gallery-skeleton', hidden: true });
  const el = h('div', { class: 'gallery-row' });
  const all = pickedAll();
  for (const i of items) {
    const row = shown[i];
    const fav = row.favorite === true;
    // Focus stays on the page (tabindex -1): the keyboard moves a cursor, not the focus.
    el.append(h('div', { class: 'tile-wrap' + (fav ? ' is-fav' : '') },
      h('button', { type: 'button', class: 'tile gallery-tile', tabindex: -1,
        dataset: { filename: row.filename, index: String(i) },
        'aria-pressed': all || picked.has(row.filename) ? 'true' : 'false' },
      h('img', { src: thumbOf(row), decoding: 'async', width: 128, height: 128,
        alt: row.prompt || row.filename }), row.provider === 'offline'
        ? h('span', { class: 'badge offline-badge', text: t('provider.offline') }) : null),
      h('button', { type: 'button', class: 'tile-check', tabindex: -1, 'aria-label': t('gallery.pick'),
        dataset: { pick: String(i) } }),
      h('button', { type: 'button', class: 'tile-fav', tabindex: -1, 'aria-label': t('gallery.fav'),
        'aria-pressed': fav ? 'true' : 'false', dataset: { fav: String(i) } }, icon('star'))));
  }
  return el;
}

/**
 * What a row of tiles shows (its names, stars and tag counts): a row whose key is unchanged
 * survives a re-layout.
 * @param {number[]} items
 * @param {any[]} shown
 */
export const tilesKey = (items, shown) => items.map((i) => shown[i].filename
  + (shown[i].favorite ? '*' : '') + (shown[i].tags ? shown[i].tags.length : '')).join('|');

/**
 * The hover info of a tile, made once.
 * @param {Element|null} tile
 * @param {any[]} shown
 */
export function tileInfo(tile, shown) {
  if (!tile || !(tile instanceof HTMLElement) || tile.querySelector('.tile-info')) return;
  const row = shown[Number(tile.dataset.index)];
  if (!row) return;
  const meta = [row.size ? String(row.size).replace('x', '×') : null, row.model].filter(Boolean).join(' · ');
  tile.append(h('span', { class: 'tile-info', 'aria-hidden': 'true' },
    h('span', { class: 'tile-prompt', text: row.userPrompt || row.prompt || row.filename }),
    meta ? h('span', { class: 'tile-meta', text: meta }) : null,
    row.createdAt ? h('span', { class: 'tile-meta', text: fmtDate(row.createdAt) }) : null,
    row.tags && row.tags.length ? h('span', { class: 'tile-tags', text: row.tags.map((x) => '#' + x).join(' ') })
      : null));
}

/**
 * The tiles in the DOM show the selection and the keyboard cursor (only those: the picked set
 * may be 50,000 names).
 * @param {HTMLElement} grid
 * @param {number} selected
 * @param {any[]} shown
 */
export function markTiles(grid, selected, shown) {
  const all = pickedAll();
  for (const el of Array.from(grid.getElementsByClassName('tile'))) {
    if (!(el instanceof HTMLElement)) continue;
    const on = all || picked.has(el.dataset.filename);
    if ((el.getAttribute('aria-pressed') === 'true') !== on) el.setAttribute('aria-pressed', on ? 'true' : 'false');
    const cur = Number(el.dataset.index) === selected;
    if (el.classList.contains('selected') !== cur) {
      el.classList.toggle('selected', cur);
      if (cur) {
        el.setAttribute('aria-current', 'true');
        tileInfo(el, shown);
      } else el.removeAttribute('aria-current');
    }
  }
  grid.classList.toggle('picking', picked.size > 0 || all);
}
