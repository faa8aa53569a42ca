// The slot layer: every storage position of the site (rack levels, coil-yard tiers) as
// the inventory's slot map (`GET /inventory/map`) gives it, grouped by slot and drawn
// in site metres, so the live map and the inventory view draw it the same way.

export const SLOT_COLOURS = {
  free: '#eceff3',
  occupied: '#546e7a',
  hazardous: '#ef6c00',
  alarm: '#c62828',
  outline: '#90a4ae',
  selected: '#1565c0',
};

/** The cell state of one position: what a dispatcher looks for first. */
export function positionState(p) {
  if (p.alarm) return 'alarm';
  if (!p.load_id) return 'free';
  return p.hazard_class ? 'hazardous' : 'occupied';
}

/** Slot map (parallel arrays) -> {slots: Map(id -> slot), byPos: Map(position -> entry), cell, bounds}. */
export function buildSlotLayer(map) {
  const slots = new Map();
  const byPos = new Map();
  const n = (map.positions || []).length;
  for (let i = 0; i < n; i += 1) {
    const p = {
      position: map.positions[i], slot: map.slots[i], kind: map.kind[i], tier: map.tier[i],
      x: map.x[i], y: map.y[i], load_id: map.load_id[i], weight_kg: map.weight_kg[i],
      hazard_class: map.hazard_class[i], alarm: Boolean(map.alarm && map.alarm[i]),
    };
    byPos.set(p.position, p);
    let s = slots.get(p.slot);
    if (!s) {
      s = { id: p.slot, kind: p.kind === 'rack' ? 'rack' : 'yard', x: p.x, y: p.y, positions: [] };
      slots.set(p.slot, s);
    }
    if (p.kind !== 'upper' && p.tier <= 1) { s.x = p.x; s.y = p.y; }
    s.positions.push(p);
  }
  for (const s of slots.values()) s.positions.sort((a, b) => a.tier - b.tier);
  return { slots, byPos, cell: cellSize([...slots.values()]), bounds: boundsOf([...slots.values()]), fill: map.fill || {} };
}

/** A cell a little smaller than the closest two slots, so neighbours never overlap. */
function cellSize(slots) {
  let best = Infinity;
  const pts = slots.slice(0, 400);
  for (let i = 0; i < pts.length; i += 1) {
    for (let j = i + 1; j < pts.length; j += 1) {
      const d = Math.max(Math.abs(pts[i].x - pts[j].x), Math.abs(pts[i].y - pts[j].y));
      if (d > 0.05 && d < best) best = d;
    }
  }
  return Number.isFinite(best) ? Math.min(3, best * 0.8) : 2;
}

function boundsOf(slots) {
  if (!slots.length) return null;
  const xs = slots.map((s) => s.x), ys = slots.map((s) => s.y);
  return [Math.min(...xs) - 3, Math.min(...ys) - 3, Math.max(...xs) + 3, Math.max(...ys) + 3];
}

/**
 * Draw the layer on a context already in site metres (y up). Rack slots are split into
 * one strip per level (level 1 at the bottom); a coil on the upper tier is a round mark
 * where it rests, between the two coils below. Batched by state: a few fills in all.
 */
export function drawSlotLayer(ctx, layer, px, selected = null) {
  if (!layer) return;
  const c = layer.cell, half = c / 2;
  const rects = {}, rounds = {};
  for (const s of layer.slots.values()) {
    const levels = s.positions.filter((p) => p.kind !== 'upper');
    const strip = c / Math.max(1, levels.length);
    levels.forEach((p, k) => {
      (rects[positionState(p)] ||= new Path2D()).rect(s.x - half, s.y - half + k * strip, c, strip);
    });
    for (const p of s.positions) {
      if (p.kind !== 'upper') continue;
      const r = half * 0.55;
      const path = (rounds[positionState(p)] ||= new Path2D());
      path.moveTo(p.x + r, p.y);
      path.arc(p.x, p.y, r, 0, 2 * Math.PI);
    }
  }
  ctx.lineWidth = Math.max(px(0.8), 0.04);
  ctx.strokeStyle = SLOT_COLOURS.outline;
  for (const [k, path] of Object.entries(rects)) {
    ctx.fillStyle = SLOT_COLOURS[k];
    ctx.fill(path);
    ctx.stroke(path);
  }
  ctx.strokeStyle = '#fff';
  for (const [k, path] of Object.entries(rounds)) {
    ctx.fillStyle = SLOT_COLOURS[k];
    ctx.fill(path);
    ctx.stroke(path);
  }
  const sel = selected && layer.slots.get(selected);
  if (sel) {
    ctx.strokeStyle = SLOT_COLOURS.selected;
    ctx.lineWidth = Math.max(px(2.5), 0.15);
    ctx.strokeRect(sel.x - half - 0.2, sel.y - half - 0.2, c + 0.4, c + 0.4);
  }
}

/** The slot under a site point, or null. */
export function slotAt(layer, x, y) {
  if (!layer) return null;
  const half = layer.cell / 2 + 0.1;
  let best = null, bestD = Infinity;
  for (const s of layer.slots.values()) {
    for (const p of s.positions) { // an upper-tier coil sits between its slot and the next
      if (p.kind === 'upper' && Math.hypot(p.x - x, p.y - y) < layer.cell * 0.3) return s;
    }
    const dx = Math.abs(s.x - x), dy = Math.abs(s.y - y);
    if (dx <= half && dy <= half && dx + dy < bestD) { best = s; bestD = dx + dy; }
  }
  return best;
}
