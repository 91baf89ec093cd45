// views/results.js — the studio's stage: one card per request, newest first, with a grid of
// its 1–8 images side by side. Running slots show the partial previews in place and grow into
// the result; each image has labelled actions (download, copy image, copy prompt, use as
// reference, edit, new node, favourite, share, delete) and a badge when the actual size
// differs from the requested one; a failed request shows its error card in place, a canceled one a trace with
// Retry. The first visit shows example prompts. Must not: fetch history pages.
import { h, tx, clear, icon, iconButton, toast, fmtSeconds } from '../dom.js';
import { t } from '../i18n.js';
import { on, emit } from '../state.js';
import { history } from '../history.js';
import { runningJobs, cancelJob, startGenerate, startEdit } from '../jobs.js';
import { records, upsert, dismiss, loadSaved, syncRunning, find } from '../requests.js';
import { errorCard } from './errors.js';
import { parseSize } from '../sizes.js';
import { favoriteButton, shareButton } from './actions.js';

let list = null;
let welcome = null;
const cards = new Map(); // request id -> {el, state}
const EXAMPLES = ['ex.1', 'ex.2', 'ex.3', 'ex.4'];
/** images.js is not part of the first load: it comes with the first copy or edit. */
const readAsDataURL = async (blob) => (await import('../images.js')).readAsDataURL(blob);

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t('result.copiedPrompt'));
  } catch (_) {
    toast(t('result.copyFailed'), { kind: 'error' });
  }
}

async function toPng(blob) {
  const img = new Image();
  img.src = await readAsDataURL(blob);
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  canvas.getContext('2d').drawImage(img, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
}

export async function copyImage(url) {
  try {
    const blob = await (await fetch(url)).blob();
    const png = blob.type === 'image/png' ? blob : await toPng(blob);
    await navigator.clipboard.write([new ClipboardItem({ 'image/png': png })]);
    toast(t('result.copiedImage'));
  } catch (_) {
    toast(t('result.copyFailed'), { kind: 'error' });
  }
}

/** "Provider: Offline" for offline-provider results, so they are never taken for real ones. */
export function offlineDetail(provider) {
  if (provider !== 'offline') return null;
  return h('div', { class: 'detail' }, tx('dt', 'result.provider'),
    h('dd', {}, h('span', { class: 'badge offline-badge', text: t('provider.offline') })));
}

export async function editFrom(entry) {
  try {
    const blob = await (await fetch(entry.url)).blob();
    emit('composer:edit', { dataUrl: await readAsDataURL(blob), name: entry.filename,
      url: entry.url });
    emit('view', 'studio');
  } catch (_) {
    toast(t('result.loadFailed'), { kind: 'error' });
  }
}

/** Row-shaped object the viewer and the gallery understand. */
function asRow(entry) {
  return history.get(entry.filename) || { filename: entry.filename, url: entry.url,
    prompt: entry.prompt, revisedPrompt: entry.revisedPrompt, model: entry.model,
    provider: entry.provider, renderPath: entry.renderPath, renderModel: entry.renderModel,
    size: entry.requestedSize, quality: entry.quality, format: entry.format,
    createdAt: Date.now() };
}

/** The actions every image offers (results and the viewer share the order). */
export function imageActions(entry, { onDelete, prompt }) {
  const name = entry.filename.split('/').pop();
  return [
    h('a', { class: 'btn icon-btn', href: entry.url, download: name, title: t('result.download'),
      'aria-label': t('result.download'), 'data-i18n-label': 'result.download' }, icon('download')),
    iconButton('image', 'result.copyImage', () => copyImage(entry.url)),
    iconButton('copy', 'result.copyPrompt', () => copyText(prompt || '')),
    iconButton('imgplus', 'result.useRef', () => emit('refs:add-url', { url: entry.url, name })),
    iconButton('edit', 'result.edit', () => editFrom(entry)),
    iconButton('node', 'viewer.toNode', () => emit('nodes:from-image',
      { filename: entry.filename, url: entry.url, prompt: prompt || '' })),
    favoriteButton(entry.filename, entry.favorite),
    shareButton([entry.filename]),
    iconButton('trash', 'result.delete', onDelete, { cls: 'danger' }),
  ];
}

function slot(rec, entry, index) {
  const fig = h('figure', { class: 'result slot', dataset: { filename: entry.filename } });
  const size = h('span', { class: 'actual-size mono', text: '…' });
  const img = h('img', { src: entry.url, class: 'result-image', alt: rec.prompt || entry.filename,
    decoding: 'async', onload: () => {
      const actual = `${img.naturalWidth}×${img.naturalHeight}`;
      size.textContent = actual;
      const want = parseSize(rec.request && rec.request.size);
      if (want && (want.w !== img.naturalWidth || want.h !== img.naturalHeight)) {
        size.after(h('span', { class: 'badge warn size-mismatch', text: t('result.mismatch'),
          title: t('result.mismatchHint', { want: `${want.w}×${want.h}`, got: actual }) }));
      }
      fig.dataset.loaded = '1';
    } });
  const actions = h('div', { class: 'result-actions', role: 'toolbar', 'aria-label': t('result.actions') },
    imageActions(entry, { prompt: rec.prompt, onDelete: async () => {
      if (await history.deleteWithUndo(asRow(entry))) fig.classList.add('deleted');
    } }));
  fig.append(h('button', { type: 'button', class: 'image-button', 'aria-label': t('result.open'),
    onclick: () => emit('viewer:open', { rows: rec.entries.map(asRow), index }) }, img),
  h('figcaption', { class: 'result-caption' }, size, entry.provider === 'offline'
    ? h('span', { class: 'badge offline-badge', text: t('provider.offline') }) : null), actions);
  return fig;
}

function pending(rec, index) {
  const src = rec.previews && (rec.previews.get(index) || rec.previews.get(String(index)));
  return h('div', { class: 'slot slot-pending', dataset: { index: String(index) } },
    src ? h('img', { class: 'job-preview', src, alt: t('job.previewAlt') })
      : h('span', { class: 'spinner', 'aria-hidden': 'true' }));
}

function metaLine(rec) {
  const req = rec.request || {};
  const bits = [req.quality ? t('quality.' + req.quality) : null,
    req.size ? h('span', { class: 'requested-size', text: String(req.size).replace('x', '×') }) : null,
    req.model || null, rec.entries && rec.entries[0] && rec.entries[0].format
      ? rec.entries[0].format.toUpperCase() : null];
  const first = rec.entries && rec.entries[0];
  if (first && first.renderPath) {
    bits.push(h('span', { class: 'render-path', text: t('result.renderedVia', {
      model: first.renderModel || first.model || req.model || '—', path: first.renderPath }) }));
  }
  if (rec.usage && rec.usage.total_tokens) bits.push(t('result.tokens', { n: rec.usage.total_tokens.toLocaleString() }));
  return bits.filter(Boolean).flatMap((b, i) => (i ? [' · ', b] : [b]));
}

function retry(rec) {
  const req = { ...rec.request, prompt: rec.prompt, count: Number(rec.request && rec.request.count) || 1 };
  if (rec.kind === 'edit' && !req.image) {
    emit('composer:prompt', rec.prompt || ''); // the edited image is not kept across reloads
    return;
  }
  dismiss(rec.id);
  if (rec.kind === 'edit') startEdit(req);
  else startGenerate(req);
}

function build(rec) {
  const running = rec.state === 'running';
  const el = h('article', { class: 'request card' + (running ? ' job' : ''),
    dataset: { requestId: rec.id, state: rec.state, phase: rec.phase || 'queued' },
    'aria-busy': String(running) });
  const elapsed = h('span', { class: 'job-elapsed mono', text: fmtSeconds(rec.elapsed != null
    ? rec.elapsed : Date.now() - rec.startedAt) });
  const tools = h('div', { class: 'request-tools' });
  if (running) {
    const cancel = iconButton('stop', 'job.cancel', async () => {
      cancel.disabled = true;
      try {
        await cancelJob(rec.id);
      } catch (err) {
        cancel.disabled = false;
        toast(t('job.cancelFailed', { message: err.message }), { kind: 'error' });
      }
    }, { showLabel: true, cls: 'btn-small job-cancel' });
    tools.append(cancel);
  } else {
    tools.append(iconButton('copy', 'result.reusePrompt', () => emit('composer:prompt', rec.prompt || ''), { cls: 'btn-small' }));
    if (rec.state !== 'error') {
      if (rec.state !== 'done') tools.append(tx('button', 'err.retry', { type: 'button', class: 'btn btn-small request-retry', onclick: () => retry(rec) }));
      tools.append(iconButton('x', 'common.dismiss', () => dismiss(rec.id), { cls: 'btn-small request-dismiss' }));
    }
  }
  const status = running ? h('span', { class: 'job-phase', text: phaseText(rec) })
    : tx('span', 'request.' + rec.state, { class: 'request-state' });
  el.append(h('header', { class: 'request-head' },
    h('div', { class: 'request-text' },
      h('p', { class: 'request-prompt job-prompt', text: rec.prompt || t('job.noPrompt') }),
      h('p', { class: 'request-meta muted small' }, rec.elsewhere ? tx('span', 'job.elsewhere', { class: 'badge' }) : null,
        rec.kind === 'edit' ? tx('span', 'job.kind.edit', { class: 'badge' }) : null, status, ' · ', elapsed,
        ' · ', metaLine(rec))), tools));
  const revised = rec.entries && rec.entries[0] && rec.entries[0].revisedPrompt;
  if (revised && revised.trim() !== (rec.prompt || '').trim()) {
    el.append(h('p', { class: 'request-revised revised small' }, tx('strong', 'result.revised'), ' ', h('span', { text: revised })));
  }
  if (rec.state === 'error') {
    el.append(errorCard(rec, { retry: () => retry(rec), dismiss: () => dismiss(rec.id) }));
    rec.fresh = false; // announced once, not again on a language switch
  } else if (rec.state === 'canceled' || rec.state === 'interrupted') {
    el.append(tx('p', 'request.' + rec.state + '.hint', { class: 'muted small request-trace' }));
  } else {
    const n = running ? Math.max(1, Number(rec.request && rec.request.count) || 1) : rec.entries.length;
    const grid = h('div', { class: 'request-grid' });
    grid.style.setProperty('--n', String(Math.min(n, 4)));
    for (let i = 0; i < n; i += 1) grid.append(running ? pending(rec, i) : slot(rec, rec.entries[i], i));
    el.append(grid);
  }
  return el;
}

function phaseText(rec) {
  const key = 'phase.' + (rec.phase || 'queued');
  const known = t(key);
  return known === key ? rec.phase : known;
}

function render() {
  const seen = new Set();
  let prev = null;
  for (const rec of records) {
    seen.add(rec.id);
    let card = cards.get(rec.id);
    const sig = rec.state + ':' + (rec.entries ? rec.entries.length : 0);
    if (!card || card.sig !== sig) {
      const el = build(rec);
      if (card) card.el.replaceWith(el);
      card = { el, sig };
      cards.set(rec.id, card);
    }
    if (card.el.previousElementSibling !== prev || card.el.parentNode !== list) {
      if (prev) prev.after(card.el);
      else list.prepend(card.el);
    }
    prev = card.el;
  }
  for (const [id, card] of cards) {
    if (!seen.has(id)) {
      card.el.remove();
      cards.delete(id);
    }
  }
  welcome.hidden = records.length > 0;
}

function live() {
  syncRunning(runningJobs(), (id) => runningJobs().some((j) => j.local && j.requestId === id));
  render();
  for (const rec of records) {
    if (rec.state !== 'running') continue;
    const el = cards.get(rec.id) && cards.get(rec.id).el;
    if (!el) continue;
    el.dataset.phase = rec.phase || 'queued';
    const phase = el.querySelector('.job-phase');
    if (phase) phase.textContent = phaseText(rec);
    for (const [key, src] of rec.previews || []) {
      const box = el.querySelector(`.slot-pending[data-index="${Number(key) || 0}"]`);
      if (!box) continue;
      const img = box.querySelector('img');
      if (img) {
        if (img.src !== src) img.src = src;
      } else clear(box).append(h('img', { class: 'job-preview', src, alt: t('job.previewAlt') }));
    }
  }
}

function tick() {
  for (const rec of records) {
    if (rec.state !== 'running') continue;
    const el = cards.get(rec.id) && cards.get(rec.id).el.querySelector('.job-elapsed');
    if (el) el.textContent = fmtSeconds(Date.now() - rec.startedAt);
  }
}

function buildWelcome() {
  return h('section', { class: 'welcome card', id: 'welcome', 'aria-labelledby': 'welcome-title' },
    tx('h2', 'welcome.title', { id: 'welcome-title', class: 'section-title' }),
    tx('p', 'welcome.body', { class: 'muted' }),
    h('div', { class: 'examples' }, EXAMPLES.map((key) => tx('button', 'welcome.' + key, {
      type: 'button', class: 'btn example', onclick: () => emit('composer:prompt', t('welcome.' + key)) }))));
}

export function initResults(root) {
  welcome = buildWelcome();
  list = h('div', { class: 'results', id: 'results' });
  root.append(welcome, h('section', { 'aria-labelledby': 'results-title', class: 'results-section' },
    tx('h2', 'result.title', { id: 'results-title', class: 'visually-hidden' }), list));
  loadSaved();
  on('job:start', (job) => upsert({ id: job.requestId, kind: job.kind, prompt: job.prompt,
    request: job.request, startedAt: job.startedAt, local: true, state: 'running' }));
  on('job:done', ({ requestId, entries, usage }) => {
    const rec = find(requestId);
    if (rec) upsert({ id: requestId, state: 'done', entries, usage, local: false,
      elapsed: entries[0] ? entries[0].elapsed : Date.now() - rec.startedAt });
  });
  on('job:error', ({ error, requestId }) => upsert({ id: requestId, state: 'error', local: false, fresh: true,
    elapsed: Date.now() - (find(requestId) || { startedAt: Date.now() }).startedAt,
    error: { code: error.code, message: error.message, status: error.status,
      retryAfter: error.retryAfter, requestId: error.requestId, upstreamParam: error.body && error.body.upstreamParam } }));
  on('job:canceled', (job) => upsert({ id: job.requestId, state: 'canceled', local: false,
    elapsed: Date.now() - job.startedAt }));
  on('requests', render);
  on('jobs', live);
  on('lang', () => {
    for (const card of cards.values()) card.el.remove();
    cards.clear();
    render();
  });
  on('assets:restored', ({ filename }) => {
    for (const el of list.querySelectorAll('.result.deleted')) if (el.dataset.filename === filename) el.classList.remove('deleted');
  });
  render();
  setInterval(tick, 500);
}
