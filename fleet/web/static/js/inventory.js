// Inventory: the slot map (free and occupied positions, rack levels, coil-yard tiers; a
// click shows what lies in a slot), the recent tally records with mismatches marked,
// the reconciliation, and the open tally alarms with the dispatcher's three answers.
// Refreshed when the event stream says a load may have moved (leg, order, tally and
// inventory events), at most every 400 ms, and every few seconds while it is shown.

import { api } from './api.js';
import { formatTime, t, tOr } from './i18n.js';
import { buildSlotLayer, drawSlotLayer, slotAt } from './slots.js';
import { act, applyRole, h, raw } from './ui.js';

const $ = (id) => document.getElementById(id);
const TALLY_SHOWN = 60;
const SOON_MS = 300;
const MIN_GAP_MS = 1000;

/** A small canvas of the slots alone (with the lanes faintly), fitted to the storage area. */
class SlotCanvas {
  constructor(canvas, onPick) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.onPick = onPick;
    this.layer = null;
    this.lanes = null;
    this.selected = null;
    this.view = { scale: 4, ox: 0, oy: 0 };
    this.dpr = window.devicePixelRatio || 1;
    new ResizeObserver(() => this.resize()).observe(canvas);
    canvas.addEventListener('click', (e) => {
      const [x, y] = this.toWorld(e.offsetX, e.offsetY);
      const s = slotAt(this.layer, x, y);
      if (s) this.onPick(s.id);
    });
  }

  setSite(site) {
    const nodes = new Map((site.nodes || []).map((n) => [n.id, n]));
    this.lanes = new Path2D();
    for (const l of site.lanes || []) {
      const a = nodes.get(l.start ?? l.from), b = nodes.get(l.end ?? l.to);
      if (a && b) { this.lanes.moveTo(a.x, a.y); this.lanes.lineTo(b.x, b.y); }
    }
  }

  setLayer(layer) {
    const first = !this.layer;
    this.layer = layer;
    if (first) this.fit();
    this.draw();
  }

  resize() {
    const r = this.canvas.getBoundingClientRect();
    if (r.width < 2 || r.height < 2) return;
    this.width = r.width;
    this.height = r.height;
    this.canvas.width = Math.round(r.width * this.dpr);
    this.canvas.height = Math.round(r.height * this.dpr);
    this.fit();
    this.draw();
  }

  fit() {
    const b = this.layer && this.layer.bounds;
    if (!b || !this.width) return;
    const pad = 12;
    const scale = Math.min((this.width - 2 * pad) / Math.max(1, b[2] - b[0]), (this.height - 2 * pad) / Math.max(1, b[3] - b[1]));
    this.view.scale = Math.max(0.05, scale);
    this.view.ox = this.width / 2 - ((b[0] + b[2]) / 2) * this.view.scale;
    this.view.oy = this.height / 2 + ((b[1] + b[3]) / 2) * this.view.scale;
  }

  toWorld(sx, sy) {
    return [(sx - this.view.ox) / this.view.scale, -(sy - this.view.oy) / this.view.scale];
  }

  toScreen(x, y) {
    return [x * this.view.scale + this.view.ox, -y * this.view.scale + this.view.oy];
  }

  draw() {
    const ctx = this.ctx, v = this.view;
    if (!this.width) return;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    ctx.setTransform(v.scale * this.dpr, 0, 0, -v.scale * this.dpr, v.ox * this.dpr, v.oy * this.dpr);
    const px = (n) => n / v.scale;
    if (this.lanes) {
      ctx.strokeStyle = '#dfe4ea';
      ctx.lineWidth = Math.max(px(1), 0.1);
      ctx.stroke(this.lanes);
    }
    drawSlotLayer(ctx, this.layer, px, this.selected);
  }
}

export class InventoryView {
  constructor(state, map) {
    this.state = state;
    this.map = map; // the live map draws the same layer when its "slots" box is ticked
    this.layer = null;
    this.tally = []; // newest first, at most TALLY_SHOWN
    this.lastTally = 0; // records are fetched after the last id seen
    this.alarms = [];
    this.recon = null;
    this.selected = null;
    this.available = true;
    this.shown = false;
    this.lastRefresh = -Infinity;
    this.canvas = new SlotCanvas($('inv-map'), (id) => this.select(id));
    $('inv-refresh').addEventListener('click', () => this.refresh(true));
    $('inv-mismatch-only').addEventListener('change', () => this.renderTally());
  }

  setSite(site) {
    this.canvas.setSite(site);
  }

  show(on) {
    this.shown = on;
    if (on) {
      this.canvas.resize();
      this.refresh();
    }
  }

  /**
   * Refresh soon, at most once a second however many events arrive (every read takes the
   * store's lock on the server). The tally of a drop is applied a moment after the leg
   * ends, so the refresh waits that moment.
   */
  soon() {
    if (this.timer) return;
    const wait = Math.max(SOON_MS, this.lastRefresh + MIN_GAP_MS - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.refresh(false);
    }, wait);
  }

  /** `full`: also the reconciliation (a scan of every tally record): on show, on the timer, on Refresh. */
  async refresh(full = true) {
    this.lastRefresh = performance.now();
    let slotMap;
    try {
      slotMap = await api.slotMap();
    } catch (err) {
      if (err && (err.status === 503 || err.status === 404)) this.setAvailable(false);
      return;
    }
    this.setAvailable(true);
    this.layer = buildSlotLayer(slotMap);
    this.map.slotLayer = this.layer;
    this.canvas.setLayer(this.layer);
    this.state.inventory = this.layer;
    this.renderFill();
    const [fresh, alarms, recon] = await Promise.all([
      api.tally({ after_id: this.lastTally, limit: 1000 }).catch(() => []),
      api.tallyAlarms().catch(() => this.alarms),
      full ? api.reconciliation().catch(() => this.recon) : this.recon,
    ]);
    for (const r of fresh) this.lastTally = Math.max(this.lastTally, r.id);
    this.tally = [...fresh.reverse(), ...this.tally].slice(0, TALLY_SHOWN);
    this.alarms = alarms;
    this.recon = recon;
    this.renderTally();
    this.renderAlarms();
    this.renderRecon();
    if (this.selected) this.renderSlot();
    this.state.emit('inventory', this.layer);
  }

  setAvailable(on) {
    this.available = on;
    $('inv-none').classList.toggle('hidden', on);
    $('inv-body').classList.toggle('hidden', !on);
  }

  render() {
    this.renderFill();
    this.renderTally();
    this.renderAlarms();
    this.renderRecon();
    if (this.selected) this.renderSlot();
  }

  renderFill() {
    const f = (this.layer && this.layer.fill) || {};
    $('inv-positions').textContent = f.positions ?? '–';
    $('inv-occupied').textContent = f.occupied ?? '–';
    $('inv-upper').textContent = f.upper_occupied ?? '–';
    const tiers = this.layer && [...this.layer.byPos.values()].some((p) => p.kind === 'upper');
    $('inv-upper').parentElement.classList.toggle('hidden', !tiers); // a coil yard's second tier only
    $('inv-legend').replaceChildren(...['free', 'occupied', 'hazardous', 'alarm'].map((k) =>
      h('li', {}, h('i', { class: `slot-${k}` }), t(`inventory.state.${k}`))));
  }

  select(id) {
    this.selected = id;
    this.canvas.selected = id;
    this.canvas.draw();
    this.renderSlot();
  }

  async renderSlot() {
    const box = $('inv-slot');
    const id = this.selected;
    let slot;
    try {
      slot = await api.slot(id);
    } catch {
      return;
    }
    if (id !== this.selected) return;
    const rows = slot.positions.map((p) => h('tr', { 'data-position': p.position, 'data-load': p.load ? p.load.id : '' },
      h('td', {}, raw(p.position)),
      h('td', { text: tOr(`inventory.kind.${p.kind}`, p.kind) }),
      h('td', {}, raw(p.load ? p.load.id : '–')),
      h('td', { class: 'num' }, raw(p.load ? `${Math.round(p.load.weight_kg)} kg` : '')),
      h('td', {}, raw(p.load && p.load.hazard_class ? p.load.hazard_class : '')),
      h('td', {}, raw(p.blocked_by && p.blocked_by.length ? p.blocked_by.join(', ') : ''))));
    box.replaceChildren(
      h('h3', {}, h('span', { text: t('inventory.slot') }), raw(` ${id}`)),
      h('table', { class: 'grid' },
        h('thead', {}, h('tr', {}, h('th', { text: t('inventory.position') }), h('th', { text: t('inventory.kind') }),
          h('th', { text: t('inventory.load') }), h('th', { text: t('inventory.weight') }),
          h('th', { text: t('inventory.hazard') }), h('th', { text: t('inventory.blocked_by') }))),
        h('tbody', { id: 'inv-slot-rows' }, ...rows)));
  }

  renderTally() {
    const only = $('inv-mismatch-only').checked;
    const rows = this.tally.filter((r) => !only || r.outcome !== 'match').map((r) => h('tr', {
      'data-id': r.id, 'data-outcome': r.outcome, class: r.outcome === 'match' ? '' : 'tally-bad',
    },
    h('td', {}, raw(formatTime(r.at_s))),
    h('td', { text: tOr(`inventory.stage.${r.stage}`, r.stage) }),
    h('td', {}, raw(r.machine_id || '–')),
    h('td', {}, raw(r.place || '–')),
    h('td', {}, raw(r.expected)),
    h('td', {}, raw(r.read_label || '–')),
    h('td', { class: `outcome-${r.outcome}`, text: tOr(`inventory.outcome.${r.outcome}`, r.outcome) })));
    $('inv-tally').replaceChildren(...rows);
    $('inv-tally-none').classList.toggle('hidden', rows.length > 0);
  }

  renderAlarms() {
    const open = this.alarms.filter((a) => a.state === 'open');
    const rows = open.map((a) => h('tr', { 'data-id': a.id, 'data-machine': a.machine_id || '' }, h('td', {},
      h('div', {}, h('b', { class: 'sev-critical', text: tOr(`inventory.alarm.${a.kind}`, a.kind) }),
        raw(` ${formatTime(a.raised_s)}`)),
      h('div', {}, h('span', { class: 'muted', text: `${t('inventory.machine')}: ` }), raw(a.machine_id || '–'),
        h('span', { class: 'muted', text: ` · ${t('inventory.place')}: ` }), raw(a.place || '–')),
      h('div', {}, h('span', { class: 'muted', text: `${t('inventory.expected')}: ` }), raw(a.load_id),
        h('span', { class: 'muted', text: ` · ${t('inventory.read')}: ` }), raw(a.read || '–')),
      h('div', { class: 'controls' }, ...(a.options || []).map((o) => h('button', {
        type: 'button', 'data-act': 'alarms:ack', 'data-action': o, text: tOr(`inventory.answer.${o}`, o),
        onclick: async () => {
          if (await act(api.resolveTally(a.id, o), 'inventory.answered') !== undefined) this.refresh();
        },
      }))))));
    $('inv-alarms').replaceChildren(...rows);
    $('inv-alarms-none').classList.toggle('hidden', rows.length > 0);
    applyRole(this.state.perms, $('inv-alarms'));
  }

  renderRecon() {
    const r = this.recon;
    $('inv-confirmed').textContent = r ? r.confirmed : '–';
    $('inv-unverified').textContent = r ? r.unverified : '–';
    const rows = (r ? r.discrepancies : []).slice(0, 50).map((d) => h('tr', { 'data-position': d.position },
      h('td', {}, raw(d.position)),
      h('td', { text: tOr(`inventory.discrepancy.${d.kind}`, d.kind) }),
      h('td', {}, raw(d.expected || '–')),
      h('td', {}, raw(d.read || '–'))));
    $('inv-discrepancies').replaceChildren(...rows);
  }
}
