// views/galleryfilter.js — the gallery's filter bar: a search box (debounced; Enter applies at
// once), selects for model, quality, size, render path and sort, a tag, a date range, and a
// favourites switch shown only once the listing's rows carry `favorite`. Every filter is
// evaluated by the server (GET /api/history q, model, quality, size, renderPath, tag, from, to,
// sort, favorite).
// Calls onChange(params) with the query parameters; Must not: load or render the listing.
import { h, tx, clear } from '../dom.js';
import { t } from '../i18n.js';
import { imageModels } from '../state.js';
import { PRESETS } from '../sizes.js';
import { dateField, relabelDate, setDate } from './datefield.js';

const DEBOUNCE_MS = 300;
const QUALITIES = ['low', 'medium', 'high', 'auto'];
const PATHS = ['responses', 'images'];

const els = {};
/** @type {(params: Record<string, string>) => void} */
let notify = () => {};
let timer = 0;
let seenModels = new Set();
let seenSizes = new Set();

/** The query parameters the bar describes ({} when nothing is set). */
export function filterParams() {
  /** @type {Record<string, string>} */
  const out = {};
  const q = els.q.value.trim();
  if (q) out.q = q;
  for (const key of ['model', 'quality', 'size', 'renderPath']) {
    if (els[key].value) out[key] = els[key].value;
  }
  for (const key of ['from', 'to']) {
    if (els[key].dataset.value) out[key] = els[key].dataset.value; // ISO, whatever the language shows
  }
  const tag = els.tag.value.trim();
  if (tag) out.tag = tag;
  if (els.sort.value === 'oldest') out.sort = 'oldest';
  if (!els.favWrap.hidden && els.favorite.checked) out.favorite = '1';
  return out;
}

export const filterKey = (params) => new URLSearchParams(params).toString();

function apply() {
  clearTimeout(timer);
  timer = 0;
  notify(filterParams());
}

function later() {
  clearTimeout(timer);
  timer = setTimeout(apply, DEBOUNCE_MS);
}

/** Clear every filter (the no-match state's button). */
export function clearFilters() {
  els.q.value = '';
  els.tag.value = '';
  for (const key of ['model', 'quality', 'size', 'renderPath']) els[key].value = '';
  setDate(els.from, '');
  setDate(els.to, '');
  els.sort.value = 'newest';
  els.favorite.checked = false;
  apply();
}

function select(key, labelKey, values) {
  const el = h('select', { class: 'input select', id: 'gallery-' + key, 'aria-label': t(labelKey),
    'data-i18n-label': labelKey, onchange: apply });
  els[key] = el;
  els[key + 'Label'] = labelKey;
  fill(key, values);
  return el;
}

function fill(key, values) {
  const el = els[key];
  const keep = el.value;
  clear(el);
  el.append(h('option', { value: '', text: t(els[key + 'Label']) + ': ' + t('filter.any') }));
  for (const v of values) el.append(h('option', { value: v.value, text: v.label }));
  el.value = values.some((v) => v.value === keep) ? keep : '';
}

function labelled(key, values, labelOf) {
  return values.map((value) => ({ value, label: labelOf(value) }));
}

/** Options follow what is known: the proxy's models, the size presets, what rows showed. */
export function learn(rows, hasFavorite) {
  let changed = false;
  for (const row of rows) {
    if (row.model && !seenModels.has(row.model)) {
      seenModels.add(row.model);
      changed = true;
    }
    if (row.size && !seenSizes.has(row.size)) {
      seenSizes.add(row.size);
      changed = true;
    }
  }
  if (changed) redraw();
  if (hasFavorite && els.favWrap.hidden) els.favWrap.hidden = false;
}

function redraw() {
  const models = Array.from(new Set(imageModels().concat(Array.from(seenModels))));
  fill('model', labelled(models, models, (m) => m));
  const sizes = Array.from(new Set(PRESETS.map((p) => p.value).filter((v) => v !== 'auto')
    .concat(Array.from(seenSizes))));
  fill('size', labelled(sizes, sizes, (s) => s.replace('x', '×')));
  fill('quality', labelled(QUALITIES, QUALITIES, (q) => t('quality.' + q)));
  fill('renderPath', labelled(PATHS, PATHS, (p) => t('composer.path.' + p)));
  const sort = els.sort.value;
  clear(els.sort);
  els.sort.append(h('option', { value: 'newest', text: t('filter.newest') }),
    h('option', { value: 'oldest', text: t('filter.oldest') }));
  els.sort.value = sort || 'newest';
  els.q.placeholder = t('gallery.search');
  els.q.setAttribute('aria-label', t('gallery.search'));
  relabelDate(els.from, 'filter.from');
  relabelDate(els.to, 'filter.to');
  for (const key of ['model', 'quality', 'size', 'renderPath']) els[key].setAttribute('aria-label', t(els[key + 'Label']));
  els.sort.setAttribute('aria-label', t('filter.sort'));
}

export function filterBar(onChange) {
  notify = onChange;
  els.q = h('input', { type: 'search', id: 'gallery-search', class: 'input', placeholder: t('gallery.search'),
    'aria-label': t('gallery.search'), oninput: later,
    onkeydown: (e) => {
      if (e.key === 'Enter') apply();
    } });
  els.tag = h('input', { type: 'search', id: 'gallery-tag', class: 'input tag-filter', maxlength: 64,
    placeholder: t('filter.tag'), 'aria-label': t('filter.tag'), 'data-i18n-label': 'filter.tag',
    'data-i18n-placeholder': 'filter.tag', oninput: later, onkeydown: (e) => {
      if (e.key === 'Enter') apply();
    } });
  // Typed in the studio's language (views/datefield.js: Chromium's date input ignores it).
  els.from = dateField('gallery-from', 'filter.from', apply);
  els.to = dateField('gallery-to', 'filter.to', apply);
  els.sort = h('select', { class: 'input select', id: 'gallery-sort', onchange: apply });
  els.favorite = h('input', { type: 'checkbox', id: 'gallery-favorite', onchange: apply });
  els.favWrap = h('label', { class: 'check', hidden: true }, els.favorite, tx('span', 'filter.favorites'));
  // Phones: the search stays in view, the other filters fold into "Filters".
  const wide = !window.matchMedia || window.matchMedia('(min-width: 761px)').matches;
  els.more = h('details', { class: 'filter-more', id: 'gallery-more', open: wide },
    tx('summary', 'filter.more', { class: 'btn btn-small' }),
    els.fields = h('div', { class: 'filter-fields', hidden: !wide },
      select('model', 'composer.model', []),
      select('quality', 'composer.quality', []),
      select('size', 'composer.size', []),
      select('renderPath', 'filter.path', []),
      els.tag,
      h('span', { class: 'date-range' }, tx('span', 'filter.dates', { class: 'muted small' }), els.from,
        h('span', { 'aria-hidden': 'true', text: '–' }), els.to),
      els.sort, els.favWrap));
  // A closed <details> still lays its content out in Chromium: hide it for real.
  els.more.addEventListener('toggle', () => {
    els.fields.hidden = !els.more.open;
  });
  const bar = h('div', { class: 'filter-bar', id: 'gallery-filters', role: 'search',
    'aria-label': t('filter.label'), 'data-i18n-label': 'filter.label' }, els.q, els.more);
  redraw();
  return bar;
}

/** Re-label after a language change or a new model list. */
export const redrawFilters = redraw;
export const searchBox = () => els.q;
