// The page's start: login, load the site, open the live channels, wire the views.

import { api, hasToken, openEvents, openPoses, setToken, whenUnauthorized } from './api.js';
import { initialLang, onLangChange, setLang, t, tOr } from './i18n.js';
import { AlarmsView } from './alarms.js';
import { InventoryView } from './inventory.js';
import { KpiView } from './kpis.js';
import { MachinesView, renderDetail } from './machines.js';
import { SiteMap } from './map.js';
import { OrdersView } from './orders.js';
import { MODES, MODE_COLOURS, SiteState } from './store.js';
import { act, applyRole, confirmAction, failed, h, permissionsOf, raw } from './ui.js';

// SSE event names the core emits (fleet/core/core.py); unnamed events arrive as 'message'.
const EVENT_TYPES = ['machine.state', 'order.state', 'leg.state', 'alarm.raised', 'alarm.acknowledged',
  'alarm.cleared', 'zone.state',
  // the inventory's own events (fleet/inventory/service.py), where the service forwards them
  'inventory.stored', 'inventory.moved', 'inventory.removed', 'tally.recorded', 'tally.alarm', 'tally.alarm_resolved'];

const state = new SiteState();
const $ = (id) => document.getElementById(id);
let view = 'map';
let map, orders, machines, alarms, kpis, inventory;
let channels = [];
const link = { events: false, poses: false, lastPose: 0 };

function showView(name) {
  view = name;
  for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.view === name);
  for (const s of document.querySelectorAll('.view')) s.classList.toggle('active', s.id === `view-${name}`);
  if (name === 'orders') orders.refresh();
  if (name === 'machines') machines.render();
  if (name === 'alarms') alarms.refresh();
  if (name === 'kpis') kpis.refresh();
  inventory.show(name === 'inventory');
  if (name === 'map') map.resize();
}

function renderLegend() {
  $('legend').replaceChildren(...MODES.map((m) => h('li', {}, h('i', { style: `background:${MODE_COLOURS[m]}` }), t(`mode.${m}`))));
}

function renderLink() {
  const el = $('link-state');
  const up = link.events && (link.poses || performance.now() - link.lastPose < 3000);
  el.className = `link-state ${up ? 'up' : 'down'}`;
  el.textContent = t(up ? 'link.live' : 'link.down');
}

/** The map's side panel: the selected machine, or a clicked zone. */
function renderSelection() {
  const box = $('map-selection');
  if (map.selected) renderDetail(box, state.machines.get(map.selected), state);
  else if (!box.dataset.zone) renderDetail(box, null, state);
}

function renderZones() {
  const rows = [...state.zones.values()].map((z) => h('tr', { 'data-zone': z.id },
    h('td', {}, raw(z.name || z.id)), h('td', { text: tOr(`zone.kind.${z.kind}`, z.kind) }),
    h('td', { class: z.closed ? 'zone-closed' : '', text: t(z.closed ? 'zone.closed' : 'zone.open') }),
    h('td', {}, h('button', { type: 'button', 'data-act': 'zones:control', 'data-action': z.closed ? 'open' : 'close',
      text: t(z.closed ? 'zone.do_open' : 'zone.do_close'), onclick: () => toggleZone(z.id) }))));
  $('zone-list').replaceChildren(...rows);
  applyRole(state.perms, $('zone-list'));
}

async function toggleZone(id) {
  const z = state.zones.get(id);
  if (!z) return;
  const closing = !z.closed;
  if (!(await confirmAction(t(closing ? 'zone.confirm_close' : 'zone.confirm_open', { id: z.name || z.id })))) return;
  const out = await act(api.setZone(id, closing), closing ? 'zone.closed_done' : 'zone.opened_done', { id: z.name || z.id });
  if (out !== undefined) {
    if (out && typeof out === 'object' && 'closed' in out) state.zoneClosed(id, Boolean(out.closed));
    else state.zoneClosed(id, closing);
  }
}

function handleEvent(type, data) {
  const kind = String(type).split('.')[0];
  const body = data.data || data.payload || data;
  if (kind === 'vehicle' || kind === 'crane' || kind === 'machine') {
    const m = body.vehicle || body.crane || body.machine || body;
    state.upsertMachine(m, kind === 'crane' ? 'crane' : (m.kind || undefined));
  } else if (kind === 'order' || kind === 'leg') {
    orders.soon();
    // a leg loaded (picked: its tally) or done (dropped: the load moved in the inventory)
    if (kind === 'leg' && ['loaded', 'done'].includes(body.state) && (inventory.shown || map.showSlots)) inventory.soon();
  } else if (kind === 'alarm') {
    alarms.refresh();
    if (inventory.shown) inventory.soon(); // a tally mismatch names the inventory's own alarm
  } else if (kind === 'inventory' || kind === 'tally') {
    inventory.soon();
  } else if (kind === 'zone') {
    const z = body.zone || body;
    const id = z.zone_id ?? z.id;
    if (id !== undefined && 'closed' in z) state.zoneClosed(id, Boolean(z.closed));
  }
}

async function loadMachines() {
  const [vehicles, cranes] = await Promise.all([api.vehicles().catch(() => []), api.cranes().catch(() => [])]);
  for (const v of vehicles) state.upsertMachine(v, 'agv');
  for (const c of cranes) state.upsertMachine(c, 'crane');
}

async function start(user) {
  state.role = user.role;
  state.perms = permissionsOf(user.role, user.permissions);
  state.user = user.username;
  document.body.classList.remove('logged-out');
  document.body.classList.toggle('role-viewer', user.role === 'viewer');
  $('user-name').textContent = user.username || '';
  $('user-role').textContent = tOr(`role.${user.role}`, user.role);
  $('user-role').dataset.role = user.role;
  applyRole(state.perms);
  let site;
  try {
    site = await api.site();
  } catch (err) {
    failed(err);
    return;
  }
  state.site = site;
  $('site-name').textContent = site.name || '';
  map.setSite(site);
  orders.setSite(site);
  inventory.setSite(site);
  const closedNow = site.closed_zones ? new Set(site.closed_zones) : null;
  state.setZones((site.zones || []).map((z) => ({ ...z, closed: closedNow ? closedNow.has(z.id) : Boolean(z.closed ?? z.closed_at_start) })));
  try {
    state.setZones(await api.zones());
  } catch {
    /* the site's own zone list is enough to draw */
  }
  await loadMachines();
  for (const c of channels) c.close();
  channels = [
    openEvents(handleEvent, (up) => { link.events = up; renderLink(); }, EVENT_TYPES),
    openPoses((frame) => { link.lastPose = performance.now(); state.applyPoseFrame(frame); },
      (up) => { link.poses = up; renderLink(); }),
  ];
  alarms.refresh();
  orders.refresh();
  kpis.refresh();
  if (view === 'inventory') inventory.show(true);
}

async function login(e) {
  e.preventDefault();
  const f = Object.fromEntries(new FormData(e.target));
  $('login-error').classList.add('hidden');
  try {
    const out = await api.login(f.username, f.password);
    setToken(out.token || out.access_token);
    const me = await api.me().catch(() => ({}));
    await start({ username: me.name || f.username, role: me.role || out.role, permissions: me.permissions });
  } catch (err) {
    $('login-error').textContent = t(err.status === 401 ? 'login.failed' : 'error.generic');
    $('login-error').classList.remove('hidden');
  }
}

function logout() {
  setToken(null);
  for (const c of channels) c.close();
  channels = [];
  document.body.classList.add('logged-out');
}

async function main() {
  await setLang(initialLang());
  $('lang').value = document.documentElement.lang;
  map = new SiteMap($('map'), state);
  orders = new OrdersView(state, map);
  machines = new MachinesView(state, (id) => { map.select(id); });
  alarms = new AlarmsView(state, () => showView('alarms'));
  kpis = new KpiView(state);
  inventory = new InventoryView(state, map);
  map.onSelect = (id) => {
    delete $('map-selection').dataset.zone;
    machines.select(id);
    renderSelection();
    const m = id && state.machines.get(id);
    if (m) api.machine(m.kind, m.id).then((full) => state.upsertMachine(full, m.kind)).catch(() => {});
  };
  map.onZoneClick = (id) => toggleZone(id);
  state.on('zones', renderZones);
  renderLegend();
  onLangChange(() => {
    renderLegend();
    renderZones();
    renderLink();
    $('map-selection')._sig = null;
    $('machine-detail')._sig = null;
    renderSelection();
    if (state.role) $('user-role').textContent = tOr(`role.${state.role}`, state.role);
    if (view === 'orders') orders.render();
    if (view === 'machines') machines.render();
    alarms.render();
    inventory.render();
    kpis.refresh();
    applyRole(state.perms);
  });
  $('lang').addEventListener('change', (e) => setLang(e.target.value));
  for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => showView(b.dataset.view));
  $('map-fit').addEventListener('click', () => map.fit());
  $('map-follow').addEventListener('change', (e) => { map.follow = e.target.checked; });
  $('map-labels').addEventListener('change', (e) => { map.labels = e.target.checked; });
  $('map-slots').addEventListener('change', (e) => {
    map.showSlots = e.target.checked;
    if (map.showSlots) inventory.refresh();
  });
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', logout);
  $('estop-all').addEventListener('click', async () => {
    if (await confirmAction(t('machine.confirm_estop_all', { n: state.machines.size }))) {
      await act(api.estopAll(), 'machine.estop_all_done');
    }
  });
  whenUnauthorized(logout);

  setInterval(() => { if (view === 'map') renderSelection(); }, 250);
  setInterval(async () => { // the selected machine's planned path and details (not on the pose channel)
    const m = map.selected && state.machines.get(map.selected);
    if (!m || document.body.classList.contains('logged-out')) return;
    try {
      state.upsertMachine(await api.machine(m.kind, m.id), m.kind);
    } catch {
      /* it is drawn from the live channel meanwhile */
    }
  }, 1000);
  setInterval(() => { if (view === 'machines') machines.render(); }, 1000);
  setInterval(() => {
    alarms.refresh();
    if (view === 'orders') orders.refresh();
    if (view === 'kpis') kpis.refresh();
    if (view === 'inventory' || map.showSlots) inventory.refresh();
  }, 5000);
  setInterval(async () => { // without a pose channel, poll the machines list
    renderLink();
    if (document.body.classList.contains('logged-out')) return;
    if (!link.poses && performance.now() - link.lastPose > 3000) await loadMachines().catch(() => {});
  }, 1000);

  if (hasToken()) {
    try {
      const me = await api.me();
      await start({ username: me.name ?? me.username, role: me.role, permissions: me.permissions });
    } catch {
      logout();
    }
  }
  window.__fleet = { state, map, inventory, ready: true }; // tests and the browser benchmark read this
}


main();
