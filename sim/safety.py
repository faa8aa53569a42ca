"""The simulator's independent safety monitor: it reads the true world, never the core.

It flags
- two AGVs whose footprints (`maps.site.VehicleShape`, oriented by heading) overlap:
  a *collision*; footprints grown by the safety margin overlap: a *near miss*, the
  same test `maps.compile` uses to decide which nodes may not be held together;
- cranes of one runway closer than the bay's safety gap (*gap violation*), touching
  (*collision*) or in the wrong order (*crossing*);
- a lane driven against its direction, a lane closed to AGVs, an edge that is no
  lane at all, and driving against a one-way zone's direction;
- AGVs waiting on each other in a cycle for longer than `deadlock_s` (*deadlock*);
- orders the core accepted and then forgot (*vanished*).

Each condition counts once per episode (a pair that stays too close is one near
miss), and every episode is kept as a `SafetyEvent` for the report.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from shapely.geometry import Point

from maps.site import Site, ZoneKind
from sim.agv import AgvFleet
from sim.crane import CraneFleet

OVERLAP_EPS_M = 1e-3


@dataclass(frozen=True)
class SafetyEvent:
    at_s: float
    kind: str  # collision | near_miss | crane_collision | crane_gap | crane_crossing | wrong_way | ...
    machines: tuple[str, ...]
    detail: str = ""


def obb_overlap(dx: np.ndarray, dy: np.ndarray, ta: np.ndarray, tb: np.ndarray,
                half_l: float, half_w: float) -> np.ndarray:
    """Do two equal rectangles (centre offset dx, dy; headings ta, tb) overlap? (SAT)"""
    ca, sa, cb, sb = np.cos(ta), np.sin(ta), np.cos(tb), np.sin(tb)
    axes = ((ca, sa), (-sa, ca), (cb, sb), (-sb, cb))
    sep = np.zeros(dx.shape, bool)
    for nx, ny in axes:
        dist = np.abs(dx * nx + dy * ny)
        ra = half_l * np.abs(ca * nx + sa * ny) + half_w * np.abs(-sa * nx + ca * ny)
        rb = half_l * np.abs(cb * nx + sb * ny) + half_w * np.abs(-sb * nx + cb * ny)
        sep |= dist >= ra + rb - OVERLAP_EPS_M
    return ~sep


def close_pairs(x: np.ndarray, y: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) within `radius` on both axes: sweep and prune along x."""
    n = x.shape[0]
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    ii, jj = [], []
    for k in range(1, n):
        dx = xs[k:] - xs[:-k]
        near = dx < radius
        if not near.any():
            break
        hit = near & (np.abs(ys[k:] - ys[:-k]) < radius)
        if hit.any():
            idx = np.flatnonzero(hit)
            ii.append(order[idx])
            jj.append(order[idx + k])
    if not ii:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    a, b = np.concatenate(ii), np.concatenate(jj)
    return np.minimum(a, b), np.maximum(a, b)


class SafetyMonitor:
    def __init__(self, site: Site, agvs: AgvFleet, cranes: CraneFleet, deadlock_s: float = 180.0) -> None:
        self.site = site
        self.agvs = agvs
        self.cranes = cranes
        self.deadlock_s = deadlock_s
        shape = site.vehicle_shape
        self.half_l, self.half_w = shape.length_m / 2, shape.width_m / 2
        self.margin = shape.safety_margin_m
        self.radius = math.hypot(shape.length_m + 2 * self.margin, shape.width_m + 2 * self.margin)
        self.events: list[SafetyEvent] = []
        self.counts: dict[str, int] = {k: 0 for k in (
            "collisions", "near_misses", "crane_collisions", "crane_gap_violations", "crane_crossings",
            "wrong_way", "closed_lane", "off_lane", "deadlocks", "stalls", "vanished_orders")}
        self._near: set[tuple[int, int]] = set()
        self._hit: set[tuple[int, int]] = set()
        self._crane_state: dict[tuple[str, str], str] = {}
        self._edge_verdict: dict[tuple[str, str], str | None] = {}
        self._one_way = [z for z in site.zones if z.kind == ZoneKind.ONE_WAY and z.direction_deg is not None]
        n = len(agvs.ids)
        self._waiting_since = np.full(n, np.inf)
        self._stalled: set[int] = set()
        self._deadlocked: set[frozenset[int]] = set()
        self._vanished: set[str] = set()

    def _event(self, t: float, kind: str, machines: tuple[str, ...], detail: str = "") -> None:
        self.events.append(SafetyEvent(round(t, 3), kind, machines, detail))

    # --- AGV footprints ----------------------------------------------------------------

    def check_agvs(self, t: float) -> None:
        a = self.agvs
        i, j = close_pairs(a.x, a.y, self.radius)
        hit_now: set[tuple[int, int]] = set()
        near_now: set[tuple[int, int]] = set()
        if i.shape[0]:
            dx, dy = a.x[j] - a.x[i], a.y[j] - a.y[i]
            ti, tj = a.theta[i], a.theta[j]
            grown = obb_overlap(dx, dy, ti, tj, self.half_l + self.margin, self.half_w + self.margin)
            if grown.any():
                touch = obb_overlap(dx, dy, ti, tj, self.half_l, self.half_w)
                for p, q, g, c in zip(i.tolist(), j.tolist(), grown.tolist(), touch.tolist(), strict=True):
                    if c:
                        hit_now.add((p, q))
                    elif g:
                        near_now.add((p, q))
        for p, q in hit_now - self._hit:
            self.counts["collisions"] += 1
            self._event(t, "collision", (a.ids[p], a.ids[q]), self._where(p, q))
        for p, q in near_now - self._near - self._hit:
            self.counts["near_misses"] += 1
            self._event(t, "near_miss", (a.ids[p], a.ids[q]), self._where(p, q))
        self._hit = hit_now
        self._near = near_now | hit_now

    def _where(self, p: int, q: int) -> str:
        """Both poses, so a report reader can see what happened."""
        a = self.agvs
        d = math.hypot(a.x[q] - a.x[p], a.y[q] - a.y[p])

        def pose(i: int) -> str:
            doing = "turning" if a.turning[i] else "driving" if a.v[i] > 0 else "standing"
            return (f"{a.ids[i]} {doing} at ({a.x[i]:.1f}, {a.y[i]:.1f}) heading {math.degrees(a.theta[i]):.0f} deg, "
                    f"last node {a.last_node[i]}, next {a.next_node_index(i)}")

        return f"centres {d:.2f} m apart; {pose(p)}; {pose(q)}"

    # --- cranes ------------------------------------------------------------------------

    def check_cranes(self, t: float) -> None:
        for bay_id, cranes in self.cranes.by_bay.items():
            gap = self.site.bay_by_id[bay_id].safety_gap_m
            for a, b in itertools.pairwise(cranes):
                key = (a.spec.id, b.spec.id)
                clear = b.lo() - a.hi()
                if a.bridge_m > b.bridge_m:
                    verdict = "crane_crossing"
                elif clear <= OVERLAP_EPS_M:
                    verdict = "crane_collision"
                elif clear < gap - OVERLAP_EPS_M:
                    verdict = "crane_gap"
                else:
                    verdict = ""
                before = self._crane_state.get(key, "")
                if verdict and verdict != before:
                    counter = {"crane_crossing": "crane_crossings", "crane_collision": "crane_collisions",
                               "crane_gap": "crane_gap_violations"}[verdict]
                    self.counts[counter] += 1
                    self._event(t, verdict, key, f"clearance {clear:.2f} m (gap {gap} m) in {bay_id}")
                self._crane_state[key] = verdict

    # --- lanes -------------------------------------------------------------------------

    def on_traversals(self, t: float, traversals: list[tuple[str, str, str]]) -> None:
        for vid, u, v in traversals:
            key = (u, v)
            if key not in self._edge_verdict:
                self._edge_verdict[key] = self._judge_edge(u, v)
            verdict = self._edge_verdict[key]
            if verdict:
                kind, detail = verdict.split("|", 1)
                self.counts[kind] += 1
                self._event(t, kind, (vid,), detail)

    def _judge_edge(self, u: str, v: str) -> str | None:
        hit = self.agvs.lane_of(u, v)
        if hit is None:
            return f"off_lane|{u} -> {v} is no lane of the site"
        lane, allowed = hit
        if not allowed:
            return f"wrong_way|{u} -> {v} against one-way lane {lane.id}"  # type: ignore[attr-defined]
        if not lane.agv:  # type: ignore[attr-defined]
            return f"closed_lane|{u} -> {v} on lane {lane.id}, closed to AGVs"  # type: ignore[attr-defined]
        nodes = self.site.node_by_id
        a, b = self._xy(u, nodes), self._xy(v, nodes)
        if a is None or b is None or not self._one_way:
            return None
        mid = Point((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
        heading = math.degrees(math.atan2(b[1] - a[1], b[0] - a[0]))
        for z in self._one_way:
            if z.polygon.covers(mid):
                diff = (heading - float(z.direction_deg) + 180) % 360 - 180  # type: ignore[arg-type]
                if abs(diff) > 90:
                    return f"wrong_way|{u} -> {v} against one-way zone {z.id} ({z.direction_deg} deg)"
        return None

    @staticmethod
    def _xy(nid: str, nodes: dict) -> tuple[float, float] | None:
        if nid in nodes:
            return nodes[nid].x, nodes[nid].y
        if ">" in nid:  # a compiled waypoint A>B#k: close enough to use its lane's ends
            a, _, rest = nid.partition(">")
            b = rest.split("#", 1)[0]
            if a in nodes and b in nodes:
                return (nodes[a].x + nodes[b].x) / 2, (nodes[a].y + nodes[b].y) / 2
        return None

    # --- deadlocks ---------------------------------------------------------------------

    def check_deadlocks(self, t: float) -> None:
        a = self.agvs
        n = len(a.ids)
        if n == 0:
            return
        halted = a.paused | a.estop | a.fault | a.flat
        has_next = np.fromiter((a.next_node_index(i) is not None for i in range(n)), bool, n)
        waiting = has_next & ~a.moving & ~np.isfinite(a.busy_until) & ~halted
        waiting |= a.moving & (a.v == 0) & ~halted  # stopped on a lane
        self._waiting_since = np.where(waiting, np.minimum(self._waiting_since, t), np.inf)
        long_wait = np.flatnonzero(waiting & (t - self._waiting_since >= self.deadlock_s))
        stalled = set(long_wait.tolist())
        for i in stalled - self._stalled:
            self.counts["stalls"] += 1
            self._event(t, "stall", (a.ids[i],), f"waiting {self.deadlock_s:.0f} s with a route left")
        self._stalled = stalled
        if len(stalled) < 2:
            self._deadlocked = {c for c in self._deadlocked if c <= stalled}
            return
        # who waits for whom: the next node lies within a footprint of another vehicle
        nodes = self.site.node_by_id
        waits: dict[int, int] = {}
        idx = np.array(sorted(stalled))
        for i in idx.tolist():
            nid = a.next_node_index(i)
            xy = self._xy(nid, nodes) if nid else None
            route = a.routes[i]
            if route is not None and route.at + 1 < len(route.nodes):
                nxt = route.nodes[route.at + 1]
                xy = (nxt.x, nxt.y)
            if xy is None:
                continue
            d = np.hypot(a.x[idx] - xy[0], a.y[idx] - xy[1])
            d[idx == i] = np.inf
            k = int(np.argmin(d))
            if d[k] < self.half_l * 2 + 2 * self.margin:
                waits[i] = int(idx[k])
        cycles: set[frozenset[int]] = set()
        for start in waits:
            seen: list[int] = []
            cur = start
            while cur in waits and cur not in seen:
                seen.append(cur)
                cur = waits[cur]
            if cur in seen:
                cycles.add(frozenset(seen[seen.index(cur):]))
        for c in cycles - self._deadlocked:
            self.counts["deadlocks"] += 1
            self._event(t, "deadlock", tuple(sorted(a.ids[i] for i in c)), "AGVs wait on each other")
        self._deadlocked = {c for c in self._deadlocked | cycles if c <= stalled}

    # --- orders ------------------------------------------------------------------------

    def check_orders(self, t: float, accepted: set[str], known: set[str]) -> None:
        """Orders the core accepted (and never finished) but no longer knows."""
        gone = accepted - known - self._vanished
        for oid in sorted(gone):
            self.counts["vanished_orders"] += 1
            self._event(t, "vanished_order", (), oid)
        self._vanished |= gone

    def check(self, t: float) -> None:
        self.check_agvs(t)
        self.check_cranes(t)
        self.check_deadlocks(t)
