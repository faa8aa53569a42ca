"""A TEST DOUBLE for the core: simple, slow-witted, but correct. Not the product.

The simulator's own tests (and benchmarks, until the real core is wired in) need
something that turns orders into commands. This double does it the plainest safe
way, so that what the tests measure is the simulator:

- dispatch: first come (by priority), nearest idle capable AGV;
- routes: shortest path (Dijkstra on the site lanes) that avoids every node another
  AGV holds, claimed *whole* before the AGV sets off (claims are the nodes within a
  grown footprint of each node and lane of the route) and freed behind it as its
  reported position passes. An AGV never waits holding a partial route, so AGVs can
  be slow but cannot deadlock or collide;
- cranes: each crane of a bay owns a fixed stretch of the runway, kept apart by its
  width and the safety gap, and only serves slots and handoffs in its stretch;
- charging below 35 %, and moving off station nodes when idle.

The real brain is `fleet.core` with dispatch, planners and traffic.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fleet.domain.commands import (
    Action,
    ActionStatus,
    ActionType,
    Command,
    CraneCommand,
    CraneMove,
    CraneMoveKind,
    MachineState,
    MovementCommand,
    RouteEdge,
    RouteNode,
)
from maps.site import Site, StationKind
from sim.agv import AgvSpec

LOW_BATTERY = 0.35
CHARGED = 0.85
RETRY_S = 3.0


@dataclass
class _Leg:
    order_id: str
    kind: str  # agv | crane
    source: str  # node id (agv) or (runway_m, cross_m) key (crane)
    destination: str
    load_type: str
    weight_kg: float
    hazardous: bool
    priority: int
    after: int | None = None  # index of the leg that must be done first
    state: str = "open"  # open | assigned | done
    machine: str | None = None
    src_xy: tuple[float, float] = (0.0, 0.0)
    dst_xy: tuple[float, float] = (0.0, 0.0)


@dataclass
class _Order:
    order_id: str
    legs: list[_Leg]
    state: str = "queued"
    created_s: float = 0.0


@dataclass
class _Agv:
    spec: AgvSpec
    node: str
    seq: int = 0
    battery: float = 1.0
    mode: str = "auto"
    job: _Leg | None = None
    job_kind: str = ""  # leg | charge | park
    route: list[str] = field(default_factory=list)
    steps: list[set[int]] = field(default_factory=list)
    freed_to: int = 0
    order_id: str = ""
    charging: bool = False
    retry_at: float = 0.0
    pending_route: tuple[str, str, list[Action]] | None = None  # (from, to, actions) waiting for claims


@dataclass
class _Crane:
    id: str
    bay: str
    lo: float
    hi: float
    job: _Leg | None = None
    cmd_id: str = ""
    done: bool = False


class ReservationBrainDouble:
    """Implements `sim.runner.Brain`. Single-threaded, deterministic."""

    def __init__(self, site: Site, agvs: list[AgvSpec], cranes: list[str] | None = None) -> None:
        self.site = site
        self.now = 0.0
        nodes = list(site.nodes)
        self.ids = [n.id for n in nodes]
        self.ix = {nid: i for i, nid in enumerate(self.ids)}
        self.xy = np.array([(n.x, n.y) for n in nodes], dtype=float)
        self.adj: list[list[tuple[int, float, str]]] = [[] for _ in nodes]
        for lane in site.lanes:
            if not lane.agv:
                continue
            a, b = self.ix[lane.start], self.ix[lane.end]
            self.adj[a].append((b, lane.length_m, lane.id))
            if lane.two_way:
                self.adj[b].append((a, lane.length_m, lane.id))
        shape = site.vehicle_shape
        self.reach = math.hypot(shape.length_m + 2 * shape.safety_margin_m, shape.width_m + 2 * shape.safety_margin_m)
        self._near_node = [set(np.flatnonzero(np.hypot(*(self.xy - self.xy[i]).T) < self.reach).tolist())
                           for i in range(len(nodes))]
        self._near_edge: dict[tuple[int, int], set[int]] = {}
        self.owner: dict[int, str] = {}
        self.claims: dict[str, Counter[int]] = {}
        self.agvs: dict[str, _Agv] = {a.id: _Agv(a, a.start_node, battery=a.battery) for a in agvs}
        for a in self.agvs.values():
            self.claims[a.spec.id] = Counter()
            self._claim(a, [self._near_node[self.ix[a.node]]])
        self.cranes: dict[str, _Crane] = {}
        allowed = set(cranes) if cranes is not None else None
        for bay in site.crane_bays:
            specs = [c for c in bay.cranes if allowed is None or c.id in allowed]
            n = len(specs)
            length = bay.runway_length_m
            for k, c in enumerate(specs):
                lo = 0.0 if k == 0 else k * length / n + (c.width_m + bay.safety_gap_m) / 2
                hi = length if k == n - 1 else (k + 1) * length / n - (c.width_m + bay.safety_gap_m) / 2
                self.cranes[c.id] = _Crane(c.id, bay.id, lo, hi)
        self.orders: dict[str, _Order] = {}
        self.queue: list[tuple[int, int, str]] = []  # (-priority, n, order id)
        self._n = 0
        self._cmd = 0
        self._updates: list[tuple[str, str, float]] = []
        self._chargers = [s for s in site.stations if s.kind == StationKind.CHARGER]
        self._charger_bad: dict[str, float] = {}  # charger node -> avoid until
        self._station_nodes = {s.node for s in site.stations}
        self._busy_nodes = {s.node for s in site.stations if s.kind != StationKind.PARKING}

    # --- Brain ---------------------------------------------------------------------

    def submit(self, order: dict[str, Any], now_s: float) -> str | None:
        legs = self._legs(order)
        if legs is None:
            return None
        self._n += 1
        oid = f"o{self._n}"
        for leg in legs:
            leg.order_id = oid
        self.orders[oid] = _Order(oid, legs, created_s=now_s)
        heapq.heappush(self.queue, (-int(order.get("priority", 5)), self._n, oid))
        self._updates.append((oid, "queued", now_s))
        return oid

    def known_orders(self) -> set[str]:
        return set(self.orders)

    def order_updates(self) -> list[tuple[str, str, float]]:
        out, self._updates = self._updates, []
        return out

    def on_state(self, st: MachineState) -> None:
        a = self.agvs.get(st.machine_id)
        if a is None:
            self._crane_state(st)
            return
        a.mode = st.mode
        if st.battery is not None:
            a.battery = st.battery
        a.charging = st.charging
        if st.last_node_id and st.order_id == a.order_id:
            a.node = st.last_node_id
            a.seq = st.last_node_sequence_id
            self._free_behind(a, st.last_node_sequence_id // 2)
        elif st.last_node_id and not a.route:
            a.node = st.last_node_id
        if a.job_kind and st.order_id == a.order_id:
            status = {s.action_id: s.status for s in st.action_states}
            done = False
            if a.job_kind == "leg" and a.job is not None:
                if status.get(f"{a.order_id}:pick") == ActionStatus.FINISHED and a.job.state == "assigned":
                    a.job.state = "loaded"
                    self._order_state(a.job.order_id, "in_progress")
                done = status.get(f"{a.order_id}:drop") == ActionStatus.FINISHED
                if done:
                    self._leg_done(a.job)
            elif a.job_kind == "charge":
                result = status.get(f"{a.order_id}:charge")
                done = result in (ActionStatus.FINISHED, ActionStatus.FAILED)
                if result == ActionStatus.FAILED:
                    self._charger_bad[a.node] = self.now + 600.0
            elif a.job_kind == "park":
                done = not st.remaining_node_ids
            if done and not st.remaining_node_ids:
                a.job, a.job_kind = None, ""
                self._free_behind(a, len(a.route) - 1)

    def tick(self, now_s: float) -> list[Command]:
        self.now = now_s
        out: list[Command] = []
        self._dispatch_cranes(out)
        self._dispatch_agvs(out)
        for a in self.agvs.values():
            if a.pending_route is not None and now_s >= a.retry_at:
                self._try_route(a, out)
        return out

    # --- orders into legs ------------------------------------------------------------

    def _place(self, pid: str) -> tuple[str, Any] | None:
        st = self.site.station_by_id.get(pid)
        if st is not None:
            return ("node", st.node)
        slot = self.site.slot_by_id.get(pid)
        if slot is None:
            return None
        if slot.node:
            return ("node", slot.node)
        if slot.bay and slot.runway_m is not None:
            return ("bay", (slot.bay, slot.runway_m, slot.cross_m or 0.0))
        return None

    def _crane_for(self, bay: str, runway_m: float) -> _Crane | None:
        for c in self.cranes.values():
            if c.bay == bay and c.lo <= runway_m <= c.hi:
                return c
        return None

    def _handoff(self, crane: _Crane) -> Any:
        for sid in self.site.bay_by_id[crane.bay].handoffs:
            st = self.site.station_by_id[sid]
            if st.runway_m is not None and crane.lo <= st.runway_m <= crane.hi:
                return st
        return None

    def _legs(self, order: dict[str, Any]) -> list[_Leg] | None:
        try:
            src, dst = self._place(str(order["source"])), self._place(str(order["destination"]))
            load, weight = str(order.get("load_type", "pallet")), float(order.get("weight_kg", 0.0))
            hazardous, prio = bool(order.get("hazardous", False)), int(order.get("priority", 5))
        except (KeyError, TypeError, ValueError):
            return None
        if src is None or dst is None or src == dst:
            return None
        if not any(self._can_carry(a.spec, load, weight, hazardous) for a in self.agvs.values()) and (
                src[0] == "node" or dst[0] == "node"):
            return None

        def agv(a: str, b: str) -> _Leg:
            return _Leg("", "agv", a, b, load, weight, hazardous, prio)

        if src[0] == "node" and dst[0] == "node":
            return [agv(src[1], dst[1])]
        bay_end = src if src[0] == "bay" else dst
        bay, runway_m, cross_m = bay_end[1]
        crane = self._crane_for(bay, runway_m)
        if crane is None:
            return None
        hand = self._handoff(crane)
        if hand is None:
            return None
        key = f"{runway_m}:{cross_m}"
        hand_key = f"{hand.runway_m}:{hand.cross_m or 0.0}"
        if src[0] == "bay" and dst[0] == "bay":
            return None
        if src[0] == "bay":
            c = _Leg("", "crane", key, hand_key, load, weight, hazardous, prio, machine=crane.id)
            return [c, _Leg("", "agv", hand.node, dst[1], load, weight, hazardous, prio, after=0)]
        a_leg = agv(src[1], hand.node)
        return [a_leg, _Leg("", "crane", hand_key, key, load, weight, hazardous, prio, after=0, machine=crane.id)]

    @staticmethod
    def _can_carry(spec: AgvSpec, load: str, weight: float, hazardous: bool) -> bool:
        if weight > spec.payload_kg or (spec.load_types and load not in spec.load_types):
            return False
        return not (hazardous and not spec.hazardous_rated)

    def _order_state(self, oid: str, state: str) -> None:
        o = self.orders[oid]
        if o.state != state:
            o.state = state
            self._updates.append((oid, state, self.now))

    def _leg_done(self, leg: _Leg) -> None:
        leg.state = "done"
        o = self.orders[leg.order_id]
        if all(g.state == "done" for g in o.legs):
            self._order_state(o.order_id, "done")
        else:
            self._order_state(o.order_id, "handed_off")

    def _ready(self, o: _Order, leg: _Leg) -> bool:
        return leg.state == "open" and (leg.after is None or o.legs[leg.after].state == "done")

    # --- AGVs ----------------------------------------------------------------------

    def _dispatch_agvs(self, out: list[Command]) -> None:
        idle = [a for a in self.agvs.values() if not a.job_kind and a.mode == "auto" and a.pending_route is None]
        for a in idle:
            if a.battery < LOW_BATTERY and not a.charging:
                self._send_to_charge(a, out)
            elif a.node in self._busy_nodes and not a.charging and self.now >= a.retry_at:
                self._park(a, out)
        free = [a for a in idle if not a.job_kind and a.pending_route is None
                and (a.battery >= CHARGED or (not a.charging and a.battery >= LOW_BATTERY))]
        if not free:
            return
        keep: list[tuple[int, int, str]] = []
        while self.queue and free:
            item = heapq.heappop(self.queue)
            o = self.orders[item[2]]
            leg = next((g for g in o.legs if g.kind == "agv" and g.state == "open"), None)
            if leg is None:
                continue
            if not self._ready(o, leg):
                keep.append(item)
                continue
            target = self.xy[self.ix[leg.source]]
            capable = [a for a in free if self._can_carry(a.spec, leg.load_type, leg.weight_kg, leg.hazardous)]
            if not capable:
                keep.append(item)
                continue
            a = min(capable, key=lambda v: (float(np.hypot(*(self.xy[self.ix[v.node]] - target))), v.spec.id))
            free.remove(a)
            leg.state, leg.machine = "assigned", a.spec.id
            a.job, a.job_kind = leg, "leg"
            self._order_state(o.order_id, "assigned")
            self._cmd += 1
            a.order_id = f"{o.order_id}-{a.spec.id}-{self._cmd}"
            pick = Action(f"{a.order_id}:pick", ActionType.PICK, params={"load_id": o.order_id})
            drop = Action(f"{a.order_id}:drop", ActionType.DROP)
            a.pending_route = (leg.source, leg.destination, [pick, drop])
            a.retry_at = self.now
            self._try_route(a, out)
        for item in keep:
            heapq.heappush(self.queue, item)

    def _send_to_charge(self, a: _Agv, out: list[Command]) -> None:
        here = self.xy[self.ix[a.node]]
        taken = {b.pending_route[1] for b in self.agvs.values() if b.pending_route}
        taken |= {b.route[-1] for b in self.agvs.values() if b.route and b.job_kind == "charge"}
        for st in sorted(self._chargers, key=lambda s: (float(np.hypot(*(self.xy[self.ix[s.node]] - here))), s.id)):
            owner = self.owner.get(self.ix[st.node])
            if st.node in taken or (owner is not None and owner != a.spec.id):
                continue
            if self._charger_bad.get(st.node, -1.0) > self.now:
                continue
            self._cmd += 1
            a.order_id = f"charge-{a.spec.id}-{self._cmd}"
            a.job_kind = "charge"
            a.job = None
            a.pending_route = (a.node, st.node, [Action(f"{a.order_id}:charge", ActionType.START_CHARGING)])
            a.retry_at = self.now
            self._try_route(a, out)
            return

    def _park(self, a: _Agv, out: list[Command], avoid: set[int] | None = None) -> None:
        """Move off to a quiet node: a parking place, else a dead end, else any free node."""
        here = self.ix[a.node]
        dist = self._dijkstra(here, set())[0]
        avoid = avoid or set()
        parking = {self.ix[s.node] for s in self.site.stations if s.kind == StationKind.PARKING}
        rank = np.where(np.isfinite(dist), dist, np.inf)
        rank = rank + np.array([0.0 if k in parking else (1e4 if len(self.adj[k]) <= 1 else 1e6)
                                for k in range(len(self.ids))])
        for j in np.argsort(rank, kind="stable").tolist():
            if not np.isfinite(dist[j]) or dist[j] < 3.0 or j in avoid:
                continue
            if self.ids[j] in self._station_nodes and j not in parking:
                continue
            if any(self.owner.get(k, a.spec.id) != a.spec.id for k in self._near_node[j]):
                continue
            self._cmd += 1
            a.order_id = f"park-{a.spec.id}-{self._cmd}"
            a.job_kind = "park"
            a.pending_route = (a.node, self.ids[j], [])
            a.retry_at = self.now
            self._try_route(a, out)
            return
        a.retry_at = self.now + 30.0

    def _try_route(self, a: _Agv, out: list[Command]) -> None:
        assert a.pending_route is not None
        frm, to, actions = a.pending_route
        start = self.ix[a.node]
        blocked: set[int] = set()
        for k, v in self.owner.items():
            if v != a.spec.id:
                blocked |= self._near_node[k]
        if len(actions) == 2:  # a leg: drive to the pickup, then to the drop
            p1 = self._path(start, self.ix[frm], blocked)
            p2 = self._path(self.ix[frm], self.ix[to], blocked) if p1 is not None else None
            path = None if p1 is None or p2 is None else p1 + p2[1:]
            marks = {len(p1) - 1: actions[0], len(path) - 1: actions[1]} if path else {}
        else:
            path = self._path(start, self.ix[to], blocked)
            marks = {len(path) - 1: actions[0]} if (path and actions) else {}
        if path is None:
            a.retry_at = self.now + RETRY_S
            self._nudge(a, start, self.ix[frm], self.ix[to], out)
            return
        steps = [self._near_node[path[0]]]
        for u, v in itertools.pairwise(path):
            steps.append(self._near_node[v] | self._edge_near(u, v))
        if any(self.owner.get(k, a.spec.id) != a.spec.id for s in steps for k in s):
            a.retry_at = self.now + RETRY_S
            return
        self._release_all(a)
        a.route = [self.ids[k] for k in path]
        a.freed_to = 0
        self._claim(a, steps)
        a.pending_route = None
        nodes = [RouteNode(self.ids[nid], 2 * k, float(self.xy[nid, 0]), float(self.xy[nid, 1]), True,
                           actions=(marks[k],) if k in marks else ())
                 for k, nid in enumerate(path)]
        if len(path) == 1 and len(actions) == 2:
            nodes = [RouteNode(self.ids[path[0]], 0, float(self.xy[path[0], 0]), float(self.xy[path[0], 1]), True,
                               actions=tuple(actions))]
        edges = [RouteEdge(f"{self.ids[u]}-{self.ids[v]}", 2 * k + 1, self.ids[u], self.ids[v], True)
                 for k, (u, v) in enumerate(itertools.pairwise(path))]
        out.append(MovementCommand(f"cmd-{a.order_id}", a.spec.id, a.order_id, 0, tuple(nodes), tuple(edges),
                                   issued_s=self.now))

    def _nudge(self, a: _Agv, start: int, frm: int, to: int, out: list[Command]) -> None:
        """Ask idle AGVs standing on the free-road route of `a` to move out of its way."""
        p1 = self._path(start, frm, set()) or []
        p2 = self._path(frm, to, set()) or []
        lane: set[int] = set()
        for k in p1 + p2:
            lane |= self._near_node[k]
        for b in self.agvs.values():
            if b is a or b.job_kind or b.pending_route is not None or b.mode != "auto" or b.charging:
                continue
            if self.ix[b.node] in lane and self.now >= b.retry_at:
                self._park(b, out, avoid=lane)

    # --- claims --------------------------------------------------------------------

    def _edge_near(self, u: int, v: int) -> set[int]:
        key = (u, v) if u < v else (v, u)
        hit = self._near_edge.get(key)
        if hit is None:
            p, q = self.xy[key[0]], self.xy[key[1]]
            d = q - p
            L2 = float(d @ d) or 1e-12
            t = np.clip(((self.xy - p) @ d) / L2, 0.0, 1.0)
            dist = np.hypot(*(self.xy - (p + t[:, None] * d)).T)
            hit = set(np.flatnonzero(dist < self.reach).tolist())
            self._near_edge[key] = hit
        return hit

    def _claim(self, a: _Agv, steps: list[set[int]]) -> None:
        c = self.claims[a.spec.id]
        for s in steps:
            for k in s:
                c[k] += 1
                self.owner[k] = a.spec.id
        a.steps = steps

    def _release_all(self, a: _Agv) -> None:
        c = self.claims[a.spec.id]
        for k in c:
            if self.owner.get(k) == a.spec.id:
                del self.owner[k]
        c.clear()

    def _free_behind(self, a: _Agv, reached: int) -> None:
        """Free the steps before `reached` (the index of the node last reported)."""
        c = self.claims[a.spec.id]
        reached = min(reached, len(a.steps) - 1)
        while a.freed_to < reached:
            for k in a.steps[a.freed_to]:
                c[k] -= 1
                if c[k] <= 0:
                    del c[k]
                    if self.owner.get(k) == a.spec.id:
                        del self.owner[k]
            a.freed_to += 1
        if a.freed_to < len(a.steps):
            # the step just reached also covers the lane behind; keep only the node's area
            cur = a.steps[a.freed_to]
            keep = self._near_node[self.ix[a.route[a.freed_to]]] if a.route else cur
            for k in cur - keep:
                c[k] -= 1
                if c[k] <= 0:
                    del c[k]
                    if self.owner.get(k) == a.spec.id:
                        del self.owner[k]
            a.steps[a.freed_to] = set(keep)

    # --- paths ---------------------------------------------------------------------

    def _dijkstra(self, src: int, blocked: set[int], goal: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.ids)
        dist = np.full(n, np.inf)
        prev = np.full(n, -1, dtype=np.int64)
        dist[src] = 0.0
        heap = [(0.0, src)]
        while heap:
            d, u = heapq.heappop(heap)
            if d > dist[u]:
                continue
            if u == goal:
                break
            for v, w, _ in self.adj[u]:
                if v in blocked and v != goal:
                    continue
                nd = d + w
                if nd < dist[v]:
                    dist[v] = nd
                    prev[v] = u
                    heapq.heappush(heap, (nd, v))
        return dist, prev

    def _path(self, src: int, dst: int, blocked: set[int]) -> list[int] | None:
        if src == dst:
            return [src]
        if dst in blocked:
            return None
        dist, prev = self._dijkstra(src, blocked, dst)
        if not np.isfinite(dist[dst]):
            return None
        path = [dst]
        while path[-1] != src:
            path.append(int(prev[path[-1]]))
        path.reverse()
        return path

    # --- cranes --------------------------------------------------------------------

    def _dispatch_cranes(self, out: list[Command]) -> None:
        for c in self.cranes.values():
            if c.job is not None:
                continue
            best = None
            for o in self.orders.values():
                if o.state in ("done", "failed"):
                    continue
                for leg in o.legs:
                    if leg.kind == "crane" and leg.machine == c.id and self._ready(o, leg):
                        if best is None or (-leg.priority, o.created_s) < (-best.priority, self.orders[best.order_id].created_s):
                            best = leg
                        break
            if best is None:
                continue
            c.job, best.state = best, "assigned"
            self._order_state(best.order_id, "assigned" if best.after is None else "in_progress")
            bay = self.site.bay_by_id[c.bay]
            (r1, x1), (r2, x2) = (tuple(map(float, best.source.split(":"))),
                                  tuple(map(float, best.destination.split(":"))))
            top = bay.hook_height_m
            self._cmd += 1
            c.cmd_id = f"crane-{c.id}-{self._cmd}"
            moves = (
                CraneMove(CraneMoveKind.HOIST, top),
                CraneMove(CraneMoveKind.BRIDGE, min(max(r1, c.lo), c.hi)),
                CraneMove(CraneMoveKind.TROLLEY, x1),
                CraneMove(CraneMoveKind.HOIST, 0.0),
                CraneMove(CraneMoveKind.PICK, load_id=best.order_id),
                CraneMove(CraneMoveKind.HOIST, top),
                CraneMove(CraneMoveKind.BRIDGE, min(max(r2, c.lo), c.hi)),
                CraneMove(CraneMoveKind.TROLLEY, x2),
                CraneMove(CraneMoveKind.HOIST, 0.0),
                CraneMove(CraneMoveKind.DROP),
                CraneMove(CraneMoveKind.HOIST, top),
            )
            out.append(CraneCommand(c.cmd_id, c.id, best.order_id, moves, issued_s=self.now))

    def _crane_state(self, st: MachineState) -> None:
        c = self.cranes.get(st.machine_id)
        if c is None or c.job is None:
            return
        last = f"{c.cmd_id}:10"
        for s in st.action_states:
            if s.action_id == last and s.status == ActionStatus.FINISHED:
                self._leg_done(c.job)
                c.job = None
                return
            if s.action_id.startswith(c.cmd_id) and s.status == ActionStatus.FAILED:
                # a crane that failed its command (collision, cancel) is re-sent the leg
                c.job.state = "open"
                c.job = None
                return
