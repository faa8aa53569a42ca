// Small pieces every view shares: element builder, toasts, the confirmation dialog.

import { t } from './i18n.js';

/** h('td', {class: 'num', dataset: {raw: ''}}, 'text', child) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

/** Text that is data (ids, numbers), not a label: the i18n check skips it. */
export function raw(text, cls) {
  return h('span', { class: cls, 'data-raw': true, text: text ?? '–' });
}

export function toast(text, isError = false) {
  const el = h('div', { class: `toast${isError ? ' error' : ''}`, text });
  document.getElementById('toasts').append(el);
  setTimeout(() => el.remove(), isError ? 6000 : 3000);
}

/** Report a failed call: the server's problem detail, or a translated status. */
export function failed(err) {
  const status = err && err.status;
  let text = t('error.generic');
  if (status === 403) text = t('error.forbidden');
  else if (status === 401) text = t('error.unauthorized');
  else if (status === 404) text = t('error.not_found');
  else if (status === 409) text = t('error.conflict');
  else if (status === 422 || status === 400) text = t('error.invalid');
  const detail = err && err.problem && (err.problem.detail || err.problem.title);
  toast(detail ? `${text}: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}` : text, true);
}

/** Ask before a dangerous action; resolves true on confirm. */
export function confirmAction(text) {
  const dlg = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
    dlg.returnValue = '';
    dlg.showModal();
  });
}

/** Run a control's call; toasts `doneKey` on success, the refusal otherwise. */
export async function act(promise, doneKey, params) {
  try {
    const out = await promise;
    if (doneKey) toast(t(doneKey, params));
    return out;
  } catch (err) {
    failed(err);
    return undefined;
  }
}

// What each role may do, as the service grants it (fleet/security/roles.py); used only
// when the server did not list the permissions itself (GET /auth/me does).
const GRANTS = {
  viewer: ['read'],
  dispatcher: ['read', 'orders:write', 'machines:control', 'zones:control', 'alarms:ack'],
  wms: ['read', 'orders:write', 'webhooks:manage'],
  admin: ['read', 'webhooks:manage', 'accounts:manage', 'audit:read'],
};

export function permissionsOf(role, listed) {
  return new Set(Array.isArray(listed) ? listed : GRANTS[role] || []);
}

/** Disable every control (data-act="permission") the user may not use; the server refuses them too. */
export function applyRole(perms, root = document) {
  for (const el of root.querySelectorAll('[data-act]')) {
    const off = !(perms && perms.has(el.dataset.act));
    el.disabled = off;
    if (off) el.title = t('role.read_only');
    else el.removeAttribute('title');
  }
}
