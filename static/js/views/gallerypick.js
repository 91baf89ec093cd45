// views/gallerypick.js — the gallery's multi-select: Ctrl/⌘-click toggles, Shift-click picks a
// range, and the bulk bar (count, select all, clear, delete with one Undo). Future bulk actions
// (favourite, tag, export, share) belong here. Must not: lay out or render tiles.
import { h, tx } from '../dom.js';
import { t } from '../i18n.js';
import { history } from '../history.js';

export const picked = new Set(); // filenames
let anchor = -1;
let bar = null;
let count = null;

/** A tile click; true when it changed the selection (false: a plain click that opens). */
export function pickClick(event, i, shown) {
  if (event.shiftKey && anchor >= 0) {
    for (let k = Math.min(anchor, i); k <= Math.max(anchor, i); k += 1) picked.add(shown[k].filename);
  } else if (event.ctrlKey || event.metaKey || picked.size) {
    if (picked.has(shown[i].filename)) picked.delete(shown[i].filename);
    else picked.add(shown[i].filename);
  } else {
    anchor = i;
    return false;
  }
  anchor = i;
  renderBulk();
  return true;
}

export function renderBulk() {
  if (!bar) return;
  bar.hidden = picked.size === 0;
  count.textContent = t('gallery.selected', { n: picked.size });
}

export async function bulkDelete(shown) {
  const rows = shown.filter((r) => picked.has(r.filename));
  picked.clear();
  renderBulk();
  await history.deleteManyWithUndo(rows);
}

export function bulkBar({ all, none, remove }) {
  count = h('span', { id: 'bulk-count' });
  bar = h('div', { class: 'bulk-bar', id: 'bulk-bar', role: 'toolbar', 'aria-label': t('gallery.bulk'), hidden: true },
    count,
    tx('button', 'gallery.selectAll', { type: 'button', class: 'btn btn-small', onclick: all }),
    tx('button', 'gallery.clearSelection', { type: 'button', class: 'btn btn-small', onclick: none }),
    tx('button', 'gallery.deleteSelected', { type: 'button', class: 'btn btn-small danger', id: 'bulk-delete',
      onclick: remove }));
  return bar;
}
