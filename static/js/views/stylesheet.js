// views/stylesheet.js — the per-session style sheet dialog: palette, composition, mood,
// medium, subject details and negatives; enable/disable; extract one from a prompt (with the
// next step when extraction is unavailable). Must not: apply the sheet (the server prefixes
// prompts of generations in the session).
import { h, tx, clear, append, iconButton, trapFocus, toast } from '../dom.js';
import { t } from '../i18n.js';
import { api } from '../api.js';
import { state, emit } from '../state.js';

const TEXT_FIELDS = ['medium', 'composition', 'mood', 'subject_details'];
const LIST_FIELDS = ['palette', 'negative'];
let dialog = null;
let fields = {};
let enabledBox = null;
let message = null;
let returnFocus = null;

/** The enabled flag and sheet of a session (null when it cannot be read). */
export async function readSheet(sessionId) {
  try {
    return await api.styleSheet(sessionId);
  } catch (_) {
    return null;
  }
}

function fill(sheet) {
  const s = sheet && typeof sheet === 'object' ? sheet : {};
  for (const key of TEXT_FIELDS) fields[key].value = typeof s[key] === 'string' ? s[key] : '';
  for (const key of LIST_FIELDS) fields[key].value = Array.isArray(s[key]) ? s[key].join(', ') : '';
}

function collect() {
  const sheet = {};
  for (const key of TEXT_FIELDS) sheet[key] = fields[key].value.trim();
  for (const key of LIST_FIELDS) {
    sheet[key] = fields[key].value.split(',').map((v) => v.trim()).filter(Boolean);
  }
  return sheet;
}

function show(kind, text, hint) {
  clear(message);
  message.hidden = !text;
  message.className = 'sheet-message ' + kind;
  if (text) append(message, [h('p', { text }), hint ? h('p', { class: 'error-hint', text: hint }) : null]);
}

function extractHint(code) {
  const known = ['STYLE_SHEET_NO_KEY', 'STYLE_SHEET_EMPTY', 'STYLE_SHEET_PARSE', 'STYLE_SHEET_SHAPE',
    'STYLE_SHEET_BAD_INPUT', 'OAUTH_UNAVAILABLE'];
  return t('sheet.hint.' + (known.includes(code) ? code : 'other'));
}

async function save() {
  try {
    await api.saveStyleSheet(state.sessionId, collect(), enabledBox.checked);
    show('ok', t('sheet.saved'));
    emit('stylesheet', { enabled: enabledBox.checked, sheet: collect() });
  } catch (err) {
    show('error', err.message, t('sheet.hint.save'));
  }
}

async function toggle() {
  try {
    await api.setStyleSheetEnabled(state.sessionId, enabledBox.checked);
    emit('stylesheet', { enabled: enabledBox.checked, sheet: collect() });
  } catch (err) {
    enabledBox.checked = !enabledBox.checked;
    show('error', err.message, t('sheet.hint.save'));
  }
}

async function extract(promptEl, button) {
  const prompt = promptEl.value.trim();
  if (!prompt) {
    show('error', t('sheet.needPrompt'));
    promptEl.focus();
    return;
  }
  button.disabled = true;
  show('info', t('sheet.extracting'));
  try {
    const data = await api.extractStyleSheet(state.sessionId, prompt);
    fill(data.styleSheet);
    show('ok', t('sheet.extracted'));
    emit('stylesheet', { enabled: enabledBox.checked, sheet: collect() });
  } catch (err) {
    show('error', `${err.message} (${err.code || 'HTTP ' + err.status})`, extractHint(err.code));
  } finally {
    button.disabled = false;
  }
}

export function closeSheet() {
  if (!dialog) return;
  dialog.remove();
  dialog = null;
  if (returnFocus && returnFocus.isConnected) returnFocus.focus();
}

export async function openSheet() {
  if (dialog || !state.sessionId) return;
  returnFocus = document.activeElement;
  fields = {};
  for (const key of TEXT_FIELDS.concat(LIST_FIELDS)) {
    const multi = key === 'composition' || key === 'subject_details';
    fields[key] = h(multi ? 'textarea' : 'input', { class: 'input', id: 'sheet-' + key,
      rows: multi ? 2 : null, placeholder: t('sheet.placeholder.' + key) });
  }
  enabledBox = h('input', { type: 'checkbox', id: 'sheet-enabled', onchange: toggle });
  message = h('div', { class: 'sheet-message', role: 'status', hidden: true, id: 'sheet-message' });
  const promptEl = h('textarea', { class: 'input', id: 'sheet-prompt', rows: 2,
    placeholder: t('sheet.extractPlaceholder') });
  const extractBtn = tx('button', 'sheet.extract', { type: 'button', class: 'btn btn-small',
    id: 'sheet-extract', onclick: () => extract(promptEl, extractBtn) });
  const panel = h('div', { class: 'dialog-panel' },
    h('div', { class: 'row' }, tx('h2', 'sheet.title', { id: 'sheet-title', class: 'section-title' }),
      h('span', { class: 'spacer', style: { flex: 1 } }),
      iconButton('x', 'common.close', closeSheet)),
    tx('p', 'sheet.intro', { class: 'muted small' }),
    h('label', { class: 'check' }, enabledBox, tx('span', 'sheet.enabled')),
    TEXT_FIELDS.concat(LIST_FIELDS).map((key) => h('div', { class: 'field' },
      tx('label', 'sheet.field.' + key, { for: 'sheet-' + key, class: 'field-label' }), fields[key])),
    h('div', { class: 'field' }, tx('label', 'sheet.extractLabel', { for: 'sheet-prompt',
      class: 'field-label' }), promptEl, h('div', { class: 'row' }, extractBtn)),
    message,
    h('div', { class: 'dialog-actions' },
      tx('button', 'common.cancel', { type: 'button', class: 'btn', onclick: closeSheet }),
      tx('button', 'common.save', { type: 'button', class: 'btn btn-primary', id: 'sheet-save',
        onclick: save })));
  dialog = h('div', { class: 'dialog', id: 'sheet-dialog', role: 'dialog', 'aria-modal': 'true',
    'aria-labelledby': 'sheet-title',
    onkeydown: (e) => {
      if (e.key === 'Escape') closeSheet();
      else trapFocus(panel, e);
    } }, panel);
  document.body.append(dialog);
  fields.medium.focus();
  const data = await readSheet(state.sessionId);
  if (!dialog) return;
  if (data) {
    fill(data.styleSheet);
    enabledBox.checked = Boolean(data.enabled);
  } else {
    toast(t('sheet.loadFailed'), { kind: 'error' });
  }
  dialog.dataset.state = 'loaded'; // the saved sheet is in the fields (typing before it is lost)
}
