// Labels in two languages. Every visible word comes from /ui/i18n/<lang>.json; the DOM
// names its labels with data-i18n (text), data-i18n-placeholder, -title and -aria.

export const LANGS = ['en', 'zh-CN'];
const STORE_KEY = 'fleet.lang';
let dict = {};
let lang = 'en';
const listeners = [];

export function currentLang() {
  return lang;
}

export function initialLang() {
  const saved = localStorage.getItem(STORE_KEY);
  if (LANGS.includes(saved)) return saved;
  return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

export async function setLang(next) {
  if (!LANGS.includes(next)) next = 'en';
  const res = await fetch(`/ui/i18n/${next}.json`);
  dict = await res.json();
  lang = next;
  localStorage.setItem(STORE_KEY, next);
  document.documentElement.lang = next;
  applyLabels(document);
  for (const fn of listeners) fn(next);
}

/** The label for `key`, with {name} placeholders filled from `params`. */
export function t(key, params) {
  let text = dict[key];
  if (text === undefined) {
    console.warn('missing label', key);
    text = key;
  }
  if (params) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
  return text;
}

/** A label that may not exist (e.g. a mode the server added later): falls back to the raw value. */
export function tOr(key, fallback) {
  return key in dict ? dict[key] : fallback;
}

export function applyLabels(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', t(el.dataset.i18nAria));
}

export function onLangChange(fn) {
  listeners.push(fn);
}

/** A time on the core's clock: unix seconds as local time, small values as elapsed time. */
export function formatTime(s) {
  if (s === null || s === undefined || Number.isNaN(Number(s))) return '–';
  s = Number(s);
  if (s > 1e9) return new Date(s * 1000).toLocaleString(lang, { hour12: false });
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return `T+${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
}

export function formatDuration(s) {
  if (s === null || s === undefined || !Number.isFinite(Number(s))) return '–';
  s = Number(s);
  if (s < 120) return t('unit.seconds', { n: s.toFixed(0) });
  return t('unit.minutes', { n: (s / 60).toFixed(1) });
}
