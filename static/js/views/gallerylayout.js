// views/gallerylayout.js — the gallery's virtual layout: rows of square tiles under section
// headers (Today, Yesterday, This week, then months; or sessions), with their pixel offsets,
// so the gallery only puts the rows in view into the DOM. Must not: touch the DOM.
import { dayGroup } from '../dom.js';
import { t, getLang } from '../i18n.js';

export const GAP = 8;
export const HEAD_H = 34;

let cache = new WeakMap(); // row -> section key, valid for one calendar day
let cacheDay = 0;

function sectionOf(row, now, grouped) {
  if (grouped) return row.sessionId || '';
  let key = cache.get(row);
  if (key === undefined) {
    key = dateKey(row, now);
    cache.set(row, key);
  }
  return key;
}

function dateKey(row, now) {
  const g = dayGroup(row.createdAt, now);
  if (g !== 'earlier') return g;
  const d = new Date(row.createdAt);
  return d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0');
}

export function sectionTitle(key, grouped, titles) {
  if (grouped) return key ? titles[key] || key.slice(0, 8) : t('gallery.noSession');
  if (['today', 'yesterday', 'week'].includes(key)) return t('rail.group.' + key);
  const [y, m] = key.split('-').map(Number);
  try {
    return new Date(y, m - 1, 1).toLocaleDateString(getLang(), { year: 'numeric', month: 'long' });
  } catch (_) {
    return key;
  }
}

function metrics(width) {
  const w = Math.max(1, width);
  const min = w < 500 ? 96 : 140;
  const cols = Math.max(1, Math.floor((w + GAP) / (min + GAP)));
  return { cols, size: Math.floor((w - GAP * (cols - 1)) / cols) };
}

function today() {
  const day = new Date(Date.now()).setHours(0, 0, 0, 0);
  if (day !== cacheDay) {
    cache = new WeakMap();
    cacheDay = day;
  }
}

/** Lay out list[from..] after `base` (a layout of list[0..from) with the same width), in
 * place; false when the new rows do not continue its sections (then lay out everything). */
function extend(base, list, from, now, grouped) {
  const { cols, size } = base;
  const rows = base.rows;
  const seen = base.seen;
  let key = base.lastKey;
  // The last row of the last section may be partial: take it up again.
  let start = from;
  const last = rows[rows.length - 1];
  if (last && last.items && last.items.length < cols) {
    rows.pop();
    start = from - last.items.length;
  }
  let top = rows.length ? rows[rows.length - 1].top + rows[rows.length - 1].h : 0;
  let k = start; // first index of the row being filled
  for (let i = from; i < list.length; i += 1) {
    const next = sectionOf(list[i], now, grouped);
    if (next !== key) {
      if (seen.has(next)) return false; // a section already closed: not contiguous
      if (k < i) { // close the section's last row
        rows.push({ top, h: size + GAP, items: range(k, i) });
        top += size + GAP;
      }
      seen.add(next);
      key = next;
      rows.push({ top, h: HEAD_H, head: key });
      top += HEAD_H;
      k = i;
    } else if (i - k === cols) {
      rows.push({ top, h: size + GAP, items: range(k, i) });
      top += size + GAP;
      k = i;
    }
  }
  if (k < list.length) {
    rows.push({ top, h: size + GAP, items: range(k, list.length) });
    top += size + GAP;
  }
  base.lastKey = key;
  base.body = top;
  base.count = list.length;
  base.shown = list;
  return true;
}

function range(a, b) {
  const out = [];
  for (let i = a; i < b; i += 1) out.push(i);
  return out;
}

/** {shown (grouped order), rows: [{top, h, head} | {top, h, items: [indexes]}], height, cols,
 *  size}; `missing` images not loaded yet get empty space so the scrollbar stays honest.
 *  Given `prev` (the layout of a prefix of `list` at the same width: a new page landed), only
 *  the new rows are laid out. */
export function layoutOf(list, { width, grouped, missing = 0, prev = null }) {
  const { cols, size } = metrics(width);
  const now = Date.now();
  today();
  if (prev && prev.cols === cols && prev.size === size && prev.grouped === grouped && prev.day === cacheDay
      && prev.count > 0 && prev.count <= list.length && list[prev.count - 1] === prev.shown[prev.count - 1]
      && list[0] === prev.shown[0]) {
    const out = { ...prev, rows: prev.rows, seen: prev.seen };
    if (extend(out, list, prev.count, now, grouped)) {
      out.height = out.body + Math.ceil(missing / cols) * (size + GAP);
      return out;
    }
  }
  const base = { cols, size, grouped, day: cacheDay, rows: [], seen: new Set(), lastKey: undefined,
    count: 0, shown: list, body: 0 };
  if (!extend(base, list, 0, now, grouped)) return layoutGrouped(list, { cols, size, grouped, missing, now });
  base.height = base.body + Math.ceil(missing / cols) * (size + GAP);
  return base;
}

/** Sections not contiguous in the list (sessions interleaved in time): gather them first. */
function layoutGrouped(list, { cols, size, grouped, missing, now }) {
  const sections = new Map();
  for (const row of list) {
    const key = sectionOf(row, now, grouped);
    if (!sections.has(key)) sections.set(key, []);
    sections.get(key).push(row);
  }
  const shown = [].concat(...sections.values());
  // Contiguous now, so the plain layout applies; it is not extendable (order differs).
  const out = { cols, size, grouped, day: cacheDay, rows: [], seen: new Set(), lastKey: undefined,
    count: 0, shown, body: 0 };
  extend(out, shown, 0, now, grouped);
  out.count = 0; // never extended: its order is not the list's
  out.height = out.body + Math.ceil(missing / cols) * (size + GAP);
  return out;
}
