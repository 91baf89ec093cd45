// views/results.js — finished images of this tab: the image with its prompt, revised prompt
// (when it differs), model, requested vs actual size, elapsed; actions download, copy prompt,
// copy image, use as reference, edit, delete (with Undo). Must not: fetch history pages.
import { h, tx, clear, icon, iconButton, toast, fmtSeconds } from '../dom.js';
import { t } from '../i18n.js';
import { on, emit } from '../state.js';
import { history } from '../history.js';
import { readAsDataURL } from '../images.js';

const MAX_CARDS = 12;
let list = null;
const cards = [];

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t('result.copiedPrompt'));
  } catch (_) {
    toast(t('result.copyFailed'), { kind: 'error' });
  }
}

async function copyImage(url) {
  try {
    const blob = await (await fetch(url)).blob();
    const png = blob.type === 'image/png' ? blob : await toPng(blob);
    await navigator.clipboard.write([new ClipboardItem({ 'image/png': png })]);
    toast(t('result.copiedImage'));
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

/** "Provider: Offline" for offline-provider results, so they are never taken for real ones. */
export function offlineDetail(provider) {
  if (provider !== 'offline') return null;
  return h('div', { class: 'detail' }, tx('dt', 'result.provider'),
    h('dd', {}, h('span', { class: 'badge offline-badge', text: t('provider.offline') })));
}

function detail(key, value, cls = '') {
  return h('div', { class: 'detail ' + cls }, tx('dt', key), h('dd', { text: value }));
}

/** Row-shaped object the viewer and the gallery understand. */
function asRow(entry) {
  return history.get(entry.filename) || { filename: entry.filename, url: entry.url,
    prompt: entry.prompt, revisedPrompt: entry.revisedPrompt, model: entry.model,
    provider: entry.provider,
    size: entry.requestedSize, quality: entry.quality, format: entry.format,
    createdAt: Date.now() };
}

function card(entry) {
  const actual = h('dd', { class: 'actual-size', text: '…' });
  const img = h('img', { src: entry.url, class: 'result-image', alt: entry.prompt,
    onload: () => {
      actual.textContent = `${img.naturalWidth}×${img.naturalHeight}`;
      el.dataset.loaded = '1';
    } });
  const revised = entry.revisedPrompt && entry.revisedPrompt.trim() !== entry.prompt.trim()
    ? detail('result.revised', entry.revisedPrompt, 'revised') : null;
  const actions = h('div', { class: 'actions' },
    h('a', { class: 'btn icon-btn', href: entry.url, download: entry.filename,
      'aria-label': t('result.download'), title: t('result.download'),
      'data-i18n-label': 'result.download' }, icon('download')),
    iconButton('copy', 'result.copyPrompt', () => copyText(entry.prompt)),
    iconButton('image', 'result.copyImage', () => copyImage(entry.url)),
    iconButton('ref', 'result.useRef', () => emit('refs:add-url',
      { url: entry.url, name: entry.filename })),
    iconButton('edit', 'result.edit', () => editFrom(entry)),
    iconButton('trash', 'result.delete', async () => {
      const done = await history.deleteWithUndo(asRow(entry));
      if (done) el.classList.add('deleted');
    }));
  const el = h('article', { class: 'card result', dataset: { filename: entry.filename } },
    h('button', { type: 'button', class: 'image-button', 'aria-label': t('result.open'),
      onclick: () => emit('viewer:open', { rows: [asRow(entry)], index: 0 }) }, img),
    h('dl', { class: 'details' },
      detail('result.prompt', entry.prompt, 'prompt'),
      revised,
      detail('result.model', entry.model || '—'),
      offlineDetail(entry.provider),
      h('div', { class: 'detail' }, tx('dt', 'result.requested'),
        h('dd', { class: 'requested-size', text: String(entry.requestedSize || '').replace('x', '×') })),
      h('div', { class: 'detail' }, tx('dt', 'result.actual'), actual),
      detail('result.elapsed', fmtSeconds(entry.elapsed)),
      entry.warnings.length ? detail('result.warnings',
        entry.warnings.map((w) => w.code || w.message || String(w)).join(', ')) : null),
    actions);
  return el;
}

async function editFrom(entry) {
  try {
    const blob = await (await fetch(entry.url)).blob();
    emit('composer:edit', { dataUrl: await readAsDataURL(blob), name: entry.filename,
      url: entry.url });
    emit('view', 'studio');
  } catch (_) {
    toast(t('result.loadFailed'), { kind: 'error' });
  }
}

function add(entry) {
  const el = card(entry);
  cards.unshift(el);
  list.prepend(el);
  while (cards.length > MAX_CARDS) cards.pop().remove();
}

export function initResults(root) {
  list = h('div', { class: 'results', id: 'results', 'aria-live': 'polite' });
  root.append(h('section', { 'aria-labelledby': 'results-title', class: 'results-section' },
    tx('h2', 'result.title', { id: 'results-title', class: 'section-title visually-hidden' }),
    list));
  on('result', add);
  on('assets:restored', ({ filename }) => {
    for (const el of cards) if (el.dataset.filename === filename) el.classList.remove('deleted');
  });
  on('results:clear', () => {
    cards.splice(0, cards.length);
    clear(list);
  });
}

export { editFrom, copyText, copyImage };
