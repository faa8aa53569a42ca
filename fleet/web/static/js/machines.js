// Machines: a table of every AGV and crane, and a detail panel with the dispatcher's
// controls (pause, resume, send to charge, out of service, e-stop with confirmation).

import { api } from './api.js';
import { t } from './i18n.js';
import { MODES, MODE_COLOURS, status } from './store.js';
import { act, applyRole, confirmAction, h, raw } from './ui.js';

export function modeBadge(m) {
  const s = status(m);
  return h('span', { class: 'mode', style: `background:${MODE_COLOURS[s]}`, text: t(`mode.${s}`) });
}

function battery(m) {
  if (m.battery === undefined || m.battery === null) return raw('–');
  const pct = Math.round(Number(m.battery) * 100);
  const bar = h('span', { class: `bat${pct < 20 ? ' low' : ''}` }, h('i', { style: `width:${pct}%` }));
  return h('span', {}, bar, raw(`${pct}%`));
}

function link(m) {
  if (m.link_quality !== undefined && m.link_quality !== null) return raw(`${Math.round(m.link_quality * 100)}%`);
  return h('span', { text: t(m.link_ok === false ? 'link.lost' : 'link.ok') });
}

function latency(m) {
  const v = m.link_latency_ms;
  return raw(v === undefined || v === null ? '–' : `${Number(v).toFixed(0)} ms`);
}

function uncertainty(m) {
  const v = m.sigma_m ?? m.pose_sigma_m ?? m.uncertainty_m;
  return raw(v === undefined || v === null ? '–' : `±${Number(v).toFixed(2)} m`);
}

/** The panel for one machine, with its controls; used on the map and in the machines view. */
function positionText(m) {
  if (m.kind === 'crane') return `${Number(m.bridge_m || 0).toFixed(1)} / ${Number(m.trolley_m || 0).toFixed(1)} m`;
  return `${Number(m.x).toFixed(1)}, ${Number(m.y).toFixed(1)} m`;
}

export function renderDetail(container, m, state) {
  // Rebuilt only when something but the position changed, so a click is never lost
  // to a re-render under the pointer.
  const sig = m ? JSON.stringify([m.id, status(m), Math.round((m.battery ?? -1) * 100), m.link_ok, m.link_quality,
    Math.round(m.link_latency_ms ?? -1), m.leg_id, m.order_id, m.load_id, m.sigma_m, [...state.perms].join(), document.documentElement.lang]) : '';
  if (m && container._sig === sig) {
    const pos = container.querySelector('[data-pos]');
    if (pos) pos.textContent = positionText(m);
    return;
  }
  container._sig = sig;
  container.replaceChildren();
  if (!m) {
    container.append(h('p', { class: 'muted', text: t('machine.select_hint') }));
    return;
  }
  const kindLabel = t(m.kind === 'crane' ? 'machine.kind_crane' : 'machine.kind_agv');
  const dl = h('dl', { class: 'kv' });
  const row = (label, value) => dl.append(h('dt', { text: t(label) }), h('dd', {}, value));
  row('machine.mode', modeBadge(m));
  row('machine.battery', battery(m));
  row('machine.link', link(m));
  row('machine.latency', latency(m));
  row('machine.leg', raw(m.leg_id || '–'));
  row('machine.order', raw(m.order_id || '–'));
  row('machine.load', raw(m.load_id || '–'));
  row('machine.uncertainty', uncertainty(m));
  const pos = raw(positionText(m));
  pos.dataset.pos = '';
  row('machine.position', pos);
  const button = (key, action, cls) => h('button', {
    type: 'button', class: cls, 'data-act': 'machines:control', 'data-action': action, text: t(key),
    onclick: async () => {
      if (action === 'estop' && !(await confirmAction(t('machine.confirm_estop', { id: m.id })))) return;
      const out = await act(api.machineAction(m.kind, m.id, action), 'machine.done', { id: m.id, action: t(key) });
      if (out && typeof out === 'object' && !Array.isArray(out)) state.upsertMachine(out, m.kind);
    },
  });
  const controls = h('div', { class: 'controls' },
    button('machine.pause', 'pause'),
    button('machine.resume', 'resume'),
    m.kind === 'crane' ? null : button('machine.charge', 'charge'),
    button('machine.out_of_service', 'out_of_service'),
    button('machine.estop', 'estop', 'danger'));
  container.append(h('h3', {}, raw(m.id), ` · ${kindLabel}`), dl, controls);
  applyRole(state.perms, container);
}

export class MachinesView {
  constructor(state, onSelect) {
    this.state = state;
    this.onSelect = onSelect;
    this.rows = document.getElementById('machine-rows');
    this.detail = document.getElementById('machine-detail');
    this.filter = document.getElementById('machine-filter');
    this.modeFilter = document.getElementById('machine-mode-filter');
    this.selected = null;
    for (const mode of MODES) this.modeFilter.append(h('option', { value: mode, 'data-i18n': `mode.${mode}` }));
    this.filter.addEventListener('input', () => this.render());
    this.modeFilter.addEventListener('change', () => this.render());
    this.rows.addEventListener('click', (e) => {
      const tr = e.target.closest('tr');
      if (tr) this.onSelect(tr.dataset.id);
    });
  }

  select(id) {
    this.selected = id;
    this.render();
  }

  render() {
    const text = this.filter.value.trim().toLowerCase();
    const mode = this.modeFilter.value;
    const list = [...this.state.machines.values()]
      .filter((m) => (!text || m.id.toLowerCase().includes(text)) && (!mode || status(m) === mode))
      .sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }));
    const frag = document.createDocumentFragment();
    for (const m of list) {
      frag.append(h('tr', { 'data-id': m.id, class: m.id === this.selected ? 'selected' : null },
        h('td', {}, raw(m.id)),
        h('td', { text: t(m.kind === 'crane' ? 'machine.kind_crane' : 'machine.kind_agv') }),
        h('td', {}, modeBadge(m)),
        h('td', {}, battery(m)),
        h('td', {}, link(m)),
        h('td', { class: 'num' }, latency(m)),
        h('td', {}, raw(m.leg_id || '–')),
        h('td', { class: 'num' }, uncertainty(m))));
    }
    this.rows.replaceChildren(frag);
    document.getElementById('machine-count').replaceChildren(raw(`${list.length} / ${this.state.machines.size}`));
    renderDetail(this.detail, this.selected && this.state.machines.get(this.selected), this.state);
  }
}
