// dom.js — DOM helpers used by every view: `h()` builds elements and puts every string in
// through textContent/attributes (never innerHTML), static inline SVG icons, toasts, and
// formatting. Must not: hold view state or call the API.
import { t, getLang } from './i18n.js';

const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'selected', 'tabIndex',
  'multiple', 'readOnly', 'indeterminate']);

/** h('button', {class, text, onclick, 'aria-label'}, ...children) */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style' && typeof value === 'object') Object.assign(el.style, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (PROPS.has(key)) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// Static icon templates (no user data ever goes into these strings).
const PATHS = {
  sun: '<circle cx="12" cy="12" r="4"/><path d="M12 2v2M12 20v2M4.9 4.9l1.4 1.4M17.7 17.7l1.4 1.4M2 12h2M20 12h2M4.9 19.1l1.4-1.4M17.7 6.3l1.4-1.4"/>',
  moon: '<path d="M21 12.8A9 9 0 1 1 11.2 3a7 7 0 0 0 9.8 9.8z"/>',
  x: '<path d="M18 6 6 18M6 6l12 12"/>',
  download: '<path d="M12 3v12M7 10l5 5 5-5M5 21h14"/>',
  copy: '<rect x="9" y="9" width="12" height="12" rx="2"/><path d="M5 15V5a2 2 0 0 1 2-2h10"/>',
  image: '<rect x="3" y="3" width="18" height="18" rx="2"/><circle cx="9" cy="9" r="2"/><path d="m21 15-5-5L5 21"/>',
  trash: '<path d="M3 6h18M8 6V4h8v2M19 6l-1 14H6L5 6"/>',
  edit: '<path d="M12 20h9M16.5 3.5a2.1 2.1 0 0 1 3 3L7 19l-4 1 1-4z"/>',
  ref: '<path d="M10 13a5 5 0 0 0 7 0l3-3a5 5 0 0 0-7-7l-1 1M14 11a5 5 0 0 0-7 0l-3 3a5 5 0 0 0 7 7l1-1"/>',
  imgplus: '<path d="M21 12v7a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h7M16 5h6M19 2v6"/><circle cx="9" cy="9" r="2"/><path d="m21 15-5-5L5 21"/>',
  spark: '<path d="M12 3l2 6 6 2-6 2-2 6-2-6-6-2 6-2z"/>',
  full: '<path d="M8 3H3v5M16 3h5v5M8 21H3v-5M16 21h5v-5"/>',
  plus: '<path d="M12 5v14M5 12h14"/>',
  minus: '<path d="M5 12h14"/>',
  left: '<path d="m15 18-6-6 6-6"/>',
  right: '<path d="m9 18 6-6-6-6"/>',
  folder: '<path d="M3 7a2 2 0 0 1 2-2h4l2 2h8a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z"/>',
  node: '<circle cx="6" cy="6" r="3"/><circle cx="18" cy="18" r="3"/><path d="M9 6h4a3 3 0 0 1 3 3v6"/>',
  upload: '<path d="M12 21V9M7 14l5-5 5 5M5 3h14"/>',
  retry: '<path d="M3 12a9 9 0 1 0 3-6.7L3 8M3 3v5h5"/>',
  stop: '<rect x="6" y="6" width="12" height="12" rx="1"/>',
  fit: '<path d="M9 4v5H4M15 4v5h5M9 20v-5H4M15 20v-5h5"/>',
  star: '<path d="m12 3 2.8 5.7 6.2.9-4.5 4.4 1 6.2L12 17.3 6.5 20.2l1-6.2L3 9.6l6.2-.9z"/>',
  unstar: '<path d="m12 3 2.8 5.7 6.2.9-4.5 4.4 1 6.2L12 17.3 6.5 20.2l1-6.2L3 9.6l6.2-.9zM3 3l18 18"/>',
  share: '<circle cx="18" cy="5" r="3"/><circle cx="6" cy="12" r="3"/><circle cx="18" cy="19" r="3"/><path d="m8.6 13.5 6.8 4M15.4 6.5l-6.8 4"/>',
  book: '<path d="M4 19.5A2.5 2.5 0 0 1 6.5 17H20V3H6.5A2.5 2.5 0 0 0 4 5.5zM4 19.5A2.5 2.5 0 0 0 6.5 22H20v-5"/>',
  palette: '<circle cx="12" cy="12" r="9"/><circle cx="8" cy="10" r="1.2"/><circle cx="12" cy="7.5" r="1.2"/><circle cx="16" cy="10" r="1.2"/><path d="M12 21a3 3 0 0 1 0-6h2"/>',
};

/** An inline SVG icon (decorative; the button carries the label). */
const ICONS = {}; // name -> parsed template (cloned: 200 node cards parse no SVG at all)
export function icon(name) {
  if (!ICONS[name]) {
    const span = document.createElement('span');
    span.className = 'icon';
    span.setAttribute('aria-hidden', 'true');
    span.innerHTML = '<svg viewBox="0 0 24 24" width="18" height="18" fill="none" '
      + 'stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">'
      + (PATHS[name] || '') + '</svg>';
    ICONS[name] = span;
  }
  return ICONS[name].cloneNode(true);
}

/** A button with an icon; `key` is the i18n key of its label (aria-label + title, or shown). */
export function iconButton(name, key, onclick, { showLabel = false, cls = '' } = {}) {
  const label = t(key);
  const btn = h('button', { type: 'button', class: 'btn icon-btn ' + cls, onclick });
  btn.append(icon(name));
  if (showLabel) {
    btn.append(h('span', { class: 'btn-label', text: label, 'data-i18n': key }));
  } else {
    btn.setAttribute('aria-label', label);
    btn.setAttribute('title', label);
    btn.dataset.i18nLabel = key;
  }
  return btn;
}

/** An element whose text is the translation of `key` (kept current on language change). */
export function tx(tag, key, props = {}) {
  return h(tag, { ...props, text: t(key), 'data-i18n': key });
}

/** Toast with an optional action (e.g. Undo). Returns {close}. */
export function toast(message, { action = null, timeout = 5000, kind = 'info' } = {}) {
  const region = document.getElementById('toasts');
  const el = h('div', { class: 'toast toast-' + kind, role: kind === 'error' ? 'alert' : 'status' },
    h('span', { class: 'toast-text', text: message }));
  let timer = null;
  const close = () => {
    clearTimeout(timer);
    el.remove();
  };
  if (action) {
    el.append(h('button', { type: 'button', class: 'btn btn-small toast-action', text: action.label,
      onclick: () => {
        close();
        action.run();
      } }));
  }
  el.append(iconButton('x', 'common.dismiss', close, { cls: 'btn-small' }));
  region.append(el);
  // Toasts never pile up over the content: the oldest goes when a fourth arrives.
  while (region.children.length > 3) region.firstElementChild.remove();
  // A toast under the pointer or holding the focus stays, so its action (Undo) cannot vanish
  // on the way to a click; the full time starts again when both have left.
  const held = { pointer: false, focus: false };
  const arm = () => {
    clearTimeout(timer);
    timer = timeout && !held.pointer && !held.focus ? setTimeout(close, timeout) : null;
  };
  /** @param {'pointer'|'focus'} what @param {boolean} on */
  const hold = (what, on) => () => {
    held[what] = on;
    arm();
  };
  el.addEventListener('mouseenter', hold('pointer', true));
  el.addEventListener('mouseleave', hold('pointer', false));
  el.addEventListener('focusin', hold('focus', true));
  el.addEventListener('focusout', hold('focus', false));
  arm();
  return { close, el };
}

/** Elapsed time, one format everywhere: "4.0 s", "1 min 05 s". */
export function fmtSeconds(ms) {
  const s = Math.max(0, Number(ms) || 0) / 1000;
  if (s < 60) return s.toFixed(1) + ' s';
  return `${Math.floor(s / 60)} min ${String(Math.floor(s % 60)).padStart(2, '0')} s`;
}

export function fmtDate(ms) {
  try {
    return new Date(ms).toLocaleString(getLang());
  } catch (_) {
    return String(ms);
  }
}

/** 'today' | 'yesterday' | 'week' | 'earlier' for a timestamp, in local time. */
export function dayGroup(ms, now = Date.now()) {
  const start = new Date(now);
  start.setHours(0, 0, 0, 0);
  const today = start.getTime();
  if (ms >= today) return 'today';
  if (ms >= today - 86400000) return 'yesterday';
  if (ms >= today - 6 * 86400000) return 'week';
  return 'earlier';
}

/** Focus stays visible and inside `root` while it is open (dialogs). */
export function trapFocus(root, event) {
  if (event.key !== 'Tab') return;
  const items = $$('button, [href], input, select, textarea, [tabindex]:not([tabindex="-1"])', root)
    .filter((el) => !el.disabled && el.offsetParent !== null);
  if (!items.length) return;
  const first = items[0];
  const last = items[items.length - 1];
  if (event.shiftKey && document.activeElement === first) {
    last.focus();
    event.preventDefault();
  } else if (!event.shiftKey && document.activeElement === last) {
    first.focus();
    event.preventDefault();
  }
}

const sheets = {};
/** A stylesheet of a view loaded on first use (added once); resolves when it applies. */
export function loadStyles(href) {
  if (!sheets[href]) {
    sheets[href] = new Promise((done) => {
      document.head.append(h('link', { rel: 'stylesheet', href, onload: done, onerror: done }));
    });
  }
  return sheets[href];
}

/** True when the key event comes from a field where typing must not trigger shortcuts. */
export function isTyping(event) {
  const el = event.target;
  if (!el || !el.tagName) return false;
  const tag = el.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || el.isContentEditable;
}
