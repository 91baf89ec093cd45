// state.js — the studio's small shared state: an event bus (CustomEvent), preferences in
// localStorage (wrapped: private modes and sandboxed frames throw), ids, and the values several
// views read (OAuth models, the current view). Must not: talk HTTP or build DOM.

/** @typedef {import('./types.js').StudioState} StudioState */

const bus = new EventTarget();

/**
 * Subscribe to a bus event; returns the unsubscribe function.
 * @param {string} name the event name (`session`, `view`, `oauth`…)
 * @param {(detail: any) => void} fn receives the event's detail
 * @returns {() => void}
 */
export function on(name, fn) {
  const listener = (ev) => fn(ev.detail);
  bus.addEventListener(name, listener);
  return () => bus.removeEventListener(name, listener);
}

/**
 * Announce `name` with `detail` to every subscriber (synchronously).
 * @param {string} name
 * @param {any} [detail]
 */
export function emit(name, detail) {
  bus.dispatchEvent(new CustomEvent(name, { detail }));
}

const PREFIX = 'ima2.';

/** Preferences in localStorage under `ima2.<key>` as JSON; never throws. */
export const prefs = {
  /**
   * @template T
   * @param {string} key
   * @param {T} fallback returned when the key is absent, unreadable or storage is unavailable
   * @returns {any} the stored value, or `fallback`
   */
  get(key, fallback) {
    try {
      const raw = window.localStorage.getItem(PREFIX + key);
      return raw == null ? fallback : JSON.parse(raw);
    } catch (_) {
      return fallback;
    }
  },
  /**
   * @param {string} key
   * @param {any} value stored as JSON (silently dropped when storage is full or unavailable)
   */
  set(key, value) {
    try {
      window.localStorage.setItem(PREFIX + key, JSON.stringify(value));
    } catch (_) {
      // storage full or unavailable: the setting just does not persist
    }
  },
};

/**
 * A random id with a readable prefix (request ids, node ids, save ids).
 * @param {string} [prefix]
 * @returns {string} `prefix` + 16 hex digits
 */
export function uid(prefix = '') {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * One id per browser tab, kept across reloads of that tab (sessionStorage).
 * @returns {string}
 */
export function tabId() {
  try {
    let id = window.sessionStorage.getItem(PREFIX + 'tab');
    if (!id) {
      id = uid('tab_');
      window.sessionStorage.setItem(PREFIX + 'tab', id);
    }
    return id;
  } catch (_) {
    return uid('tab_');
  }
}

/** Values read by more than one view. Changes are announced on the bus.
 * @type {StudioState} */
export const state = {
  oauth: { status: 'unknown', models: [], defaultModel: null },
  view: 'studio',
  sessions: [],
  sessionId: null,
};

/** Models for the picker: the proxy's own list (GET /api/oauth/status), the configured
 * default first. Before the list is known, only the default (the server decides).
 * @returns {string[]} */
export function imageModels() {
  const listed = state.oauth.models || [];
  const first = state.oauth.defaultModel;
  const out = first ? [first] : [];
  for (const m of listed) if (!out.includes(m)) out.push(m);
  return out.length ? out : ['gpt-5.4-mini'];
}
