// i18n.js — the studio's languages: every UI string lives in one dictionary per language
// (lang/en.js, lang/ko.js, same keys); the helpers here put them on the page: t(key, vars)
// and data-i18n* attributes re-applied when the language changes. English is always loaded (it
// is the fallback); another language's dictionary is imported when it is chosen, so a first
// load carries one dictionary. Must not: build views or call the API.
import { EN } from './lang/en.js';

const DICTS = { en: EN };
const LOADERS = { ko: () => import('./lang/ko.js').then((m) => m.KO) };
let lang = 'en';

export const LANGUAGES = [['en', 'English'], ['ko', '한국어']];

export function getLang() {
  return lang;
}

/** Translate `key`; `{name}` placeholders are filled from `vars`. Missing → English → key. */
export function t(key, vars) {
  let text = DICTS[lang][key];
  if (text == null) text = EN[key];
  if (text == null) return key;
  if (vars) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
  return text;
}

/** Fill every [data-i18n] (text), [data-i18n-label] (aria-label, and title on controls)
 *  and [data-i18n-placeholder] under `root`.
 *  @param {{querySelectorAll: (selector: string) => NodeListOf<HTMLElement>}} [root] */
export function applyI18n(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-label]')) {
    const text = t(el.dataset.i18nLabel);
    el.setAttribute('aria-label', text);
    if (el.matches('button, a, select')) el.setAttribute('title', text);
  }
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) {
    el.setAttribute('placeholder', t(el.dataset.i18nPlaceholder));
  }
}

/** Switch language (loading its dictionary first); resolves when the page shows it. */
export async function setLang(next) {
  if (!DICTS[next] && LOADERS[next]) {
    try {
      DICTS[next] = await LOADERS[next]();
    } catch (_) {
      // offline mid-session or a broken file: stay readable in English
    }
  }
  lang = DICTS[next] ? next : 'en';
  document.documentElement.lang = lang;
  applyI18n(document);
}

/** The browser's language if we have it, else English. */
export function detectLang() {
  const wanted = (navigator.language || 'en').slice(0, 2).toLowerCase();
  return DICTS[wanted] || LOADERS[wanted] ? wanted : 'en';
}
