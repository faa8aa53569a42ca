// The page's picture of the site: machines (with what the map needs to move them
// smoothly), orders, alarms and zones. Views read it; api streams write it.

export const MODES = ['working', 'idle', 'charging', 'paused', 'manual', 'fault', 'offline', 'estopped', 'out_of_service'];

export const MODE_COLOURS = {
  working: '#2e9e44',
  idle: '#7a8ca3',
  charging: '#e0a800',
  paused: '#1e88e5',
  manual: '#8e24aa',
  fault: '#ef6c00',
  offline: '#424242',
  estopped: '#d50000',
  out_of_service: '#a1887f',
};

/** The colour class of a machine: what a dispatcher needs to see first. */
export function status(m) {
  if (m.mode === 'estopped' || m.mode === 'e_stopped') return 'estopped';
  if (m.mode === 'offline' || m.link_ok === false) return 'offline';
  if (m.mode === 'fault') return 'fault';
  if (m.charging) return 'charging';
  if (m.mode === 'paused') return 'paused';
  if (m.mode === 'out_of_service') return 'out_of_service';
  if (m.mode === 'manual') return 'manual';
  return m.leg_id || m.order_id ? 'working' : 'idle';
}

const FIELD_ALIASES = {
  theta: 'heading', th: 'heading', heading_rad: 'heading', load: 'load_id', planned_path: 'path', latency_ms: 'link_latency_ms', sigma: 'sigma_m',
};

export class SiteState {
  constructor() {
    this.site = null;
    this.machines = new Map();
    this.zones = new Map();
    this.orders = [];
    this.alarms = [];
    this.role = 'viewer';
    this.perms = new Set();
    this.stats = { frameMs: [], latencyMs: [], poseFrames: 0 };
    this.listeners = {};
  }

  on(topic, fn) {
    (this.listeners[topic] ||= []).push(fn);
  }

  emit(topic, data) {
    for (const fn of this.listeners[topic] || []) fn(data);
  }

  /** Merge one machine's fields (from a list, an event or a pose frame). */
  upsertMachine(raw, kind, now = performance.now(), sentMs = null) {
    const id = raw.id ?? raw.machine_id ?? raw.vehicle_id ?? raw.crane_id;
    if (id === undefined || id === null) return null;
    let m = this.machines.get(id);
    if (!m) {
      m = { id: String(id), kind: kind || raw.kind || (raw.bay ? 'crane' : 'agv'), x: 0, y: 0, heading: 0 };
      m.disp = null;
      this.machines.set(m.id, m);
    }
    const prev = m.disp ? this.displayed(m, now) : null;
    for (const [k, v] of Object.entries(raw)) {
      if (k === 'id' || k === 'disp') continue;
      m[FIELD_ALIASES[k] || k] = v;
    }
    if (raw.kind) m.kind = raw.kind;
    if (m.kind === 'vehicle') m.kind = 'agv';
    const target = this.poseOf(m);
    if (target) {
      if (!prev) {
        m.disp = { from: target, to: target, t0: now, dur: 1, last: now };
      } else if (target.some((v, i) => v !== m.disp.to[i])) {
        const gap = now - m.disp.last;
        m.disp = { from: prev, to: target, t0: now, dur: Math.min(Math.max(gap, 40), 400), last: now };
      }
      if (sentMs !== null) m.disp.sentMs = sentMs;
    }
    return m;
  }

  /** [x, y, heading] of an AGV, [bridge, trolley, 0] of a crane; null when unknown. */
  poseOf(m) {
    if (m.kind === 'crane') {
      if (m.bridge_m === undefined || m.bridge_m === null) return null;
      return [Number(m.bridge_m), Number(m.trolley_m || 0), 0];
    }
    if (m.x === undefined || m.x === null) return null;
    return [Number(m.x), Number(m.y), Number(m.heading || 0)];
  }

  /** Where the map draws the machine now: between its last two poses. */
  displayed(m, now) {
    const d = m.disp;
    if (!d) return null;
    const a = Math.min(1, Math.max(0, (now - d.t0) / d.dur));
    let dh = d.to[2] - d.from[2];
    if (dh > Math.PI) dh -= 2 * Math.PI;
    if (dh < -Math.PI) dh += 2 * Math.PI;
    return [d.from[0] + (d.to[0] - d.from[0]) * a, d.from[1] + (d.to[1] - d.from[1]) * a, d.from[2] + dh * a];
  }

  /** A pose frame from the live channel: `{t, machines: [{id, x, y, ...}]}` or `{poses: [...]}`. */
  applyPoseFrame(frame) {
    const now = performance.now();
    const list = frame.machines || frame.poses || frame.vehicles || [];
    // When the server stamped the poses (frame `t`, else the newest pose `t`): for event-to-screen latency.
    let stamp = typeof frame.t === 'number' ? frame.t : null;
    if (stamp === null) for (const p of list) if (typeof p.t === 'number' && (stamp === null || p.t > stamp)) stamp = p.t;
    const sentMs = stamp === null ? null : (stamp > 1e12 ? stamp : stamp * 1000);
    for (const entry of list) {
      const raw = Array.isArray(entry)
        ? { id: entry[0], x: entry[1], y: entry[2], heading: entry[3], ...(entry[4] ? { mode: entry[4] } : {}) }
        : entry;
      this.upsertMachine(raw, raw.kind, now, sentMs);
    }
    for (const c of frame.cranes || []) this.upsertMachine(c, 'crane', now, sentMs);
    this.stats.poseFrames += 1;
    this.lastPose = { receivedMs: performance.timeOrigin + now, sentMs, drawn: false };
  }

  setZones(list) {
    for (const z of list) {
      const id = z.id ?? z.zone_id;
      const old = this.zones.get(id) || {};
      this.zones.set(id, { ...old, ...z, id });
    }
    this.emit('zones');
  }

  zoneClosed(id, closed) {
    const z = this.zones.get(id);
    if (z) {
      z.closed = closed;
      this.emit('zones');
    }
  }
}
