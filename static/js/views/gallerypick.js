// views/gallerypick.js — the gallery's multi-select and its bulk bar. A tile's circle,
// Ctrl/⌘-click and Shift-click (a range) pick images; "Select all N matching" picks the whole
// current filter on the server side (not only the loaded rows). The bar favourites,
// unfavourites, tags / untags (POST /api/history/bulk by names or by the filter), deletes with
// one Undo, downloads the export zip and shares picked images (the share dialog, views/share.js).
// Must not: lay out or render tiles.
import { h, tx, icon, toast } from '../dom.js';
import { t } from '../i18n.js';
import { history, undoFailed } from '../history.js';
import { api } from '../api.js';
import { emit } from '../state.js';
import { bulkAction, exportUrl, reloadAll, setFavorite } from '../library.js';
import { share } from './actions.js';

export const picked = new Set(); // filenames
let all = false; // every image matching the current filter is picked (server side)
let anchor = -1;
let bar = null;
const els = {};
/** What the gallery shows: its rows, filter parameters and how many images match them. */
let ctx = () => ({ shown: [], params: {}, matching: 0 });
let changed = () => {};

export const pickedAll = () => all;

/** Nothing picked any more. */
export function clearPicks() {
  picked.clear();
  all = false;
  anchor = -1;
  renderBulk();
}

/** The filter mode becomes explicit names (the loaded rows), so one of them can be dropped. */
function explicit(shown) {
  if (!all) return;
  all = false;
  for (const r of shown) picked.add(r.filename);
}

/** A tile click; true when it changed the selection (false: a plain click that opens). */
export function pickClick(event, i, shown, viaCheck = false) {
  if (event.shiftKey && anchor >= 0) {
    explicit(shown);
    for (let k = Math.min(anchor, i); k <= Math.max(anchor, i); k += 1) picked.add(shown[k].filename);
  } else if (viaCheck || event.ctrlKey || event.metaKey || picked.size || all) {
    explicit(shown);
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

/** Pick the loaded rows, or every matching image (`matching`: the server's count). */
export function selectMatching() {
  const { shown, matching } = ctx();
  if (matching > shown.length) {
    picked.clear();
    all = true;
  } else shown.forEach((r) => picked.add(r.filename));
  renderBulk();
}

export function renderBulk() {
  if (!bar) return;
  const { shown, matching } = ctx();
  bar.hidden = picked.size === 0 && !all;
  els.count.textContent = all ? t('gallery.selectedAll', { n: matching }) : t('gallery.selected', { n: picked.size });
  els.matching.hidden = all || matching <= picked.size || matching <= 1;
  els.matching.textContent = matching > shown.length ? t('gallery.selectMatching', { n: matching }) : t('gallery.selectAll');
  els.share.hidden = all;
  changed();
}

/** The bulk API's selection: the picked names, or the current filter. */
function selection() {
  return all ? { filter: { ...ctx().params } } : { filenames: Array.from(picked) };
}

const count = () => (all ? ctx().matching : picked.size);

async function run(action, tags) {
  try {
    const answer = await bulkAction(action, selection(), tags);
    const n = answer && Number.isFinite(answer.done) ? answer.done : count();
    const key = { favorite: 'gallery.favDone', unfavorite: 'gallery.unfavDone', tag: 'gallery.tagDone',
      untag: 'gallery.untagDone' }[action];
    toast(t(key, { n, tag: tags ? tags[0] : '' }));
  } catch (err) {
    toast(t('gallery.bulkFailed', { message: err.message }), { kind: 'error', timeout: 8000 });
  }
  changed();
}

/** One image's star. */
export async function favoriteOne(row) {
  if (!row) return;
  try {
    await setFavorite(row.filename, row.favorite !== true);
  } catch (err) {
    toast(t('gallery.favFailed', { message: err.message }), { kind: 'error' });
  }
}

/** F: favourite the picked images (unfavourite them when every loaded one already is), else
 * the keyboard cursor's image (`current`). */
export function favoritePicked(current) {
  if (!picked.size && !all) return favoriteOne(current);
  const rows = ctx().shown.filter((r) => all || picked.has(r.filename));
  return run(rows.length && rows.every((r) => r.favorite === true) ? 'unfavorite' : 'favorite');
}

function tagAction(action) {
  const tag = els.tag.value.trim();
  if (!tag) {
    els.tag.focus();
    return;
  }
  run(action, [tag]).then(() => {
    els.tag.value = '';
  });
}

export async function bulkDelete(shown) {
  if (!all) {
    const rows = shown.filter((r) => picked.has(r.filename));
    clearPicks();
    await history.deleteManyWithUndo(rows);
    return;
  }
  let answer;
  try {
    answer = await api.bulk({ action: 'delete', ...selection() });
  } catch (err) {
    toast(t('gallery.deleteFailed', { message: err.message }), { kind: 'error', timeout: 8000 });
    return;
  }
  clearPicks();
  for (const r of answer.results || []) if (r.ok) emit('assets:deleted', { filename: r.filename });
  reloadAll();
  if (!answer.trashId) return;
  toast(t('gallery.deletedMany', { n: answer.done }), { timeout: 10000, action: { label: t('gallery.undo'),
    run: async () => {
      try {
        await api.bulk({ action: 'restore', trashId: answer.trashId });
        toast(t('gallery.restoredMany', { n: answer.done }));
      } catch (err) {
        toast(undoFailed(err), { kind: 'error', timeout: 8000 });
      }
      reloadAll();
    } } });
}

/** Download the export zip of the selection (a plain link: the browser saves it). */
function exportZip() {
  const a = h('a', { href: exportUrl(selection()), download: 'ima2-export.zip', hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
}

/** A bar action: icon and label; on phones only the icon shows (the label stays its name, and
 * its tooltip). */
function action(id, iconName, key, onclick, cls = '') {
  return h('button', { type: 'button', class: ('btn btn-small bulk-action ' + cls).trim(), id,
    'data-i18n-label': key, 'aria-label': t(key), title: t(key), onclick },
  icon(iconName), tx('span', key, { class: 'btn-label' }));
}

export function bulkBar({ context, none, remove, onChange }) {
  ctx = context;
  changed = onChange;
  els.count = h('span', { id: 'bulk-count', 'aria-live': 'polite' });
  els.matching = h('button', { type: 'button', class: 'btn btn-small', id: 'bulk-all', onclick: selectMatching });
  els.tag = h('input', { type: 'text', class: 'input bulk-tag', id: 'bulk-tag', maxlength: 64,
    placeholder: t('gallery.tagPlaceholder'), 'aria-label': t('gallery.tagInput'),
    'data-i18n-label': 'gallery.tagInput', 'data-i18n-placeholder': 'gallery.tagPlaceholder',
    onkeydown: (e) => {
      if (e.key === 'Enter') tagAction('tag');
    } });
  // Share makes a link for named images (views/share.js): not offered for "all matching".
  els.share = action('bulk-share', 'share', 'share.open', () => share(Array.from(picked)));
  bar = h('div', { class: 'bulk-bar', id: 'bulk-bar', role: 'toolbar', 'aria-label': t('gallery.bulk'),
    'data-i18n-label': 'gallery.bulk', hidden: true },
  els.count, els.matching,
  action('bulk-clear', 'x', 'gallery.clearSelection', none),
  h('span', { class: 'bulk-sep', 'aria-hidden': 'true' }),
  action('bulk-fav', 'star', 'gallery.favSelected', () => run('favorite')),
  action('bulk-unfav', 'unstar', 'gallery.unfavSelected', () => run('unfavorite')),
  h('span', { class: 'bulk-tags' }, els.tag,
    action('bulk-tag-add', 'plus', 'gallery.tagAdd', () => tagAction('tag')),
    action('bulk-tag-remove', 'minus', 'gallery.tagRemove', () => tagAction('untag'))),
  action('bulk-export', 'download', 'gallery.exportSelected', exportZip),
  els.share,
  action('bulk-delete', 'trash', 'gallery.deleteSelected', remove, 'danger'));
  return bar;
}
