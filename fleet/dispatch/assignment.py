"""Who takes which AGV leg this round: OR-Tools min-cost flow, greedy as the fallback.

Each round the core hands over the open AGV legs and the vehicles that are idle or
soon idle (`Availability`: where and when each becomes free). A pair (leg, vehicle)
is *feasible* when the vehicle can carry the load, can reach the pickup and the drop
over lanes it may use (hazardous zones need a hazardous-rated vehicle, closed zones
nobody) and has the battery to do the leg and still reach the nearest charger.

Legs are taken in urgency order (priority, deadline, age) up to a window of
`window_factor` x vehicles, so no leg starves behind nearer ones. Among them the
dispatcher serves as many as it can, higher priority first, and minimises empty
travel (real path metres) plus lateness (metres-equivalent per second late). The
common case is a bipartite assignment, solved exactly as a min-cost flow
(`ortools.graph.python.min_cost_flow`) over each leg's nearest vehicles plus the
greedy pairs (so it is never worse than greedy). Solve time is bounded by the window
and the neighbour count; any failure falls back to `GreedyDispatcher`.

Called from the core's dispatch task only; pure apart from the distance cache.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from fleet.dispatch.distances import LaneNetwork, SiteDistances, distances_for
from fleet.dispatch.legs import node_of
from fleet.domain import Leg, LegId, LegKind, LegState, Vehicle, VehicleId
from maps.site import Site, StationKind

BATTERY_RESERVE = 0.05  # never plan a vehicle below this state of charge
LATENESS_M_PER_S = 1.5  # a second late costs as much as this many metres of empty travel
LIFT_S = 10.0  # time to pick or drop a load (each)
UNSERVED_M = 1.0e6  # leaving a leg unassigned costs this much (plus its priority)
PRIORITY_M = 1.0e4  # per priority step, so higher priority legs are served first
NEIGHBOURS = 48  # candidate vehicles per leg in the flow (plus the greedy pair)
COST_SCALE = 10  # flow costs are integers: decimetres


@dataclass(frozen=True)
class Availability:
    """A vehicle as dispatch sees it: where and when it will be free, with what battery."""

    vehicle: Vehicle
    node: str
    free_s: float
    battery: float

    @classmethod
    def now(cls, vehicle: Vehicle, now_s: float) -> Availability | None:
        """An idle vehicle, free at once where it stands (None if it has no node)."""
        if vehicle.node is None:
            return None
        return cls(vehicle, vehicle.node, now_s, vehicle.battery)


@dataclass(frozen=True)
class Assignment:
    """A leg given to a vehicle this round.

    `empty_travel_m` is the path distance to the pickup, `eta_s` when the vehicle is
    at the pickup, `send_s` when to send it (later than now for a handoff leg, so it
    does not wait in the lane), `done_s` when the load should be at the drop.
    """

    leg_id: LegId
    vehicle_id: VehicleId
    empty_travel_m: float
    eta_s: float
    send_s: float = 0.0
    loaded_travel_m: float = 0.0
    done_s: float = 0.0


class Dispatcher(Protocol):
    """Assign AGV legs to vehicles; never raises for infeasible input, leaves it out."""

    def assign(
        self,
        legs: Sequence[Leg],
        vehicles: Sequence[Vehicle | Availability],
        now_s: float,
        ready_s: Mapping[LegId, float] | None = None,
    ) -> list[Assignment]: ...


def urgency_key(leg: Leg) -> tuple[float, float, float, str]:
    """Higher priority first, then earlier deadline, then older."""
    return (-leg.priority, leg.deadline_s if leg.deadline_s is not None else math.inf, leg.created_s, leg.id)


@dataclass
class CostTable:
    """Everything both dispatchers need, computed once per round with numpy."""

    legs: list[Leg]
    avail: list[Availability]
    empty_m: np.ndarray  # (L, V) inf where infeasible
    loaded_m: np.ndarray  # (L, V)
    cost_m: np.ndarray  # (L, V) empty + lateness, inf where infeasible
    eta_s: np.ndarray  # (L, V) at the pickup
    send_s: np.ndarray  # (L, V)
    done_s: np.ndarray  # (L, V)

    def assignment(self, li: int, vi: int) -> Assignment:
        return Assignment(
            self.legs[li].id,
            self.avail[vi].vehicle.id,
            float(self.empty_m[li, vi]),
            float(self.eta_s[li, vi]),
            float(self.send_s[li, vi]),
            float(self.loaded_m[li, vi]),
            float(self.done_s[li, vi]),
        )


class _Costing:
    """Builds `CostTable`s for one site and closed-zone set (caches charger distances)."""

    def __init__(self, site: Site, closed_zones: frozenset[str], distances: SiteDistances | None) -> None:
        self.site = site
        self.closed = closed_zones
        self.dist = distances or distances_for(site)
        self._to_charger: dict[int, np.ndarray] = {}
        self._nodes: dict[str, str | None] = {}

    def node(self, place: str) -> str | None:
        if place not in self._nodes:
            self._nodes[place] = node_of(self.site, place)
        return self._nodes[place]

    def to_charger(self, net: LaneNetwork) -> np.ndarray:
        """Per node, the distance to the nearest charger station (inf: none reachable)."""
        key = id(net)
        if key not in self._to_charger:
            chargers = [s.node for s in self.site.stations if s.kind == StationKind.CHARGER]
            if not chargers:
                arr = np.zeros(net.n_nodes)  # no chargers on the site: battery is not planned
            else:
                net.prepare(set(chargers))
                arr = np.min(np.vstack([net.to(c) for c in chargers]), axis=0)
            self._to_charger[key] = arr
        return self._to_charger[key]

    def table(self, legs: list[Leg], avail: list[Availability], now_s: float, ready_s: Mapping[LegId, float]) -> CostTable:
        n_l, n_v = len(legs), len(avail)
        shape = (n_l, n_v)
        empty = np.full(shape, np.inf)
        loaded = np.full(shape, np.inf)
        if n_l == 0 or n_v == 0:
            z = np.zeros(shape)
            return CostTable(legs, avail, empty, loaded, np.full(shape, np.inf), z, z, z)
        src = [self.node(leg.source) for leg in legs]
        dst = [self.node(leg.destination) for leg in legs]
        ok_leg = np.array([s is not None and d is not None for s, d in zip(src, dst, strict=True)])
        # capability mask, per distinct Capabilities value
        caps = sorted({a.vehicle.capabilities for a in avail}, key=repr)
        cap_ix = {c: i for i, c in enumerate(caps)}
        can = np.array(
            [[c.can_carry(leg.load_type, leg.weight_kg, leg.hazardous) for c in caps] for leg in legs], dtype=bool
        )
        v_cap = np.array([cap_ix[a.vehicle.capabilities] for a in avail])
        mask = can[:, v_cap] & ok_leg[:, None]
        battery = np.array([a.battery for a in avail])
        drain_m = np.array([a.vehicle.drain_per_m for a in avail])
        drain_lift = np.array([a.vehicle.drain_per_lift for a in avail])
        speed = np.array([max(a.vehicle.speed_mps, 0.1) for a in avail])
        free = np.array([max(a.free_s, now_s) for a in avail])
        rated = np.array([a.vehicle.capabilities.hazardous_rated for a in avail])
        to_ch = np.zeros(shape)
        for variant in (False, True):
            cols = np.flatnonzero(rated == variant)
            if cols.size == 0:
                continue
            net = self.dist.network(self.closed, variant)
            v_nodes = np.array([net.node_index.get(avail[c].node, -1) for c in cols])
            known = v_nodes >= 0
            rows = [i for i in range(n_l) if ok_leg[i] and mask[i, cols].any()]
            if not rows:
                continue
            targets = sorted({src[i] for i in rows} | {dst[i] for i in rows})  # type: ignore[type-var]
            net.prepare(set(targets))  # type: ignore[arg-type]
            charger = self.to_charger(net)
            safe_nodes = np.where(known, v_nodes, 0)
            for i in rows:
                to_src = net.to(src[i])  # type: ignore[arg-type]
                e = to_src[safe_nodes]
                e = np.where(known, e, np.inf)
                empty[i, cols] = e
                d_ix = net.node_index[dst[i]]  # type: ignore[index]
                loaded[i, cols] = net.to(dst[i])[net.node_index[src[i]]]  # type: ignore[arg-type,index]
                to_ch[i, cols] = charger[d_ix]
        empty = np.where(mask, empty, np.inf)
        need = (empty + loaded + to_ch) * drain_m[None, :] + 2 * drain_lift[None, :]
        feasible = np.isfinite(empty) & np.isfinite(loaded) & np.isfinite(to_ch) & (need <= battery[None, :] - BATTERY_RESERVE)
        empty = np.where(feasible, empty, np.inf)
        loaded = np.where(feasible, loaded, np.inf)
        travel_s = np.where(feasible, empty, 0.0) / speed[None, :]
        arrive = free[None, :] + travel_s
        ready = np.array([ready_s.get(leg.id, -np.inf) for leg in legs])
        eta = np.maximum(arrive, ready[:, None])
        send = np.maximum(free[None, :], eta - travel_s)
        done = eta + np.where(feasible, loaded, 0.0) / speed[None, :] + 2 * LIFT_S
        deadline = np.array([leg.deadline_s if leg.deadline_s is not None else np.inf for leg in legs])
        weight = np.array([1.0 + leg.priority / 3.0 for leg in legs])
        late = np.maximum(0.0, done - deadline[:, None])
        late = np.where(np.isfinite(late), late, 0.0)
        cost = np.where(feasible, empty + LATENESS_M_PER_S * weight[:, None] * late, np.inf)
        return CostTable(legs, avail, empty, loaded, cost, eta, send, done)


def _availability(vehicles: Sequence[Vehicle | Availability], now_s: float) -> list[Availability]:
    out: list[Availability] = []
    seen: set[str] = set()
    for v in vehicles:
        a = v if isinstance(v, Availability) else Availability.now(v, now_s)
        if a is None or a.vehicle.id in seen:
            continue
        seen.add(a.vehicle.id)
        out.append(a)
    return out


def _window(legs: Sequence[Leg], n_vehicles: int, factor: float) -> list[Leg]:
    todo = sorted(
        (leg for leg in legs if leg.kind == LegKind.AGV and leg.state == LegState.OPEN), key=urgency_key
    )
    seen: set[str] = set()
    unique = []
    for leg in todo:
        if leg.id not in seen:
            seen.add(leg.id)
            unique.append(leg)
    return unique[: max(0, math.ceil(n_vehicles * factor))]


def greedy_pairs(table: CostTable) -> list[tuple[int, int]]:
    """Legs in urgency order, each to the nearest feasible vehicle still free."""
    empty = table.empty_m.copy()
    out = []
    for li in range(empty.shape[0]):
        row = empty[li]
        vi = int(np.argmin(row)) if row.size else -1
        if vi < 0 or not np.isfinite(row[vi]):
            continue
        out.append((li, vi))
        empty[:, vi] = np.inf
    return out


class GreedyDispatcher:
    """Nearest idle vehicle, legs in urgency order: the baseline and the fallback."""

    def __init__(
        self,
        site: Site,
        closed_zones: frozenset[str] = frozenset(),
        distances: SiteDistances | None = None,
        window_factor: float = 1.0,
    ) -> None:
        self.costing = _Costing(site, closed_zones, distances)
        self.window_factor = window_factor

    def table(self, legs: Sequence[Leg], vehicles: Sequence[Vehicle | Availability], now_s: float, ready_s: Mapping[LegId, float] | None = None) -> CostTable:
        avail = _availability(vehicles, now_s)
        return self.costing.table(_window(legs, len(avail), self.window_factor), avail, now_s, ready_s or {})

    def assign(
        self,
        legs: Sequence[Leg],
        vehicles: Sequence[Vehicle | Availability],
        now_s: float,
        ready_s: Mapping[LegId, float] | None = None,
    ) -> list[Assignment]:
        table = self.table(legs, vehicles, now_s, ready_s)
        return [table.assignment(li, vi) for li, vi in greedy_pairs(table)]


class OrToolsDispatcher:
    """Min-cost-flow assignment over each leg's nearest feasible vehicles.

    Serves as many legs of the window as possible, higher priority first, and among
    those minimises empty travel plus weighted lateness. Falls back to greedy on any
    solver failure (`last_method` says which ran).
    """

    def __init__(
        self,
        site: Site,
        closed_zones: frozenset[str] = frozenset(),
        distances: SiteDistances | None = None,
        window_factor: float = 1.0,
        neighbours: int = NEIGHBOURS,
    ) -> None:
        self.greedy = GreedyDispatcher(site, closed_zones, distances, window_factor)
        self.neighbours = neighbours
        self.last_method = "none"

    def assign(
        self,
        legs: Sequence[Leg],
        vehicles: Sequence[Vehicle | Availability],
        now_s: float,
        ready_s: Mapping[LegId, float] | None = None,
    ) -> list[Assignment]:
        table = self.greedy.table(legs, vehicles, now_s, ready_s)
        base = greedy_pairs(table)
        try:
            pairs = self._flow(table, base)
            self.last_method = "min_cost_flow"
        except Exception:  # the fallback must always give a valid answer
            pairs = base
            self.last_method = "greedy"
        return [table.assignment(li, vi) for li, vi in pairs]

    def _flow(self, table: CostTable, base: list[tuple[int, int]]) -> list[tuple[int, int]]:
        from ortools.graph.python import min_cost_flow

        cost = table.cost_m
        n_l, n_v = cost.shape
        if n_l == 0 or n_v == 0 or not base:
            return base
        k = min(self.neighbours, n_v)
        if k < n_v:
            cand = np.argpartition(cost, k - 1, axis=1)[:, :k]
        else:
            cand = np.broadcast_to(np.arange(n_v), (n_l, n_v))
        li = np.repeat(np.arange(n_l), cand.shape[1])
        vi = cand.reshape(-1)
        extra = np.array(base, dtype=np.int64).reshape(-1, 2)
        li = np.concatenate([li, extra[:, 0]])
        vi = np.concatenate([vi, extra[:, 1]])
        pair = np.unique(li * n_v + vi)
        li, vi = pair // n_v, pair % n_v
        c = cost[li, vi]
        keep = np.isfinite(c)
        li, vi, c = li[keep], vi[keep], c[keep]
        # nodes: 0 source, 1..L legs, L+1..L+V vehicles, L+V+1 sink
        src, sink = 0, n_l + n_v + 1
        prio = np.array([leg.priority for leg in table.legs], dtype=np.float64)
        unserved = (UNSERVED_M + PRIORITY_M * prio) * COST_SCALE
        tails = np.concatenate([np.zeros(n_l), 1 + li, 1 + n_l + np.arange(n_v), 1 + np.arange(n_l)]).astype(np.int32)
        heads = np.concatenate(
            [1 + np.arange(n_l), 1 + n_l + vi, np.full(n_v, sink), np.full(n_l, sink)]
        ).astype(np.int32)
        costs = np.concatenate(
            [np.zeros(n_l), np.round(c * COST_SCALE), np.zeros(n_v), np.round(unserved)]
        ).astype(np.int64)
        caps = np.ones(tails.shape[0], dtype=np.int64)
        flow = min_cost_flow.SimpleMinCostFlow()
        flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
        flow.set_nodes_supplies(np.array([src, sink], dtype=np.int32), np.array([n_l, -n_l], dtype=np.int64))
        status = flow.solve()
        if status != flow.OPTIMAL:
            raise RuntimeError(f"min cost flow status {status}")
        n_pair = li.shape[0]
        used = np.array(flow.flows(np.arange(n_l, n_l + n_pair, dtype=np.int32))) > 0
        return sorted(zip(li[used].tolist(), vi[used].tolist(), strict=True))
