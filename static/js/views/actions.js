// views/actions.js — image actions shared by the results and the viewer that need their own
// state: the favourite toggle (through library.js's setFavorite, the page's one favourite
// path, imported with the first toggle: the first view does not carry the gallery's library
// module; every toggle of that image follows its announcement) and Share (the share dialog is
// imported on first use, so the first load does not carry it). Must not: build whole cards or
// dialogs, or send a favourite itself.
import { h, icon, toast } from '../dom.js';
import { t } from '../i18n.js';
import { on } from '../state.js';
import { history } from '../history.js';

let shareModule = null;

/** The one favourite path (library.js's setFavorite), loaded with the first toggle. */
function setFavorite(filename, favorite) {
  return import('../library.js').then((library) => library.setFavorite(filename, favorite));
}

/** Open the share dialog for these gallery images (share.js loads on first use). */
export function share(names) {
  if (!shareModule) shareModule = import('./share.js');
  return shareModule.then((mod) => mod.openShareDialog(names));
}

function paint(btn, favorite) {
  btn.setAttribute('aria-pressed', String(favorite));
  btn.classList.toggle('is-favorite', favorite);
}

/** A toggle button (aria-pressed) for one image's favourite flag. */
export function favoriteButton(filename, initial = null) {
  const row = history.get(filename);
  const start = initial != null ? Boolean(initial) : Boolean(row && row.favorite);
  const btn = h('button', { type: 'button', class: 'btn icon-btn favorite-toggle', title: t('favorite.label'),
    'aria-label': t('favorite.label'), 'data-i18n-label': 'favorite.label', dataset: { favFor: filename },
    onclick: async () => {
      btn.disabled = true;
      try {
        await setFavorite(filename, btn.getAttribute('aria-pressed') !== 'true');
      } catch (err) {
        toast(t('favorite.failed', { message: err.message }), { kind: 'error' });
      }
      btn.disabled = false;
    } }, icon('star'));
  paint(btn, start);
  return btn;
}

/** Hover-only actions stay shown while the dialog they opened is up, so focus can return. */
function pin(btn) {
  const bar = btn.closest('.result-actions');
  if (!bar) return;
  bar.classList.add('pinned');
  const unpin = (e) => {
    if (bar.contains(e.relatedTarget) || document.getElementById('share-dialog')) return;
    bar.classList.remove('pinned');
    bar.removeEventListener('focusout', unpin);
  };
  bar.addEventListener('focusout', unpin);
}

/** A Share button for these images. */
export function shareButton(names, { showLabel = false } = {}) {
  const btn = h('button', { type: 'button', class: 'btn icon-btn share-button', onclick: () => {
    pin(btn);
    share(names);
  } }, icon('share'));
  if (showLabel) btn.append(h('span', { class: 'btn-label', text: t('share.open'), 'data-i18n': 'share.open' }));
  else {
    btn.setAttribute('aria-label', t('share.open'));
    btn.setAttribute('title', t('share.open'));
    btn.dataset.i18nLabel = 'share.open';
  }
  return btn;
}

// Every toggle of an image follows its latest state (a result and the viewer show the same one).
on('assets:favorite', ({ filename, favorite }) => {
  for (const btn of document.querySelectorAll('.favorite-toggle')) {
    if (btn instanceof HTMLElement && btn.dataset.favFor === filename) paint(btn, favorite);
  }
});
