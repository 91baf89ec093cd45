// views/composer.js — the prompt and its settings: prompt (Ctrl/Cmd+Enter), Direct/Auto,
// quality, size presets + custom W×H checked against the size rules with a nearest-valid
// suggestion, format, moderation, model, count 1–8, and the edit source. Settings persist in
// localStorage. Must not: call the generation API itself (it hands a request to jobs.js).
import { h, tx, clear, iconButton, toast } from '../dom.js';
import { t } from '../i18n.js';
import { prefs, on, emit, imageModels } from '../state.js';
import { PRESETS, parseSize, sizeProblems, nearestValidSize } from '../sizes.js';
import { prepareImage } from '../images.js';
import { references } from './references.js';
import { startGenerate, startEdit } from '../jobs.js';

const DEFAULTS = { prompt: '', mode: 'auto', quality: 'medium', size: '1024x1024',
  customW: 1024, customH: 1024, format: 'png', moderation: 'low', model: 'gpt-5.4-mini',
  count: 1 };

const settings = { ...DEFAULTS, ...prefs.get('composer', {}) };
const els = {};
let editSource = null; // {dataUrl, name, url}

function save() {
  prefs.set('composer', settings);
}

function select(id, key, options, onchange) {
  const el = h('select', { id, class: 'input', onchange: () => {
    settings[key] = el.value;
    save();
    if (onchange) onchange();
  } });
  for (const [value, label, group, key] of options) {
    let parent = el;
    if (group) {
      parent = Array.from(el.children).find((g) => g.dataset.group === group);
      if (!parent) {
        parent = h('optgroup', { label: t('size.group.' + group), dataset: { group },
          'data-i18n-group': 'size.group.' + group });
        el.append(parent);
      }
    }
    parent.append(h('option', { value, text: label, 'data-i18n': key || null }));
  }
  el.value = settings[key];
  if (el.value !== String(settings[key]) && options.length) settings[key] = el.value;
  return el;
}

function field(labelKey, control, extra = null) {
  return h('div', { class: 'field' },
    tx('label', labelKey, { for: control.id, class: 'field-label' }), control, extra);
}

function sizeOptions() {
  const opts = PRESETS.map((p) => (p.value === 'auto' ? ['auto', t('size.auto'), 'auto', 'size.auto']
    : [p.value, `${p.value.replace('x', '×')}  ${p.sub}`, p.group]));
  opts.push(['custom', t('size.custom'), 'auto', 'size.custom']);
  return opts;
}

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
  const sizeOk = currentSize() !== null;
  els.submit.disabled = !sizeOk;
  els.submitLabel.textContent = t(editSource ? 'composer.editButton' : 'composer.generate');
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
    const img = await prepareImage(file);
    setEditSource({ dataUrl: img.dataUrl, name: file.name || 'image' });
  } catch (err) {
    toast(t('refs.error.' + (err.code || 'decode'), { name: file.name || '' }),
      { kind: 'error', timeout: 8000 });
  }
}

/** The request the composer describes right now. */
export function getRequest() {
  const base = { prompt: els.prompt.value.trim(), mode: settings.mode, quality: settings.quality,
    size: currentSize(), moderation: settings.moderation, model: settings.model };
  return { ...base, format: settings.format, count: Number(settings.count) || 1 };
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
  if (editSource) {
    startEdit({ ...req, image: editSource.dataUrl, sourceName: editSource.name });
  } else {
    startGenerate({ ...req, references: references.dataUrls() });
  }
}

/** Fill prompt and settings from restored metadata (only known, valid values). */
export function applySettings(meta) {
  if (typeof meta.prompt === 'string') els.prompt.value = meta.prompt;
  const choose = (key, value, el) => {
    if (value == null || !el) return;
    const exists = Array.from(el.options).some((o) => o.value === String(value));
    if (exists) {
      settings[key] = String(value);
      el.value = String(value);
    }
  };
  choose('quality', meta.quality, els.quality);
  choose('format', meta.format, els.format);
  choose('moderation', meta.moderation, els.moderation);
  choose('model', meta.model, els.model);
  if (meta.mode === 'direct' || meta.mode === 'auto') setMode(meta.mode);
  if (meta.count) choose('count', meta.count, els.count);
  if (typeof meta.size === 'string') {
    if (PRESETS.some((p) => p.value === meta.size)) {
      settings.size = meta.size;
    } else if (parseSize(meta.size)) {
      const s = parseSize(meta.size);
      settings.size = 'custom';
      els.customW.value = s.w;
      els.customH.value = s.h;
    }
    els.size.value = settings.size;
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

function buildModels() {
  const models = imageModels();
  if (!models.includes(settings.model)) settings.model = models[0];
  const next = select('model', 'model', models.map((m) => [m, m]));
  if (els.model && els.model.parentNode) els.model.replaceWith(next);
  els.model = next;
}

export function initComposer(root) {
  els.prompt = h('textarea', { id: 'prompt', class: 'input prompt', rows: 5,
    'data-i18n-placeholder': 'composer.placeholder', placeholder: t('composer.placeholder'),
    value: settings.prompt,
    oninput: () => {
      settings.prompt = els.prompt.value;
      save();
    },
    onkeydown: (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) submit(e);
    } });
  els.modeButtons = ['auto', 'direct'].map((mode) => h('button', { type: 'button',
    class: 'seg', value: mode, text: t('composer.mode.' + mode), 'data-i18n': 'composer.mode.' + mode,
    onclick: () => setMode(mode) }));
  const modeGroup = h('div', { class: 'segmented', role: 'group', id: 'mode',
    'aria-label': t('composer.mode') }, els.modeButtons);
  els.quality = select('quality', 'quality',
    ['low', 'medium', 'high'].map((q) => [q, t('quality.' + q), null, 'quality.' + q]));
  els.size = select('size', 'size', sizeOptions(), renderSizeCheck);
  els.customW = h('input', { id: 'custom-w', class: 'input num', type: 'number', min: 16,
    step: 16, value: settings.customW, 'aria-label': t('size.width'), oninput: renderSizeCheck });
  els.customH = h('input', { id: 'custom-h', class: 'input num', type: 'number', min: 16,
    step: 16, value: settings.customH, 'aria-label': t('size.height'), oninput: renderSizeCheck });
  els.customRow = h('div', { class: 'custom-size' }, els.customW, h('span', { text: '×' }),
    els.customH);
  els.sizeCheck = h('div', { class: 'size-check', 'aria-live': 'polite', id: 'size-check' });
  els.format = select('format', 'format', ['png', 'jpeg', 'webp'].map((f) => [f, f.toUpperCase()]));
  els.moderation = select('moderation', 'moderation',
    ['low', 'auto'].map((m) => [m, t('moderation.' + m), null, 'moderation.' + m]));
  buildModels();
  els.count = select('count', 'count', [1, 2, 3, 4, 5, 6, 7, 8].map((n) => [String(n), String(n)]));
  els.editBox = h('div', { class: 'edit-source', id: 'edit-source', hidden: true });
  const editInput = h('input', { type: 'file', accept: 'image/*', hidden: true, id: 'edit-file',
    onchange: () => {
      if (editInput.files[0]) pickEditFile(editInput.files[0]);
      editInput.value = '';
    } });
  els.submitLabel = h('span', { text: t('composer.generate') });
  els.submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'generate' },
    els.submitLabel, h('kbd', { class: 'kbd', text: 'Ctrl+Enter' }));

  const form = h('form', { class: 'composer', id: 'composer-form', onsubmit: submit },
    h('h2', { class: 'visually-hidden', text: t('composer.title'), 'data-i18n': 'composer.title' }),
    field('composer.prompt', els.prompt),
    els.editBox,
    h('div', { class: 'row' },
      h('button', { type: 'button', class: 'btn', id: 'edit-pick', text: t('composer.pickEdit'),
        'data-i18n': 'composer.pickEdit', onclick: () => editInput.click() }), editInput),
    references.mount(),
    h('div', { class: 'settings-grid' },
      h('div', { class: 'field' }, tx('span', 'composer.mode', { class: 'field-label' }), modeGroup),
      field('composer.quality', els.quality),
      field('composer.size', els.size, h('div', {}, els.customRow, els.sizeCheck)),
      field('composer.format', els.format),
      field('composer.moderation', els.moderation),
      field('composer.model', els.model),
      field('composer.count', els.count)),
    h('div', { class: 'submit-row' }, els.submit));
  root.append(form);
  setMode(settings.mode);
  renderSizeCheck();
  renderEditSource();
  on('oauth', buildModels);
  on('lang', () => {
    for (const g of form.querySelectorAll('optgroup[data-i18n-group]')) {
      g.label = t(g.dataset.i18nGroup);
    }
    modeGroup.setAttribute('aria-label', t('composer.mode'));
    els.customW.setAttribute('aria-label', t('size.width'));
    els.customH.setAttribute('aria-label', t('size.height'));
    renderSizeCheck();
    renderEditSource();
  });
  on('composer:edit', (source) => setEditSource(source));
  on('composer:apply', (meta) => applySettings(meta));
  emit('composer:ready');
}
