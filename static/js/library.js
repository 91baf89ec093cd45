// library.js — favourites and tags of gallery images: PATCH /api/history/{file} for one image,
// POST /api/history/bulk for many (by names or by the gallery's filter), and the export link
// (GET /api/export.zip). The page's one way to change a favourite or tags (the gallery, the
// results and the viewer all call it): keeps every loaded listing's rows in step (patchRows)
// and announces 'assets:favorite' {filename, favorite} and 'assets:tags' {filename, tags}.
// Must not: build DOM or show toasts (the views say what failed).
import { api } from './api.js';
import { emit } from './state.js';
import { listings } from './history.js';

/** @typedef {{filenames?: string[], filter?: Record<string, string>}} Selection */

/**
 * Change fields of one image's row in every listing that holds it.
 * @param {string} filename
 * @param {Record<string, any>} fields
 */
export function patchRows(filename, fields) {
  for (const s of listings()) {
    const row = s.get(filename);
    if (row) Object.assign(row, fields);
  }
}

/** Read every listing again from its top (after a bulk change by filter: which rows it
 * touched is the server's to say). */
export function reloadAll() {
  for (const s of listings()) s.reset().catch(() => {});
}

/**
 * One image's refreshed favourite and tags → its rows and the bus.
 * @param {string} filename
 * @param {{favorite?: boolean, tags?: string[]}} answer
 */
function learn(filename, answer) {
  /** @type {Record<string, any>} */
  const fields = {};
  if (typeof answer.favorite === 'boolean') fields.favorite = answer.favorite;
  if (Array.isArray(answer.tags)) fields.tags = answer.tags;
  patchRows(filename, fields);
  if ('favorite' in fields) emit('assets:favorite', { filename, favorite: fields.favorite });
  if ('tags' in fields) emit('assets:tags', { filename, tags: fields.tags });
}

/**
 * Favourite one image or not; resolves with the stored value (throws ApiError).
 * @param {string} filename
 * @param {boolean} favorite
 * @returns {Promise<boolean>}
 */
export async function setFavorite(filename, favorite) {
  const answer = await api.patchImage(filename, { favorite });
  learn(filename, answer || {});
  return answer && typeof answer.favorite === 'boolean' ? answer.favorite : favorite;
}

/**
 * Add and/or remove tags of one image; resolves with its tags (throws ApiError).
 * @param {string} filename
 * @param {{add?: string[], remove?: string[]}} change
 * @returns {Promise<string[]>}
 */
export async function editTags(filename, { add = [], remove = [] }) {
  /** @type {Record<string, string[]>} */
  const body = {};
  if (add.length) body.addTags = add;
  if (remove.length) body.removeTags = remove;
  const answer = await api.patchImage(filename, body);
  learn(filename, answer || {});
  return (answer && answer.tags) || [];
}

/**
 * A bulk action (favorite, unfavorite, tag, untag, delete) over names or a filter; the rows of
 * every file it changed are updated. Resolves with the server's answer (throws ApiError).
 * @param {string} action
 * @param {Selection} selection
 * @param {string[]} [tags] for tag / untag
 * @returns {Promise<any>}
 */
export async function bulkAction(action, selection, tags) {
  /** @type {Record<string, any>} */
  const body = { action, ...selection };
  if (tags) body.tags = tags;
  const answer = await api.bulk(body);
  for (const r of (answer && answer.results) || []) {
    if (r.ok && action !== 'delete') learn(r.filename, r);
  }
  return answer;
}

/**
 * The export zip's URL for a selection (names, a filter, or everything for an empty filter).
 * @param {Selection} selection
 * @returns {string}
 */
export function exportUrl(selection) {
  const query = new URLSearchParams();
  if (selection.filenames) query.set('filenames', selection.filenames.join(','));
  else if (selection.filter && Object.keys(selection.filter).length) {
    for (const [k, v] of Object.entries(selection.filter)) query.set(k, v);
  } else query.set('all', '1');
  return '/api/export.zip?' + query.toString();
}
