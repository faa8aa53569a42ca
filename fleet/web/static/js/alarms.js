// Alarms: active and past, acknowledged by a dispatcher; a new critical alarm blinks a
// banner and, when the dispatcher switched sound on, beeps.

import { api } from './api.js';
import { formatTime, t, tOr } from './i18n.js';
import { act, applyRole, h, raw } from './ui.js';

function isAcked(a) {
  return Boolean(a.acknowledged_s || a.acknowledged_by || a.acked);
}

/** Active until a dispatcher acknowledged it (and, where the server says so, until it cleared). */
export function isActive(a) {
  if (a.active !== undefined) return Boolean(a.active) || !isAcked(a);
  return !isAcked(a) || !(a.cleared_s ?? true);
}

export class AlarmsView {
  constructor(state, onShow) {
    this.state = state;
    this.seen = new Set();
    this.loaded = false;
    this.active = document.getElementById('alarm-active');
    this.past = document.getElementById('alarm-past');
    this.banner = document.getElementById('critical-banner');
    document.getElementById('critical-show').addEventListener('click', () => {
      this.banner.classList.add('hidden');
      onShow();
    });
  }

  async refresh() {
    try {
      this.state.alarms = await api.alarms();
    } catch {
      return;
    }
    const fresh = this.state.alarms.filter((a) => !this.seen.has(a.id));
    for (const a of this.state.alarms) this.seen.add(a.id);
    const critical = fresh.filter((a) => a.severity === 'critical' && isActive(a) && !isAcked(a));
    if (this.loaded && critical.length) this.alert(critical[critical.length - 1]);
    this.loaded = true;
    this.render();
  }

  alert(alarm) {
    document.getElementById('critical-text').replaceChildren(
      h('span', { text: tOr(`alarm.kind.${alarm.kind}`, alarm.kind) }), raw(` ${alarm.machine_id || alarm.order_id || ''}`));
    this.banner.classList.remove('hidden');
    if (document.getElementById('sound-on').checked) this.beep();
  }

  beep() {
    try {
      const ctx = (this.audio ||= new AudioContext());
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.2, ctx.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.6);
      osc.connect(gain).connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.6);
    } catch {
      /* no audio device: the banner is the cue */
    }
  }

  render() {
    const active = document.createDocumentFragment(), past = document.createDocumentFragment();
    const list = [...this.state.alarms].sort((a, b) => (b.raised_s ?? 0) - (a.raised_s ?? 0));
    let unacked = 0;
    for (const a of list) {
      const live = isActive(a);
      if (live && !isAcked(a)) unacked += 1;
      const cells = [
        h('td', {}, raw(formatTime(a.raised_s ?? a.t))),
        h('td', { class: `sev-${a.severity}`, text: tOr(`alarm.severity.${a.severity}`, a.severity) }),
        h('td', { text: tOr(`alarm.kind.${a.kind}`, a.kind) }),
        h('td', {}, raw(a.machine_id || a.order_id || a.zone_id || '–')),
        h('td', {}, raw(a.message || '')),
      ];
      if (live) {
        cells.push(h('td', {}, isAcked(a)
          ? h('span', { class: 'muted', text: t('alarm.acked') })
          : h('button', { type: 'button', 'data-act': 'alarms:ack', 'data-action': 'ack', text: t('alarm.ack'),
            onclick: async () => {
              if (await act(api.ackAlarm(a.id), 'alarm.acked') !== undefined) this.refresh();
            } })));
        active.append(h('tr', { 'data-id': a.id, 'data-kind': a.kind, 'data-machine': a.machine_id || '' }, ...cells));
      } else {
        cells.push(h('td', {}, raw(a.acknowledged_by || a.acked_by || '–')));
        past.append(h('tr', { 'data-id': a.id, 'data-kind': a.kind, 'data-machine': a.machine_id || '' }, ...cells));
      }
    }
    this.active.replaceChildren(active);
    this.past.replaceChildren(past);
    document.getElementById('alarm-none').classList.toggle('hidden', this.active.children.length > 0);
    const badge = document.getElementById('alarm-badge');
    badge.textContent = String(unacked);
    badge.classList.toggle('hidden', unacked === 0);
    applyRole(this.state.perms, this.active);
  }
}
