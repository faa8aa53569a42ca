"""Putaway (cargo stacking): where each incoming load goes.

Three phases, each leaving only valid placements:

1. hazardous loads: a small CP-SAT model over their cheapest clear positions, with
   the segregation distance between different classes as pairwise constraints;
2. the rest: a min-cost flow (OR-Tools) from loads to *position groups*. Free
   positions with the same rule thresholds (rounded towards the safe side) and about
   the same cost form a group, so the flow stays small (a few hundred groups
   instead of 20,000 positions) and is still an exact transportation problem over
   them; inside a group the faster movers get the nearer positions;
3. greedy fallback for anything left: cheapest position the rule checker accepts,
   or a `NoRoom` reason that counts what ruled each free position out.

Cost of load i at position p: `TURNOVER_WEIGHT[i] * travel_s[p] + fifo(p)`, where
fifo is `fifo_block_s` for an upper position (it buries two older coils), so fast
movers land near the docks and old coils are not buried unless it pays. Every
placement is confirmed by `rules.check_placement` before it is returned.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from ortools.graph.python import min_cost_flow
from ortools.sat.python import cp_model

from fleet.inventory.layout import RACK, UPPER, Layout
from fleet.inventory.load import TURNOVER_WEIGHT, Load
from fleet.inventory.rules import check_placement
from fleet.inventory.yard import Yard

COST_SCALE = 100  # flow costs are integers: centiseconds


@dataclass
class PutawayOptions:
    bucket_s: float = 2.0  # positions within this many seconds of cost share a group
    weight_step_kg: float = 500.0  # group thresholds are rounded down to these steps
    size_step_m: float = 0.05
    capacity_factor: float = 1.5  # each load sees groups holding this many times the batch
    max_groups_per_load: int = 400
    hazard_candidates: int = 40  # positions per hazardous load in the CP-SAT model
    hazard_max_model: int = 16  # hazardous loads per model; more go to sequential placement
    hazard_per_cell: int = 4  # candidates per segregation-sized cell, so classes can spread out
    hazard_time_limit_s: float = 0.5
    use_solver: bool = True  # False: greedy only


@dataclass
class PutawayResult:
    placements: dict[str, str] = field(default_factory=dict)  # load id -> position id
    no_room: dict[str, str] = field(default_factory=dict)  # load id -> reason
    method: dict[str, str] = field(default_factory=dict)  # load id -> flow | cp-sat | greedy
    travel_s: float = 0.0
    weighted_travel_s: float = 0.0
    elapsed_s: float = 0.0

    def counts(self) -> dict[str, int]:
        return dict(Counter(self.method.values()))


@dataclass
class _Capacity:
    """Exact thresholds of every position for a new load, given the current occupants."""

    usable: np.ndarray
    wcap: np.ndarray
    width: np.ndarray
    dmax: np.ndarray
    dmin: np.ndarray
    cost: np.ndarray


def _capacity(yard: Yard, taken: np.ndarray) -> _Capacity:
    lay = yard.layout
    rules = lay.rules
    usable = lay.reachable & ~yard.occupied & ~taken
    wcap = lay.max_weight_kg.copy()
    width = lay.max_width_m.copy()
    dmax = np.where(lay.kind == RACK, np.inf, lay.max_diameter_m)
    dmin = np.zeros(lay.n)
    cost = lay.travel_s.copy()
    up = lay.kind == UPPER
    if up.any():
        a, b = lay.support[up, 0], lay.support[up, 1]
        both = yard.occupied[a] & yard.occupied[b]
        with np.errstate(invalid="ignore"):
            level = np.abs(yard.diameter[a] - yard.diameter[b]) <= rules.support_diameter_tolerance_m
        ok = both & level
        usable[up] &= ok
        wcap[up] = np.fmin(wcap[up], np.fmin(yard.weight[a], yard.weight[b]))
        width[up] = np.fmin(width[up], np.fmin(yard.width[a], yard.width[b]) + rules.overhang_m)
        dmin[up] = lay.pitch_m[up] - np.fmin(yard.diameter[a], yard.diameter[b]) + rules.saddle_clearance_m
        cost[up] += rules.fifo_block_s
    for arr in (wcap, width, dmax):
        np.nan_to_num(arr, copy=False, nan=-1.0)
    np.nan_to_num(dmin, copy=False, nan=np.inf)
    return _Capacity(usable, wcap, width, dmax, dmin, cost)


def _type_matrix(lay: Layout, loads: list[Load]) -> tuple[np.ndarray, np.ndarray]:
    """accept[rule, t] and each load's type index t."""
    types = sorted({ld.type for ld in loads})
    tidx = {t: i for i, t in enumerate(types)}
    accept = np.array([[r.accepts(t) for t in types] for r in lay.type_rule], dtype=bool).reshape(
        len(lay.type_rule), len(types))
    return accept, np.array([tidx[ld.type] for ld in loads], dtype=np.int64)


def _fits(cap: _Capacity, lay: Layout, idx: np.ndarray, load: Load, accept_col: np.ndarray) -> np.ndarray:
    """Exact vectorised fit of one load over positions `idx` (static + support thresholds)."""
    ok = cap.usable[idx] & accept_col[lay.type_rule_of[idx]]
    ok &= (load.weight_kg <= cap.wcap[idx]) & (load.width_m <= cap.width[idx])
    ok &= (load.diameter_m <= cap.dmax[idx]) & (load.diameter_m >= cap.dmin[idx])
    if load.hazard_class is not None and lay.has_hazard_zones and lay.rules.hazard_zone_required:
        ok &= lay.in_hazard_zone[idx]
    return ok


def _weights(loads: list[Load]) -> np.ndarray:
    return np.array([TURNOVER_WEIGHT[ld.turnover] for ld in loads], dtype=np.float64)


class _Batch:
    """The yard plus this batch so far: what the checker sees, and where hazards lie."""

    def __init__(self, yard: Yard) -> None:
        self.layout = yard.layout
        self.scratch: dict[int, Load] = dict(yard.at)
        self.taken = np.zeros(yard.layout.n, dtype=bool)
        self.hazardous: list[int] = []
        self.near: dict[str, np.ndarray] = {}  # class -> positions within segregation of that class
        self._clear: dict[str, np.ndarray] = {}
        for p, ld in yard.at.items():
            if ld.hazard_class is not None:
                self.mark(p, ld.hazard_class)

    def mark(self, p: int, cls: str) -> None:
        """A load of hazard class `cls` now lies at p."""
        lay = self.layout
        self.hazardous.append(p)
        close = np.hypot(lay.x - lay.x[p], lay.y - lay.y[p]) < lay.rules.segregation_m
        if cls in self.near:
            self.near[cls] |= close
        else:
            self.near[cls] = close
        self._clear.clear()

    def clear_for(self, cls: str) -> np.ndarray:
        """Positions no load of another class is too close to."""
        if cls not in self._clear:
            blocked = np.zeros(self.layout.n, dtype=bool)
            for other, near in self.near.items():
                if other != cls:
                    blocked |= near
            self._clear[cls] = ~blocked
        return self._clear[cls]


def plan_putaway(yard: Yard, loads: list[Load], options: PutawayOptions | None = None) -> PutawayResult:
    """Positions for `loads` in `yard` (not applied; see `apply_putaway`).

    Pure with respect to the yard: it reads occupancy, never changes it. Loads that
    already lie in the yard or repeat an id in the batch get a `no_room` reason.
    """
    opts = options or PutawayOptions()
    t0 = time.perf_counter()
    result = PutawayResult()
    lay = yard.layout
    batch: list[Load] = []
    seen: set[str] = set()
    for ld in loads:
        if ld.id in yard.where or ld.id in seen:
            result.no_room[ld.id] = "already stored or listed twice in this batch"
            continue
        seen.add(ld.id)
        batch.append(ld)
    state = _Batch(yard)
    hazardous = [ld for ld in batch if ld.hazard_class is not None]
    plain = [ld for ld in batch if ld.hazard_class is None]
    left: list[Load] = []
    if opts.use_solver and hazardous:
        left += _hazard_phase(yard, hazardous, state, opts, result)
    else:
        left += hazardous
    if opts.use_solver and plain:
        left += _flow_phase(yard, plain, state, opts, result)
    else:
        left += plain
    _greedy_phase(yard, left, state, result)
    _totals(lay, batch, result)
    result.elapsed_s = time.perf_counter() - t0
    return result


def _accept(lay: Layout, state: _Batch, result: PutawayResult, load: Load, p: int, method: str) -> bool:
    """Take position p for `load` if the rule checker agrees (the last word on every placement)."""
    if state.taken[p] or check_placement(lay, state.scratch, p, load, state.hazardous):
        return False
    state.scratch[p] = load
    state.taken[p] = True
    if load.hazard_class is not None:
        state.mark(p, load.hazard_class)
    result.placements[load.id] = lay.ids[p]
    result.method[load.id] = method
    return True


def _flow_phase(yard: Yard, loads: list[Load], state: _Batch, opts: PutawayOptions,
                result: PutawayResult) -> list[Load]:
    lay = yard.layout
    cap = _capacity(yard, state.taken)
    free = np.flatnonzero(cap.usable)
    if free.size == 0:
        return loads
    # groups: identical rounded thresholds, type rule and cost bucket
    ws, ss = opts.weight_step_kg, opts.size_step_m
    # thresholds of floor and rack positions are few exact values; those of upper
    # positions come from their supports and are rounded towards the safe side
    up = lay.kind[free] == UPPER

    def down(v: np.ndarray, step: float) -> np.ndarray:
        return np.where(up, np.floor(v / step + 1e-9) * step, v)

    keys = np.stack([
        lay.type_rule_of[free].astype(np.float64),
        down(cap.wcap[free], ws),
        down(np.minimum(cap.width[free], 99.0), ss),
        down(np.minimum(cap.dmax[free], 99.0), ss),
        np.where(up, np.ceil(np.minimum(cap.dmin[free], 99.0) / ss - 1e-9) * ss, cap.dmin[free]),
        np.floor(cap.cost[free] / opts.bucket_s),
    ], axis=1)
    uniq, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    g_cost = np.bincount(inverse, weights=cap.cost[free]) / counts
    order = np.argsort(g_cost, kind="stable")
    uniq, counts, g_cost = uniq[order], counts[order], g_cost[order]
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    g_of_free = rank[inverse]
    g_type = uniq[:, 0].astype(np.int64)
    g_w, g_width, g_dmax, g_dmin = uniq[:, 1], uniq[:, 2], uniq[:, 3], uniq[:, 4]
    accept, tix = _type_matrix(lay, loads)
    w = np.array([ld.weight_kg for ld in loads])
    wd = np.array([ld.width_m for ld in loads])
    dm = np.array([ld.diameter_m for ld in loads])
    feas = accept[g_type][:, tix].T  # (loads, groups)
    feas &= w[:, None] <= g_w[None, :]
    feas &= wd[:, None] <= g_width[None, :]
    # racks have no diameter limit (dmax 99 after clipping), coils both bounds
    feas &= dm[:, None] <= g_dmax[None, :]
    feas &= dm[:, None] >= g_dmin[None, :]
    n, g = feas.shape
    target = opts.capacity_factor * n
    capf = feas * counts[None, :]
    before = np.cumsum(capf, axis=1) - capf
    feas &= before < target
    if opts.max_groups_per_load:
        feas &= np.cumsum(feas, axis=1) <= opts.max_groups_per_load
    li, gi = np.nonzero(feas)
    if li.size == 0:
        return loads
    tw = _weights(loads)
    flow = min_cost_flow.SimpleMinCostFlow()
    sink = n + g
    costs = np.rint(tw[li] * g_cost[gi] * COST_SCALE).astype(np.int64)
    arcs = flow.add_arcs_with_capacity_and_unit_cost(li.astype(np.int64), (n + gi).astype(np.int64),
                                                     np.ones(li.size, dtype=np.int64), costs)
    used = np.unique(gi)
    flow.add_arcs_with_capacity_and_unit_cost((n + used).astype(np.int64), np.full(used.size, sink, dtype=np.int64),
                                              counts[used].astype(np.int64), np.zeros(used.size, dtype=np.int64))
    supplies = np.zeros(sink + 1, dtype=np.int64)
    supplies[:n] = 1
    supplies[sink] = -n
    flow.set_nodes_supplies(np.arange(sink + 1, dtype=np.int64), supplies)
    status = flow.solve_max_flow_with_min_cost()
    if status != flow.OPTIMAL:
        return loads
    flows = flow.flows(arcs)
    chosen = np.flatnonzero(flows > 0)
    by_group: dict[int, list[int]] = {}
    for k in chosen:
        by_group.setdefault(int(gi[k]), []).append(int(li[k]))
    members_sorted = np.argsort(g_of_free * 1e6 + cap.cost[free], kind="stable")
    starts = np.searchsorted(g_of_free[members_sorted], np.arange(g + 1))
    placed: set[int] = set()
    left: list[Load] = []
    for grp, who in by_group.items():
        members = free[members_sorted[starts[grp]:starts[grp + 1]]]
        who.sort(key=lambda i: (-tw[i], loads[i].arrival_s, loads[i].id))
        mi = 0
        for i in who:
            while mi < members.size and not _accept(lay, state, result, loads[i], int(members[mi]), "flow"):
                mi += 1
            if mi < members.size:
                placed.add(i)
                mi += 1
    left += [ld for i, ld in enumerate(loads) if i not in placed]
    return left


def _clear_of(lay: Layout, idx: np.ndarray, cls: str, state: _Batch) -> np.ndarray:
    """Mask over `idx`: no load of another hazard class within the segregation distance."""
    return state.clear_for(cls)[idx]


def _spread(lay: Layout, idx: np.ndarray, k: int, per_cell: int) -> np.ndarray:
    """The first k of `idx` (cheapest first) with at most `per_cell` per segregation-sized cell,
    so the loads of different classes get candidates far enough apart to coexist."""
    cell = max(lay.rules.segregation_m, 1e-6)
    out: list[int] = []
    used: dict[tuple[int, int], int] = {}
    for p in idx:
        key = (int(lay.x[p] // cell), int(lay.y[p] // cell))
        if used.get(key, 0) < per_cell:
            used[key] = used.get(key, 0) + 1
            out.append(int(p))
            if len(out) >= k:
                break
    return np.asarray(out, dtype=np.int64)


def _hazard_phase(yard: Yard, loads: list[Load], state: _Batch, opts: PutawayOptions,
                  result: PutawayResult) -> list[Load]:
    """CP-SAT: hazardous loads on their cheapest clear positions, classes kept apart.

    At most `hazard_max_model` loads go into one model (the rest, and anything the
    model leaves, go to the sequential placement below, which is exact but myopic).
    """
    lay = yard.layout
    rules = lay.rules
    loads = sorted(loads, key=lambda ld: (-TURNOVER_WEIGHT[ld.turnover], ld.arrival_s, ld.id))
    model_loads, rest = loads[: opts.hazard_max_model], loads[opts.hazard_max_model :]
    cap = _capacity(yard, state.taken)
    accept, tix = _type_matrix(lay, model_loads) if model_loads else (None, None)
    free = np.flatnonzero(cap.usable)
    cands: list[np.ndarray] = []
    for i, ld in enumerate(model_loads):
        idx = free[_fits(cap, lay, free, ld, accept[:, tix[i]])]
        idx = idx[np.argsort(cap.cost[idx], kind="stable")]
        idx = idx[: opts.hazard_candidates * 50]
        idx = idx[_clear_of(lay, idx, ld.hazard_class or "", state)]
        cands.append(_spread(lay, idx, opts.hazard_candidates, per_cell=opts.hazard_per_cell))
    model = cp_model.CpModel()
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    for i, idx in enumerate(cands):
        for p in idx:
            x[i, int(p)] = model.new_bool_var(f"x{i}_{p}")
        if idx.size:
            model.add_at_most_one(x[i, int(p)] for p in idx)
    by_pos: dict[int, list[int]] = {}
    for (i, p) in x:
        by_pos.setdefault(p, []).append(i)
    for p, who in by_pos.items():
        if len(who) > 1:
            model.add_at_most_one(x[i, p] for i in who)
    use: dict[tuple[str, int], cp_model.IntVar] = {}
    for (i, p), var in x.items():
        c = model_loads[i].hazard_class or ""
        if (c, p) not in use:
            use[c, p] = model.new_bool_var(f"u{c}_{p}")
        model.add_implication(var, use[c, p])
    per_class: dict[str, np.ndarray] = {}
    for c, p in use:
        per_class.setdefault(c, [])  # type: ignore[arg-type]
        per_class[c].append(p)  # type: ignore[attr-defined]
    classes = sorted(per_class)
    for a, c in enumerate(classes):
        pc = np.asarray(per_class[c])
        for e in classes[a + 1 :]:
            pe = np.asarray(per_class[e])
            d = np.hypot(lay.x[pc, None] - lay.x[None, pe], lay.y[pc, None] - lay.y[None, pe])
            for u, v in np.argwhere(d < rules.segregation_m):
                model.add_bool_or([use[c, int(pc[u])].Not(), use[e, int(pe[v])].Not()])
    tw = _weights(model_loads)
    big = int(1e9)
    model.maximize(sum(big * var - int(tw[i] * cap.cost[p] * COST_SCALE) for (i, p), var in x.items()))
    chosen: dict[int, int] = {}
    if x:
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = opts.hazard_time_limit_s
        solver.parameters.num_workers = 1
        status = solver.solve(model)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            chosen = {i: p for (i, p), var in x.items() if solver.value(var)}
    left = [ld for i, ld in enumerate(model_loads)
            if i not in chosen or not _accept(lay, state, result, ld, chosen[i], "cp-sat")]
    return _hazard_sequential(yard, left + rest, state, result)


def _hazard_sequential(yard: Yard, loads: list[Load], state: _Batch, result: PutawayResult) -> list[Load]:
    """Each hazardous load on its cheapest position clear of the other classes."""
    lay = yard.layout
    if not loads:
        return []
    cap = _capacity(yard, state.taken)
    accept, tix = _type_matrix(lay, loads)
    left = []
    for i, ld in enumerate(loads):
        free = np.flatnonzero(cap.usable & ~state.taken)
        idx = free[_fits(cap, lay, free, ld, accept[:, tix[i]])]
        idx = idx[np.argsort(cap.cost[idx], kind="stable")]
        ok = idx[_clear_of(lay, idx, ld.hazard_class or "", state)]
        if not any(_accept(lay, state, result, ld, int(p), "greedy") for p in ok[:64]):
            left.append(ld)
    return left


def _greedy_phase(yard: Yard, loads: list[Load], state: _Batch, result: PutawayResult) -> None:
    """Cheapest position the checker accepts, or a reason why there is none."""
    lay = yard.layout
    if not loads:
        return
    loads = sorted(loads, key=lambda ld: (-TURNOVER_WEIGHT[ld.turnover], ld.arrival_s, ld.id))
    accept, tix = _type_matrix(lay, loads)
    view = _with(yard, state.scratch)  # supports placed in this batch may carry uppers here
    cap = _capacity(view, state.taken)
    for i, ld in enumerate(loads):
        free = np.flatnonzero(cap.usable & ~state.taken)
        idx = free[_fits(cap, lay, free, ld, accept[:, tix[i]])]
        idx = idx[np.argsort(cap.cost[idx], kind="stable")]
        if ld.hazard_class is not None:
            idx = idx[_clear_of(lay, idx, ld.hazard_class, state)]
        if not any(_accept(lay, state, result, ld, int(p), "greedy") for p in idx[:256]):
            result.no_room[ld.id] = no_room_reason(_with(yard, state.scratch), ld, state.taken)


def _with(yard: Yard, scratch: dict) -> Yard:
    """The yard as if `scratch` (yard plus this batch so far) were stored."""
    if len(scratch) == len(yard.at):
        return yard
    other = yard.copy()
    for p, ld in scratch.items():
        if p not in other.at:
            other._put(p, ld)
    return other


def no_room_reason(yard: Yard, load: Load, taken: np.ndarray | None = None) -> str:
    """Why no free position takes `load`: how many free positions each rule rules out."""
    lay = yard.layout
    taken = np.zeros(lay.n, dtype=bool) if taken is None else taken
    free = np.flatnonzero(~yard.occupied & ~taken)
    if free.size == 0:
        return "the yard is full (0 free positions)"
    cap = _capacity(yard, taken)
    accept, _ = _type_matrix(lay, [load])
    up = lay.kind[free] == UPPER
    a, b = lay.support[free, 0], lay.support[free, 1]
    counts = {
        "type": int((~accept[:, 0][lay.type_rule_of[free]]).sum()),
        "weight": int((load.weight_kg > cap.wcap[free]).sum()),
        "width": int((load.width_m > cap.width[free]).sum()),
        "diameter": int((load.diameter_m > cap.dmax[free]).sum()),
        "unreachable": int((~lay.reachable[free]).sum()),
        "support": int((up & ~(yard.occupied[a] & yard.occupied[b])).sum()),
        "saddle-fit": int((up & (load.diameter_m < cap.dmin[free])).sum()),
    }
    if load.hazard_class is not None:
        if lay.has_hazard_zones and lay.rules.hazard_zone_required:
            counts["hazard-zone"] = int((~lay.in_hazard_zone[free]).sum())
        state = _Batch(yard)
        counts["segregation"] = int((~_clear_of(lay, free, load.hazard_class, state)).sum())
    parts = ", ".join(f"{n} {r}" for r, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n)
    return f"{free.size} free positions, none fits ({parts or 'taken by this batch'})"


def first_free_putaway(yard: Yard, loads: list[Load]) -> PutawayResult:
    """Baseline: each load, in arrival order, into the first free valid position in site order."""
    t0 = time.perf_counter()
    result = PutawayResult()
    lay = yard.layout
    state = _Batch(yard)
    ordered = sorted(loads, key=lambda ld: (ld.arrival_s, ld.id))
    accept, tix = _type_matrix(lay, ordered)
    cap = _capacity(yard, state.taken)
    for i, ld in enumerate(ordered):
        free = np.flatnonzero(cap.usable & ~state.taken)
        idx = free[_fits(cap, lay, free, ld, accept[:, tix[i]])]
        if ld.hazard_class is not None:
            idx = idx[_clear_of(lay, idx, ld.hazard_class, state)]
        if not any(_accept(lay, state, result, ld, int(p), "first-free") for p in idx[:256]):
            result.no_room[ld.id] = no_room_reason(_with(yard, state.scratch), ld, state.taken)
    _totals(lay, ordered, result)
    result.elapsed_s = time.perf_counter() - t0
    return result


def _totals(lay: Layout, loads: list[Load], result: PutawayResult) -> None:
    by_id = {ld.id: ld for ld in loads}
    t = wt = 0.0
    for lid, pid in result.placements.items():
        s = float(lay.travel_s[lay.index(pid)])
        t += s
        wt += s * TURNOVER_WEIGHT[by_id[lid].turnover]
    result.travel_s = t if math.isfinite(t) else math.inf
    result.weighted_travel_s = wt


def apply_putaway(yard: Yard, loads: list[Load], result: PutawayResult) -> None:
    """Store every planned placement in the yard (each re-checked by the yard)."""
    by_id = {ld.id: ld for ld in loads}
    order = sorted(result.placements.items(), key=lambda kv: int(yard.layout.kind[yard.layout.index(kv[1])]))
    for lid, pid in order:  # lower positions before upper ones
        yard.place(by_id[lid], pid)
