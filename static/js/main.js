// main.js — the studio's entry point: theme and language first, the visible global error
// handler, the views and the switch between them (#studio, #gallery, #nodes), dropping an
// image on the page to restore its prompt and settings, then the first data loads.
// Node mode is imported on first use so the first load stays small.
import { h, $, $$, tx, clear, toast } from './dom.js';
import { t, applyI18n } from './i18n.js';
import { api } from './api.js';
import { state, emit, on } from './state.js';
import { startPolling } from './jobs.js';
import { history } from './history.js';
import { initTheme, initLanguage, initStatus } from './views/status.js';
import { initComposer, hasKeyboard } from './views/composer.js';
import { initResults } from './views/results.js';
import { initRail } from './views/rail.js';

const VIEWS = ['studio', 'gallery', 'nodes', 'queue'];

// Opened on the gallery (a bookmark, a reload): its modules are fetched now, side by side,
// not one import level after another once the studio is built (first thumbnails sooner).
const GALLERY_MODULES = ['./views/gallery.js', './views/gallerylayout.js', './views/gallerytiles.js',
  './views/gallerypick.js', './views/galleryfilter.js', './library.js'];
if (location.hash === '#gallery' && typeof import.meta.resolve === 'function') {
  for (const path of GALLERY_MODULES) {
    document.head.append(h('link', { rel: 'modulepreload', href: import.meta.resolve(path) }));
  }
}
let nodesModule = null;

/** Uncaught errors show on the page (and still reach the console). */
function showGlobalError(message) {
  const box = $('#global-errors');
  if (!box) return;
  box.hidden = false;
  box.append(h('div', { class: 'global-error', role: 'alert' },
    h('strong', { text: t('global.error') }), h('span', { class: 'mono', text: String(message) }),
    h('button', { type: 'button', class: 'btn btn-small', text: t('common.dismiss'),
      onclick: (e) => {
        e.target.parentNode.remove();
        if (!box.children.length) box.hidden = true;
      } })));
}

function installErrorHandlers() {
  window.addEventListener('error', (e) => showGlobalError(e.message || e.error));
  window.addEventListener('unhandledrejection', (e) => {
    const reason = e.reason;
    showGlobalError(reason && reason.message ? reason.message : reason);
  });
}

function loadNodes() {
  if (!nodesModule) {
    nodesModule = import('./views/nodes.js').then((mod) => {
      mod.initNodes($('#view-nodes'));
      return mod;
    });
  }
  return nodesModule;
}

// The gallery and the queue load when first opened (the first load stays small).
const lazy = {};
const LAZY = { gallery: ['./views/gallery.js', 'initGallery'], queue: ['./views/queue.js', 'initQueue'] };
function loadLazy(view) {
  if (!lazy[view]) {
    const [path, init] = LAZY[view];
    lazy[view] = import(path).then((mod) => mod[init]($('#view-' + view)));
  }
  return lazy[view];
}

function showView(name) {
  const view = VIEWS.includes(name) ? name : 'studio';
  state.view = view;
  for (const v of VIEWS) $('#view-' + v).hidden = v !== view;
  for (const tab of $$('.tab')) {
    if (tab.dataset.view === view) tab.setAttribute('aria-current', 'page');
    else tab.removeAttribute('aria-current');
  }
  document.body.dataset.view = view;
  if (location.hash !== '#' + view) window.history.replaceState(null, '', '#' + view);
  if (view === 'nodes') loadNodes();
  if (LAZY[view]) loadLazy(view);
}

function buildShell() {
  const tabs = $('#tabs');
  for (const view of VIEWS) {
    tabs.append(tx('a', 'nav.' + view, { class: 'tab', href: '#' + view, dataset: { view },
      onclick: (e) => {
        e.preventDefault();
        emit('view', view);
      } }));
  }
  initStatus($('#topbar-tools'), $('#notices'));
  initComposer($('#composer'));
  initResults($('#stage'));
  initRail($('#rail'));
  lazyViewer();
}

/** The viewer is not part of the first load: its module comes with the first image opened,
 *  and from then on it answers `viewer:open` itself. */
function lazyViewer() {
  let loading = null;
  on('viewer:open', (args) => {
    if (loading) return;
    loading = import('./views/viewer.js').then((viewer) => {
      viewer.initViewer(document.body);
      viewer.open(args);
    });
  });
}

/** The ima2 settings embedded in a dropped image → the composer. */
export function settingsFromMetadata(data) {
  const src = (data && (data.settings || data.ima2 || data.sidecar || data.metadata)) || data || {};
  const opts = src.options || {};
  const pick = (...values) => values.find((v) => v != null && v !== '');
  return {
    prompt: pick(src.userPrompt, src.prompt, data && data.prompt),
    quality: pick(src.quality, opts.quality),
    size: pick(src.requestedSize, src.size, opts.size),
    format: pick(src.format, opts.format),
    moderation: pick(src.moderation, opts.moderation),
    model: pick(src.model),
    mode: pick(src.promptMode, src.mode),
  };
}

async function restoreFromFile(file) {
  let data;
  try {
    data = await api.readMetadata(file);
  } catch (err) {
    toast(t('drop.failed', { message: err.message }), { kind: 'error', timeout: 8000 });
    return;
  }
  const meta = settingsFromMetadata(data);
  if (typeof meta.prompt !== 'string' || !meta.prompt) {
    toast(t('drop.none', { name: file.name || '' }), { kind: 'error', timeout: 8000 });
    return;
  }
  emit('view', 'studio');
  emit('composer:apply', meta);
  toast(t('drop.restored', { name: file.name || '' }));
}

function installDrop() {
  const overlay = $('#drop-overlay');
  let depth = 0;
  const hasFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types || []).includes('Files');
  document.addEventListener('dragenter', (e) => {
    if (!hasFiles(e)) return;
    depth += 1;
    // Over the references zone a drop adds a reference, not a metadata restore.
    const over = /** @type {Element} */ (e.target);
    overlay.hidden = Boolean(over.closest && over.closest('#ref-zone'));
  });
  document.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) overlay.hidden = true;
  });
  document.addEventListener('dragover', (e) => {
    if (hasFiles(e)) e.preventDefault();
  });
  document.addEventListener('drop', (e) => {
    depth = 0;
    overlay.hidden = true;
    if (!hasFiles(e)) return;
    e.preventDefault();
    const file = Array.from(e.dataTransfer.files).find((f) => !f.type || f.type.startsWith('image/'));
    if (file) restoreFromFile(file);
  });
}

async function boot() {
  initTheme();
  installErrorHandlers();
  await initLanguage(); // one dictionary on a first load; another one is imported when chosen
  // The first answers are asked for before the views are built, so they arrive meanwhile; no
  // answer is handled before buildShell has wired the listeners (no await in between).
  startPolling();
  const firstPage = history.loadMore();
  buildShell();
  installDrop();
  on('view', showView);
  on('nodes:from-image', (image) => {
    emit('view', 'nodes');
    loadNodes().then((mod) => mod.rootFromImage(image));
  });
  window.addEventListener('hashchange', () => emit('view', location.hash.slice(1)));
  applyI18n(document);
  $('#boot-note').remove();
  showView(location.hash.slice(1) || 'studio');
  // A welcoming first view: the prompt is ready to type into (not on touch: no surprise keyboard).
  if (state.view === 'studio' && hasKeyboard()) $('#prompt').focus({ preventScroll: true });
  // The live stream is not part of the first load: its module comes right after (until it is
  // open, jobs.js polls as it does without one).
  import('./live.js').then((live) => live.startLive()).catch(() => {});
  firstPage.catch((err) => toast(t('gallery.loadFailed', { message: err.message }),
    { kind: 'error' }));
  document.documentElement.dataset.readyMs = String(Math.round(performance.now()));
  document.documentElement.dataset.ready = '1';
}

boot();
