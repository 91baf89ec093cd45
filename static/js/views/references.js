// views/references.js — up to five reference images for a generation: file picker,
// drag-and-drop onto the zone, paste, "use as reference" from results and the gallery.
// Thumbnails with remove; HEIC/HEIF refused with a conversion hint; large images downscaled
// in the browser before sending. Must not: send anything (the composer reads dataUrls()).
import { h, tx, clear, iconButton, toast } from '../dom.js';
import { t } from '../i18n.js';
import { on, state } from '../state.js';

/** images.js comes with the first image added: it is not part of the first load. */
const images = () => import('../images.js');

export const MAX_REFS = 5;

const items = []; // {id, dataUrl, name, downscaled}
let seq = 0;
let list = null;
let zone = null;
let note = null;

function render() {
  clear(list);
  items.forEach((item, index) => {
    list.append(h('li', { class: 'ref-item' },
      h('img', { src: item.dataUrl, class: 'thumb-small',
        alt: t('refs.alt', { n: index + 1, name: item.name }) }),
      item.downscaled ? h('span', { class: 'badge', text: t('refs.downscaled') }) : null,
      iconButton('x', 'refs.remove', () => remove(item.id), { cls: 'ref-remove' })));
  });
  note.textContent = t('refs.count', { n: items.length, max: MAX_REFS });
  zone.classList.toggle('full', items.length >= MAX_REFS);
}

function remove(id) {
  const at = items.findIndex((it) => it.id === id);
  if (at >= 0) items.splice(at, 1);
  render();
}

function fail(err, name) {
  const key = 'refs.error.' + (err && err.code ? err.code : 'decode');
  toast(t(key, { name: name || '' }), { kind: 'error', timeout: 10000 });
}

/** Add image files (from the picker, a drop or a paste). */
export async function addFiles(files) {
  for (const file of Array.from(files)) {
    if (items.length >= MAX_REFS) {
      toast(t('refs.tooMany', { max: MAX_REFS }), { kind: 'error' });
      break;
    }
    try {
      const img = await (await images()).prepareImage(file);
      if (items.length >= MAX_REFS) break;
      items.push({ id: ++seq, dataUrl: img.dataUrl, name: file.name || t('refs.pasted'),
        downscaled: img.downscaled });
      render();
    } catch (err) {
      fail(err, file.name);
    }
  }
}

/** "Use as reference" for an image we already serve (results, gallery). */
export async function addFromUrl(url, name) {
  try {
    await addFiles([await (await images()).fetchAsBlob(url, name)]);
  } catch (err) {
    fail(err, name);
  }
}

function onDrop(event) {
  event.preventDefault();
  event.stopPropagation();
  zone.classList.remove('dragover');
  const files = event.dataTransfer && event.dataTransfer.files;
  if (files && files.length) addFiles(files);
}

function onPaste(event) {
  if (state.view !== 'studio') return;
  const files = Array.from((event.clipboardData && event.clipboardData.files) || [])
    .filter((f) => (f.type || '').startsWith('image/'));
  if (!files.length) return;
  event.preventDefault();
  addFiles(files);
}

export const references = {
  mount() {
    const input = h('input', { type: 'file', accept: 'image/*', multiple: true, hidden: true,
      id: 'ref-file', onchange: () => {
        addFiles(input.files);
        input.value = '';
      } });
    list = h('ul', { class: 'ref-list', id: 'ref-list' });
    note = h('span', { class: 'muted ref-count', id: 'ref-count' });
    zone = h('div', { class: 'ref-zone', id: 'ref-zone',
      ondragover: (e) => {
        e.preventDefault();
        e.stopPropagation();
        zone.classList.add('dragover');
      },
      ondragleave: () => zone.classList.remove('dragover'),
      ondrop: onDrop },
    h('div', { class: 'ref-head' },
      tx('span', 'refs.title', { class: 'field-label' }), note,
      h('button', { type: 'button', class: 'btn btn-small', id: 'ref-add', text: t('refs.add'),
        'data-i18n': 'refs.add', onclick: () => input.click() })),
    tx('p', 'refs.hint', { class: 'muted small' }),
    list, input);
    document.addEventListener('paste', onPaste);
    on('refs:add-url', ({ url, name }) => addFromUrl(url, name));
    on('lang', render);
    render();
    return zone;
  },
  dataUrls: () => items.map((it) => it.dataUrl),
  count: () => items.length,
  clear() {
    items.splice(0, items.length);
    render();
  },
};
