// views/sessions.js — the session picker of node mode: list, switch, create, rename and
// delete sessions (no native prompt/confirm dialogs: inline fields and a two-step delete).
// The chosen session is remembered per browser. Must not: load graphs (nodes.js does).
import { h, tx, clear, toast, trapFocus } from '../dom.js';
import { t } from '../i18n.js';
import { api } from '../api.js';
import { state, prefs, on } from '../state.js';

let root = null;
let onSwitch = null;
let mode = 'pick'; // pick | rename | create
let armedDelete = null;

export async function refreshSessions() {
  const data = await api.sessions();
  state.sessions = Array.isArray(data.sessions) ? data.sessions : [];
  render();
  return state.sessions;
}

/** The session to open: the remembered one if it still exists, else the newest, else a new one. */
export async function pickInitialSession() {
  const list = await refreshSessions();
  const remembered = prefs.get('sessionId', null);
  if (list.some((s) => s.id === remembered)) return remembered;
  if (list.length) return list[0].id;
  const created = await api.createSession(t('sessions.defaultTitle'));
  await refreshSessions();
  return created.session.id;
}

function current() {
  return state.sessions.find((s) => s.id === state.sessionId) || null;
}

async function submitTitle(input) {
  const title = input.value.trim();
  if (!title) {
    input.focus();
    return;
  }
  try {
    if (mode === 'rename') {
      await api.renameSession(state.sessionId, title);
    } else {
      const created = await api.createSession(title);
      mode = 'pick';
      await refreshSessions();
      onSwitch(created.session.id);
      return;
    }
  } catch (err) {
    toast(t('sessions.failed', { message: err.message }), { kind: 'error' });
  }
  mode = 'pick';
  await refreshSessions();
}

async function removeCurrent() {
  const cur = current();
  if (!cur) return;
  if (armedDelete !== cur.id) {
    armedDelete = cur.id;
    render();
    setTimeout(() => {
      if (armedDelete === cur.id) {
        armedDelete = null;
        render();
      }
    }, 4000);
    return;
  }
  armedDelete = null;
  try {
    await api.deleteSession(cur.id);
    toast(t('sessions.deleted', { title: cur.title }));
  } catch (err) {
    toast(t('sessions.failed', { message: err.message }), { kind: 'error' });
  }
  const list = await refreshSessions();
  if (list.length) onSwitch(list[0].id);
  else onSwitch(await pickInitialSession());
}

function render() {
  if (!root) return;
  // A re-render while the title is being typed (a session load finishing) keeps the text.
  const field = root.querySelector('#session-title');
  const typed = mode !== 'pick' && field instanceof HTMLInputElement ? field.value : null;
  clear(root);
  if (mode !== 'pick') {
    const input = h('input', { class: 'input', id: 'session-title', maxlength: 200,
      'aria-label': t('sessions.titleLabel'),
      value: typed !== null ? typed : mode === 'rename' && current() ? current().title : '',
      onkeydown: (e) => {
        if (e.key === 'Enter') submitTitle(input);
        if (e.key === 'Escape') {
          mode = 'pick';
          render();
        }
      } });
    root.append(input,
      tx('button', 'common.save', { type: 'button', class: 'btn btn-small', id: 'session-save',
        onclick: () => submitTitle(input) }),
      tx('button', 'common.cancel', { type: 'button', class: 'btn btn-small', onclick: () => {
        mode = 'pick';
        render();
      } }));
    setTimeout(() => input.focus(), 0);
    return;
  }
  const select = h('select', { class: 'input', id: 'session-select',
    'aria-label': t('sessions.label'), onchange: () => onSwitch(select.value) },
  state.sessions.map((s) => h('option', { value: s.id,
    text: t('sessions.option', { title: s.title, n: s.id === state.sessionId && state.liveNodes != null
      ? state.liveNodes : s.nodeCount || 0 }) })));
  select.value = state.sessionId || '';
  root.append(select,
    tx('button', 'sessions.new', { type: 'button', class: 'btn btn-small', id: 'session-new',
      onclick: () => {
        mode = 'create';
        render();
      } }),
    tx('button', 'sessions.rename', { type: 'button', class: 'btn btn-small', id: 'session-rename',
      disabled: !current(), onclick: () => {
        mode = 'rename';
        render();
      } }),
    tx('button', armedDelete ? 'sessions.confirmDelete' : 'sessions.delete', { type: 'button',
      class: 'btn btn-small danger', id: 'session-delete', disabled: !current(),
      onclick: removeCurrent }));
}

/** Ask which session a new node goes to (the current one first, or a new one); → id or null. */
export function askSession() {
  return new Promise((resolve) => {
    const back = /** @type {HTMLElement|null} */ (document.activeElement);
    const select = h('select', { class: 'input', id: 'ask-session', 'aria-labelledby': 'ask-session-title' },
      state.sessions.map((s) => h('option', { value: s.id, text: s.title })),
      h('option', { value: '', text: t('sessions.newOption') }));
    select.value = state.sessionId || '';
    const done = async (ok) => {
      dialog.remove();
      if (back && back.isConnected) back.focus();
      if (!ok) return resolve(null);
      if (select.value) return resolve(select.value);
      try {
        const created = await api.createSession(t('sessions.defaultTitle'));
        await refreshSessions();
        resolve(created.session.id);
      } catch (err) {
        toast(t('sessions.failed', { message: err.message }), { kind: 'error' });
        resolve(null);
      }
    };
    const dialog = h('div', { class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'ask-session-title',
      onkeydown: (e) => {
        if (e.key === 'Escape') done(false);
        else trapFocus(dialog, e);
      } },
    h('div', { class: 'dialog-panel' }, tx('h2', 'sessions.askTitle', { id: 'ask-session-title', class: 'section-title' }),
      select, h('div', { class: 'dialog-actions' },
        tx('button', 'common.cancel', { type: 'button', class: 'btn', onclick: () => done(false) }),
        tx('button', 'sessions.askOk', { type: 'button', class: 'btn btn-primary', id: 'ask-session-ok', onclick: () => done(true) }))));
    document.body.append(dialog);
    select.focus();
  });
}

export function initSessions(container, switchTo) {
  root = h('div', { class: 'row session-picker', id: 'session-picker', role: 'group',
    'aria-label': t('sessions.label') });
  onSwitch = (id) => {
    prefs.set('sessionId', id);
    switchTo(id);
  };
  container.append(root);
  on('lang', render);
  render();
}

export { render as renderSessions };
