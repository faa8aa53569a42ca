// The live map: one canvas, drawn in requestAnimationFrame. The site (lanes, stations,
// zones, bays) is kept as Path2D in site metres; machines are batched by colour so
// 500 of them cost a handful of fills per frame, with no DOM element per machine.

import { MODE_COLOURS, status } from './store.js';
import { t } from './i18n.js';
import { drawSlotLayer } from './slots.js';

const ZONE_FILL = {
  no_go: 'rgba(120,120,120,.18)',
  hazardous: 'rgba(239,108,0,.14)',
  speed_limit: 'rgba(30,136,229,.08)',
  one_way: 'rgba(142,36,170,.07)',
  maintenance: 'rgba(121,85,72,.12)',
  outdoor: 'rgba(76,175,80,.06)',
};
const STATION_COLOURS = { pickup: '#00897b', drop: '#5e35b1', charger: '#e0a800', parking: '#90a4ae', handoff: '#d81b60' };
const AGV_LEN = 1.4, AGV_WID = 0.9;

function zonePoints(z) {
  const p = z.polygon || z.points || z.coordinates || [];
  return Array.isArray(p[0]?.[0]) ? p[0] : p; // GeoJSON-style rings: the outer one
}

export class SiteMap {
  constructor(canvas, state) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.state = state;
    this.view = { scale: 4, ox: 0, oy: 0 }; // screen = (x*scale+ox, -y*scale+oy)
    this.selected = null;
    this.hovered = null;
    this.follow = false;
    this.labels = true;
    this.showSlots = false;
    this.slotLayer = null; // the inventory's slot map, drawn under the lanes when showSlots
    this.pickHandler = null; // (stationId) => void while picking a station
    this.onSelect = () => {};
    this.onZoneClick = () => {};
    this.stationPos = new Map();
    this.bays = new Map();
    this.dpr = window.devicePixelRatio || 1;
    this.hatch = this.makeHatch();
    this.bindInput();
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.resize();
    const loop = (ts) => {
      this.frame(ts);
      requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  }

  makeHatch() {
    const c = document.createElement('canvas');
    c.width = c.height = 12;
    const g = c.getContext('2d');
    g.fillStyle = 'rgba(213,0,0,.10)';
    g.fillRect(0, 0, 12, 12);
    g.strokeStyle = 'rgba(213,0,0,.55)';
    g.lineWidth = 2;
    g.beginPath();
    g.moveTo(0, 12); g.lineTo(12, 0);
    g.moveTo(-3, 3); g.lineTo(3, -3);
    g.moveTo(9, 15); g.lineTo(15, 9);
    g.stroke();
    return this.ctx.createPattern(c, 'repeat');
  }

  resize() {
    const r = this.canvas.getBoundingClientRect();
    this.width = Math.max(1, r.width);
    this.height = Math.max(1, r.height);
    this.canvas.width = Math.round(this.width * this.dpr);
    this.canvas.height = Math.round(this.height * this.dpr);
    if (!this.fitted && this.state.site) this.fit();
  }

  setSite(site) {
    const nodes = new Map((site.nodes || []).map((n) => [n.id, n]));
    this.lanes = new Path2D();
    this.oneWay = [];
    for (const l of site.lanes || []) {
      const a = nodes.get(l.start ?? l.from), b = nodes.get(l.end ?? l.to);
      if (!a || !b) continue;
      this.lanes.moveTo(a.x, a.y);
      this.lanes.lineTo(b.x, b.y);
      if (l.two_way === false) this.oneWay.push([a, b]);
    }
    this.stationPos.clear();
    this.stations = (site.stations || []).map((s) => {
      const n = nodes.get(s.node) || {};
      const pos = { id: s.id, kind: s.kind, x: s.x ?? n.x, y: s.y ?? n.y };
      this.stationPos.set(s.id, pos);
      return pos;
    }).filter((s) => Number.isFinite(s.x));
    this.nodes = nodes;
    this.bays.clear();
    for (const b of site.crane_bays || site.bays || []) {
      const [x0, y0] = b.runway_start, [x1, y1] = b.runway_end;
      const len = Math.hypot(x1 - x0, y1 - y0) || 1;
      const bay = { ...b, x0, y0, ux: (x1 - x0) / len, uy: (y1 - y0) / len, len, span: b.span_m || 20 };
      bay.widthOf = new Map((b.cranes || []).map((c) => [c.id, c.width_m || 6]));
      this.bays.set(b.id, bay);
    }
    this.bounds = site.bounds || this.computeBounds(site);
    this.fitted = false;
    this.fit();
  }

  computeBounds(site) {
    const xs = [], ys = [];
    for (const n of site.nodes || []) { xs.push(n.x); ys.push(n.y); }
    for (const z of site.zones || []) for (const [x, y] of zonePoints(z)) { xs.push(x); ys.push(y); }
    for (const b of this.bays.values()) for (const [a, c] of [[0, 0], [b.len, 0], [0, b.span], [b.len, b.span]]) {
      const [x, y] = this.baySite(b, a, c); xs.push(x); ys.push(y);
    }
    if (!xs.length) return [0, 0, 100, 100];
    return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
  }

  baySite(b, along, cross) {
    return [b.x0 + b.ux * along - b.uy * cross, b.y0 + b.uy * along + b.ux * cross];
  }

  fit() {
    if (!this.bounds || this.width < 10) return;
    const [x0, y0, x1, y1] = this.bounds;
    const pad = 30;
    const scale = Math.min((this.width - 2 * pad) / Math.max(1, x1 - x0), (this.height - 2 * pad) / Math.max(1, y1 - y0));
    this.view.scale = Math.max(0.05, scale);
    this.view.ox = this.width / 2 - ((x0 + x1) / 2) * this.view.scale;
    this.view.oy = this.height / 2 + ((y0 + y1) / 2) * this.view.scale;
    this.fitted = true;
  }

  toWorld(sx, sy) {
    return [(sx - this.view.ox) / this.view.scale, -(sy - this.view.oy) / this.view.scale];
  }

  toScreen(x, y) {
    return [x * this.view.scale + this.view.ox, -y * this.view.scale + this.view.oy];
  }

  /** The site-frame point where a machine is drawn now. */
  machineXY(m, now) {
    const p = this.state.displayed(m, now);
    if (!p) return null;
    if (m.kind === 'crane') {
      const b = this.bays.get(m.bay);
      if (!b) return null;
      return [...this.baySite(b, p[0], p[1]), p[0], p[1]];
    }
    return p;
  }

  centreOn(id) {
    const m = this.state.machines.get(id);
    const p = m && this.machineXY(m, performance.now());
    if (!p) return;
    this.view.ox = this.width / 2 - p[0] * this.view.scale;
    this.view.oy = this.height / 2 + p[1] * this.view.scale;
  }

  bindInput() {
    const c = this.canvas;
    let drag = null;
    c.addEventListener('pointerdown', (e) => {
      drag = { x: e.offsetX, y: e.offsetY, ox: this.view.ox, oy: this.view.oy, moved: false };
      c.setPointerCapture(e.pointerId);
    });
    c.addEventListener('pointermove', (e) => {
      if (drag) {
        const dx = e.offsetX - drag.x, dy = e.offsetY - drag.y;
        if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
        if (drag.moved) {
          this.view.ox = drag.ox + dx;
          this.view.oy = drag.oy + dy;
        }
      }
      this.hovered = this.hit(e.offsetX, e.offsetY);
      this.mouse = [e.offsetX, e.offsetY];
    });
    c.addEventListener('pointerleave', () => { this.hovered = null; });
    c.addEventListener('pointerup', (e) => {
      const wasClick = drag && !drag.moved;
      drag = null;
      if (wasClick) this.click(e.offsetX, e.offsetY);
    });
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      const k = Math.exp(-e.deltaY * 0.0015);
      const scale = Math.min(400, Math.max(0.05, this.view.scale * k));
      const [wx, wy] = this.toWorld(e.offsetX, e.offsetY);
      this.view.scale = scale;
      this.view.ox = e.offsetX - wx * scale;
      this.view.oy = e.offsetY + wy * scale;
    }, { passive: false });
  }

  /** What is under a screen point: a machine first, then a station, then a zone. */
  hit(sx, sy) {
    const now = performance.now();
    const [wx, wy] = this.toWorld(sx, sy);
    const r = Math.max(1.2, 8 / this.view.scale);
    let best = null, bestD = r * r;
    for (const m of this.state.machines.values()) {
      const p = this.machineXY(m, now);
      if (!p) continue;
      const d = (p[0] - wx) ** 2 + (p[1] - wy) ** 2;
      if (d < bestD) { bestD = d; best = m; }
    }
    if (best) return { type: 'machine', id: best.id };
    const station = this.stationAt(sx, sy);
    if (station) return station;
    this.ctx.save();
    this.ctx.setTransform(1, 0, 0, 1, 0, 0); // the paths are in site metres
    let zone = null;
    for (const z of this.state.zones.values()) {
      const p = this.zonePath(z);
      if (p && this.ctx.isPointInPath(p, wx, wy)) zone = { type: 'zone', id: z.id };
    }
    this.ctx.restore();
    return zone;
  }

  /** The station under a screen point, machines or not. */
  stationAt(sx, sy) {
    const [wx, wy] = this.toWorld(sx, sy);
    const rs = Math.max(1.5, 9 / this.view.scale);
    for (const s of this.stations || []) {
      if ((s.x - wx) ** 2 + (s.y - wy) ** 2 < rs * rs) return { type: 'station', id: s.id };
    }
    return null;
  }

  zonePath(z) {
    if (!z._path) {
      const pts = zonePoints(z);
      if (pts.length < 3) return null;
      const p = new Path2D();
      pts.forEach(([x, y], i) => (i ? p.lineTo(x, y) : p.moveTo(x, y)));
      p.closePath();
      z._path = p;
      z._centre = pts.reduce((a, [x, y]) => [a[0] + x / pts.length, a[1] + y / pts.length], [0, 0]);
    }
    return z._path;
  }

  click(sx, sy) {
    if (this.pickHandler) { // picking a station: a machine standing on it does not hide it
      const h = this.stationAt(sx, sy);
      if (h && h.type === 'station') {
        const fn = this.pickHandler;
        this.pickHandler = null;
        this.canvas.classList.remove('picking');
        fn(h.id);
      }
      return;
    }
    const h = this.hit(sx, sy);
    if (h && h.type === 'zone') {
      this.onZoneClick(h.id);
      return;
    }
    this.select(h && h.type === 'machine' ? h.id : null);
  }

  select(id) {
    this.selected = id;
    this.onSelect(id);
  }

  pickStation(fn) {
    this.pickHandler = fn;
    this.canvas.classList.add('picking');
  }

  frame(ts) {
    const t0 = performance.now();
    if (this.follow && this.selected) this.centreOn(this.selected);
    const ctx = this.ctx, v = this.view;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    if (this.state.site) {
      ctx.setTransform(v.scale * this.dpr, 0, 0, -v.scale * this.dpr, v.ox * this.dpr, v.oy * this.dpr);
      this.drawZones(ctx);
      this.drawBays(ctx);
      if (this.showSlots) drawSlotLayer(ctx, this.slotLayer, (n) => this.px(n));
      this.drawLanes(ctx);
      this.drawStations(ctx);
      this.drawPath(ctx, t0);
      this.drawMachines(ctx, t0);
      ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
      this.drawLabels(ctx, t0);
    }
    this.drawTip(t0);
    const done = performance.now();
    const st = this.state.stats;
    if (this.lastTs !== undefined) st.frameMs.push(ts - this.lastTs);
    this.lastTs = ts;
    st.drawMs = (st.drawMs || []);
    st.drawMs.push(done - t0);
    const lp = this.state.lastPose;
    if (lp && !lp.drawn) {
      lp.drawn = true;
      if (lp.sentMs !== null) st.latencyMs.push(performance.timeOrigin + done - lp.sentMs);
    }
    for (const k of ['frameMs', 'drawMs', 'latencyMs']) if (st[k].length > 4000) st[k].splice(0, 2000);
  }

  px(n) {
    return n / this.view.scale;
  }

  drawZones(ctx) {
    for (const z of this.state.zones.values()) {
      const p = this.zonePath(z);
      if (!p) continue;
      ctx.fillStyle = ZONE_FILL[z.kind] || 'rgba(0,0,0,.05)';
      ctx.fill(p);
      if (z.closed) {
        this.hatch.setTransform(new DOMMatrix().scale(1 / this.view.scale, -1 / this.view.scale));
        ctx.fillStyle = this.hatch;
        ctx.fill(p);
        ctx.strokeStyle = '#d50000';
        ctx.lineWidth = this.px(2.5);
        ctx.setLineDash([this.px(8), this.px(4)]);
        ctx.stroke(p);
        ctx.setLineDash([]);
      } else {
        ctx.strokeStyle = 'rgba(0,0,0,.25)';
        ctx.lineWidth = this.px(1);
        ctx.stroke(p);
      }
    }
  }

  drawBays(ctx) {
    for (const b of this.bays.values()) {
      const corners = [[0, 0], [b.len, 0], [b.len, b.span], [0, b.span]].map(([a, c]) => this.baySite(b, a, c));
      ctx.fillStyle = 'rgba(96,125,139,.08)';
      ctx.beginPath();
      corners.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.closePath();
      ctx.fill();
      ctx.strokeStyle = '#546e7a';
      ctx.lineWidth = Math.max(this.px(3), 0.4);
      ctx.beginPath(); // the two runway rails
      ctx.moveTo(...corners[0]); ctx.lineTo(...corners[1]);
      ctx.moveTo(...corners[3]); ctx.lineTo(...corners[2]);
      ctx.stroke();
    }
  }

  drawLanes(ctx) {
    ctx.strokeStyle = '#b0bec5';
    ctx.lineWidth = Math.max(this.px(1.5), 0.25);
    ctx.stroke(this.lanes);
    if (this.view.scale > 3 && this.oneWay.length) { // arrows on one-way lanes when zoomed in
      ctx.fillStyle = '#90a4ae';
      ctx.beginPath();
      const s = this.px(5);
      for (const [a, b] of this.oneWay) {
        const mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2, len = Math.hypot(b.x - a.x, b.y - a.y) || 1;
        const ux = (b.x - a.x) / len, uy = (b.y - a.y) / len;
        ctx.moveTo(mx + ux * s, my + uy * s);
        ctx.lineTo(mx - ux * s - uy * s * 0.6, my - uy * s + ux * s * 0.6);
        ctx.lineTo(mx - ux * s + uy * s * 0.6, my - uy * s - ux * s * 0.6);
      }
      ctx.fill();
    }
  }

  drawStations(ctx) {
    const s = Math.max(this.px(4), 0.5);
    const byKind = {};
    for (const st of this.stations || []) (byKind[st.kind] ||= []).push(st);
    for (const [kind, list] of Object.entries(byKind)) {
      ctx.fillStyle = STATION_COLOURS[kind] || '#607d8b';
      ctx.beginPath();
      for (const st of list) ctx.rect(st.x - s, st.y - s, 2 * s, 2 * s);
      ctx.fill();
    }
  }

  /** The selected (or hovered) machine's planned path: points or node ids. */
  drawPath(ctx, now) {
    const id = this.selected || (this.hovered && this.hovered.type === 'machine' && this.hovered.id);
    const m = id && this.state.machines.get(id);
    if (!m) return;
    const pts = this.pathPoints(m);
    if (!pts.length) return;
    const here = this.machineXY(m, now);
    ctx.strokeStyle = 'rgba(21,101,192,.8)';
    ctx.lineWidth = Math.max(this.px(3), 0.3);
    ctx.setLineDash([this.px(6), this.px(4)]);
    ctx.beginPath();
    if (here) ctx.moveTo(here[0], here[1]);
    pts.forEach(([x, y], i) => (i || here ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.stroke();
    ctx.setLineDash([]);
    const [gx, gy] = pts[pts.length - 1];
    ctx.fillStyle = 'rgba(21,101,192,.9)';
    ctx.beginPath();
    ctx.arc(gx, gy, Math.max(this.px(5), 0.5), 0, 2 * Math.PI);
    ctx.fill();
  }

  pathPoints(m) {
    const raw = m.path || m.route || m.remaining_node_ids || [];
    const out = [];
    for (const p of raw) {
      if (Array.isArray(p)) out.push(p);
      else if (p && typeof p === 'object' && 'x' in p) out.push([p.x, p.y]);
      else {
        const n = this.nodes.get(p) || this.stationPos.get(p);
        if (n) out.push([n.x, n.y]);
      }
    }
    return out;
  }

  drawMachines(ctx, now) {
    const buckets = {};
    const loads = [];
    const cranes = [];
    const [wx0, wy1] = this.toWorld(-20, -20), [wx1, wy0] = this.toWorld(this.width + 20, this.height + 20);
    const big = this.view.scale > 1.2; // below that a machine is drawn as a dot
    const dot = this.px(3.2);
    const grow = Math.max(1, 12 / (AGV_LEN * this.view.scale)); // never smaller than 12 px long on screen
    for (const m of this.state.machines.values()) {
      const p = this.machineXY(m, now);
      if (!p) continue;
      if (m.kind === 'crane') { cranes.push([m, p]); continue; }
      const [x, y, h] = p;
      if (x < wx0 || x > wx1 || y < wy0 || y > wy1) continue;
      const key = status(m);
      const path = (buckets[key] ||= new Path2D());
      if (big) {
        const c = Math.cos(h), s = Math.sin(h), L = (AGV_LEN / 2) * grow, W = (AGV_WID / 2) * grow;
        path.moveTo(x + c * L * 1.25, y + s * L * 1.25); // a pointed body shows the heading
        path.lineTo(x + c * L * 0.6 - s * W, y + s * L * 0.6 + c * W);
        path.lineTo(x - c * L - s * W, y - s * L + c * W);
        path.lineTo(x - c * L + s * W, y - s * L - c * W);
        path.lineTo(x + c * L * 0.6 + s * W, y + s * L * 0.6 - c * W);
        path.closePath();
      } else {
        path.moveTo(x + dot, y);
        path.arc(x, y, dot, 0, 2 * Math.PI);
      }
      if (m.load_id) loads.push([x, y]);
    }
    for (const [key, path] of Object.entries(buckets)) {
      ctx.fillStyle = MODE_COLOURS[key] || '#000';
      ctx.fill(path);
      if (key === 'estopped' || key === 'offline') {
        ctx.strokeStyle = key === 'estopped' ? '#ffeb3b' : '#fff';
        ctx.lineWidth = this.px(1.2);
        ctx.stroke(path);
      }
    }
    if (loads.length) {
      const r = big ? 0.28 * grow : this.px(1.3);
      ctx.fillStyle = '#fff';
      ctx.beginPath();
      for (const [x, y] of loads) ctx.rect(x - r, y - r, 2 * r, 2 * r);
      ctx.fill();
    }
    for (const [m, p] of cranes) this.drawCrane(ctx, m, p);
    const sel = this.selected && this.state.machines.get(this.selected);
    const sp = sel && this.machineXY(sel, now);
    if (sp) {
      ctx.strokeStyle = '#1565c0';
      ctx.lineWidth = this.px(2.5);
      ctx.beginPath();
      ctx.arc(sp[0], sp[1], Math.max(this.px(10), 1.4), 0, 2 * Math.PI);
      ctx.stroke();
    }
  }

  drawCrane(ctx, m, p) {
    const b = this.bays.get(m.bay);
    const along = p[3], cross = p[4];
    const w = (b.widthOf.get(m.id) || 6) / 2;
    const corners = [[along - w, -1], [along + w, -1], [along + w, b.span + 1], [along - w, b.span + 1]]
      .map(([a, c]) => this.baySite(b, a, c));
    const colour = MODE_COLOURS[status(m)];
    ctx.fillStyle = colour + '55';
    ctx.strokeStyle = colour;
    ctx.lineWidth = Math.max(this.px(2), 0.2);
    ctx.beginPath();
    corners.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath();
    ctx.fill();
    ctx.stroke();
    const [tx, ty] = this.baySite(b, along, cross); // the trolley, and its load
    const r = Math.min(w, 2);
    ctx.fillStyle = colour;
    ctx.fillRect(tx - r, ty - r, 2 * r, 2 * r);
    if (m.load_id) {
      ctx.fillStyle = '#fff';
      ctx.beginPath();
      ctx.arc(tx, ty, r * 0.55, 0, 2 * Math.PI);
      ctx.fill();
    }
  }

  drawLabels(ctx, now) {
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    for (const z of this.state.zones.values()) {
      if (!z._centre) continue;
      const [x, y] = this.toScreen(...z._centre);
      ctx.fillStyle = z.closed ? '#b71c1c' : 'rgba(0,0,0,.45)';
      ctx.font = z.closed ? 'bold 12px system-ui, sans-serif' : '11px system-ui, sans-serif';
      const text = z.closed ? `${z.name || z.id} · ${t('zone.closed')}` : (z.name || z.id);
      ctx.fillText(text, x - ctx.measureText(text).width / 2, y);
    }
    if (!this.labels || this.view.scale < 2) return;
    // names only when they can be read: few machines in view, or zoomed in far
    const shown = [];
    for (const m of this.state.machines.values()) {
      const p = this.machineXY(m, now);
      if (!p) continue;
      const [sx, sy] = this.toScreen(p[0], p[1]);
      if (sx < 0 || sy < 0 || sx > this.width || sy > this.height) continue;
      shown.push([m.id, sx, sy]);
      if (shown.length > 80 && this.view.scale < 12) return;
      if (shown.length > 300) break;
    }
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = '#263238';
    for (const [id, sx, sy] of shown) ctx.fillText(id, sx + 8, sy - 8);
  }

  drawTip(now) {
    const tip = document.getElementById('map-tip');
    const h = this.hovered;
    if (!h || !this.mouse) {
      tip.classList.add('hidden');
      return;
    }
    let text = '';
    if (h.type === 'machine') {
      const m = this.state.machines.get(h.id);
      if (!m) return;
      text = `${m.id} · ${t(`mode.${status(m)}`)}\n${t('machine.load')}: ${m.load_id || '–'}` +
        `\n${t('machine.leg')}: ${m.leg_id || '–'}` +
        (m.battery !== undefined && m.battery !== null ? `\n${t('machine.battery')}: ${Math.round(m.battery * 100)}%` : '');
    } else if (h.type === 'station') {
      const s = this.stationPos.get(h.id);
      text = `${h.id} · ${t(`station.${s.kind}`)}`;
    } else if (h.type === 'zone') {
      const z = this.state.zones.get(h.id);
      text = `${z.name || z.id} · ${t(`zone.kind.${z.kind}`)} · ${t(z.closed ? 'zone.closed' : 'zone.open')}`;
    }
    if (tip.textContent !== text) tip.textContent = text;
    tip.style.left = `${this.mouse[0] + 14}px`;
    tip.style.top = `${this.mouse[1] + 14}px`;
    tip.classList.remove('hidden');
  }
}
