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

const stores = new Set(); // every live listing: a delete or restore anywhere updates them all
const restoring = new Set(); // file names this tab is restoring (their live event is ours)

const newer = (a, b) => (b.createdAt - a.createdAt) || (a.filename < b.filename ? 1 : -1);
const older = (a, b) => -newer(a, b);

function usable(row) {
  return row && typeof row.filename === 'string' && row.url && row.kind !== 'card-news-set';
}

/** A listing of /api/history: `filters` are the server's query parameters (q, model, quality,
 * size, renderPath, favorite, from, to, sort); `topic` is the bus event it announces. */
export function makeHistory(filters = {}, topic = 'history') {
  const items = [];
  const byName = new Map();
  let cursor; // undefined: nothing loaded yet; null: no more pages
  let loading = null;
  let total = null;
  let filteredTotal = null;
  let generation = 0; // bumped by reset(): answers for an older listing are dropped
  const oldest = filters.sort === 'oldest';
  const order = oldest ? older : newer;

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
      if (order(items[i - 1], items[i]) > 0) {
        items.sort(order);
        break;
      }
    }
    sorted = items.length;
    emit(topic, { items, total, done: cursor === null });
  }

  // The server answers from a partial index while it starts up (`indexing: true`): read the
  // listing again until the index is complete, so a large gallery is never shown half.
  let reindexTimer = null;
  function reloadWhenIndexed() {
    if (reindexTimer) return;
    reindexTimer = setTimeout(() => {
      reindexTimer = null;
      store.reset().catch(() => {});
    }, INDEXING_RETRY_MS);
  }

  const store = {
    items,
    filters,
    get filteredTotal() {
      return filteredTotal;
    },
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
      const params = { ...filters, limit };
      if (cursor) Object.assign(params, cursor);
      const mine = generation;
      const done = api.history(params).then((data) => {
        if (mine !== generation) return false;
        (data.items || []).forEach(add);
        cursor = data.nextCursor || null;
        total = Number.isFinite(data.total) ? data.total : total;
        filteredTotal = Number.isFinite(data.filteredTotal) ? data.filteredTotal : filteredTotal;
        announce();
        if (data.indexing) reloadWhenIndexed();
        return true;
      }).finally(() => {
        if (loading === done) loading = null;
      });
      loading = done;
      return loading;
    },

    /** Forget everything loaded and start again from the first page (a `reset` event, or an
     * image restored elsewhere that may belong anywhere in the listing). */
    reset() {
      generation += 1;
      items.splice(0, items.length);
      byName.clear();
      cursor = undefined;
      loading = null;
      sorted = 0;
      return this.loadMore();
    },

    /** Pick up images added since the first page was read (after a generation, other tabs). */
    async refreshTop() {
      if (cursor === undefined) return this.loadMore();
      if (oldest) {
        // New images come last: only a listing that reached its end shows them.
        if (cursor === null) return this.reset();
        return false;
      }
      const mine = generation;
      const data = await api.history({ ...filters, limit: PAGE });
      if (mine !== generation) return false;
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
      filteredTotal = Number.isFinite(data.filteredTotal) ? data.filteredTotal : filteredTotal;
      announce();
      return true;
    },

    remove(filename) {
      const row = byName.get(filename);
      if (!row) return;
      byName.delete(filename);
      items.splice(items.indexOf(row), 1);
      if (total) total -= 1;
      if (filteredTotal) filteredTotal -= 1;
      announce();
    },

    insert(row) {
      if (add(row)) {
        if (total != null) total += 1;
        if (filteredTotal != null) filteredTotal += 1;
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
      emit('assets:deleted', { filename, result, from: store });
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
        if (filteredTotal) filteredTotal -= 1;
        emit('assets:deleted', { filename: row.filename, result, from: store });
      }
      announce();
      if (!done.length) return [];
      toast(t('gallery.deletedMany', { n: done.length }), { timeout: UNDO_MS, action: { label: t('gallery.undo'),
        run: async () => {
          let back = 0;
          for (const [row, result] of done) if (await this.restore(row, result.trashId, true)) back += 1;
          if (back) toast(t('gallery.restoredMany', { n: back }));
        } } });
      return done;
    },

    async restore(row, trashId, quiet = false) {
      restoring.add(row.filename);
      try {
        await api.restoreAsset(row.filename, trashId);
      } catch (err) {
        toast(undoFailed(err), { kind: 'error', timeout: 8000 });
        return false;
      } finally {
        restoring.delete(row.filename);
      }
      this.insert(row);
      emit('assets:restored', { filename: row.filename, row, from: store });
      if (!quiet) toast(t('gallery.restored', { name: row.filename }));
      return true;
    },
  };
  stores.add(store);
  return store;
}

/** Why an Undo failed; plainly when a toast held open outlived the trash's window (TTL). */
export const undoFailed = (err) => (err && err.code === 'TRASH_NOT_FOUND' ? t('gallery.undoExpired')
  : t('gallery.restoreFailed', { message: err.message }));

/** The whole gallery, newest first: the rail, the results, the viewer and the unfiltered gallery. */
export const history = makeHistory();

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

let refreshing = null;
let again = false;
/** New images (after a generation, from the live stream, other tabs): every listing picks up
 * its newest page; calls during a refresh are folded into one more. */
function refreshAll() {
  if (refreshing) {
    again = true;
    return;
  }
  refreshing = Promise.all(Array.from(stores, (s) => s.refreshTop().catch(() => {}))).finally(() => {
    refreshing = null;
    if (again) {
      again = false;
      refreshAll();
    }
  });
}

on('history:refresh', refreshAll);

// A delete or restore made through one listing updates the others.
on('assets:deleted', ({ filename }) => {
  for (const s of stores) s.remove(filename);
});
on('assets:restored', ({ row, from }) => {
  for (const s of stores) {
    if (s === from || !row || s.get(row.filename)) continue;
    if (Object.keys(s.filters).length) s.reset().catch(() => {}); // does it match? the server says
    else s.insert(row);
  }
});

/** Live changes from GET /api/events (views/live.js) → every listing. */
on('live:image', ({ type, filename }) => {
  if (type === 'image.saved') refreshAll();
  else if (type === 'image.deleted') {
    if (Array.from(stores).some((s) => s.get(filename))) emit('assets:deleted', { filename });
  } else if (type === 'image.restored' && !restoring.has(filename)) {
    // Restored elsewhere: its place in each listing is unknown here, so reload them.
    if (!Array.from(stores).some((s) => s.get(filename))) {
      for (const s of stores) s.reset().catch(() => {});
      emit('assets:restored', { filename });
    }
  }
});
on('live:reset', () => {
  for (const s of stores) s.reset().catch(() => {});
});

/** Every live listing (library.js updates their rows after a favourite, tag or bulk change). */
export const listings = () => Array.from(stores);

/** Stop updating a listing the page no longer shows. */
export function dropHistory(store) {
  if (store !== history) stores.delete(store);
}
