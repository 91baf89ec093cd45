// state.js — the studio's small shared state: an event bus (CustomEvent), preferences in
// localStorage (wrapped: private modes and sandboxed frames throw), ids, and the values several
// views read (OAuth models, the current view). Must not: talk HTTP or build DOM.

const bus = new EventTarget();

/** Subscribe to a bus event; returns the unsubscribe function. */
export function on(name, fn) {
  const listener = (ev) => fn(ev.detail);
  bus.addEventListener(name, listener);
  return () => bus.removeEventListener(name, listener);
}

export function emit(name, detail) {
  bus.dispatchEvent(new CustomEvent(name, { detail }));
}

const PREFIX = 'ima2.';

export const prefs = {
  get(key, fallback) {
    try {
      const raw = window.localStorage.getItem(PREFIX + key);
      return raw == null ? fallback : JSON.parse(raw);
    } catch (_) {
      return fallback;
    }
  },
  set(key, value) {
    try {
      window.localStorage.setItem(PREFIX + key, JSON.stringify(value));
    } catch (_) {
      // storage full or unavailable: the setting just does not persist
    }
  },
};

/** A random id with a readable prefix (request ids, node ids, save ids). */
export function uid(prefix = '') {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** One id per browser tab, kept across reloads of that tab (sessionStorage). */
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

/** Values read by more than one view. Changes are announced on the bus. */
export const state = {
  oauth: { status: 'unknown', models: [], defaultModel: null },
  view: 'studio',
  sessions: [],
  sessionId: null,
};

/** Models for the picker: the proxy's own list (GET /api/oauth/status), the configured
 * default first. Before the list is known, only the default (the server decides). */
export function imageModels() {
  const listed = state.oauth.models || [];
  const first = state.oauth.defaultModel;
  const out = first ? [first] : [];
  for (const m of listed) if (!out.includes(m)) out.push(m);
  return out.length ? out : ['gpt-5.4-mini'];
}
