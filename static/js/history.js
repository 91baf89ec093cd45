// history.js — the gallery's data, shared by the rail, the full gallery and the viewer:
// cursor pagination over /api/history (every image reachable, no cap), refreshing the newest
// page after generations, delete with a 10-second Undo (restore with the trashId).
// Announces 'history' on the bus. Must not: build DOM beyond the Undo toast.
import { api, encodePath } from './api.js';
import { emit, on } from './state.js';
import { toast } from './dom.js';
import { t } from './i18n.js';

export const PAGE = 50;
const UNDO_MS = 10000;
const INDEXING_RETRY_MS = 1000;

const items = [];
const byName = new Map();
let cursor; // undefined: nothing loaded yet; null: no more pages
let loading = null;
let total = null;

const newer = (a, b) => (b.createdAt - a.createdAt) || (a.filename < b.filename ? 1 : -1);

function usable(row) {
  return row && typeof row.filename === 'string' && row.url && row.kind !== 'card-news-set';
}

function add(row) {
  if (!usable(row) || byName.has(row.filename)) return false;
  byName.set(row.filename, row);
  items.push(row);
  return true;
}

let sorted = 0; // items[0..sorted) are known to be in order
function announce() {
  // Older pages append in order: only sort when something landed out of place.
  for (let i = Math.max(1, sorted); i < items.length; i += 1) {
    if (newer(items[i - 1], items[i]) > 0) {
      items.sort(newer);
      break;
    }
  }
  sorted = items.length;
  emit('history', { items, total, done: cursor === null });
}

// The server answers from a partial index while it starts up (`indexing: true`): read the
// listing again until the index is complete, so a large gallery is never shown half.
let reindexTimer = null;
function reloadWhenIndexed() {
  if (reindexTimer) return;
  reindexTimer = setTimeout(() => {
    reindexTimer = null;
    items.splice(0, items.length);
    byName.clear();
    cursor = undefined;
    sorted = 0;
    history.loadMore();
  }, INDEXING_RETRY_MS);
}

export const history = {
  items,
  get done() {
    return cursor === null;
  },
  get total() {
    return total;
  },
  get loading() {
    return Boolean(loading);
  },
  get(filename) {
    return byName.get(filename) || null;
  },

  /** Load the next page (the first one when nothing is loaded). */
  loadMore(limit = PAGE) {
    if (loading) return loading;
    if (cursor === null) return Promise.resolve(false);
    const params = { limit };
    if (cursor) {
      params.before = cursor.before;
      params.beforeFilename = cursor.beforeFilename;
    }
    loading = api.history(params).then((data) => {
      (data.items || []).forEach(add);
      cursor = data.nextCursor || null;
      total = Number.isFinite(data.total) ? data.total : total;
      announce();
      if (data.indexing) reloadWhenIndexed();
      return true;
    }).finally(() => {
      loading = null;
    });
    return loading;
  },

  /** Pick up images added since the first page was read (after a generation, other tabs). */
  async refreshTop() {
    if (cursor === undefined) return this.loadMore();
    const data = await api.history({ limit: PAGE });
    const rows = data.items || [];
    const overlap = rows.some((row) => byName.has(row.filename));
    if (!overlap && rows.length >= PAGE) {
      // More new images than one page: start over so no gap is left in the listing.
      items.splice(0, items.length);
      byName.clear();
      cursor = data.nextCursor || null;
    }
    rows.forEach(add);
    total = Number.isFinite(data.total) ? data.total : total;
    announce();
    return true;
  },

  remove(filename) {
    const row = byName.get(filename);
    if (!row) return;
    byName.delete(filename);
    items.splice(items.indexOf(row), 1);
    if (total) total -= 1;
    announce();
  },

  insert(row) {
    if (add(row)) {
      if (total != null) total += 1;
      announce();
    }
  },

  /** Move an image to the trash and offer Undo for ten seconds. */
  async deleteWithUndo(row) {
    const filename = row.filename;
    let result;
    try {
      result = await api.deleteAsset(filename);
    } catch (err) {
      toast(t('gallery.deleteFailed', { message: err.message }), { kind: 'error' });
      return null;
    }
    const known = byName.get(filename) || row;
    this.remove(filename);
    emit('assets:deleted', { filename, result });
    const left = result && result.unlinkAt ? Math.min(UNDO_MS, result.unlinkAt - Date.now()) : UNDO_MS;
    toast(t('gallery.deleted', { name: filename }), {
      timeout: Math.max(1000, left),
      action: { label: t('gallery.undo'), run: () => this.restore(known, result.trashId) },
    });
    return result;
  },

  /** Move several images to the trash with one Undo for all of them. */
  async deleteManyWithUndo(rows) {
    const done = [];
    for (const row of rows) {
      try {
        done.push([byName.get(row.filename) || row, await api.deleteAsset(row.filename)]);
      } catch (err) {
        toast(t('gallery.deleteFailed', { message: err.message }), { kind: 'error' });
        break;
      }
    }
    for (const [row, result] of done) {
      byName.delete(row.filename);
      const at = items.indexOf(row);
      if (at >= 0) items.splice(at, 1);
      if (total) total -= 1;
      emit('assets:deleted', { filename: row.filename, result });
    }
    announce();
    if (!done.length) return [];
    toast(t('gallery.deletedMany', { n: done.length }), { timeout: UNDO_MS, action: { label: t('gallery.undo'),
      run: async () => {
        for (const [row, result] of done) await this.restore(row, result.trashId, true);
        toast(t('gallery.restoredMany', { n: done.length }));
      } } });
    return done;
  },

  async restore(row, trashId, quiet = false) {
    try {
      await api.restoreAsset(row.filename, trashId);
    } catch (err) {
      toast(t('gallery.restoreFailed', { message: err.message }), { kind: 'error' });
      return false;
    }
    this.insert(row);
    emit('assets:restored', { filename: row.filename });
    if (!quiet) toast(t('gallery.restored', { name: row.filename }));
    return true;
  },
};

/** The thumbnail URL of a row: the server's thumbUrl, else the ?thumb= form. */
export function thumbOf(row) {
  if (row.thumbUrl) return row.thumbUrl;
  const url = row.url || '/generated/' + encodePath(row.filename);
  return url + (url.includes('?') ? '&' : '?') + 'thumb=256';
}

export function fullOf(row) {
  return row.url || '/generated/' + encodePath(row.filename);
}

/** Case-insensitive match of every word against the prompts and the file name. */
export function matches(row, query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return true;
  const hay = [row.prompt, row.userPrompt, row.revisedPrompt, row.filename]
    .filter((v) => typeof v === 'string').join('\n').toLowerCase();
  return words.every((w) => hay.includes(w));
}

on('history:refresh', () => {
  history.refreshTop().catch(() => {});
});
