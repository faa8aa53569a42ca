// Orders: filterable table, search by the WMS's id, create (stations from lists or
// picked on the map), cancel, change priority, and the timeline of one order.

import { api } from './api.js';
import { formatTime, t, tOr } from './i18n.js';
import { act, applyRole, confirmAction, h, raw, toast } from './ui.js';

export const ORDER_STATES = ['created', 'queued', 'assigned', 'in_progress', 'handed_off', 'done', 'failed', 'cancelled'];
const TERMINAL = new Set(['done', 'failed', 'cancelled']);
const PRIORITIES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

function stateBadge(state) {
  return h('span', { class: `state ${state}`, text: tOr(`order_state.${state}`, state) });
}

function prioritySelect(value, onChange) {
  const sel = h('select', { 'data-act': 'orders:write', 'aria-label': t('order.priority') });
  for (const p of PRIORITIES) sel.append(h('option', { value: p, text: String(p), selected: p === Number(value) }));
  sel.addEventListener('change', () => onChange(Number(sel.value)));
  sel.addEventListener('click', (e) => e.stopPropagation());
  return sel;
}

export class OrdersView {
  constructor(state, map) {
    this.state = state;
    this.map = map;
    this.rows = document.getElementById('order-rows');
    this.detail = document.getElementById('order-detail');
    this.filters = document.getElementById('order-filters');
    this.form = document.getElementById('order-form');
    this.selected = null;
    this.pending = null;
    for (const s of ORDER_STATES) document.getElementById('filter-state').append(h('option', { value: s, 'data-i18n': `order_state.${s}` }));
    for (const p of PRIORITIES) {
      document.getElementById('filter-priority').append(h('option', { value: p, text: String(p) }));
      document.getElementById('new-priority').append(h('option', { value: p, text: String(p), selected: p === 5 }));
    }
    this.filters.addEventListener('input', () => this.soon());
    this.filters.addEventListener('submit', (e) => e.preventDefault());
    document.getElementById('order-refresh').addEventListener('click', () => this.refresh());
    this.rows.addEventListener('click', (e) => {
      const tr = e.target.closest('tr');
      if (tr && !e.target.closest('button,select')) this.showOrder(tr.dataset.id);
    });
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.create();
    });
    for (const btn of this.form.querySelectorAll('[data-pick]')) {
      btn.addEventListener('click', () => this.pick(btn.dataset.pick));
    }
  }

  /** Stations (and crane-served slots) for the filter and the create form. */
  setSite(site) {
    const places = [...(site.stations || []).map((s) => ({ id: s.id, kind: s.kind, loadTypes: s.load_types || [] }))];
    this.accepts = new Map(places.map((p) => [p.id, p.loadTypes]));
    const types = [...new Set(places.flatMap((p) => p.loadTypes))].sort();
    document.getElementById('load-types').replaceChildren(...types.map((lt) => h('option', { value: lt })));
    const source = document.getElementById('new-source');
    source.onchange = () => this.fitLoadType();
    for (const b of site.bays || site.crane_bays || []) for (const s of b.slots || []) places.push({ id: s.id, kind: 'slot' });
    for (const s of site.racks || []) places.push({ id: s.id, kind: 'slot' });
    const fill = (sel, withAny) => {
      const keep = sel.value;
      sel.replaceChildren();
      if (withAny) sel.append(h('option', { value: '', 'data-i18n': 'filter.any', text: t('filter.any') }));
      for (const p of places) sel.append(h('option', { value: p.id, text: p.id, 'data-raw': true }));
      if (keep) sel.value = keep;
    };
    fill(document.getElementById('filter-station'), true);
    fill(document.getElementById('new-source'), false);
    fill(document.getElementById('new-destination'), false);
    const dest = document.getElementById('new-destination');
    if (dest.options.length > 1) dest.selectedIndex = 1;
    this.fitLoadType();
  }

  /** A load type the chosen source accepts (a coil yard's stations take coils, not pallets). */
  fitLoadType() {
    const input = this.form.elements.load_type;
    const accepted = (this.accepts && this.accepts.get(document.getElementById('new-source').value)) || [];
    if (accepted.length && !accepted.includes(input.value)) input.value = accepted[0];
  }

  pick(selectId) {
    const hint = document.getElementById('pick-hint');
    hint.classList.remove('hidden');
    document.querySelector('.tab[data-view="map"]').click();
    this.map.pickStation((stationId) => {
      hint.classList.add('hidden');
      const sel = document.getElementById(selectId);
      sel.value = stationId;
      this.fitLoadType();
      document.querySelector('.tab[data-view="orders"]').click();
      toast(t('order.picked', { id: stationId }));
    });
  }

  filterValues() {
    const f = Object.fromEntries(new FormData(this.filters));
    return { client_id: f.client_id.trim(), state: f.state, priority: f.priority, station: f.station, since: f.since };
  }

  async refresh() {
    const f = this.filterValues();
    let list;
    try {
      list = await api.orders({ state: f.state, client_id: f.client_id, station: f.station, priority: f.priority,
        created_from: f.since ? Math.floor(Date.now() / 1000 - Number(f.since)) : '', limit: 500 });
    } catch {
      return;
    }
    // The same filters again in the page, so the table is right whatever the server filters.
    const newest = Math.max(0, ...list.map((o) => Number(o.created_s) || 0));
    const ref = newest > 1e9 ? Date.now() / 1000 : newest;
    list = list.filter((o) => (!f.state || o.state === f.state)
      && (!f.client_id || String(o.client_id || '') === f.client_id)
      && (!f.priority || Number(o.priority) === Number(f.priority))
      && (!f.station || o.source === f.station || o.destination === f.station)
      && (!f.since || Number(o.created_s) >= ref - Number(f.since)));
    list.sort((a, b) => (Number(b.created_s) || 0) - (Number(a.created_s) || 0));
    this.state.orders = list;
    this.render();
    if (this.selected) this.showOrder(this.selected, true);
  }

  /** Refresh soon, at most every 300 ms however many events arrive. */
  soon() {
    if (document.getElementById('view-orders').offsetParent === null) return; // refreshed when shown
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = null;
      this.refresh();
    }, 300);
  }

  render() {
    const frag = document.createDocumentFragment();
    for (const o of this.state.orders) {
      const live = !TERMINAL.has(o.state);
      frag.append(h('tr', { 'data-id': o.id, 'data-state': o.state, class: o.id === this.selected ? 'selected' : null },
        h('td', {}, raw(o.id)), h('td', {}, raw(o.client_id || '–')),
        h('td', {}, raw(o.source)), h('td', {}, raw(o.destination)), h('td', {}, raw(o.load_type)),
        h('td', {}, live ? prioritySelect(o.priority, (p) => this.setPriority(o.id, p)) : raw(String(o.priority))),
        h('td', {}, stateBadge(o.state)), h('td', {}, raw(formatTime(o.created_s))),
        h('td', {}, live ? h('button', { type: 'button', 'data-act': 'orders:write', 'data-action': 'cancel', text: t('order.cancel'),
          onclick: () => this.cancel(o.id) }) : null)));
    }
    this.rows.replaceChildren(frag);
    document.getElementById('order-empty').classList.toggle('hidden', this.state.orders.length > 0);
    applyRole(this.state.perms, this.rows);
  }

  async create() {
    const f = Object.fromEntries(new FormData(this.form));
    const body = {
      source: f.source, destination: f.destination, load_type: f.load_type.trim() || 'pallet',
      weight_kg: Number(f.weight_kg) || 0, priority: Number(f.priority), hazardous: f.hazardous === 'on',
    };
    if (f.client_id.trim()) body.client_id = f.client_id.trim();
    const out = await act(api.createOrder(body));
    if (out) {
      toast(t('order.created_ok', { id: out.id }));
      this.form.elements.client_id.value = '';
      await this.refresh();
      this.showOrder(out.id);
    }
  }

  async cancel(id) {
    if (!(await confirmAction(t('order.confirm_cancel', { id })))) return;
    if (await act(api.cancelOrder(id), 'order.cancelled', { id }) !== undefined) this.refresh();
  }

  async setPriority(id, priority) {
    if (await act(api.setPriority(id, priority), 'order.priority_set', { id, priority }) !== undefined) this.refresh();
  }

  async showOrder(id, quiet = false) {
    this.selected = id;
    if (!quiet) this.render();
    let order = this.state.orders.find((o) => o.id === id);
    let events = [];
    try {
      [order, events] = await Promise.all([api.order(id), api.orderEvents(id).catch(() => [])]);
    } catch {
      if (!order) return;
    }
    const dl = h('dl', { class: 'kv' });
    const row = (label, value) => dl.append(h('dt', { text: t(label) }), h('dd', {}, value));
    row('order.state', stateBadge(order.state));
    row('order.client_id', raw(order.client_id || '–'));
    row('order.source', raw(order.source));
    row('order.destination', raw(order.destination));
    row('order.priority', raw(String(order.priority)));
    if (order.reason) row('order.reason', raw(order.reason));
    const timeline = h('ol', { class: 'timeline', id: 'order-timeline' });
    for (const ev of events) {
      const state = ev.state || ev.to || (ev.type || '').replace(/^order[._]/, '');
      let label = tOr(`order_state.${state}`, state);
      if (ev.stage && ev.stage !== state) label += ` · ${tOr(`stage.${ev.stage}`, ev.stage)}`;
      timeline.append(h('li', { 'data-state': state }, raw(formatTime(ev.t ?? ev.at_s ?? ev.stamp_s ?? ev.time_s)), ' ',
        h('b', { text: label }), ev.machine_id ? raw(` ${ev.machine_id}`) : null, ev.detail ? raw(` ${ev.detail}`) : null));
    }
    this.detail.replaceChildren(h('h3', {}, raw(order.id)), dl, h('h3', { text: t('order.timeline') }),
      events.length ? timeline : h('p', { class: 'muted', text: t('order.no_events') }));
  }
}
