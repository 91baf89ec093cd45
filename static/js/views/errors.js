// views/errors.js — the card of a failed request: what the error code means and the next step
// (proxy offline → how to start it, login expired, refused by safety, empty response, rate
// limited with the retry time, invalid size with the nearest valid size, …), the server's own
// message, code, status and request id, and Retry / Dismiss. Must not: retry on its own (the request card passes Retry in).
import { h, tx, iconButton } from '../dom.js';
import { t } from '../i18n.js';
import { emit } from '../state.js';
import { parseSize, nearestValidSize } from '../sizes.js';

/** The error class of a code (+ message): an i18n key suffix under err.<class>.* */
export function errorClass(error) {
  const code = error.code || '';
  const text = `${error.message || ''} ${error.upstreamParam || (error.body && error.body.upstreamParam) || ''}`;
  if (code === 'OAUTH_UNAVAILABLE') return 'proxy';
  if (code === 'SERVER_UNREACHABLE') return 'server';
  if (code === 'NETWORK_FAILED') return 'network';
  if (code === 'LOGIN_REQUIRED') return 'login';
  if (code.startsWith('AUTH_')) return 'auth';
  if (code === 'SAFETY_REFUSAL' || code === 'MODERATION_REFUSED') return 'safety';
  if (code === 'EMPTY_RESPONSE') return 'empty';
  if (code === 'RATE_LIMITED' || error.status === 429) return 'rate';
  if (code === 'INVALID_REQUEST' && /size|resolution|pixel/i.test(text)) return 'size';
  if (code === 'INVALID_REQUEST') return 'invalid';
  if (code === 'UPSTREAM_5XX') return 'upstream';
  if (code === 'UPSTREAM_TIMEOUT') return 'timeout';
  if (code === 'STREAM_CUT') return 'cut';
  if (code.startsWith('REF_')) return 'refs';
  if (code === 'INVALID_IMAGE_MODEL' || code === 'IMAGE_MODEL_UNSUPPORTED') return 'model';
  if (code === 'NODE_NOT_FOUND' || code === 'NODE_SOURCE_INVALID') return 'source';
  return 'unknown';
}

/** Hint text for an error (used by cards here and by node mode). */
export function errorHint(error) {
  const cls = errorClass(error);
  if (cls === 'rate') {
    return error.retryAfter != null
      ? t('err.rate.hintAfter', { s: Math.ceil(error.retryAfter) }) : t('err.rate.hint');
  }
  return t('err.' + cls + '.hint');
}

export function errorTitle(error) {
  return t('err.' + errorClass(error) + '.title');
}

/** The error card shown inside a failed request's slot: title, message, hint, code / status /
 *  request id, "use the nearest size" for size errors, Retry and Dismiss. */
export function errorCard(rec, { retry, dismiss }) {
  const error = rec.error || {};
  const cls = errorClass(error);
  const meta = [error.code || t('err.noCode'), error.status ? 'HTTP ' + error.status : null,
    error.requestId || rec.id].filter(Boolean).join(' · ');
  const el = h('div', { class: 'error-card', role: rec.fresh ? 'alert' : null,
    dataset: { code: error.code || '', errorClass: cls } },
  h('h3', { class: 'error-title', text: errorTitle(error) }),
  h('p', { class: 'error-message', text: error.message || '' }),
  h('p', { class: 'error-hint', text: errorHint(error) }),
  h('p', { class: 'error-meta mono muted small', text: meta }));
  const actions = h('div', { class: 'actions' });
  const size = rec.request && parseSize(rec.request.size);
  if (cls === 'size' && size) {
    const near = nearestValidSize(size.w, size.h);
    actions.append(h('button', { type: 'button', class: 'btn btn-small',
      text: t('err.size.use', { size: `${near.w}×${near.h}` }),
      onclick: () => emit('composer:apply', { size: `${near.w}x${near.h}` }) }));
  }
  if (rec.request && !['refs', 'model'].includes(cls)) {
    actions.append(tx('button', 'err.retry', { type: 'button', class: 'btn btn-small', onclick: retry }));
  }
  actions.append(iconButton('x', 'common.dismiss', dismiss, { cls: 'btn-small' }));
  el.append(actions);
  return el;
}
