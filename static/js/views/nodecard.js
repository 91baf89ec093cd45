// views/nodecard.js — one node's card on the canvas: prompt, image (final, partial preview,
// placeholder or asset-missing), status with phase and elapsed time, the style-sheet mark,
// the error with its next step, and the node's actions. Must not: change the graph itself
// (actions go to the handlers nodes.js passes in).
import { h, clear, append, icon, iconButton, fmtSeconds } from '../dom.js';
import { copyImage } from './results.js';
import { t } from '../i18n.js';
import { graph, parentOf } from '../graph.js';
import { errorTitle, errorHint } from './errors.js';

const parts = new WeakMap();
const BUSY = ['running', 'queued'];

function nodeErrorText(error) {
  const code = error.code || '';
  const own = t('node.err.' + code);
  if (own !== 'node.err.' + code) return { title: own, hint: '' };
  const e = { code, message: error.message, status: error.status, retryAfter: error.retryAfter,
    body: null };
  return { title: errorTitle(e), hint: errorHint(e) };
}

export function buildCard(node, act) {
  const title = h('span', { class: 'gnode-title' });
  const badge = h('span', { class: 'badge gnode-badge' });
  const image = h('div', { class: 'gnode-image' });
  const prompt = h('textarea', { class: 'input gnode-prompt', rows: 3,
    'aria-label': t('node.prompt'), placeholder: t('node.promptPlaceholder'),
    oninput: () => act.prompt(node.id, prompt.value),
    onkeydown: (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        act.generate(node.id);
      }
    } });
  const status = h('div', { class: 'gnode-status' });
  const error = h('div', { class: 'gnode-error', role: 'alert', hidden: true });
  const gen = iconButton('spark', 'node.generate', () => act.generate(node.id),
    { showLabel: true, cls: 'btn-small node-generate' });
  const cancel = iconButton('stop', 'node.cancel', () => act.cancel(node.id),
    { showLabel: true, cls: 'btn-small node-cancel' });
  const child = iconButton('plus', 'node.addChild', () => act.addChild(node.id),
    { cls: 'btn-small node-add-child' });
  const detach = iconButton('ref', 'node.detach', () => act.detach(node.id),
    { cls: 'btn-small node-detach' });
  const del = iconButton('trash', 'node.delete', () => act.remove(node.id),
    { cls: 'btn-small danger node-delete' });
  const port = h('button', { type: 'button', class: 'gnode-port', title: t('node.port'),
    'aria-label': t('node.port'), tabindex: -1 });
  const open = iconButton('full', 'node.open', () => act.open(node.id), { cls: 'btn-small node-open' });
  const download = h('a', { class: 'btn icon-btn btn-small node-download', download: '', title: t('result.download'),
    'aria-label': t('result.download') }, icon('download'));
  const copy = iconButton('image', 'result.copyImage', () => copyImage(download.href), { cls: 'btn-small node-copy' });
  const tools = h('div', { class: 'gnode-tools' }, open, download, copy);
  const el = h('div', { class: 'gnode', tabindex: 0, role: 'group', dataset: { id: node.id } },
    h('div', { class: 'gnode-head' }, title, badge, port),
    h('div', { class: 'gnode-figure' }, image, tools),
    h('div', { class: 'gnode-body' }, prompt, status, error,
      h('div', { class: 'actions' }, gen, cancel, child, detach, del)));
  parts.set(el, { title, badge, image, prompt, status, error, gen, cancel, detach, tools, download, shown: null });
  return el;
}

function setImage(p, src, alt, kind) {
  const key = kind + ':' + src;
  if (p.shown === key) return;
  p.shown = key;
  clear(p.image).append(h('img', { src, alt, class: 'gnode-img', dataset: { kind },
    decoding: 'async' }));
}

function setPlaceholder(p, text, kind) {
  const key = 'text:' + kind + ':' + text;
  if (p.shown === key) return;
  p.shown = key;
  clear(p.image).append(h('div', { class: 'placeholder', dataset: { kind }, text }));
}

function statusText(node, live) {
  const st = node.data.status || 'empty';
  if (BUSY.includes(st)) {
    const phase = live && live.phase ? t('phase.' + live.phase) : t('phase.queued');
    const started = (live && live.startedAt) || node.data.startedAt;
    return started ? `${phase} · ${fmtSeconds(Date.now() - started)}` : phase;
  }
  if (st === 'done' && node.data.elapsed) return t('node.status.done') + ' · ' + node.data.elapsed + ' s';
  return t('node.status.' + st);
}

export function updateCard(el, node) {
  const p = parts.get(el);
  const live = graph.live.get(node.id);
  const st = node.data.status || 'empty';
  const parent = parentOf(node.id);
  el.dataset.status = st;
  el.setAttribute('aria-label', t('node.label', { prompt: node.data.prompt || t('node.untitled') }));
  p.title.textContent = parent ? t('node.child') : node.data.externalSrc ? t('node.fromGallery')
    : t('node.root');
  p.badge.textContent = t('node.status.' + st);
  if (document.activeElement !== p.prompt && p.prompt.value !== (node.data.prompt || '')) {
    p.prompt.value = node.data.prompt || '';
  }
  if (BUSY.includes(st) && live && live.partial) setImage(p, live.partial, t('node.partialAlt'), 'partial');
  else if (st === 'asset-missing') setPlaceholder(p, t('node.assetMissing'), 'asset-missing');
  else if (node.data.imageUrl) setImage(p, node.data.imageUrl, node.data.prompt || t('node.imageAlt'), 'final');
  else if (BUSY.includes(st)) setPlaceholder(p, t('node.generating'), 'busy');
  else setPlaceholder(p, t('node.noImage'), 'empty');
  append(clear(p.status), [h('span', { class: 'gnode-phase', text: statusText(node, live) }),
    node.data.styleApplied && st !== 'running'
      ? h('span', { class: 'badge style-applied', text: t('node.styleApplied') }) : null]);
  const err = node.data.error;
  p.error.hidden = !(err && (st === 'error' || st === 'canceled'));
  if (!p.error.hidden) {
    const text = nodeErrorText(err);
    append(clear(p.error), [h('strong', { text: text.title }),
      err.message ? h('span', { text: ' ' + err.message }) : null,
      text.hint ? h('p', { class: 'small', text: text.hint }) : null]);
  }
  const busy = BUSY.includes(st);
  p.tools.hidden = !node.data.imageUrl || busy || st === 'asset-missing';
  if (node.data.imageUrl && p.download.getAttribute('href') !== node.data.imageUrl) p.download.href = node.data.imageUrl;
  p.gen.hidden = busy;
  p.cancel.hidden = !busy;
  p.detach.hidden = !parent;
  const label = p.gen.querySelector('.btn-label');
  const key = st === 'error' || st === 'canceled' ? 'node.retry'
    : node.data.imageUrl || st === 'asset-missing' ? 'node.regenerate' : 'node.generate';
  label.dataset.i18n = key;
  label.textContent = t(key);
}

/** Refresh the elapsed time of busy cards (cheap: text only). */
export function tickCards(cards) {
  for (const [id, el] of cards) {
    const node = graph.nodes.get(id);
    if (!node || !BUSY.includes(node.data.status)) continue;
    const p = parts.get(el);
    const phase = p.status.querySelector('.gnode-phase');
    if (phase) phase.textContent = statusText(node, graph.live.get(id));
  }
}
