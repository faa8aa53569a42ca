"""LaCAM*: complete, anytime multi-agent path finding for hundreds to thousands of agents.

The search (Okumura, "LaCAM: Search-Based Algorithm for Quick Multi-Agent Pathfinding",
AAAI 2023; "Improving LaCAM for Scalable Eventually Optimal MAPF", IJCAI 2023;
"Engineering LaCAM*", AAMAS 2024) is a depth-first search over *configurations*
(every agent's node at one instant). Successors are generated lazily: each
high-level node keeps a breadth-first queue of low-level *constraints* ("agent a
goes to node u"), and each visit pops one, fixes those agents and lets PIBT
(`planners.pibt`) move the rest. Trying every constraint eventually enumerates
every successor, which makes the search complete: it finds a plan when one exists
and proves 'unsolvable' when the reachable configurations run out.

LaCAM* refinements kept here: a node already seen is re-linked (a Dijkstra-style
update of costs through the explored graph, so the plan found keeps improving) and
re-inserted with a small chance of restarting from the start configuration. After the
first solution, `solve(refine=True)` hands the plan to large-neighbourhood search
(`planners.lns`), which lowers the sum of costs far faster than LaCAM*'s own continued
search (the kernel can still do that, `refine` argument, but `solve` no longer asks).

Everything lives in flat, growing numpy arrays inside one numba kernel; the time
limit is checked every few iterations from inside it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numba
import numpy as np
from numba import njit

from maps.graph import GraphArrays
from planners.distance import distance_tables, goal_distances, table_dtype, unreachable
from planners.pibt import footprint_ok, is_blocked, pibt_order, ring_free
from planners.problem import Blocks, as_nodes, check_problem, footprint_clash

SOLVED, TIMEOUT, UNSOLVABLE, MEMORY = 0, 1, 2, 3
STATUS = {SOLVED: "solved", TIMEOUT: "timeout", UNSOLVABLE: "unsolvable", MEMORY: "memory"}
RESTART_RATE = 0.001
MEMORY_BUDGET_BYTES = 640 * 2**20


@dataclass(frozen=True)
class PlanResult:
    """Outcome of one `solve` call.

    status: 'solved', 'timeout', 'unsolvable' or 'memory' (search stopped at its memory
    budget). `plan` is the (T+1, N) int32 array of node indices (row t = every agent's node at
    step t; row 0 the starts, the last row the goals), or None when not solved.
    soc counts for each agent the step it last arrives at its goal; makespan is T.
    first_solution_s: when the first plan was found; first_soc its sum of costs (with
    `refine`, the returned plan is the large-neighbourhood search's improvement of it, found
    in `refine_iterations` iterations of which `refine_accepted` lowered the cost).
    """

    status: str
    plan: np.ndarray | None
    soc: int
    makespan: int
    runtime_s: float
    reason: str = ""
    lower_bound_soc: int = 0
    lower_bound_makespan: int = 0
    first_solution_s: float = 0.0
    first_cost: int = 0  # LaCAM*'s own cost of the first plan found (agent-steps off goal)
    distance_s: float = 0.0
    stats: dict[str, int] = field(default_factory=dict)
    first_soc: int = 0
    refine_iterations: int = 0
    refine_accepted: int = 0
    refine_s: float = 0.0

    @property
    def solved(self) -> bool:
        return self.status == "solved"

    def paths(self) -> list[np.ndarray]:
        """Per-agent node sequences with the trailing waits at the goal trimmed."""
        if self.plan is None:
            return []
        return [self.plan[: arrival + 1, a].copy() for a, arrival in enumerate(arrivals(self.plan))]


def arrivals(plan: np.ndarray) -> np.ndarray:
    """For each agent, the step from which it stays on its last node (its cost)."""
    t_last = plan.shape[0] - 1
    off = plan != plan[-1][None, :]
    last_off = t_last - np.argmax(off[::-1], axis=0)
    return np.where(off.any(axis=0), last_off + 1, 0).astype(np.int64)


def sum_of_costs(plan: np.ndarray) -> int:
    return int(arrivals(plan).sum())


@njit(cache=True)
def _now():  # pragma: no cover - numba
    with numba.objmode(t="float64"):
        t = time.perf_counter()
    return t


@njit(cache=True)
def _grow1(a, cap):  # pragma: no cover - numba
    b = np.empty(cap, dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


@njit(cache=True)
def _grow2(a, cap):  # pragma: no cover - numba
    b = np.empty((cap, a.shape[1]), dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


@njit(cache=True)
def _hash(q):  # pragma: no cover - numba
    h = np.uint64(1469598103934665603)
    for i in range(q.shape[0]):
        h ^= np.uint64(q[i]) + np.uint64(0x9E3779B97F4A7C15) + (h << np.uint64(6)) + (h >> np.uint64(2))
    return h


@njit(cache=True)
def _lookup(table, hashes, configs, tkeys, hv, q, tk):  # pragma: no cover - numba
    mask = np.uint64(table.shape[0] - 1)
    s = np.int64(hv & mask)
    while True:
        k = table[s]
        if k == -1:
            return -1, s
        if hashes[k] == hv and tkeys[k] == tk:
            same = True
            row = configs[k]
            for i in range(q.shape[0]):
                if row[i] != q[i]:
                    same = False
                    break
            if same:
                return k, s
        s = (s + 1) & np.int64(mask)


@njit(cache=True)
def _rehash(hashes, n, cap):  # pragma: no cover - numba
    table = np.full(cap, -1, dtype=np.int32)
    mask = np.uint64(cap - 1)
    for k in range(n):
        s = np.int64(hashes[k] & mask)
        while table[s] != -1:
            s = (s + 1) & np.int64(mask)
        table[s] = k
    return table


@njit(cache=True)
def _edge_cost(qa, qb, goals):  # pragma: no cover - numba
    c = 0
    for i in range(goals.shape[0]):
        if not (qa[i] == goals[i] and qb[i] == goals[i]):
            c += 1
    return c


@njit(cache=True)
def _extract(configs, parent, node, n_agents):  # pragma: no cover - numba
    length = 0
    x = node
    while x != -1:
        length += 1
        x = parent[x]
    plan = np.empty((length, n_agents), dtype=np.int32)
    x = node
    r = length - 1
    while x != -1:
        plan[r] = configs[x]
        r -= 1
        x = parent[x]
    return plan


@njit(cache=True)
def _search(indptr, indices, cptr, cind, has_conf, dist, inf, starts, goals, blocked, wptr,
            wfrom, wto, windows_on, horizon, swap_on, seed, deadline, max_nodes, refine,
            restart_rate, rot_on, max_iters):  # pragma: no cover - numba
    """The LaCAM* loop. Returns (status, plan, first plan, stats int64[8], first_s, first_cost).
    The first plan is kept apart when refining (rewiring lowers LaCAM*'s own cost, which
    is not exactly the sum of costs, so the caller keeps whichever is better).

    With block windows, a search node is (configuration, time) until `horizon` (the end of
    the last window) and a configuration alone after it: waiting out a window is progress.
    """
    np.random.seed(seed)
    n_agents = starts.shape[0]
    n_nodes = indptr.shape[0] - 1
    maxdeg = 0
    for v in range(n_nodes):
        maxdeg = max(maxdeg, indptr[v + 1] - indptr[v])
    cand = np.empty((n_agents, maxdeg + 1), dtype=np.int32)
    keyb = np.empty((n_agents, maxdeg + 1), dtype=np.float64)
    drow = np.arange(n_agents).astype(np.int32)
    occ_now = np.full(n_nodes, -1, dtype=np.int32)
    occ_next = np.full(n_nodes, -1, dtype=np.int32)
    qto = np.empty(n_agents, dtype=np.int32)
    frames = np.empty((n_agents, 5), dtype=np.int32)
    no_spur = np.full(n_nodes, -1, dtype=np.int32)
    mark = np.zeros(n_agents, dtype=np.int64)
    stamp = np.zeros(1, dtype=np.int64)
    maxconf = 0
    for v in range(n_nodes):
        maxconf = max(maxconf, cptr[v + 1] - cptr[v])
    stack = np.empty(n_agents * (maxconf + 1) + 1, dtype=np.int32)
    spur_cnt = np.zeros(1, dtype=np.int32)
    nbuf = np.empty(maxdeg + 1, dtype=np.int32)
    t_start = _now()

    cap = 256
    configs = np.empty((cap, n_agents), dtype=np.int32)
    prios = np.empty((cap, n_agents), dtype=np.float32)
    parent = np.empty(cap, dtype=np.int32)
    depth = np.empty(cap, dtype=np.int32)
    gcost = np.empty(cap, dtype=np.int64)
    hcost = np.empty(cap, dtype=np.int64)
    hashes = np.empty(cap, dtype=np.uint64)
    tkeys = np.empty(cap, dtype=np.int32)
    lhead = np.empty(cap, dtype=np.int32)
    ltail = np.empty(cap, dtype=np.int32)
    ehead = np.empty(cap, dtype=np.int32)
    lcap = 1024
    l_par = np.empty(lcap, dtype=np.int32)
    l_who = np.empty(lcap, dtype=np.int32)
    l_where = np.empty(lcap, dtype=np.int32)
    l_depth = np.empty(lcap, dtype=np.int32)
    l_next = np.empty(lcap, dtype=np.int32)
    ecap = 1024
    e_to = np.empty(ecap, dtype=np.int32)
    e_next = np.empty(ecap, dtype=np.int32)
    e_cost = np.empty(ecap, dtype=np.int32)
    hcap = 1024
    table = np.full(hcap, -1, dtype=np.int32)
    open_ = np.empty(1024, dtype=np.int32)
    fifo = np.empty(1024, dtype=np.int32)

    # the start configuration
    configs[0] = starts
    h0 = 0
    for i in range(n_agents):
        d = np.int64(dist[i, starts[i]])
        h0 += d
        prios[0, i] = np.float32(d) / np.float32(n_agents)
    parent[0] = -1
    depth[0] = 0
    gcost[0] = 0
    hcost[0] = h0
    tkeys[0] = 0
    hashes[0] = _hash(starts) ^ np.uint64(0)
    ehead[0] = -1
    l_par[0] = -1
    l_who[0] = -1
    l_where[0] = -1
    l_depth[0] = 0
    l_next[0] = -1
    lhead[0] = 0
    ltail[0] = 0
    n_h = 1
    n_l = 1
    n_e = 0
    _, s0 = _lookup(table, hashes, configs, tkeys, hashes[0], starts, 0)
    table[s0] = 0
    open_[0] = 0
    top = 1
    goal = -1
    status = -1
    it = 0
    n_gen = 0
    first_s = -1.0
    first_cost = -1
    first_plan = np.empty((0, n_agents), dtype=np.int32)

    while top > 0:
        it += 1
        if (it & 15) == 0 and _now() > deadline:
            status = TIMEOUT
            break
        if max_iters > 0 and it > max_iters:
            status = MEMORY  # a work cap, like the configurations': the same for a seed on any machine
            break
        hn = open_[top - 1]
        if goal == -1 and hcost[hn] == 0:
            goal = hn
            first_s = _now() - t_start
            first_cost = gcost[hn]
            if not refine:
                status = SOLVED
                break
            first_plan = _extract(configs, parent, hn, n_agents)
        if goal != -1 and gcost[hn] + hcost[hn] >= gcost[goal]:
            top -= 1
            continue
        lo = lhead[hn]
        if lo == -1:
            top -= 1
            continue
        lhead[hn] = l_next[lo]
        if lhead[hn] == -1:
            ltail[hn] = -1
        order = np.argsort(-prios[hn], kind="mergesort")
        qfrom = configs[hn]

        # grow this node's constraint tree by one level below `lo`
        ld = l_depth[lo]
        if ld < n_agents:
            a = order[ld]
            v = qfrom[a]
            nb = 0
            for e in range(indptr[v], indptr[v + 1]):
                nbuf[nb] = indices[e]
                nb += 1
            nbuf[nb] = v
            nb += 1
            for x in range(nb - 1, 0, -1):
                y = np.random.randint(0, x + 1)
                tmp = nbuf[x]
                nbuf[x] = nbuf[y]
                nbuf[y] = tmp
            if n_l + nb > lcap:
                lcap = 2 * (n_l + nb)
                l_par = _grow1(l_par, lcap)
                l_who = _grow1(l_who, lcap)
                l_where = _grow1(l_where, lcap)
                l_depth = _grow1(l_depth, lcap)
                l_next = _grow1(l_next, lcap)
            for x in range(nb):
                l_par[n_l] = lo
                l_who[n_l] = a
                l_where[n_l] = nbuf[x]
                l_depth[n_l] = ld + 1
                l_next[n_l] = -1
                if ltail[hn] == -1:
                    lhead[hn] = n_l
                else:
                    l_next[ltail[hn]] = n_l
                ltail[hn] = n_l
                n_l += 1

        # a successor configuration: constrained agents first, PIBT for the rest
        t_next = depth[hn] + 1
        for i in range(n_agents):
            qto[i] = -1
            occ_now[qfrom[i]] = i
        ok = True
        lc = lo
        while lc != -1 and l_depth[lc] > 0:
            a = l_who[lc]
            u = l_where[lc]
            lc = l_par[lc]
            if occ_next[u] != -1:
                ok = False
                break
            j = occ_now[u]
            if j != -1 and j != a and qto[j] == qfrom[a]:
                ok = False
                break
            if is_blocked(u, t_next, blocked, wptr, wfrom, wto):
                ok = False
                break
            if has_conf:
                for c in range(cptr[u], cptr[u + 1]):
                    if occ_next[cind[c]] != -1:
                        ok = False
                        break
                if not ok:
                    break
            qto[a] = u
            occ_next[u] = a
        if ok:
            ok = pibt_order(order, t_next, indptr, indices, cptr, cind, has_conf, dist, drow,
                            inf, goals, qfrom, qto, occ_now, occ_next, blocked, wptr, wfrom,
                            wto, False, swap_on, False, cand, keyb, frames, no_spur, spur_cnt,
                            spur_cnt, rot_on, mark, stamp, stack)
        if ok and has_conf:
            ok = footprint_ok(qto, cptr, cind, occ_next)
        if ok and rot_on:
            ok = ring_free(qfrom, qto, occ_now, cptr, cind, mark, stamp, stack)
        if ok and windows_on:
            for i in range(n_agents):
                if is_blocked(qto[i], t_next, blocked, wptr, wfrom, wto):
                    ok = False
                    break
        for i in range(n_agents):
            occ_now[qfrom[i]] = -1
            if qto[i] != -1:
                occ_next[qto[i]] = -1
        if not ok:
            continue
        n_gen += 1

        tk = min(t_next, horizon)
        hv = _hash(qto) ^ (np.uint64(tk) * np.uint64(0xBF58476D1CE4E5B9))
        known, slot = _lookup(table, hashes, configs, tkeys, hv, qto, tk)
        if known != -1:
            if not windows_on:
                # link hn -> known and push cheaper costs through the explored graph
                c_new = _edge_cost(qfrom, qto, goals)
                dup = False
                e = ehead[hn]
                while e != -1:
                    if e_to[e] == known:
                        dup = True
                        break
                    e = e_next[e]
                if not dup:
                    if n_e == ecap:
                        ecap *= 2
                        e_to = _grow1(e_to, ecap)
                        e_next = _grow1(e_next, ecap)
                        e_cost = _grow1(e_cost, ecap)
                    e_to[n_e] = known
                    e_cost[n_e] = c_new
                    e_next[n_e] = ehead[hn]
                    ehead[hn] = n_e
                    n_e += 1
                fifo[0] = hn
                fh = 0
                ft = 1
                while fh < ft:
                    nf = fifo[fh]
                    fh += 1
                    e = ehead[nf]
                    while e != -1:
                        nt = e_to[e]
                        g2 = gcost[nf] + e_cost[e]
                        if g2 < gcost[nt]:
                            gcost[nt] = g2
                            parent[nt] = nf
                            if ft == fifo.shape[0]:
                                fifo = _grow1(fifo, 2 * ft)
                            fifo[ft] = nt
                            ft += 1
                            if goal != -1 and g2 + hcost[nt] < gcost[goal]:
                                if top == open_.shape[0]:
                                    open_ = _grow1(open_, 2 * top)
                                open_[top] = nt
                                top += 1
                        e = e_next[e]
            ins = known
            if np.random.random() < restart_rate:
                ins = 0
            if goal == -1 or gcost[ins] + hcost[ins] < gcost[goal]:
                if top == open_.shape[0]:
                    open_ = _grow1(open_, 2 * top)
                open_[top] = ins
                top += 1
            continue

        if n_h >= max_nodes:
            status = MEMORY
            break
        if n_h == cap:
            cap *= 2
            configs = _grow2(configs, cap)
            prios = _grow2(prios, cap)
            parent = _grow1(parent, cap)
            depth = _grow1(depth, cap)
            gcost = _grow1(gcost, cap)
            hcost = _grow1(hcost, cap)
            hashes = _grow1(hashes, cap)
            tkeys = _grow1(tkeys, cap)
            lhead = _grow1(lhead, cap)
            ltail = _grow1(ltail, cap)
            ehead = _grow1(ehead, cap)
        nn = n_h
        n_h += 1
        hsum = 0
        for i in range(n_agents):
            configs[nn, i] = qto[i]
            d = np.int64(dist[i, qto[i]])
            hsum += d
            p = prios[hn, i]
            if d != 0:
                prios[nn, i] = p + np.float32(1.0)
            else:
                prios[nn, i] = p - np.float32(np.floor(p))
        parent[nn] = hn
        depth[nn] = depth[hn] + 1
        gcost[nn] = gcost[hn] + _edge_cost(qfrom, qto, goals)
        hcost[nn] = hsum
        hashes[nn] = hv
        tkeys[nn] = tk
        ehead[nn] = -1
        if n_l == lcap:
            lcap *= 2
            l_par = _grow1(l_par, lcap)
            l_who = _grow1(l_who, lcap)
            l_where = _grow1(l_where, lcap)
            l_depth = _grow1(l_depth, lcap)
            l_next = _grow1(l_next, lcap)
        l_par[n_l] = -1
        l_who[n_l] = -1
        l_where[n_l] = -1
        l_depth[n_l] = 0
        l_next[n_l] = -1
        lhead[nn] = n_l
        ltail[nn] = n_l
        n_l += 1
        if n_e == ecap:
            ecap *= 2
            e_to = _grow1(e_to, ecap)
            e_next = _grow1(e_next, ecap)
            e_cost = _grow1(e_cost, ecap)
        e_to[n_e] = nn
        e_cost[n_e] = gcost[nn] - gcost[hn]
        e_next[n_e] = ehead[hn]
        ehead[hn] = n_e
        n_e += 1
        if 2 * n_h > hcap:
            hcap *= 2
            table = _rehash(hashes, n_h, hcap)
        else:
            table[slot] = nn
        if goal == -1 or gcost[nn] + hsum < gcost[goal]:
            if top == open_.shape[0]:
                open_ = _grow1(open_, 2 * top)
            open_[top] = nn
            top += 1

    if status == -1:
        status = SOLVED if goal != -1 else UNSOLVABLE
    if status == MEMORY and goal != -1:
        status = SOLVED
    if status == TIMEOUT and goal != -1:
        status = SOLVED
    stats = np.zeros(8, dtype=np.int64)
    stats[0] = n_h
    stats[1] = n_l
    stats[2] = it
    stats[3] = n_gen
    stats[4] = n_e
    if goal == -1:
        return status, first_plan, first_plan, stats, first_s, first_cost
    return status, _extract(configs, parent, goal, n_agents), first_plan, stats, first_s, first_cost


def is_symmetric(graph: GraphArrays) -> bool:
    """Every directed edge has its reverse (the swap technique needs this)."""
    n = graph.n_nodes
    src = np.repeat(np.arange(n, dtype=np.int64), np.diff(graph.indptr))
    fwd = np.sort(src * n + graph.indices)
    bwd = np.sort(graph.indices.astype(np.int64) * n + src)
    return bool(np.array_equal(fwd, bwd))


def _unsolved(status: str, reason: str, t0: float, n: int) -> PlanResult:
    return PlanResult(status=status, plan=None, soc=0, makespan=0,
                      runtime_s=time.perf_counter() - t0, reason=reason)


_compiled = False


def compile_kernels() -> float:
    """Load (or, on the very first run, compile) the numba kernels; seconds it took.

    Called once per process by `solve` before its clock starts, so a time limit measures
    planning, not compilation. Compiled code is cached on disk (`cache=True`), so only the
    first run after an install or a source change pays the full compile.
    """
    global _compiled
    if _compiled:
        return 0.0
    t0 = time.perf_counter()
    from maps.movingai import Grid, grid_graph

    g = grid_graph(Grid("warmup", np.ones((2, 3), dtype=bool)))
    _compiled = True
    solve(g, np.array([0, 2], np.int32), np.array([2, 0], np.int32), 5.0)
    from planners.lns import refine

    # one agent that waits for nothing: gives the refinement kernels something to do (and
    # the CSR search, which lane graphs use, gets loaded too)
    dist = distance_tables(g.indptr, g.indices, np.array([2], np.int32), np.zeros(6, np.bool_))
    empty = np.zeros(0, np.int32)
    refine(g.indptr, g.indices, g.conflict_indptr, g.conflict_indices, dist,
           unreachable(dist.dtype), np.array([[0], [0], [1], [2]], np.int32),
           np.array([2]), time.perf_counter() + 5.0, np.zeros(6, np.bool_),
           np.zeros(7, np.int32), empty, empty, max_iterations=2)
    return time.perf_counter() - t0


def solve(
    graph: GraphArrays,
    starts: np.ndarray,
    goals: np.ndarray,
    time_limit_s: float,
    seed: int = 0,
    *,
    blocks: Blocks | None = None,
    refine: bool = False,
    swap: bool | None = None,
    no_rotation: bool = False,
    memory_budget_bytes: int = MEMORY_BUDGET_BYTES,
    refine_iterations: int | None = None,
    max_configs: int | None = None,
    max_iterations: int | None = None,
) -> PlanResult:
    """Plan every agent from its start node to its goal node without collisions.

    starts, goals: node indices, one per agent. time_limit_s bounds the whole call
    (distance tables included); `refine` keeps improving the sum of costs until then
    instead of returning the first plan, by large-neighbourhood search (`planners.lns`);
    `refine_iterations` caps its iterations and `max_configs` the search's configurations
    (then the result does not depend on the clock: deterministic for a seed when the
    caps, not the time limit, end it; the search past `max_configs` ends as 'memory'). `max_iterations`
    caps the search's iterations, which revisits of known configurations make far more than the
    configurations (170 per configuration on a jammed 30-AGV warehouse: 5,000 configurations took 3.5 s);
    past it the search ends as 'memory' too. blocks: nodes others reserve (for good or for
    time windows); the plan never occupies them. swap: LaCAM*'s swap moves (default: on
    when every edge has its reverse, never with no_rotation). no_rotation: no step moves a
    ring of agents into each other's vacated nodes (directly or through footprint conflict
    sets), which delay-robust execution cannot release. Raises PlanInputError for malformed input (duplicate
    starts or goals, a start or goal on a blocked node); an agent that cannot reach its
    goal gives status 'unsolvable' with the agent in `reason`. Deterministic for a seed.
    """
    compile_kernels()
    t0 = time.perf_counter()
    deadline = t0 + max(0.0, float(time_limit_s))
    blocks = blocks or Blocks()
    s = as_nodes(graph, starts, "starts")
    g = as_nodes(graph, goals, "goals")
    blocked, wptr, wfrom, wto = blocks.arrays(graph.n_nodes)
    check_problem(graph, s, g, blocked)
    n_agents = int(s.shape[0])
    if n_agents == 0:
        plan = np.zeros((1, 0), dtype=np.int32)
        return PlanResult("solved", plan, 0, 0, time.perf_counter() - t0)
    clash = footprint_clash(graph, g)
    if clash:
        return _unsolved("unsolvable", f"agents {clash[0]} and {clash[1]} have goals too close "
                         "to be occupied together (footprints overlap)", t0, n_agents)
    dtype = table_dtype(graph.n_nodes)
    inf = unreachable(dtype)
    dist = goal_distances(graph, g, blocked, deadline)
    t_dist = time.perf_counter() - t0
    if dist is None:
        return _unsolved("timeout", "time limit reached while computing distance tables", t0, n_agents)
    d_start = dist[np.arange(n_agents), s].astype(np.int64)
    bad = np.flatnonzero(d_start == inf)
    if bad.size:
        a = int(bad[0])
        return _unsolved("unsolvable", f"agent {a} cannot reach its goal node {int(g[a])} from "
                         f"node {int(s[a])} ({bad.size} such agents)", t0, n_agents)
    if time.perf_counter() > deadline:
        return _unsolved("timeout", "time limit reached while computing distance tables", t0, n_agents)
    swap_on = is_symmetric(graph) if swap is None else bool(swap and is_symmetric(graph))
    swap_on = swap_on and not no_rotation
    has_conf = graph.conflict_indices.shape[0] > 0
    per_node = 8 * n_agents + 64
    max_nodes = max(16, (memory_budget_bytes - dist.nbytes) // per_node)
    if max_configs is not None:
        max_nodes = max(16, min(max_nodes, int(max_configs)))
    code, plan, _, stats, first_s, first_cost = _search(
        graph.indptr, graph.indices, graph.conflict_indptr, graph.conflict_indices, has_conf,
        dist, dtype.type(inf), s, g, blocked, wptr, wfrom, wto, blocks.has_windows,
        int(wto.max()) if wto.size else 0, swap_on,
        int(seed) & 0x7FFFFFFF, deadline, int(max_nodes), False, RESTART_RATE,
        bool(no_rotation), int(max_iterations or 0))
    st = {"high_level_nodes": int(stats[0]), "low_level_nodes": int(stats[1]),
          "iterations": int(stats[2]), "configs_generated": int(stats[3])}
    lb_soc, lb_mk = int(d_start.sum()), int(d_start.max())
    status = STATUS[int(code)]
    if status != "solved":
        runtime = time.perf_counter() - t0
        if max_iterations and st["iterations"] > max_iterations:
            memory = f"search reached its cap of {max_iterations} iterations"
        elif max_configs is not None and max_nodes >= max_configs:
            memory = f"search reached its cap of {max_nodes} configurations"
        else:
            memory = f"search exceeded its memory budget ({memory_budget_bytes >> 20} MiB)"
        reason = {"timeout": f"no plan within {time_limit_s:g} s",
                  "unsolvable": "every reachable configuration explored: no plan exists",
                  "memory": memory}[status]
        return PlanResult(status, None, 0, 0, runtime, reason, lb_soc, lb_mk,
                          distance_s=t_dist, stats=st)
    first_soc = soc = sum_of_costs(plan)
    lns_its = lns_acc = 0
    lns_s = 0.0
    if refine and (refine_iterations is None or refine_iterations > 0):
        from planners.lns import refine as lns_refine
        from planners.lns import symmetric_conflicts

        cptr, cind = symmetric_conflicts(graph.conflict_indptr, graph.conflict_indices)
        better = lns_refine(graph.indptr, graph.indices, cptr, cind, dist, inf, plan, d_start,
                            deadline, blocked, wptr, wfrom, wto, seed=seed,
                            max_iterations=refine_iterations, no_rotation=no_rotation)
        if better.soc < soc:
            plan, soc = better.plan, better.soc
        lns_its, lns_acc, lns_s = better.iterations, better.accepted, better.runtime_s
    runtime = time.perf_counter() - t0
    return PlanResult("solved", plan, soc, int(plan.shape[0] - 1), runtime, "", lb_soc, lb_mk,
                      first_solution_s=float(first_s) + t_dist, first_cost=int(first_cost),
                      distance_s=t_dist, stats=st, first_soc=first_soc,
                      refine_iterations=lns_its, refine_accepted=lns_acc, refine_s=lns_s)
