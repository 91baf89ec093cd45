// views/status.js — the top bar's state: the OAuth proxy (starting / ready with its models /
// login needed / offline, with what to do), the storage notice (recoverable / not_found) with
// Open folder, the theme (light/dark) and the language. Must not: block the page on a probe.
import { h, tx, clear, append, icon, iconButton, toast } from '../dom.js';
import { t, setLang, getLang, LANGUAGES, detectLang } from '../i18n.js';
import { api } from '../api.js';
import { state, emit, on, prefs } from '../state.js';

const OAUTH_POLL_MS = 15000;
let pill = null;
let details = null;
let notice = null;
let storage = null;

async function refreshOauth() {
  let data;
  try {
    data = await api.oauthStatus();
  } catch (err) {
    data = { status: err.code === 'SERVER_UNREACHABLE' ? 'server' : 'offline' };
  }
  state.oauth = { status: data.status || 'offline', models: Array.isArray(data.models) ? data.models : [],
    provider: data.provider || 'oauth' };
  renderOauth();
  emit('oauth', state.oauth);
}

function renderOauth() {
  const st = state.oauth.status;
  // The offline provider (serve --offline) says so instead of "Proxy ready".
  const key = st === 'ready' && state.oauth.provider === 'offline' ? 'oauth.offlineProvider'
    : 'oauth.' + st;
  pill.dataset.state = st;
  clear(pill).append(h('span', { class: 'dot', 'aria-hidden': 'true' }),
    h('span', { text: t(key) }));
  pill.setAttribute('aria-label', t('oauth.label') + ': ' + t(key));
  append(clear(details), [
    h('p', { text: t(key + '.help') }),
    st === 'ready' && state.oauth.models.length
      ? h('p', { class: 'mono small', id: 'oauth-models',
        text: t('oauth.models', { list: state.oauth.models.join(', ') }) }) : null,
    tx('button', 'oauth.recheck', { type: 'button', class: 'btn btn-small', onclick: refreshOauth })]);
}

async function refreshStorage() {
  let data;
  try {
    data = (await api.storageStatus()).data || {};
  } catch (_) {
    return;
  }
  storage = data;
  renderStorage();
}

function renderStorage() {
  clear(notice);
  const st = storage && storage.state;
  if (st !== 'recoverable' && st !== 'not_found') {
    notice.hidden = true;
    return;
  }
  if (prefs.get('storageNoticeDismissed', '') === st + ':' + storage.generatedDirLabel) {
    notice.hidden = true;
    return;
  }
  notice.hidden = false;
  notice.dataset.state = st;
  notice.append(
    h('div', { class: 'notice-text' },
      h('strong', { text: t('storage.' + st + '.title') }),
      h('span', { text: t('storage.' + st + '.body', { dir: storage.generatedDirLabel || '',
        n: storage.legacyFilesFound || 0 }) }),
      h('code', { text: t('storage.doctor', { cmd: storage.doctorCommand || 'python3 ima2.py doctor' }) })),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'btn btn-small', id: 'open-folder', onclick: openFolder },
        icon('folder'), tx('span', 'storage.open')),
      iconButton('x', 'common.dismiss', () => {
        prefs.set('storageNoticeDismissed', st + ':' + storage.generatedDirLabel);
        notice.hidden = true;
      }, { cls: 'btn-small' })));
}

async function openFolder() {
  try {
    await api.openGeneratedDir();
    toast(t('storage.opened'));
  } catch (err) {
    toast(t('storage.openFailed', { message: err.message }), { kind: 'error' });
  }
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const btn = document.getElementById('theme-toggle');
  if (!btn) return;
  clear(btn).append(icon(theme === 'dark' ? 'sun' : 'moon'));
  const key = theme === 'dark' ? 'theme.toLight' : 'theme.toDark';
  btn.dataset.i18nLabel = key;
  btn.setAttribute('aria-label', t(key));
  btn.setAttribute('title', t(key));
}

export function initTheme() {
  const dark = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches;
  applyTheme(prefs.get('theme', dark ? 'dark' : 'light'));
}

export function initLanguage() {
  setLang(prefs.get('lang', detectLang()));
}

export function initStatus(bar, notices) {
  pill = h('button', { type: 'button', class: 'pill', id: 'oauth-pill', 'aria-expanded': 'false',
    'aria-controls': 'oauth-details', onclick: () => {
      details.hidden = !details.hidden;
      pill.setAttribute('aria-expanded', String(!details.hidden));
    } });
  details = h('div', { class: 'popover', id: 'oauth-details', hidden: true });
  const lang = h('select', { class: 'input input-small', id: 'lang', 'aria-label': t('lang.label'),
    'data-i18n-label': 'lang.label', onchange: () => {
      prefs.set('lang', lang.value);
      setLang(lang.value);
      emit('lang', lang.value);
    } }, LANGUAGES.map(([value, label]) => h('option', { value, text: label })));
  lang.value = getLang();
  const theme = h('button', { type: 'button', class: 'btn icon-btn', id: 'theme-toggle',
    onclick: () => {
      const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
      prefs.set('theme', next);
      applyTheme(next);
    } });
  bar.append(h('div', { class: 'oauth' }, pill, details), lang, theme);
  notice = h('div', { class: 'notice', id: 'storage-notice', role: 'status', hidden: true });
  notices.append(notice);
  applyTheme(document.documentElement.dataset.theme || 'light');
  on('lang', () => {
    renderOauth();
    renderStorage();
    applyTheme(document.documentElement.dataset.theme);
  });
  // A notice about an empty gallery goes away once images arrive.
  on('history', ({ items }) => {
    if (!notice.hidden && items.length && storage && storage.state === 'not_found') refreshStorage();
  });
  on('job:error', ({ error }) => {
    if (['OAUTH_UNAVAILABLE', 'AUTH_CHATGPT_EXPIRED'].includes(error.code)) refreshOauth();
  });
  state.oauth = { status: 'checking', models: [] };
  renderOauth();
  refreshOauth();
  refreshStorage();
  setInterval(() => {
    if (document.visibilityState !== 'hidden') refreshOauth();
  }, OAUTH_POLL_MS);
}
