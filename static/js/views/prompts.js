// views/prompts.js — the prompt library dialog (loaded on first use from the composer's
// Library button), on the server's saved prompts (/api/prompts): save the composer's prompt
// with its settings (model, quality, size, format, count, moderation, mode) under a name and
// tags, search, apply (fills the composer, settings included), update from the composer (the
// server keeps the previous version), list and restore versions, delete (a second click
// confirms). Focus stays in the dialog, Esc closes it and focus returns to the opener.
// Must not: generate anything or keep its own copy of the library between openings.
import { h, tx, clear, iconButton, trapFocus, toast, fmtDate, loadStyles } from '../dom.js';
import { t } from '../i18n.js';
import { api } from '../api.js';
import { emit } from '../state.js';
import { getRequest } from './composer.js';

const KEYS = ['model', 'quality', 'size', 'format', 'n', 'moderation', 'mode'];
let dialog = null;
let returnFocus = null;
const els = {};
let searchTimer = null;
let generation = 0;

/** The composer's request as a saved prompt's `settings` (the generate body's names). */
export function currentSettings() {
  const req = getRequest();
  const all = { model: req.model, quality: req.quality, size: req.size, format: req.format,
    n: req.count, moderation: req.moderation, mode: req.mode };
  const out = {};
  for (const key of KEYS) if (all[key] != null && all[key] !== '') out[key] = all[key];
  return out;
}

/** "Medium · 1024×1024 · PNG · ×2 · gpt-5.4-mini" for a saved prompt's settings. */
export function settingsLine(s) {
  const bits = [s.quality ? t('quality.' + s.quality) : null, s.size ? String(s.size).replace('x', '×') : null,
    s.format ? String(s.format).toUpperCase() : null, Number(s.n) > 1 ? '×' + s.n : null, s.model || null,
    s.mode === 'direct' ? t('composer.mode.direct') : null];
  return bits.filter(Boolean).join(' · ');
}

function fail(err) {
  toast(t('library.failed', { message: err.message }), { kind: 'error', timeout: 8000 });
}

function apply(item) {
  const s = item.settings || {};
  emit('composer:apply', { prompt: item.prompt, quality: s.quality, size: s.size, format: s.format,
    moderation: s.moderation, model: s.model, mode: s.mode, count: s.n != null ? String(s.n) : null });
  toast(t('library.applied', { name: item.name }));
  closeLibrary();
}

async function run(action, done) {
  try {
    const answer = await action();
    if (done) toast(done(answer));
    await refresh();
    return answer;
  } catch (err) {
    fail(err);
    return null;
  }
}

async function showVersions(item, box, toggle) {
  if (!box.hidden) {
    box.hidden = true;
    toggle.setAttribute('aria-expanded', 'false');
    return;
  }
  let data;
  try {
    data = await api.promptVersions(item.id);
  } catch (err) {
    fail(err);
    return;
  }
  const list = data.versions || [];
  clear(box).append(list.length ? h('ol', { class: 'prompt-versions' }, list.map((v) => h('li', {
    class: 'prompt-version', dataset: { version: String(v.version) } },
  h('div', { class: 'prompt-version-text' },
    h('strong', { text: t('library.version', { n: v.version }) + (v.name && v.name !== item.name ? ' · ' + v.name : '') }),
    h('p', { class: 'prompt-text small', text: v.prompt || '' }),
    h('p', { class: 'muted small', text: [settingsLine(v.settings || {}), v.updatedAt ? fmtDate(v.updatedAt) : '']
      .filter(Boolean).join(' · ') })),
  tx('button', 'library.restore', { type: 'button', class: 'btn btn-small prompt-restore',
    onclick: () => run(() => api.restorePromptVersion(item.id, v.version),
      () => t('library.restored', { n: v.version, name: item.name })) }))))
    : tx('p', 'library.noVersions', { class: 'muted small' }));
  box.hidden = false;
  toggle.setAttribute('aria-expanded', 'true');
}

function itemRow(item) {
  const versions = h('div', { class: 'prompt-versions-box', id: 'versions-' + item.id, hidden: true });
  const toggle = h('button', { type: 'button', class: 'btn btn-small prompt-versions-toggle',
    'aria-expanded': 'false', 'aria-controls': 'versions-' + item.id, disabled: !item.versionCount,
    text: t('library.versions', { n: item.versionCount || 0 }), onclick: () => showVersions(item, versions, toggle) });
  const remove = tx('button', 'library.delete', { type: 'button', class: 'btn btn-small danger prompt-delete',
    onclick: () => {
      if (remove.dataset.confirm !== '1') {
        remove.dataset.confirm = '1';
        remove.textContent = t('library.confirmDelete');
        return;
      }
      run(() => api.deletePrompt(item.id), () => t('library.deleted', { name: item.name }));
    } });
  return h('li', { class: 'prompt-item card', dataset: { id: item.id, name: item.name } },
    h('div', { class: 'prompt-item-head' },
      h('h3', { class: 'prompt-name', text: item.name }),
      h('span', { class: 'muted small', text: t('library.current', { n: item.version || 1,
        date: item.updatedAt ? fmtDate(item.updatedAt) : '—' }) })),
    h('p', { class: 'prompt-text', text: item.prompt }),
    h('p', { class: 'muted small prompt-settings', text: settingsLine(item.settings || {}) }),
    (item.tags || []).length ? h('p', { class: 'prompt-tags' },
      item.tags.map((tag) => h('span', { class: 'badge', text: tag }))) : null,
    h('div', { class: 'actions wrap' },
      tx('button', 'library.apply', { type: 'button', class: 'btn btn-small btn-primary prompt-apply',
        onclick: () => apply(item) }),
      tx('button', 'library.update', { type: 'button', class: 'btn btn-small prompt-update',
        onclick: () => {
          const req = getRequest();
          if (!req.prompt) return toast(t('library.needPrompt'), { kind: 'error' });
          return run(() => api.updatePrompt(item.id, { prompt: req.prompt, settings: currentSettings() }),
            () => t('library.updated', { name: item.name }));
        } }),
      toggle, remove),
    versions);
}

async function refresh() {
  if (!dialog) return;
  const q = els.search.value.trim();
  const mine = ++generation;
  dialog.dataset.state = 'loading';
  let data;
  try {
    data = await api.prompts(q);
  } catch (err) {
    if (mine === generation && dialog) dialog.dataset.state = 'error';
    fail(err);
    return;
  }
  if (mine !== generation || !dialog) return;
  const items = data.items || [];
  clear(els.list).append(...items.map(itemRow));
  els.empty.hidden = items.length > 0;
  els.empty.textContent = q ? t('library.noMatch', { q }) : t('library.empty');
  els.list.dataset.count = String(items.length);
  dialog.dataset.state = 'loaded';
  if (!dialog.contains(document.activeElement)) els.search.focus(); // its button was re-rendered
}

async function save(event) {
  event.preventDefault();
  const req = getRequest();
  if (!req.prompt) {
    toast(t('library.needPrompt'), { kind: 'error' });
    return;
  }
  const name = els.name.value.trim() || req.prompt.slice(0, 60);
  const tags = els.tags.value.split(',').map((v) => v.trim()).filter(Boolean);
  const saved = await run(() => api.savePrompt({ name, prompt: req.prompt, settings: currentSettings(), tags }),
    () => t('library.saved', { name }));
  if (saved) {
    els.name.value = '';
    els.tags.value = '';
  }
}

function saveForm() {
  const req = getRequest();
  els.name = h('input', { class: 'input', id: 'library-name', maxlength: 200,
    placeholder: req.prompt ? req.prompt.slice(0, 60) : '' });
  els.tags = h('input', { class: 'input', id: 'library-tags' });
  const summary = req.prompt
    ? h('div', { class: 'muted small', id: 'library-current' }, h('p', { class: 'prompt-text', text: req.prompt }),
      h('p', { text: settingsLine(currentSettings()) }))
    : tx('p', 'library.needPrompt', { class: 'muted small', id: 'library-current' });
  return h('form', { class: 'library-save', id: 'library-save', onsubmit: save },
    tx('h3', 'library.saveTitle', { class: 'field-label' }), summary,
    h('div', { class: 'library-save-fields' },
      h('div', { class: 'field' }, tx('label', 'library.name', { for: 'library-name', class: 'field-label' }), els.name),
      h('div', { class: 'field' }, tx('label', 'library.tags', { for: 'library-tags', class: 'field-label' }), els.tags)),
    h('div', { class: 'dialog-actions' }, tx('button', 'library.save', { type: 'submit', class: 'btn btn-primary',
      id: 'library-save-button', disabled: !req.prompt })));
}

export function closeLibrary() {
  if (!dialog) return;
  clearTimeout(searchTimer);
  dialog.remove();
  dialog = null;
  document.body.classList.remove('modal-open');
  if (returnFocus && returnFocus.isConnected) returnFocus.focus();
}

/** Open the library over the studio; resolves once it is open. */
export async function openLibrary() {
  if (dialog) return;
  const opener = document.activeElement;
  await loadStyles('/css/panels.css');
  if (dialog) return;
  returnFocus = opener;
  els.search = h('input', { type: 'search', class: 'input', id: 'library-search',
    placeholder: t('library.searchPlaceholder'), oninput: () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(refresh, 200);
    } });
  els.list = h('ul', { class: 'prompt-list', id: 'library-list', 'aria-labelledby': 'library-title' });
  els.empty = h('p', { class: 'muted empty-state', id: 'library-empty', hidden: true, role: 'status' });
  const panel = h('div', { class: 'dialog-panel library-panel' },
    h('div', { class: 'row' }, tx('h2', 'library.title', { id: 'library-title', class: 'section-title' }),
      h('span', { class: 'spacer', style: { flex: 1 } }),
      iconButton('x', 'common.close', closeLibrary, { cls: 'library-close' })),
    tx('p', 'library.intro', { class: 'muted small', id: 'library-intro' }),
    saveForm(),
    h('div', { class: 'field' }, tx('label', 'library.search', { for: 'library-search', class: 'field-label' }),
      els.search),
    els.empty, els.list);
  dialog = h('div', { class: 'dialog', id: 'library-dialog', role: 'dialog', 'aria-modal': 'true',
    'aria-labelledby': 'library-title', 'aria-describedby': 'library-intro', dataset: { state: 'loading' },
    onkeydown: (e) => {
      if (e.key === 'Escape') closeLibrary();
      else trapFocus(panel, e);
    },
    onclick: (e) => {
      if (e.target === dialog) closeLibrary();
    } }, panel);
  document.body.append(dialog);
  document.body.classList.add('modal-open');
  (getRequest().prompt ? els.name : els.search).focus();
  refresh();
}
