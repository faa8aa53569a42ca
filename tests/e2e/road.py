"""The whole road under test: a real service, a plant on one transport, a WMS, observers.

`drive(...)` starts the service exactly as the demo does (SQLite, the vehicle bus, the
REST API on a loopback port), the plant behind the bus (`fleet.plant`), a webhook
receiver (a real HTTP server checking the HMAC signature) and an SSE client, then
plays a WMS: it submits orders over the REST API (with retried duplicates, a
cancellation and a priority change), waits until every order has ended, and returns
everything the checks need in a `RoadReport`. Nothing here decides pass or fail.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from fleet.events.webhooks import verify
from tests.e2e.demo_process import wait_for as _wait

TERMINAL = {"done", "cancelled", "failed"}
DISPATCH_BUDGET_S = 1.0  # lockstep: the dispatcher's per-round budget (wall seconds)
DISPATCH_PERIOD_S = 5.0  # lockstep: a dispatch round this often in simulated time (and 1 s after an event)


# --------------------------------------------------------------------------- observers


class WebhookReceiver:
    """What a WMS runs to hear back: POSTs checked against the shared secret."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.events: dict[int, dict[str, Any]] = {}
        self.deliveries = 0
        self.bad_signatures = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ok = verify(receiver.secret, self.headers.get("X-Fleet-Signature", ""), body)
                with receiver.lock:
                    receiver.deliveries += 1
                    if ok:
                        ev = json.loads(body)
                        receiver.events[int(ev["id"])] = ev
                    else:
                        receiver.bad_signatures += 1
                self.send_response(204 if ok else 401)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/fleet-events"
        self._thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def order_events(self) -> dict[int, dict[str, Any]]:
        with self.lock:
            return {i: e for i, e in self.events.items() if e["type"] == "order.state"}


class SseClient:
    """A dashboard's view: `/api/v1/events` read live, resumed with Last-Event-ID if cut."""

    def __init__(self, base_url: str, token: str, types: str = "order.") -> None:
        self.base_url = base_url
        self.token = token
        self.types = types
        self.events: dict[int, dict[str, Any]] = {}
        self.connects = 0
        self.connected = threading.Event()
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._last_id: int | None = None
        self._thread = threading.Thread(target=self._run, name="sse-client", daemon=True)

    def start(self) -> SseClient:
        self._thread.start()
        if not self.connected.wait(10):
            raise RuntimeError("the SSE stream did not open within 10 s")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
            if self._last_id is not None:
                headers["Last-Event-ID"] = str(self._last_id)
            try:
                with httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(5.0, read=30.0)) as client, \
                        client.stream("GET", "/api/v1/events", params={"types": self.types}, headers=headers) as resp:
                    resp.raise_for_status()
                    self.connects += 1
                    self._read(resp)
            except httpx.HTTPError:
                if not self._stop.is_set():
                    time.sleep(0.2)

    def _read(self, resp: httpx.Response) -> None:
        data: list[str] = []
        ev_id: str | None = None
        for line in resp.iter_lines():
            if self._stop.is_set():
                return
            if line.startswith("retry:") or line.startswith(":"):
                self.connected.set()
            if line.startswith("id:"):
                ev_id = line[3:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and data:
                ev = json.loads("\n".join(data))
                eid = int(ev.get("id", ev_id or -1))
                with self.lock:
                    self.events[eid] = ev
                self._last_id = eid
                data, ev_id = [], None

    def order_events(self) -> dict[int, dict[str, Any]]:
        with self.lock:
            return {i: e for i, e in self.events.items() if e["type"] == "order.state"}


def replay_events(base_url: str, token: str, types: str = "order.", after: int = 0,
                  idle_s: float = 1.5) -> dict[int, dict[str, Any]]:
    """Every stored event since `after`, read back through SSE resume (the store's truth)."""
    out: dict[int, dict[str, Any]] = {}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, timeout=httpx.Timeout(5.0, read=idle_s)) as client, \
            contextlib.suppress(httpx.ReadTimeout), client.stream(
                "GET", "/api/v1/events", params={"types": types, "last_event_id": after}, headers=headers) as resp:
        data: list[str] = []
        for line in resp.iter_lines():
            if line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and data:
                ev = json.loads("\n".join(data))
                out[int(ev["id"])] = ev
                data = []
    return out


# --------------------------------------------------------------------------- the WMS's orders


@dataclass
class OrderPlan:
    """The orders a WMS will send, each with what kind of road it takes."""

    bodies: list[dict[str, Any]]
    kinds: dict[str, str]  # client id -> agv | coil-out | coil-in | crane


def plan_orders(site: Any, n: int, seed: int = 5, prefix: str = "wms") -> OrderPlan:
    """`n` orders on the coil yard: coils slot -> dock (crane, handoff, AGV), mill -> slot
    (AGV, handoff, crane), mill -> dock (AGV only), and one in twenty slot -> next slot
    (crane only; a shuffle far along the runway is refused: no one crane reaches both ends). A crane lift takes about six minutes (a 0.15 m/s hoist), so the two cranes
    get a share of the orders they can finish within a short shift."""
    rng = np.random.default_rng(seed)
    slots = [s.id for b in site.crane_bays for s in b.slots]
    mills = [s.id for s in site.stations if s.kind.value == "pickup"]
    docks = [s.id for s in site.stations if s.kind.value == "drop"]
    kinds_cycle = ["coil-out", *["agv"] * 6, "coil-in", *["agv"] * 5, "crane", "coil-out", *["agv"] * 5]
    bodies, kinds = [], {}
    for k in range(n):
        kind = kinds_cycle[k % len(kinds_cycle)]
        if kind == "coil-out":
            src, dst = str(rng.choice(slots)), str(rng.choice(docks))
        elif kind == "coil-in":
            src, dst = str(rng.choice(mills)), str(rng.choice(slots))
        elif kind == "agv":
            src, dst = str(rng.choice(mills)), str(rng.choice(docks))
        else:  # a shuffle to the next slot: one crane reaches both ends of it
            k_src = int(rng.integers(0, len(slots) - 1))
            src, dst = slots[k_src], slots[k_src + 1]
        cid = f"{prefix}-{k + 1:04d}"
        bodies.append({"client_id": cid, "source": src, "destination": dst, "load_type": "coil",
                       "weight_kg": round(float(rng.uniform(8000, 25000)), 1), "priority": 5})
        kinds[cid] = kind
    return OrderPlan(bodies, kinds)


# --------------------------------------------------------------------------- the run


@dataclass
class RoadReport:
    transport: str
    plan: OrderPlan
    ids: dict[str, str]  # client id -> order id (from the first 201)
    replays: list[tuple[str, int, str, str]]  # (client id, status, order id, Idempotent-Replay header)
    conflict_status: int  # a retry with the same client id and another body
    cancelled: str  # client id
    cancel_status: int
    reprioritised: str
    priority_status: int
    final: dict[str, dict[str, Any]]  # client id -> order (GET) at the end
    per_client_total: dict[str, int]  # client id -> how many orders the store has for it
    timelines: dict[str, list[dict[str, Any]]]  # client id -> timeline, for a sample
    stored: dict[int, dict[str, Any]]  # every order.state event in the store
    sse: dict[int, dict[str, Any]]
    webhook: dict[int, dict[str, Any]]
    webhook_bad_signatures: int
    safety: dict[str, int]
    safety_events: list[dict[str, Any]]
    wire: dict[str, Any] | None
    wall_s: float
    finished: bool
    machine_kinds: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _settings(tmp: Path, endpoint: str, scenario: Any, speed: float, lockstep: bool) -> Any:
    from fleet.config import load_settings
    from fleet.plant import free_port

    return load_settings(
        db_url=f"sqlite:///{tmp / 'road.db'}", sqlite_sync="NORMAL", site=str(scenario.site.file),
        host="127.0.0.1", port=free_port(), bus_endpoint=endpoint, demo_users=True, log_json=False,
        log_level="WARNING", vehicles=[a.id for a in scenario.agvs], rate_limit_per_s=0.0,
        tick_period_s=max(0.03, 0.5 / speed), dispatch_period_s=max(0.2, 5.0 / speed),
        link_timeout_s=3 * scenario.idle_state_period_s if lockstep else max(5.0, 3 * scenario.idle_state_period_s / speed),
        webhook_backoff_s=0.05, webhook_backoff_max_s=0.5, webhook_max_attempts=1000,
    )


STALL_S = 300.0  # wall seconds without an order ending: stuck (in lockstep about 3 simulated hours)


def drive(tmp: Path, transport: str, *, n_orders: int = 200, speed: float = 40.0, timeout_s: float = 150.0,
          mqtt: tuple[str, int] | None = None, site: str = "coil_yard", lockstep: bool = False,
          report_period_s: float | None = None) -> RoadReport:
    """Run the whole road once; see the module docstring. `lockstep`: the core unthreaded
    on a simulated clock, stepped with the simulator (`fleet.plant.Lockstep`); else the
    wall clock with the machines `speed` times faster than real."""
    from fleet.api.service import Service
    from fleet.clock import SimClock
    from fleet.demo import vehicles_of
    from fleet.plant import Lockstep, Plant, PlantOptions, calm, free_port
    from fleet.security.accounts import ensure_demo_users
    from sim.scenario import load_scenario, resolve_scenario

    t0 = time.monotonic()
    t_sim0 = time.time()
    scenario = calm(load_scenario(resolve_scenario(site)))
    endpoint = (f"tcp://127.0.0.1:{free_port()}" if transport == "tcp"
                else f"inproc://road-{transport}-{secrets.token_hex(4)}")
    clock = SimClock(time.time()) if lockstep else None
    dispatcher = None
    if lockstep:  # rounds cost wall time the simulated clock does not see: keep them short
        from fleet.core.site_dispatch import SiteDispatcher

        dispatcher = SiteDispatcher(scenario.site, budget_s=DISPATCH_BUDGET_S)
    service = Service(_settings(tmp, endpoint, scenario, speed, lockstep), site=scenario.site,
                      machines=vehicles_of(scenario), clock=clock, dispatcher=dispatcher)
    if lockstep:
        service.core.threaded = False  # the lockstep thread runs it
    logins = ensure_demo_users(service.accounts)
    token = logins["wms_token"]
    service.start()
    deadline = time.monotonic() + 15
    while not (service.core.leader and service.core.ready) and time.monotonic() < deadline:
        time.sleep(0.02)
    service.serve_in_thread()
    base = service.url
    headers = {"Authorization": f"Bearer {token}"}
    receiver = WebhookReceiver(secrets.token_hex(16)).start()
    sse: SseClient | None = None
    plant = Plant(scenario, PlantOptions(transport=transport, speed=speed, endpoint=endpoint, workdir=tmp / "plant",
                                         watch_safety=True, calm=True, mqtt=mqtt, lockstep=lockstep,
                                         report_period_s=PlantOptions.report_period_s if report_period_s is None
                                         else report_period_s))
    stepper: Any = None
    client = httpx.Client(base_url=base, headers=headers, timeout=30.0)
    notes: list[str] = []
    finished = False
    try:
        r = client.post("/api/v1/webhooks", json={"url": receiver.url, "secret": receiver.secret,
                                                  "event_types": ["order."]})
        r.raise_for_status()
        sse = SseClient(base, token).start()
        first_event = service.core.bus.last_id
        plant.start()
        if lockstep:
            stepper = Lockstep(service.core, service.hub, plant, clock, dt_s=scenario.dt_s,
                               plan_period_s=scenario.plan_period_s,
                               dispatch_period_s=DISPATCH_PERIOD_S, dispatch_min_gap_s=1.0).start()
        machines = [m["machine_id"] for m in client.get("/api/v1/vehicles").json()] + \
                   [m["machine_id"] for m in client.get("/api/v1/cranes").json()]
        _wait(lambda: all(m["link_ok"] for kind in ("vehicles", "cranes")
                          for m in client.get(f"/api/v1/{kind}").json()), 30)
        plan = plan_orders(scenario.site, n_orders)
        ids, replays, refused, busy = _submit(client, plan)
        notes.extend(f"refused at submission: {x}" for x in refused[:5])
        notes.extend(f"busy at submission (retried): {x}" for x in busy[:3])
        conflict = dict(plan.bodies[0], weight_kg=plan.bodies[0]["weight_kg"] + 1.0)
        conflict_status = client.post("/api/v1/orders", json=conflict).status_code
        cancelled = plan.bodies[-1]["client_id"]
        cancel_status = client.post(f"/api/v1/orders/{ids[cancelled]}/cancel",
                                    json={"reason": "the WMS changed its mind"}).status_code
        reprioritised = plan.bodies[-2]["client_id"]
        priority_status = client.post(f"/api/v1/orders/{ids[reprioritised]}/priority",
                                      json={"priority": 9}).status_code
        finished, waited = _until_all_ended(client, timeout_s)
        if not finished:
            notes.append(f"still open after {waited:.0f} s: {_open_summary(client)}")
            notes.extend(_stuck(client, service.core, plant))
        final, totals, timelines = {}, {}, {}
        for body in plan.bodies:
            cid = body["client_id"]
            page = client.get("/api/v1/orders", params={"client_id": cid}).json()
            totals[cid] = page["total"]
            if page["items"]:
                final[cid] = page["items"][0]
        for cid in [b["client_id"] for b in plan.bodies if plan.kinds[b["client_id"]] != "agv"] + [reprioritised]:
            if cid in ids:
                timelines[cid] = client.get(f"/api/v1/orders/{ids[cid]}/timeline").json()
        stored = {i: e for i, e in replay_events(base, token, after=first_event).items() if e["type"] == "order.state"}
        _wait(lambda: set(stored) <= set(sse.order_events()) and set(stored) <= set(receiver.order_events()), 30,
              step_s=0.2)
        kinds = {m: ("agv" if m in {a.id for a in scenario.agvs} else "crane") for m in machines}
    finally:
        client.close()
        if sse is not None:
            sse.stop()
        if stepper is not None:
            stepper.stop()
            notes.append(f"lockstep: {stepper.steps} steps, {stepper.late_settles} late settles, "
                         f"{clock.now() - t_sim0:.0f} simulated s" if clock else "")
        plant.stop()
        if not finished:
            notes.extend(f"sim {json.dumps(m)}" for m in plant.machines_described())
        receiver.stop()
        service.shutdown_server()
        service.stop()
    return RoadReport(
        transport=transport, plan=plan, ids=ids, replays=replays, conflict_status=conflict_status,
        cancelled=cancelled, cancel_status=cancel_status, reprioritised=reprioritised,
        priority_status=priority_status, final=final, per_client_total=totals, timelines=timelines,
        stored=stored, sse=sse.order_events(), webhook=receiver.order_events(),
        webhook_bad_signatures=receiver.bad_signatures, safety=plant.safety_counts(),
        safety_events=plant.safety_events()[:20], wire=plant.wire.summary() if plant.wire else None,
        wall_s=time.monotonic() - t0, finished=finished, machine_kinds=kinds, notes=notes,
    )


def _submit(client: httpx.Client, plan: OrderPlan) -> tuple[dict[str, str], list[tuple[str, int, str, str]], list[str], list[str]]:
    """POST every order once; every seventh again (a retry after a lost answer), and one
    pair at the same moment from two threads (a retry racing the original)."""
    ids: dict[str, str] = {}
    replays: list[tuple[str, int, str, str]] = []
    refused: list[str] = []
    busy: list[str] = []  # 503 answers retried

    def post(body: dict[str, Any]) -> httpx.Response:
        """As a WMS does: a lost answer or a 503 (busy) is retried with the same client id;
        the order is then created once (201) or found (200, Idempotent-Replay)."""
        for attempt in range(10):
            try:
                r = client.post("/api/v1/orders", json=body)
            except httpx.TransportError:
                time.sleep(0.1 * (attempt + 1))
                continue
            if r.status_code != 503:
                return r
            busy.append(f"{body['client_id']}: {r.json().get('detail', '')}")
            time.sleep(1.0)
        return client.post("/api/v1/orders", json=body)

    race = plan.bodies[len(plan.bodies) // 2]["client_id"]
    for k, body in enumerate(plan.bodies):
        cid = body["client_id"]
        if cid == race:
            with ThreadPoolExecutor(2) as pool:
                a, b = list(pool.map(post, [body, body]))
            first, second = (a, b) if a.status_code == 201 else (b, a)
            if first.status_code == 201:
                ids[cid] = first.json()["id"]
            else:
                refused.append(f"{cid} (racing pair): {a.status_code} {a.text[:200]} / {b.status_code} {b.text[:200]}")
            replays.append((cid, second.status_code, second.json().get("id", ""),
                            second.headers.get("Idempotent-Replay", "")))
            continue
        r = post(body)
        if r.status_code == 201 or (r.status_code == 200 and busy and busy[-1].startswith(f"{cid}:")):
            ids[cid] = r.json()["id"]
        else:
            refused.append(f"{cid}: {r.status_code} {r.text[:200]}")
        if k % 7 == 3:
            again = post(dict(body))
            replays.append((cid, again.status_code, again.json().get("id", ""),
                            again.headers.get("Idempotent-Replay", "")))
    return ids, replays, refused, busy


def _until_all_ended(client: httpx.Client, timeout_s: float, stall_s: float = STALL_S) -> tuple[bool, float]:
    """Wait until no order is open; give up early when none has ended for `stall_s`
    (stuck: say so now, not at the timeout). Returns (all ended, seconds waited)."""
    t0 = time.monotonic()
    last, since = -1, t0
    while (now := time.monotonic()) - t0 < timeout_s:
        try:
            n = _open_count(client)
        except httpx.HTTPError:
            n = last
        if n == 0:
            return True, now - t0
        if n != last:
            last, since = n, now
        elif now - since > stall_s:
            break
        time.sleep(1.0)
    return False, time.monotonic() - t0


def _open_count(client: httpx.Client) -> int:
    states = ["created", "queued", "assigned", "in_progress", "handed_off"]
    return int(client.get("/api/v1/orders", params={"state": states, "limit": 1}).json()["total"])


def _open_summary(client: httpx.Client) -> str:
    page = client.get("/api/v1/orders", params={"limit": 500}).json()
    return str(Counter(o["state"] for o in page["items"]))


def _held_vehicles(lanes: Any, world: Any) -> list[str]:
    """Vehicles held at their goal with an action to run: what the traffic sent and what
    the vehicle (the simulated one, when in this process) has and does."""
    out = []
    ex = lanes.exec
    for mid, v in lanes.vehicles.items():
        if v.held_at < 0 or v.action is None:
            continue
        st = v.last_state
        line = (f"{mid} held: action {v.action.action_id} at entry {v.action_entry} (reached {ex.reached(v.agent)}, "
                f"released {ex.released(v.agent)}, sent {v.sent_released}), resend {v.resend} "
                f"{v.resend_cmd.order_id if v.resend_cmd else ''}, order {v.order_id}/{v.order_update}; reports order "
                f"{st.order_id if st else None} node {st.last_node_id if st else None} seq {st.last_node_sequence_id if st else None} "
                f"actions {[(a.action_id, a.status.value) for a in st.action_states][-3:] if st else None}")
        agvs = getattr(world, "agvs", None)
        if agvs is not None and mid in agvs.index:
            i = agvs.index[mid]
            r = agvs.routes[i]
            line += (f"; sim: order {r.order_id if r else None} at {r.at if r else None}/{len(r.nodes) - 1 if r else None} "
                     f"pending {[a.action_id for a in r.pending] if r else None} running {r.running.action_id if r and r.running else None} "
                     f"paused {bool(agvs.paused[i])} moving {bool(agvs.moving[i])} busy_until {agvs.busy_until[i]:.0f} "
                     f"errors {sorted(agvs.errors[i])} node actions {[a.action_id for a in r.nodes[r.at].actions] if r else None}")
        out.append(line)
    return out


def _stuck(client: httpx.Client, core: Any, plant: Any = None, limit: int = 6) -> list[str]:
    """What the oldest open orders wait for: their legs, and the machines on them; and
    what the dispatcher would decide now."""
    states = ["created", "queued", "assigned", "in_progress", "handed_off"]
    out = []
    machines = {m.id: m for m in core.machines()}
    try:
        snap = core._snapshot()
        d = core.dispatcher.assign(snap)
        out.append(f"dispatch now: {len(snap.legs)} open legs in the window, {len(snap.all_legs)} in all, "
                   f"available {[m.id for m in snap.machines if m.available]}, decides {d}")
    except Exception as exc:  # a diagnosis must not hide the failure it explains
        out.append(f"dispatch probe failed: {exc!r}")
    total = client.get("/api/v1/orders", params={"state": states, "limit": 1}).json()["total"]
    oldest = client.get("/api/v1/orders", params={"state": states, "limit": limit,
                                                  "offset": max(0, total - limit)}).json()["items"]
    for o in reversed(oldest):
        legs = client.get(f"/api/v1/orders/{o['id']}").json().get("leg_details", [])
        parts = []
        for g in legs:
            m = machines.get(g.get("machine_id") or "")
            where = f" at {getattr(m, 'node', None) or getattr(m, 'bridge_m', '?')} mode {m.mode.value}" if m else ""
            parts.append(f"{g.get('kind')} {g.get('source')}->{g.get('destination')} {g.get('state')} "
                         f"on {g.get('machine_id')}{where}")
        out.append(f"{o['client_id']} {o['state']}: " + "; ".join(parts))
    out.append("machines: " + ", ".join(
        f"{m.id} {m.mode.value} leg {m.leg_id}" + (f" battery {m.battery:.2f}" if hasattr(m, "battery") else "")
        + f" pose {core.localization.quality(m.id)}" for m in machines.values()))
    lanes = getattr(core.traffic, "lanes", None)
    if lanes is not None and lanes.exec is not None:
        g, ex = lanes.graph, lanes.exec
        out.append(f"traffic: {lanes.rescues} rescues, {lanes.replans} replans, stalled {lanes.stalled_steps}; " + ", ".join(
            f"{mid} at {g.node_ids[ex.node_at(v.agent, ex.reached(v.agent))]} released to "
            f"{g.node_ids[ex.node_at(v.agent, ex.released(v.agent))]} planned to {g.node_ids[ex.node_at(v.agent, ex.last(v.agent))]}"
            f" goal {g.node_ids[v.goal] if v.goal >= 0 else None} held {g.node_ids[v.held_at] if v.held_at >= 0 else None}"
            f" stopped {v.stopped} job {v.job.leg.id + ':' + v.job.stage.value if v.job else None}"
            f" waits on {[(lanes._by_agent[j], m) for j, m in ex.waiting_on(v.agent)]}"
            for mid, v in lanes.vehicles.items()))
    out.append(f"core: {core.stats}")
    if lanes is not None and lanes.exec is not None:
        out.extend(_held_vehicles(lanes, getattr(plant, "world", None)))
    alarms = client.get("/api/v1/alarms").json()
    out.extend(f"alarm {a.get('kind')} {a.get('machine_id')}: {a.get('message')}" for a in alarms[:8])  # newest first
    return out
