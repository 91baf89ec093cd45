// views/tags.js — the viewer's favourite toggle and tag editor for one gallery image: the star
// (aria-pressed) and the tags as chips with a remove button each, plus a field that adds one
// (Enter or Add); every change is a PATCH through library.js, whose answer is what is shown.
// Loaded with the viewer's first image. Must not: know about the viewer's layout or keys.
import { h, tx, clear, icon, toast } from '../dom.js';
import { t } from '../i18n.js';
import { setFavorite, editTags } from '../library.js';

/**
 * The favourite toggle for `row` (a gallery row; its `favorite` is updated by library.js).
 * @param {{filename: string, favorite?: boolean}} row
 * @returns {HTMLButtonElement}
 */
export function favoriteToggle(row) {
  const btn = h('button', { type: 'button', class: 'btn icon-btn viewer-fav', id: 'viewer-fav',
    'aria-pressed': row.favorite === true ? 'true' : 'false' }, icon('star'),
  tx('span', 'viewer.favorite', { class: 'btn-label' }));
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    try {
      const value = await setFavorite(row.filename, btn.getAttribute('aria-pressed') !== 'true');
      btn.setAttribute('aria-pressed', value ? 'true' : 'false');
    } catch (err) {
      toast(t('gallery.favFailed', { message: err.message }), { kind: 'error' });
    } finally {
      btn.disabled = false;
    }
  });
  return /** @type {HTMLButtonElement} */ (btn);
}

/**
 * The tag editor for `row`: chips and an add field.
 * @param {{filename: string, tags?: string[]}} row
 * @returns {HTMLElement}
 */
export function tagEditor(row) {
  const list = h('ul', { class: 'tag-list', id: 'viewer-tags', 'aria-labelledby': 'viewer-tags-title' });
  const input = h('input', { type: 'text', class: 'input tag-input', id: 'viewer-tag-input', maxlength: 64,
    'aria-label': t('viewer.tagInput'), placeholder: t('viewer.tagInput') });
  const status = h('p', { class: 'muted small tag-empty' });

  function draw(tags) {
    clear(list);
    for (const tag of tags) {
      list.append(h('li', { class: 'tag-chip', dataset: { tag } }, h('span', { text: tag }),
        h('button', { type: 'button', class: 'tag-remove', 'aria-label': t('viewer.tagRemove', { tag }),
          title: t('viewer.tagRemove', { tag }), onclick: () => change({ remove: [tag] }) }, icon('x'))));
    }
    status.textContent = tags.length ? '' : t('viewer.noTags');
    status.hidden = tags.length > 0;
    list.hidden = tags.length === 0;
  }

  async function change(edit) {
    try {
      draw(await editTags(row.filename, edit));
      if (edit.add) input.value = '';
    } catch (err) {
      toast(t('viewer.tagFailed', { message: err.message }), { kind: 'error', timeout: 8000 });
    }
    input.focus();
  }

  const add = () => {
    const tag = input.value.trim();
    if (tag) change({ add: [tag] });
  };
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      add();
    }
  });
  draw(row.tags || []);
  return h('div', { class: 'viewer-tags' },
    tx('h3', 'viewer.tags', { id: 'viewer-tags-title', class: 'small-title' }), list, status,
    h('div', { class: 'tag-add' }, input,
      tx('button', 'viewer.tagAdd', { type: 'button', class: 'btn btn-small', id: 'viewer-tag-add', onclick: add })));
}
