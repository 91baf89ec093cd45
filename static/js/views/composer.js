// views/composer.js — the prompt and its settings as one-click chips with sub-labels: prompt
// (Ctrl/⌘+Enter on devices with a keyboard), Direct/Auto, quality, size presets + custom W×H
// checked against the size rules with a nearest-valid suggestion, format, moderation, model,
// count 1–8, references and the edit source; the prompt library opens from here. On phones the
// prompt and Generate stay in a bottom bar and the settings open as a sheet (localStorage).
// Must not: call the generation API itself (it hands a request to jobs.js).
import { h, tx, clear, iconButton, toast } from '../dom.js';
import { t } from '../i18n.js';
import { prefs, on, emit, imageModels, state } from '../state.js';
import { PRESETS, parseSize, sizeProblems, nearestValidSize } from '../sizes.js';
import { references } from './references.js';
import { startGenerate, startEdit } from '../jobs.js';

const DEFAULTS = { prompt: '', mode: 'auto', quality: 'medium', size: '1024x1024',
  customW: 1024, customH: 1024, format: 'png', moderation: 'low', model: 'gpt-5.4-mini',
  count: '1' };

const settings = { ...DEFAULTS, ...prefs.get('composer', {}) };
settings.count = String(settings.count);
const els = {};
const groups = {};
let editSource = null; // {dataUrl, name, url}
export const hasKeyboard = () => !window.matchMedia || window.matchMedia('(hover: hover) and (pointer: fine)').matches;
const isMac = () => /Mac|iPhone|iPad/.test(navigator.platform || '');

function save() {
  prefs.set('composer', settings);
}

/** A row of one-click chips; `options` = [{value, label, sub?}] (label/sub: i18n key or text). */
function chips(id, key, options, onchange) {
  const box = h('div', { class: 'chips', role: 'group', id, 'aria-labelledby': id + '-label' });
  const draw = (list) => {
    clear(box);
    for (const o of list) {
      const label = o.key ? t(o.key) : o.label;
      const sub = o.subKey ? t(o.subKey) : o.sub;
      box.append(h('button', { type: 'button', class: 'chip', value: o.value,
        'aria-pressed': String(String(settings[key]) === o.value), onclick: () => {
          setChip(key, o.value);
          if (onchange) onchange();
        } }, h('span', { class: 'chip-label', text: label }),
      sub ? h('span', { class: 'chip-sub', text: sub }) : null));
    }
    if (!list.some((o) => o.value === String(settings[key])) && list.length) setChip(key, list[0].value);
  };
  groups[key] = { box, draw, options };
  draw(options);
  return box;
}

function setChip(key, value) {
  settings[key] = String(value);
  for (const b of groups[key].box.children) b.setAttribute('aria-pressed', String(b.value === String(value)));
  save();
}

function field(id, labelKey, control, extra = null) {
  return h('div', { class: 'field' },
    tx('span', labelKey, { id: id + '-label', class: 'field-label' }), control, extra);
}

const QUALITY = ['low', 'medium', 'high'].map((q) => ({ value: q, key: 'quality.' + q, subKey: 'quality.' + q + '.sub' }));
const MODERATION = ['low', 'auto'].map((m) => ({ value: m, key: 'moderation.' + m, subKey: 'moderation.' + m + '.sub' }));
const FORMAT = ['png', 'jpeg', 'webp'].map((f) => ({ value: f, label: f.toUpperCase() }));
const COUNT = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => ({ value: String(n), label: String(n) }));
const SIZES = PRESETS.map((p) => (p.value === 'auto' ? { value: 'auto', key: 'size.auto', subKey: 'size.auto.sub' }
  : { value: p.value, label: p.value.replace('x', '×'), sub: p.sub }))
  .concat([{ value: 'custom', key: 'size.custom', subKey: 'size.custom.sub' }]);

/** The size string to send, or null when the custom size breaks a rule. */
export function currentSize() {
  if (settings.size !== 'custom') return settings.size;
  const w = Number(settings.customW);
  const h2 = Number(settings.customH);
  return sizeProblems(w, h2).length ? null : `${w}x${h2}`;
}

function renderSizeCheck() {
  const box = clear(els.sizeCheck);
  const custom = settings.size === 'custom';
  els.customRow.hidden = !custom;
  if (!custom) return updateSubmit();
  const w = Number(els.customW.value);
  const hh = Number(els.customH.value);
  settings.customW = w;
  settings.customH = hh;
  save();
  const problems = sizeProblems(w, hh);
  if (problems.length) {
    const near = nearestValidSize(w, hh);
    box.append(h('ul', { class: 'size-problems' },
      problems.map((p) => h('li', { text: t('size.rule.' + p) }))));
    box.append(h('div', { class: 'size-suggest' },
      h('span', { text: t('size.nearest', { size: `${near.w}×${near.h}` }) }),
      h('button', { type: 'button', class: 'btn btn-small', id: 'size-use-nearest',
        text: t('size.useNearest'), onclick: () => {
          els.customW.value = near.w;
          els.customH.value = near.h;
          renderSizeCheck();
        } })));
    box.className = 'size-check invalid';
  } else {
    box.append(h('span', { text: t('size.ok', { mp: ((w * hh) / 1e6).toFixed(2) }) }));
    box.className = 'size-check ok';
  }
  updateSubmit();
}

function updateSubmit() {
  els.submit.disabled = currentSize() === null;
  els.submitLabel.textContent = t(editSource ? 'composer.editButton' : 'composer.generate');
  // Edit sends one image and no references: say so instead of ignoring them.
  els.form.classList.toggle('editing', Boolean(editSource));
  els.editNote.hidden = !editSource;
  for (const b of groups.count.box.children) b.disabled = Boolean(editSource) && b.value !== '1';
  els.refsWrap.toggleAttribute('inert', Boolean(editSource));
  els.refsWrap.classList.toggle('disabled', Boolean(editSource));
}

function renderEditSource() {
  const box = clear(els.editBox);
  box.hidden = !editSource;
  if (!editSource) return updateSubmit();
  box.append(
    h('img', { src: editSource.dataUrl, alt: t('composer.editSourceAlt', { name: editSource.name }),
      class: 'thumb-small' }),
    h('div', { class: 'edit-source-text' },
      tx('strong', 'composer.editing'), h('span', { class: 'muted', text: editSource.name })),
    iconButton('x', 'composer.stopEditing', () => setEditSource(null)));
  updateSubmit();
}

/** Make the next submit an edit of this image (or clear it with null). */
export function setEditSource(source) {
  editSource = source;
  renderEditSource();
  if (source) els.prompt.focus();
}

async function pickEditFile(file) {
  try {
    const { prepareImage } = await import('../images.js'); // not part of the first load
    const img = await prepareImage(file);
    setEditSource({ dataUrl: img.dataUrl, name: file.name || 'image' });
  } catch (err) {
    toast(t('refs.error.' + (err.code || 'decode'), { name: file.name || '' }),
      { kind: 'error', timeout: 8000 });
  }
}

/** The request the composer describes right now. */
export function getRequest() {
  return { prompt: els.prompt.value.trim(), mode: settings.mode, quality: settings.quality,
    size: currentSize(), moderation: settings.moderation, model: settings.model,
    format: settings.format, count: Number(settings.count) || 1 };
}

async function submit(event) {
  if (event) event.preventDefault();
  const req = getRequest();
  if (!req.prompt) {
    toast(t('composer.needPrompt'), { kind: 'error' });
    els.prompt.focus();
    return;
  }
  if (!req.size) return;
  els.form.classList.remove('expanded');
  if (editSource) {
    const source = editSource;
    setEditSource(null); // leave edit mode; the result offers "edit again"
    startEdit({ ...req, count: 1, image: source.dataUrl, sourceName: source.name });
  } else {
    startGenerate({ ...req, references: references.dataUrls() });
  }
}

/** Fill prompt and settings from restored metadata (only known, valid values). */
export function applySettings(meta) {
  if (typeof meta.prompt === 'string') els.prompt.value = meta.prompt;
  const choose = (key, value) => {
    if (value == null || !groups[key]) return;
    if (Array.from(groups[key].box.children).some((b) => b.value === String(value))) setChip(key, value);
  };
  choose('quality', meta.quality);
  choose('format', meta.format);
  choose('moderation', meta.moderation);
  choose('model', meta.model);
  if (meta.mode === 'direct' || meta.mode === 'auto') setMode(meta.mode);
  if (meta.count) choose('count', meta.count);
  if (typeof meta.size === 'string') {
    if (PRESETS.some((p) => p.value === meta.size)) {
      setChip('size', meta.size);
    } else if (parseSize(meta.size)) {
      const s = parseSize(meta.size);
      setChip('size', 'custom');
      els.customW.value = s.w;
      els.customH.value = s.h;
    }
  }
  settings.prompt = els.prompt.value;
  save();
  renderSizeCheck();
}

function setMode(mode) {
  settings.mode = mode;
  for (const btn of els.modeButtons) btn.setAttribute('aria-pressed', String(btn.value === mode));
  save();
}

/** A model's render path (hosted tool or Images API), when the server knows it. */
function pathOf(model) {
  const row = (state.oauth.modelPaths || []).find((p) => p && p.id === model);
  const path = row ? row.path : (state.oauth.knownPaths || {})[model];
  return path === 'images' || path === 'responses' ? path : null;
}

function buildModels() {
  groups.model.draw(imageModels().map((m) => ({ value: m, label: m,
    subKey: pathOf(m) ? 'composer.path.' + pathOf(m) : null })));
}

function hint() {
  return hasKeyboard() ? (isMac() ? '⌘+Enter' : 'Ctrl+Enter') : '';
}

export function initComposer(root) {
  els.prompt = h('textarea', { id: 'prompt', class: 'input prompt', rows: 4,
    'data-i18n-placeholder': 'composer.placeholder', placeholder: t('composer.placeholder'),
    value: settings.prompt,
    oninput: () => {
      settings.prompt = els.prompt.value;
      save();
      emit('composer:typing', els.prompt.value);
    },
    onkeydown: (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) submit(e);
    } });
  els.modeButtons = ['auto', 'direct'].map((mode) => h('button', { type: 'button',
    class: 'chip', value: mode, onclick: () => setMode(mode) },
  tx('span', 'composer.mode.' + mode, { class: 'chip-label' }),
  tx('span', 'composer.mode.' + mode + '.sub', { class: 'chip-sub' })));
  const modeGroup = h('div', { class: 'chips', role: 'group', id: 'mode', 'aria-labelledby': 'mode-label' },
    els.modeButtons);
  chips('quality', 'quality', QUALITY);
  chips('size', 'size', SIZES, renderSizeCheck).classList.add('chips-size');
  els.customW = h('input', { id: 'custom-w', class: 'input num', type: 'number', min: 16,
    step: 16, value: settings.customW, 'aria-label': t('size.width'), oninput: renderSizeCheck });
  els.customH = h('input', { id: 'custom-h', class: 'input num', type: 'number', min: 16,
    step: 16, value: settings.customH, 'aria-label': t('size.height'), oninput: renderSizeCheck });
  els.customRow = h('div', { class: 'custom-size' }, els.customW, h('span', { text: '×' }),
    els.customH);
  els.sizeCheck = h('div', { class: 'size-check', 'aria-live': 'polite', id: 'size-check' });
  chips('format', 'format', FORMAT);
  chips('moderation', 'moderation', MODERATION);
  chips('model', 'model', []);
  buildModels();
  chips('count', 'count', COUNT);
  els.editBox = h('div', { class: 'edit-source', id: 'edit-source', hidden: true });
  els.editNote = tx('p', 'composer.editNote', { class: 'muted small', id: 'edit-note', hidden: true });
  const editInput = h('input', { type: 'file', accept: 'image/*', hidden: true, id: 'edit-file',
    onchange: () => {
      if (editInput.files[0]) pickEditFile(editInput.files[0]);
      editInput.value = '';
    } });
  els.submitLabel = h('span', { text: t('composer.generate') });
  const keys = hint();
  els.submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'generate',
    'aria-keyshortcuts': keys ? 'Control+Enter Meta+Enter' : null },
  els.submitLabel, keys ? h('kbd', { class: 'kbd', text: keys }) : null);
  els.more = h('button', { type: 'button', class: 'btn settings-toggle', id: 'settings-toggle',
    'aria-expanded': 'false', 'aria-controls': 'composer-more', onclick: () => {
      const open = els.form.classList.toggle('expanded');
      els.more.setAttribute('aria-expanded', String(open));
    } }, tx('span', 'composer.settings'));
  els.refsWrap = h('div', { class: 'refs-wrap' }, references.mount());
  els.form = h('form', { class: 'composer', id: 'composer-form', onsubmit: submit },
    tx('h2', 'composer.title', { class: 'visually-hidden' }),
    h('div', { class: 'composer-main' },
      tx('label', 'composer.prompt', { for: 'prompt', class: 'field-label prompt-label' }),
      els.prompt,
      h('div', { class: 'submit-row' }, els.more, iconButton('book', 'library.short', () => import('./prompts.js')
        .then((m) => m.openLibrary()), { showLabel: true, cls: 'library-open' }), els.submit)),
    h('div', { class: 'composer-more', id: 'composer-more' },
      els.editBox, els.editNote,
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'btn btn-small', id: 'edit-pick', text: t('composer.pickEdit'),
          'data-i18n': 'composer.pickEdit', onclick: () => editInput.click() }), editInput),
      els.refsWrap,
      field('mode', 'composer.mode', modeGroup),
      field('quality', 'composer.quality', groups.quality.box),
      field('size', 'composer.size', groups.size.box, h('div', {}, els.customRow, els.sizeCheck)),
      field('count', 'composer.count', groups.count.box),
      field('format', 'composer.format', groups.format.box),
      field('moderation', 'composer.moderation', groups.moderation.box),
      field('model', 'composer.model', groups.model.box)));
  root.append(els.form);
  setMode(settings.mode);
  renderSizeCheck();
  renderEditSource();
  on('oauth', buildModels);
  on('lang', () => {
    for (const g of Object.values(groups)) if (g.options.length) g.draw(g.options);
    buildModels();
    els.customW.setAttribute('aria-label', t('size.width'));
    els.customH.setAttribute('aria-label', t('size.height'));
    renderSizeCheck();
    renderEditSource();
  });
  on('composer:edit', (source) => setEditSource(source));
  on('composer:apply', (meta) => applySettings(meta));
  on('composer:prompt', (text) => {
    els.prompt.value = text;
    settings.prompt = text;
    save();
    els.prompt.focus();
  });
  emit('composer:ready');
}
