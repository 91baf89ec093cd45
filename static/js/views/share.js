// views/share.js — the share dialog (loaded on first use): `openShareDialog(names)` makes a
// read-only link for those gallery images with POST /api/shares (how long it lives, whether
// the page shows the prompts), then shows the link — it exists only in that answer: the server
// keeps a hash of the token, so it is shown once, with a Copy button — its QR code drawn here
// with qr.js (a canvas, no network), when it expires, and Revoke. Focus stays in the dialog,
// Esc closes it and focus returns where it was. Must not: keep the link anywhere.
import { h, tx, clear, iconButton, trapFocus, toast, fmtDate, loadStyles } from '../dom.js';
import { t } from '../i18n.js';
import { api } from '../api.js';
import { qrMatrix } from '../qr.js';

const EXPIRY = [['3600', 'share.expiry.hour'], ['86400', 'share.expiry.day'],
  ['604800', 'share.expiry.week'], ['2592000', 'share.expiry.month']];
const SCALE = 6; // canvas pixels per QR module (drawn crisp, scaled by CSS)
let dialog = null;
let returnFocus = null;

/** The QR code of `text` on a canvas (dark modules on white, a 4-module quiet zone). */
export function qrCanvas(text) {
  const code = qrMatrix(text, { ecc: 'M' });
  const quiet = 4;
  const side = (code.size + quiet * 2) * SCALE;
  const canvas = h('canvas', { class: 'share-qr', id: 'share-qr', width: side, height: side, role: 'img',
    'aria-label': t('share.qrLabel'), dataset: { version: String(code.version), mask: String(code.mask),
      modules: String(code.size), quiet: String(quiet), scale: String(SCALE) } });
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, side, side);
  ctx.fillStyle = '#000';
  code.modules.forEach((row, r) => row.forEach((dark, c) => {
    if (dark) ctx.fillRect((c + quiet) * SCALE, (r + quiet) * SCALE, SCALE, SCALE);
  }));
  return canvas;
}

/** Only this computer can open a link on a loopback address: say so. */
function loopback() {
  return /^(localhost|127\.|\[::1\])/.test(location.hostname) || location.hostname === '::1';
}

export function closeShareDialog() {
  if (!dialog) return;
  dialog.remove();
  dialog = null;
  if (!document.querySelector('.viewer:not([hidden])')) document.body.classList.remove('modal-open');
  if (returnFocus && returnFocus.isConnected) returnFocus.focus();
}

async function copyLink(input) {
  try {
    await navigator.clipboard.writeText(input.value);
    toast(t('share.copied'));
  } catch (_) {
    input.select(); // the browser refused: the link is selected for Ctrl+C
    toast(t('result.copyFailed'), { kind: 'error' });
  }
}

function showLink(box, share) {
  const url = new URL(share.url, location.origin).href;
  const input = h('input', { class: 'input mono', id: 'share-url', readOnly: true, value: url,
    'aria-describedby': 'share-once', onfocus: () => input.select() });
  const revoke = tx('button', 'share.revoke', { type: 'button', class: 'btn btn-small danger', id: 'share-revoke',
    onclick: async () => {
      revoke.disabled = true;
      try {
        await api.revokeShare(share.id);
        dialog.dataset.state = 'revoked';
        clear(box).append(tx('p', 'share.revoked', { class: 'share-revoked', role: 'status' }));
        dialog.querySelector('.share-close').focus(); // the focused button is gone
      } catch (err) {
        revoke.disabled = false;
        toast(t('share.failed', { message: err.message }), { kind: 'error' });
      }
    } });
  clear(box).append(
    tx('label', 'share.link', { for: 'share-url', class: 'field-label' }),
    h('div', { class: 'share-row' }, input,
      iconButton('copy', 'share.copy', () => copyLink(input), { showLabel: true, cls: 'btn-primary share-copy' })),
    tx('p', 'share.once', { class: 'muted small', id: 'share-once' }),
    h('div', { class: 'share-result' }, qrCanvas(url),
      h('div', { class: 'share-facts' },
        h('p', { id: 'share-expires', text: t('share.expires', { date: fmtDate(share.expiresAt) }) }),
        loopback() ? tx('p', 'share.loopback', { class: 'muted small', id: 'share-loopback' }) : null,
        revoke)));
  dialog.dataset.state = 'ready';
  input.focus();
}

/** The share dialog for these gallery images (file names as the gallery lists them);
 * resolves once it is open. */
export async function openShareDialog(names) {
  const files = Array.from(new Set((names || []).filter((n) => typeof n === 'string' && n)));
  if (!files.length) return;
  const opener = document.activeElement;
  await loadStyles('/css/panels.css');
  closeShareDialog();
  returnFocus = opener;
  const expiry = h('select', { class: 'input', id: 'share-expiry' },
    EXPIRY.map(([value, key]) => h('option', { value, text: t(key), selected: value === '86400' })));
  const prompts = h('input', { type: 'checkbox', id: 'share-prompts' });
  const box = h('div', { class: 'share-body', id: 'share-body', 'aria-live': 'polite' });
  const create = tx('button', 'share.create', { type: 'submit', class: 'btn btn-primary', id: 'share-create' });
  const form = h('form', { class: 'share-form', onsubmit: async (e) => {
    e.preventDefault();
    create.disabled = true;
    dialog.dataset.state = 'creating';
    try {
      const share = await api.createShare({ filenames: files, expiresIn: Number(expiry.value),
        showPrompts: prompts.checked });
      if (!dialog) return;
      form.hidden = true;
      showLink(box, share);
    } catch (err) {
      create.disabled = false;
      dialog.dataset.state = 'error';
      clear(box).append(h('p', { class: 'share-error', role: 'alert',
        text: t('share.failed', { message: err.message }) }));
    }
  } },
  h('div', { class: 'field' }, tx('label', 'share.expiry', { for: 'share-expiry', class: 'field-label' }), expiry),
  h('label', { class: 'check' }, prompts, tx('span', 'share.showPrompts')),
  h('div', { class: 'dialog-actions' }, create));
  const panel = h('div', { class: 'dialog-panel share-panel' },
    h('div', { class: 'row' }, tx('h2', 'share.title', { id: 'share-title', class: 'section-title' }),
      h('span', { class: 'spacer', style: { flex: 1 } }),
      iconButton('x', 'common.close', closeShareDialog, { cls: 'share-close' })),
    h('p', { class: 'muted small', id: 'share-what', text: t('share.what', {
      what: files.length === 1 ? t('share.one') : t('share.many', { n: files.length }) }) }),
    form, box);
  dialog = h('div', { class: 'dialog', id: 'share-dialog', role: 'dialog', 'aria-modal': 'true',
    'aria-labelledby': 'share-title', 'aria-describedby': 'share-what', dataset: { state: 'new' },
    onkeydown: (e) => {
      if (e.key === 'Escape') {
        e.stopPropagation();
        closeShareDialog();
      } else trapFocus(panel, e);
    },
    onclick: (e) => {
      if (e.target === dialog) closeShareDialog();
    } }, panel);
  document.body.append(dialog);
  document.body.classList.add('modal-open');
  expiry.focus();
}
