// KPIs: the figures as cards, and their history as uPlot charts (served from the
// service's own copy of the npm package, never from a CDN).

import { api } from './api.js';
import { currentLang, formatDuration, t } from './i18n.js';

const HISTORY = 720; // samples kept in the page (an hour at one per 5 s)

function pick(obj, ...names) {
  for (const n of names) {
    const v = n.split('.').reduce((o, k) => (o === null || o === undefined ? undefined : o[k]), obj);
    if (v !== undefined && v !== null) return Number(v);
  }
  return null;
}

function axisTime(v, withSeconds = true) {
  if (v > 1e9) {
    const opts = { hour12: false, hour: '2-digit', minute: '2-digit', ...(withSeconds ? { second: '2-digit' } : {}) };
    return new Date(v * 1000).toLocaleTimeString(currentLang(), opts);
  }
  const m = Math.floor(v / 60);
  return `${Math.floor(m / 60)}:${String(m % 60).padStart(2, '0')}`;
}

export class KpiView {
  constructor(state) {
    this.state = state;
    this.hist = { t: [], throughput: [], waiting: [], p50: [], p95: [], agv: [], crane: [] };
    this.hourly = null;
    this.charts = {};
    this.lib = null;
    this.libTried = false;
  }

  async loadLib() {
    if (this.libTried) return this.lib;
    this.libTried = true;
    try {
      this.lib = (await import('/ui/lib/uplot/uPlot.esm.js')).default;
    } catch {
      document.getElementById('kpi-nolib').classList.remove('hidden');
    }
    return this.lib;
  }

  async refresh() {
    let k;
    try {
      k = await api.kpis();
    } catch {
      return;
    }
    const now = pick(k, 'at_s', 'now_s') ?? Date.now() / 1000;
    const sample = {
      throughput: pick(k, 'throughput_per_h', 'throughput_per_hour', 'throughput.per_hour'),
      waiting: pick(k, 'waiting', 'orders_waiting'),
      p50: pick(k, 'lead_time_p50_s', 'lead_time_s.p50', 'lead_time.p50_s'),
      p95: pick(k, 'lead_time_p95_s', 'lead_time_s.p95', 'lead_time.p95_s'),
      agv: pick(k, 'utilisation_now.agv', 'utilisation.agv', 'utilisation_agv', 'utilisation_window'),
      crane: pick(k, 'utilisation_now.crane', 'utilisation.crane', 'utilisation_crane'),
    };
    const h = this.hist;
    if (!h.t.length || now > h.t[h.t.length - 1]) {
      h.t.push(now);
      for (const key of Object.keys(sample)) h[key].push(sample[key]);
      if (h.t.length > HISTORY) for (const key of Object.keys(h)) h[key].shift();
    }
    const series = k.series || k.history || {};
    const hourly = series.throughput_hourly || series.throughput_per_hour || k.throughput_hourly;
    if (Array.isArray(hourly) && hourly.length) {
      this.hourly = [hourly.map((p) => Number(p.hour_s ?? p.t ?? p[0])), hourly.map((p) => Number(p.done ?? p.count ?? p.value ?? p[1]))];
    } else if (!this.hourlyAt || now - this.hourlyAt > 30) {
      this.hourlyAt = now;
      await this.hourlyFromOrders(now);
    }
    this.cards(sample);
    await this.draw();
  }

  /** Orders done per clock hour over the last shift, counted from the orders themselves. */
  async hourlyFromOrders(now) {
    let done;
    try {
      done = await api.orders({ state: 'done', created_from: Math.floor(now - 8 * 3600), limit: 500 });
    } catch {
      return;
    }
    const first = Math.floor((now - 7 * 3600) / 3600) * 3600;
    const hours = Array.from({ length: 8 }, (_, i) => first + i * 3600);
    const counts = hours.map(() => 0);
    for (const o of done) {
      const i = Math.floor((Number(o.updated_s) - first) / 3600);
      if (i >= 0 && i < counts.length) counts[i] += 1;
    }
    this.hourly = [hours, counts];
  }

  cards(s) {
    const pct = (v) => (v === null ? '–' : `${Math.round(v * 100)}%`);
    document.getElementById('kpi-throughput').textContent = s.throughput === null ? '–' : s.throughput.toFixed(0);
    document.getElementById('kpi-waiting').textContent = s.waiting === null ? '–' : String(s.waiting);
    document.getElementById('kpi-lead-p50').textContent = formatDuration(s.p50);
    document.getElementById('kpi-lead-p95').textContent = formatDuration(s.p95);
    document.getElementById('kpi-util-agv').textContent = pct(s.agv);
    document.getElementById('kpi-util-crane').textContent = pct(s.crane);
  }

  /** Charts are built lazily (the view must be visible to have a width) and rebuilt on language change. */
  async draw() {
    const uPlot = await this.loadLib();
    if (!uPlot || document.getElementById('view-kpis').offsetParent === null) return;
    const h = this.hist;
    const pctData = (arr) => arr.map((v) => (v === null ? null : v * 100));
    const specs = {
      throughput: this.hourly
        ? { data: this.hourly, hourTicks: true, series: [{ label: t('kpi.series_done'), stroke: '#2e7d32', fill: 'rgba(46,125,50,.35)', paths: uPlot.paths.bars({ size: [0.7, 60] }) }] }
        : { data: [h.t, h.throughput], series: [{ label: t('kpi.series_throughput'), stroke: '#2e7d32' }] },
      waiting: { data: [h.t, h.waiting], series: [{ label: t('kpi.series_waiting'), stroke: '#ef6c00', fill: 'rgba(239,108,0,.12)' }] },
      lead: { data: [h.t, h.p50, h.p95], series: [{ label: t('kpi.series_p50'), stroke: '#1565c0' }, { label: t('kpi.series_p95'), stroke: '#c62828' }] },
      util: { data: [h.t, pctData(h.agv), pctData(h.crane)], series: [{ label: t('kpi.series_agv'), stroke: '#2e9e44' }, { label: t('kpi.series_crane'), stroke: '#6d4c41' }] },
    };
    for (const [name, spec] of Object.entries(specs)) {
      const el = document.getElementById(`chart-${name}`);
      const width = Math.max(300, el.clientWidth || 500);
      const key = `${currentLang()}|${spec.series.length}|${Boolean(this.hourly)}`;
      let chart = this.charts[name];
      if (chart && chart._key !== key) {
        chart.destroy();
        chart = null;
      }
      if (!chart) {
        chart = new uPlot({
          width, height: 220,
          scales: { x: { time: false } },
          series: [{ label: t('kpi.time'), value: (u, v) => (v === null ? '–' : axisTime(v)) }, ...spec.series.map((s) => ({ width: 2, ...s }))],
          axes: [{
            values: (u, splits) => splits.map((v) => axisTime(v, splits[splits.length - 1] - splits[0] < 900)),
            ...(spec.hourTicks ? { splits: (u) => u.data[0] } : {}), // one tick per hour bar
          }, {}],
          legend: { live: true },
        }, spec.data, el);
        chart._key = key;
        this.charts[name] = chart;
      } else {
        chart.setData(spec.data);
        if (Math.abs(chart.width - width) > 4) chart.setSize({ width, height: 220 });
      }
    }
  }
}
