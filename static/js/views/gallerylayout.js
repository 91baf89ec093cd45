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

/** {shown (grouped order), rows: [{top, h, head} | {top, h, items: [indexes]}], height, cols,
 *  size}; `missing` images not loaded yet get empty space so the scrollbar stays honest. */
export function layoutOf(list, { width, grouped, missing = 0 }) {
  const w = Math.max(1, width);
  const min = w < 500 ? 96 : 140;
  const cols = Math.max(1, Math.floor((w + GAP) / (min + GAP)));
  const size = Math.floor((w - GAP * (cols - 1)) / cols);
  const now = Date.now();
  const day = new Date(now).setHours(0, 0, 0, 0);
  if (day !== cacheDay) {
    cache = new WeakMap();
    cacheDay = day;
  }
  const sections = new Map();
  for (const row of list) {
    const key = sectionOf(row, now, grouped);
    if (!sections.has(key)) sections.set(key, []);
    sections.get(key).push(row);
  }
  const rows = [];
  let top = 0;
  let at = 0;
  for (const [key, part] of sections) {
    rows.push({ top, h: HEAD_H, head: key });
    top += HEAD_H;
    for (let k = 0; k < part.length; k += cols) {
      const items = [];
      for (let c = k; c < Math.min(part.length, k + cols); c += 1) items.push(at + c);
      rows.push({ top, h: size + GAP, items });
      top += size + GAP;
    }
    at += part.length;
  }
  return { shown: [].concat(...sections.values()), rows, cols, size,
    height: top + Math.ceil(missing / cols) * (size + GAP) };
}
