// views/status.js — the top bar's state: the OAuth proxy (starting / ready with its models,
// render paths and quota / login needed / network failed / offline, with the proxy's own
// reason and what to do), a first-visit panel when there is no ChatGPT login yet, the storage
// notice (only when old galleries were found) with
// Open folder, the theme (light/dark) and the language. Must not: block the page on a probe.
import { h, tx, clear, append, icon, iconButton, toast } from '../dom.js';
import { t, setLang, getLang, LANGUAGES, detectLang } from '../i18n.js';
import { api } from '../api.js';
import { state, emit, on, prefs } from '../state.js';

const OAUTH_POLL_MS = 15000;
let pill = null;
let details = null;
let notice = null;
let login = null;
let storage = null;

async function refreshOauth() {
  let data;
  try {
    data = await api.oauthStatus();
  } catch (err) {
    data = { status: err.code === 'SERVER_UNREACHABLE' ? 'server' : 'offline' };
  }
  const models = Array.isArray(data.models) ? data.models
    : (state.oauth.models || []);  // keep the last known list while the proxy restarts
  state.oauth = { status: data.status || 'offline', models,
    defaultModel: data.defaultModel || state.oauth.defaultModel || null,
    reason: data.reason || null, hint: data.hint || null,
    warnings: Array.isArray(data.warnings) ? data.warnings : [],
    modelPaths: Array.isArray(data.modelPaths) ? data.modelPaths : [],
    knownPaths: data.knownPaths && typeof data.knownPaths === 'object' ? data.knownPaths : {},
    quota: data.quota || null, provider: data.provider || 'oauth' };
  renderOauth();
  renderLogin();
  emit('oauth', state.oauth);
}

function renderOauth() {
  const st = state.oauth.status;
  // The offline provider (serve --offline) says so instead of "Proxy ready".
  const key = st === 'ready' && state.oauth.provider === 'offline' ? 'oauth.offlineProvider'
    : 'oauth.' + st;
  pill.dataset.state = st;
  clear(pill).append(h('span', { class: 'dot', 'aria-hidden': 'true' }),
    h('span', { class: 'pill-text', text: t(key) }));
  pill.setAttribute('aria-label', t('oauth.label') + ': ' + t(key));
  const o = state.oauth;
  const viaImages = (o.modelPaths || []).filter((m) => m.path === 'images').map((m) => m.id);
  const quota = o.quota && o.quota.primary;
  append(clear(details), [
    h('p', { text: t(key + '.help') }),
    o.reason ? h('p', { class: 'mono small', id: 'oauth-reason',
      text: t('oauth.reason', { reason: o.reason }) }) : null,
    o.hint ? h('p', { class: 'small', id: 'oauth-hint', text: o.hint }) : null,
    st === 'ready' && o.models.length
      ? h('p', { class: 'mono small', id: 'oauth-models',
        text: t('oauth.models', { list: o.models.join(', ') }) }) : null,
    viaImages.length ? h('p', { class: 'small', id: 'oauth-paths',
      text: t('oauth.viaImages', { list: viaImages.join(', ') }) }) : null,
    quota ? h('p', { class: 'small', id: 'oauth-quota', text: t('oauth.quota', {
      used: Math.round(quota.usedPercent),
      reset: quota.resetAt ? new Date(quota.resetAt).toLocaleString() : '—' }) }) : null,
    ...(o.warnings || []).map((w) => h('p', { class: 'small warn', 'data-warning': w.code,
      text: w.code === 'DEFAULT_MODEL_NOT_LISTED'
        ? t('oauth.defaultNotListed', { model: w.model }) : (w.message || w.code) })),
    tx('button', 'oauth.recheck', { type: 'button', class: 'btn btn-small', onclick: refreshOauth })]);
}

/** The first-visit panel: no ChatGPT login yet — what to run, in plain words. */
function renderLogin() {
  if (!login) return;
  const st = state.oauth.status;
  if (st !== 'login_required' || prefs.get('loginNoticeDismissed', '') === '1') {
    login.hidden = true;
    return;
  }
  login.hidden = false;
  append(clear(login), [
    h('div', { class: 'notice-text' },
      tx('strong', 'login.title'),
      tx('span', 'login.body'),
      h('code', { id: 'login-command', text: 'npx openai-oauth login' }),
      tx('span', 'login.after'),
      tx('span', 'login.offline'),
      h('code', { text: 'python3 ima2.py serve --offline' })),
    h('div', { class: 'actions' },
      tx('button', 'oauth.recheck', { type: 'button', class: 'btn btn-small',
        onclick: refreshOauth }),
      iconButton('x', 'common.dismiss', () => {
        prefs.set('loginNoticeDismissed', '1');
        login.hidden = true;
      }, { cls: 'btn-small' }))]);
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
  notice.dataset.checked = '1'; // the storage state was read (tests wait on it)
  const st = storage && storage.state;
  // Only when old galleries were really found: a first visit is not greeted with a warning.
  if (st !== 'recoverable') {
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
  return setLang(prefs.get('lang', detectLang()));
}

export function initStatus(bar, notices) {
  pill = h('button', { type: 'button', class: 'pill', id: 'oauth-pill', 'aria-expanded': 'false',
    'aria-controls': 'oauth-details', onclick: () => {
      details.hidden = !details.hidden;
      pill.setAttribute('aria-expanded', String(!details.hidden));
    } });
  details = h('div', { class: 'popover', id: 'oauth-details', hidden: true });
  const lang = h('select', { class: 'input input-small', id: 'lang', 'aria-label': t('lang.label'),
    'data-i18n-label': 'lang.label', onchange: async () => {
      prefs.set('lang', lang.value);
      await setLang(lang.value);
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
  login = h('div', { class: 'notice notice-login', id: 'login-notice', role: 'status',
    hidden: true });
  notice = h('div', { class: 'notice', id: 'storage-notice', role: 'status', hidden: true });
  notices.append(login, notice);
  applyTheme(document.documentElement.dataset.theme || 'light');
  on('lang', () => {
    renderOauth();
    renderLogin();
    renderStorage();
    applyTheme(document.documentElement.dataset.theme);
  });
  // A notice about an empty gallery goes away once images arrive.
  on('job:error', ({ error }) => {
    const code = error.code || '';
    if (code.startsWith('AUTH_')) {
      // The proxy may still answer its status probe: the failed job is the better witness.
      state.oauth = { ...state.oauth, status: 'auth_required' };
      renderOauth();
      emit('oauth', state.oauth);
    }
    if (['OAUTH_UNAVAILABLE', 'AUTH_CHATGPT_EXPIRED', 'LOGIN_REQUIRED', 'NETWORK_FAILED']
      .includes(code)) refreshOauth();
  });
  state.oauth = { status: 'checking', models: [], defaultModel: null };
  renderOauth();
  refreshOauth();
  // The notice is for an empty gallery (old images found elsewhere): ask once the first history
  // page is empty — counting a 50,000-image folder on every load delayed the first thumbnails.
  let asked = false;
  on('history', ({ items }) => {
    if (asked) return;
    asked = true;
    if (!items.length) refreshStorage();
  });
  setInterval(() => {
    if (document.visibilityState !== 'hidden') refreshOauth();
  }, OAUTH_POLL_MS);
}
