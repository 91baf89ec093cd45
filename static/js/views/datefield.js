// views/datefield.js — a date typed in the studio's language: a text field whose placeholder is
// the language's numeric pattern (en "mm/dd/yyyy", ko "연도. 월. 일."), read in that order — or as
// ISO "2026-11-28" in any language — and shown back in it. Chromium draws <input type="date"> in
// the browser's own locale whatever the page's or the field's `lang` says (a Korean studio on an
// English browser showed mm/dd/yyyy), so the field is text and the language is the studio's.
// The field's ISO date is `dataset.value` ('' when empty). Must not: know what the date filters.
import { h } from '../dom.js';
import { t, getLang } from '../i18n.js';

/** @type {Intl.DateTimeFormatOptions} */
const NUMERIC = { year: 'numeric', month: '2-digit', day: '2-digit' };
const pad = (/** @type {number} */ n) => String(n).padStart(2, '0');
const FIELDS = ['year', 'month', 'day'];

/** The language's numeric date, in parts (Intl), e.g. month "/" day "/" year for en. */
const parts = () => new Intl.DateTimeFormat(getLang(), NUMERIC).formatToParts(new Date(2006, 10, 22));

/** The pattern in the studio's words: "mm/dd/yyyy", "연도. 월. 일.". */
export function datePattern() {
  /** @type {Record<string, string>} */
  const word = { year: t('date.yyyy'), month: t('date.mm'), day: t('date.dd') };
  return parts().map((p) => word[p.type] || p.value).join('');
}

/** An ISO date ("2026-11-28") as the language writes it. */
export function showDate(/** @type {string} */ iso) {
  const [y, m, d] = iso.split('-').map(Number);
  return new Intl.DateTimeFormat(getLang(), NUMERIC).format(new Date(y, m - 1, d));
}

/**
 * Typed text → ISO date: '' for nothing, null for what is not a date.
 * @param {string} text
 * @returns {string|null}
 */
export function parseDate(text) {
  const trimmed = String(text || '').trim();
  if (!trimmed) return '';
  const numbers = trimmed.match(/\d+/g) || [];
  if (numbers.length !== 3) return null;
  const order = numbers[0].length === 4 ? FIELDS : parts().map((p) => p.type).filter((x) => FIELDS.includes(x));
  /** @type {Record<string, string>} */
  const got = {};
  order.forEach((field, i) => {
    got[field] = numbers[i];
  });
  if (!got.year || got.year.length !== 4) return null;
  const [year, month, day] = FIELDS.map((f) => Number(got[f]));
  const date = new Date(year, month - 1, day);
  if (date.getFullYear() !== year || date.getMonth() !== month - 1 || date.getDate() !== day) return null;
  return `${year}-${pad(month)}-${pad(day)}`;
}

/** Set the field's date (ISO or '') and show it in the language. */
export function setDate(/** @type {HTMLInputElement} */ el, /** @type {string} */ iso) {
  el.dataset.value = iso;
  el.value = iso ? showDate(iso) : '';
  el.removeAttribute('aria-invalid');
  el.removeAttribute('title');
}

/** Name, pattern and shown date follow the language. */
export function relabelDate(/** @type {HTMLInputElement} */ el, /** @type {string} */ labelKey) {
  el.placeholder = datePattern();
  el.setAttribute('aria-label', t(labelKey));
  if (el.getAttribute('aria-invalid') !== 'true') setDate(el, el.dataset.value || '');
}

/**
 * A date field; `onchange` runs when its date changes (Enter or leaving the field). Text that
 * is not a date is marked invalid (with the pattern as its tooltip) and changes nothing.
 * @param {string} id
 * @param {string} labelKey
 * @param {() => void} onchange
 * @returns {HTMLInputElement}
 */
export function dateField(id, labelKey, onchange) {
  const el = /** @type {HTMLInputElement} */ (h('input', { type: 'text', id, class: 'input date',
    autocomplete: 'off', spellcheck: 'false' }));
  el.dataset.value = '';
  const commit = () => {
    const iso = parseDate(el.value);
    if (iso === null) {
      el.setAttribute('aria-invalid', 'true');
      el.title = t('date.invalid', { pattern: datePattern() });
      return;
    }
    const changed = iso !== el.dataset.value;
    setDate(el, iso);
    if (changed) onchange();
  };
  el.addEventListener('change', commit);
  el.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') commit();
  });
  relabelDate(el, labelKey);
  return el;
}
