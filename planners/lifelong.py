"""Lifelong planning: every step, the next node for every agent while goals keep changing.

One PIBT step per call (`planners.pibt`), which always yields a collision-free
configuration, so the fleet never stalls on a planning failure. Priorities persist
across steps (an agent's priority grows each step it is away from its goal and drops
when it arrives), which on the usual warehouse graphs gets every agent to its goal.

Distance tables are per goal node, computed lazily and kept in a fixed pool with
least-recently-used eviction, so orders to the same stations cost one search each.
A station several agents want is *queued*: an agent does not push the agent holding
its goal (standing on it with the same goal) off it; it waits next to it, and its
priority does not grow while it waits, so queues do not bully the traffic around
them. The planner is built once per graph (`LifelongPlanner(graph)`).

Small fleets book windowed space-time paths instead (`planners.reservation`). Prioritized
booking is incomplete: when it lets nobody move, a spell of PIBT steps, with priorities of
their own, shakes the fleet loose before booking resumes. So does a booking livelock: when
some agent has gone `NO_PROGRESS_STEPS` booked steps without getting nearer its goal (others
dodging back and forth for it, each dodge undone by the next step's re-plan).

Neither walks into a gridlock any more (`planners.gridlock`): a step that would leave agents
that can never move again keeps them where they were.

Larger fleets (PIBT only) leave a pushed agent that cannot move unplanned instead of pinning
it, and ask it to make way when it is planned itself (`PUSH_RETRIES`, see `planners.pibt`):
with junction blocks a follower and its leader can never move in the same step, so pinned
leaders (idle ones above all) froze whole corridors.
"""

from __future__ import annotations

import math
import time

import numpy as np
from numba import njit

from maps.graph import GraphArrays
from planners.distance import bfs_rows, reverse_csr, table_dtype, unreachable
from planners.errors import PlanInputError
from planners.gridlock import GridlockGuard
from planners.lacam import is_symmetric
from planners.pibt import footprint_ok, pibt_agent, ring_free, seed_rng
from planners.problem import as_nodes
from planners.reservation import plan_window

TABLE_BUDGET_BYTES = 384 * 2**20
WINDOW_MAX_AGENTS = 64  # fleets up to this size book space-time paths (planners.reservation)
WINDOW_STEPS = 32
WINDOW_MAX_CELLS = 4_000_000  # (steps + 1) * nodes: the reservation table's size
WINDOW_RETRIES = 8  # booking orders tried per step (random ones break would-be jams)
STALL_PIBT_STEPS = 16  # PIBT steps taken when the booked paths let nobody move
NO_PROGRESS_STEPS = 45  # booked steps an agent may go without getting nearer its goal before a PIBT spell
PUSH_RETRIES = 4  # PIBT-only fleets: times per step a pushed agent that could not move is left
# unplanned and asked to make way (planners.pibt); 0 in the spells of small fleets


def spurs(graph: GraphArrays) -> np.ndarray:
    """Dead-end branches: spur id per node (-1 elsewhere). A spur is the chain of nodes from
    a dead end (one neighbour, either direction) back to the first junction, excluded."""
    n = graph.n_nodes
    nbrs: list[set[int]] = [set() for _ in range(n)]
    src = np.repeat(np.arange(n), np.diff(graph.indptr))
    for a, b in zip(src.tolist(), graph.indices.tolist(), strict=True):
        if a != b:
            nbrs[a].add(b)
            nbrs[b].add(a)
    spur = np.full(n, -1, dtype=np.int32)
    k = 0
    for d in range(n):
        if len(nbrs[d]) != 1 or spur[d] != -1:
            continue
        chain, prev, cur = [d], -1, d
        while True:
            nxt = [u for u in nbrs[cur] if u != prev]
            if len(nxt) != 1:
                break
            prev, cur = cur, nxt[0]
            if len(nbrs[cur]) != 2:
                break  # a junction (or another dead end: an isolated path, left alone)
            chain.append(cur)
        if len(nbrs[cur]) >= 3:
            spur[chain] = k
            k += 1
    return spur


@njit(cache=True)
def _step(indptr, indices, cptr, cind, has_conf, pool, slots, inf, goals, pos, prios, blocked,
          swap_on, hold, occ_now, occ_next, qto, cand, keyb, frames, spur, spur_now,
          spur_enter, rot_on, mark, stamp, stack, push_retries, failed):  # pragma: no cover
    """One PIBT step in place of `qto`; returns how many retries the footprint check needed."""
    n_agents = pos.shape[0]
    for k in range(spur_now.shape[0]):
        spur_now[k] = 0
    for i in range(n_agents):
        occ_now[pos[i]] = i
        if spur[pos[i]] != -1:
            spur_now[spur[pos[i]]] += 1
    for i in range(n_agents):
        g = goals[i]
        p = prios[i]
        if pos[i] == g:
            prios[i] = p - np.floor(p)
        else:
            h = occ_now[g]
            queued = hold and h != -1 and h != i and goals[h] == g and pos[h] == g
            sg = spur[g]
            if sg != -1 and sg != spur[pos[i]] and spur_now[sg] > 0:
                queued = True  # its dead end is busy: wait without outranking the others
            if not queued:
                prios[i] = p + 1.0
    order = np.argsort(-prios, kind="mergesort")
    empty = np.zeros(1, dtype=np.int32)
    wptr = np.zeros(indptr.shape[0], dtype=np.int32)
    tries = 0
    while True:
        for i in range(n_agents):
            qto[i] = -1
            failed[i] = 0
        for k in range(spur_enter.shape[0]):
            spur_enter[k] = -1
        for x in range(n_agents):
            a = order[x]
            if qto[a] == -1:
                pibt_agent(a, 1, indptr, indices, cptr, cind, has_conf, pool, slots, inf, goals,
                           pos, qto, occ_now, occ_next, blocked, wptr, empty, empty, True,
                           swap_on, hold, cand, keyb, frames, spur, spur_now, spur_enter,
                           rot_on, mark, stamp, stack, push_retries, failed)
        ok = True
        if has_conf:
            ok = footprint_ok(qto, cptr, cind, occ_next)
        if ok and rot_on:
            ok = ring_free(pos, qto, occ_now, cptr, cind, mark, stamp, stack)
        for i in range(n_agents):
            occ_next[qto[i]] = -1
        if ok:
            break
        tries += 1
        if tries >= 4:
            for i in range(n_agents):
                qto[i] = pos[i]  # everyone waits: the current configuration is valid
            break
    for i in range(n_agents):
        occ_now[pos[i]] = -1
    return tries


class LifelongPlanner:
    """PIBT for a fleet whose goals change as orders arrive; built once per graph.

    `step(positions, goals)` returns every agent's next node (int32, one step later). The
    positions must be a valid configuration (distinct nodes, no footprint overlap); the
    result is again one. Goals may repeat (a station several agents want). Not thread-safe:
    one planner per planning loop.
    """

    def __init__(self, graph: GraphArrays, *, seed: int = 0, swap: bool = False,
                 hold: bool = True, table_budget_bytes: int = TABLE_BUDGET_BYTES,
                 window_max_agents: int = WINDOW_MAX_AGENTS, window_steps: int = WINDOW_STEPS,
                 window_retries: int = WINDOW_RETRIES, no_rotation: bool = False,
                 push_retries: int = PUSH_RETRIES) -> None:
        self.graph = graph
        n = graph.n_nodes
        self._rptr, self._rind = reverse_csr(graph.indptr, graph.indices)
        self._dtype = table_dtype(n)
        self._inf = self._dtype.type(unreachable(self._dtype))
        per_table = max(1, n * self._dtype.itemsize)
        self._max_slots = int(min(n + 1, max(2, table_budget_bytes // per_table)))
        # calloc'd: pages are only committed as tables are written, so the cap costs nothing
        self._pool = np.zeros((self._max_slots, n), dtype=self._dtype)  # row 0: 'no table yet'
        self._goal_to_slot = np.full(n, -1, dtype=np.int32)
        self._slot_goal = np.full(self._pool.shape[0], -1, dtype=np.int64)
        self._slot_used = np.zeros(self._pool.shape[0], dtype=np.int64)
        self._closed = np.zeros(n, dtype=np.bool_)
        # LaCAM*'s swap moves help one-shot search but can livelock a lifelong fleet
        # (agents pulled back and forth while goals change), so they are off by default
        self._swap = bool(swap and is_symmetric(graph))
        self._hold = bool(hold)
        self._has_conf = graph.conflict_indices.shape[0] > 0
        self._occ_now = np.full(n, -1, dtype=np.int32)
        self._occ_next = np.full(n, -1, dtype=np.int32)
        maxdeg = int(np.diff(graph.indptr).max()) if n else 0
        self._maxdeg = maxdeg
        self._prios = np.zeros(0, dtype=np.float64)
        self.steps = 0
        self.tables_computed = 0
        self.window_steps_taken = 0
        self.window_plans = 0
        self.window_failures = 0
        self._stuck = np.zeros(0, dtype=np.bool_)
        # per agent: its goal, the nearest it got to it, booked steps since it got nearer
        self._progress_goal = np.zeros(0, dtype=np.int32)
        self._progress_best = np.zeros(0, dtype=np.int64)
        self._progress_since = np.zeros(0, dtype=np.int32)
        self._window = max(1, int(window_steps))
        self._window_max = int(window_max_agents) if (self._window + 1) * n <= WINDOW_MAX_CELLS else 0
        self._pibt_left = 0  # PIBT steps still to take before booking paths again
        self._pibt_prios = np.zeros(0, dtype=np.float64)
        self.stall_breaks = 0
        self.livelock_breaks = 0
        self._no_rotation = bool(no_rotation)
        self._push_retries = max(0, int(push_retries))
        self._hold_steps = 1  # longer up-front bookings made fleets jam in trials
        self._retries = max(0, int(window_retries))
        self._symmetric = is_symmetric(graph)
        self._spur = spurs(graph)
        n_spurs = int(self._spur.max()) + 1 if n else 0
        self._spur_now = np.zeros(max(1, n_spurs), dtype=np.int32)
        self._spur_enter = np.full(max(1, n_spurs), -1, dtype=np.int32)
        self._plan: np.ndarray | None = None
        self._plan_t = 0
        self._plan_goals = np.zeros(0, dtype=np.int32)
        self._plan_mask = np.zeros(n, dtype=np.bool_)
        self.footprint_retries = 0
        self._gridlock = GridlockGuard(graph)
        self.gridlock_holds = 0  # moves held back because they would have closed a gridlock
        self._seed = int(seed) & 0x7FFFFFFF
        self._rng = np.random.default_rng(self._seed)
        seed_rng(self._seed)

    def set_closed(self, closed: np.ndarray | None) -> None:
        """Close nodes for a long while (a zone shut, a vehicle in fault): distance tables
        are rebuilt around them, so agents take detours instead of waiting at the edge."""
        mask = np.zeros(self.graph.n_nodes, dtype=np.bool_) if closed is None else np.asarray(closed, dtype=np.bool_)
        if mask.shape != (self.graph.n_nodes,):
            raise PlanInputError(f"closed mask has shape {mask.shape}, expected ({self.graph.n_nodes},)")
        self._closed = mask.copy()
        self._goal_to_slot[:] = -1
        self._slot_goal[:] = -1
        self._plan = None

    def _tables_for(self, goals: np.ndarray, deadline: float) -> np.ndarray:
        """Slot of each goal's table, computing missing ones while time allows (else row 0)."""
        slots = self._goal_to_slot[goals]
        missing = np.unique(goals[slots < 0])
        if missing.size:
            need = missing.size
            free = np.flatnonzero(self._slot_goal[1:] < 0) + 1
            if free.size < need:  # evict the least recently used tables no agent needs now
                in_use = np.zeros(self._pool.shape[0], dtype=bool)
                in_use[slots[slots >= 0]] = True
                in_use[0] = True
                cands = np.flatnonzero(~in_use & (self._slot_goal >= 0))
                take = cands[np.argsort(self._slot_used[cands], kind="stable")[: need - free.size]]
                self._goal_to_slot[self._slot_goal[take]] = -1
                self._slot_goal[take] = -1
                free = np.concatenate([free, take])
            k = min(need, free.size)
            todo, rows = missing[:k], free[:k].astype(np.int32)
            done, chunk = 0, 4
            while done < k:
                part = slice(done, min(k, done + chunk))
                t_part = time.perf_counter()
                bfs_rows(self._rptr, self._rind, self._closed, todo[part].astype(np.int32),
                         self._pool, rows[part], self._inf)
                self._goal_to_slot[todo[part]] = rows[part]
                self._slot_goal[rows[part]] = todo[part]
                now = time.perf_counter()
                per_table = (now - t_part) / (part.stop - part.start)
                done = part.stop
                self.tables_computed += part.stop - part.start
                if now > deadline:
                    break
                fits = (deadline - now) / max(per_table, 1e-7)  # inf: no wall-clock bound
                chunk = max(1, int(min(4 * chunk, fits)))
            slots = self._goal_to_slot[goals]
        slots = np.where(slots < 0, 0, slots).astype(np.int32)
        self._slot_used[slots] = self.steps
        return slots

    def route(self, start: int, goal: int, limit: int = 512) -> list[int]:
        """A shortest path from start to goal (both ends included) over the goal's distance
        table, computed if missing; [] when the goal cannot be reached. For callers that
        need to know which nodes an agent will pass (idle vehicles making way)."""
        slot = int(self._tables_for(np.array([goal], dtype=np.int32), math.inf)[0])
        if slot == 0:
            return []
        dist = self._pool[slot]
        if dist[start] == self._inf:
            return []
        ptr, nbr = self.graph.indptr, self.graph.indices
        path, u = [int(start)], int(start)
        while u != goal and len(path) < limit:
            ws = nbr[ptr[u]:ptr[u + 1]]
            u = int(ws[np.argmin(dist[ws])])
            path.append(u)
        return path

    def step(self, positions: np.ndarray, goals: np.ndarray, blocked: np.ndarray | None = None,
             budget_s: float = 0.5, standing: np.ndarray | None = None) -> np.ndarray:
        """Next node of every agent. blocked: nodes no agent may enter this step (an agent
        already on one may stay or leave). budget_s bounds the distance searches for new
        goals and the window's re-tries (math.inf: every table and re-try, the same on any
        machine); agents whose table is not ready yet this step just make room for others.
        standing: nodes of machines not planned now that will move later (a vehicle at its
        pick): no step may shut them in (`planners.gridlock`)."""
        deadline = time.perf_counter() + budget_s
        g = self.graph
        pos = as_nodes(g, positions, "positions")
        goal = as_nodes(g, goals, "goals")
        if pos.shape != goal.shape:
            raise PlanInputError(f"{pos.shape[0]} positions but {goal.shape[0]} goals")
        n_agents = pos.shape[0]
        if np.unique(pos).size != n_agents:
            srt = np.sort(pos)
            node = int(srt[np.flatnonzero(srt[1:] == srt[:-1])[0]])
            a, b = np.flatnonzero(pos == node)[:2]
            raise PlanInputError(f"agents {a} and {b} are both on node {node}", int(b))
        if blocked is None:
            mask = np.zeros(g.n_nodes, dtype=np.bool_)
        else:
            mask = np.asarray(blocked, dtype=np.bool_)
            if mask.shape != (g.n_nodes,):
                raise PlanInputError(f"blocked mask has shape {mask.shape}, expected ({g.n_nodes},)")
        mask = mask | self._closed
        if self._prios.shape[0] != n_agents:
            # distinct fractional parts break ties between equally urgent agents
            self._prios = np.random.default_rng(self._seed).random(n_agents)
            self._cand = np.empty((n_agents, self._maxdeg + 1), dtype=np.int32)
            self._keyb = np.empty((n_agents, self._maxdeg + 1), dtype=np.float64)
            self._frames = np.empty((n_agents, 5), dtype=np.int32)
            self._mark = np.zeros(n_agents, dtype=np.int64)
            self._stamp = np.zeros(1, dtype=np.int64)
            maxconf = int(np.diff(g.conflict_indptr).max()) if g.n_nodes else 0
            self._stack = np.empty(n_agents * (maxconf + 1) + 1, dtype=np.int32)
            self._failed = np.zeros(n_agents, dtype=np.int32)
        slots = self._tables_for(goal, deadline)
        windowed = 0 < n_agents <= self._window_max
        if windowed and self._pibt_left == 0:
            nxt = self._window_step(pos, goal, slots, mask, deadline)
            if nxt is not None and self._hold_gridlock(pos, nxt, standing, self._prios):
                self._plan = None  # the booking no longer matches what runs
            if nxt is not None:
                moved = bool((nxt != pos).any()) or bool((pos == goal).all())
                if moved:
                    self.steps += 1
                    self.window_steps_taken += 1
                    if self._no_progress(nxt, goal, slots) >= NO_PROGRESS_STEPS:
                        # a livelock: some move, but agents boxed in by the others' bookings
                        # stay boxed in, because the dodges those bookings ask for are undone
                        # by the next step's re-plan (a vehicle stepping in and out of a spur
                        # at a junction for an hour while an aisle behind it waits). PIBT's
                        # pushes carry moves through; then booking resumes.
                        self._pibt_left = STALL_PIBT_STEPS
                        self.livelock_breaks += 1
                        self._progress_since[:] = 0
                    return nxt
                # prioritized booking is incomplete: in a packed one-way block every agent
                # can be boxed in by the bookings of those before it, step after step.
                # PIBT's pushes shuffle the block loose; then booking resumes.
                self._pibt_left = STALL_PIBT_STEPS
                self.stall_breaks += 1
        self._plan = None
        prios = self._prios
        if windowed:
            self._pibt_left = max(0, self._pibt_left - 1)
            if self._pibt_prios.shape[0] != n_agents:
                self._pibt_prios = np.random.default_rng(self._seed + 1).random(n_agents)
            prios = self._pibt_prios  # its own: the bookings' priorities say who waited longest to book
        qto = np.empty(n_agents, dtype=np.int32)
        if n_agents:
            self.footprint_retries += _step(
                g.indptr, g.indices, g.conflict_indptr, g.conflict_indices, self._has_conf,
                self._pool, slots, self._inf, goal, pos, prios, mask, self._swap,
                self._hold, self._occ_now, self._occ_next, qto, self._cand, self._keyb,
                self._frames, self._spur, self._spur_now, self._spur_enter, self._no_rotation,
                self._mark, self._stamp, self._stack,
                0 if windowed else self._push_retries, self._failed)  # spells: PIBT as before
            self._hold_gridlock(pos, qto, standing, prios)
        self.steps += 1
        return qto

    def _no_progress(self, nxt: np.ndarray, goal: np.ndarray, slots: np.ndarray) -> int:
        """The most booked steps any agent has gone without getting nearer its goal (a new
        goal, or one reached, starts its count again)."""
        n = nxt.shape[0]
        if self._progress_goal.shape[0] != n:
            self._progress_goal = np.full(n, -1, dtype=np.int32)
            self._progress_best = np.zeros(n, dtype=np.int64)
            self._progress_since = np.zeros(n, dtype=np.int32)
        d = self._pool[slots, nxt].astype(np.int64)
        fresh = (goal != self._progress_goal) | (nxt == goal) | (d < self._progress_best)
        self._progress_best = np.where(fresh, d, self._progress_best)
        self._progress_since = np.where(fresh, 0, self._progress_since + 1).astype(np.int32)
        self._progress_goal = goal.astype(np.int32)
        return int(self._progress_since.max(initial=0))

    def _hold_gridlock(self, pos: np.ndarray, nxt: np.ndarray, standing: np.ndarray | None,
                       rank: np.ndarray) -> int:
        held = self._gridlock.hold(pos, nxt, standing, rank)
        self.gridlock_holds += held
        return held

    def _window_step(self, pos: np.ndarray, goal: np.ndarray, slots: np.ndarray,
                     mask: np.ndarray, deadline: float) -> np.ndarray | None:
        """Next row of booked space-time paths (planners.reservation), replanned when goals,
        blocks or progress differ from the booking or half the window is used up. Agents
        that could not book last time go first, then those waiting longest."""
        if (slots == 0).any():
            return None
        at_goal = pos == goal
        self._prios = np.where(at_goal, self._prios - np.floor(self._prios), self._prios + 1.0)
        if self._stuck.shape[0] != pos.shape[0]:
            self._stuck = np.zeros(pos.shape[0], dtype=np.bool_)
        plan, t = self._plan, self._plan_t
        if (plan is not None and plan.shape[1] == pos.shape[0] and t + 1 < plan.shape[0]
                and t < max(1, self._window // 2) and np.array_equal(goal, self._plan_goals)
                and np.array_equal(pos, plan[t]) and np.array_equal(mask, self._plan_mask)):
            self._plan_t = t + 1
            return plan[t + 1].copy()
        g = self.graph
        key = self._prios + np.where(self._stuck, 1e9, 0.0)  # last step's failures go first
        order = np.argsort(-key, kind="stable").astype(np.int32)
        out = np.empty((self._window + 1, pos.shape[0]), dtype=np.int32)
        if self._stuck.shape[0] != pos.shape[0]:
            self._stuck = np.zeros(pos.shape[0], dtype=np.bool_)
        for attempt in range(self._retries + 1):
            n_failed = plan_window(g.indptr, g.indices, g.conflict_indptr, g.conflict_indices,
                                   self._pool, slots, self._inf, pos, goal, order, self._window,
                                   mask, self._no_rotation, self._hold_steps, out, self._stuck)
            if not n_failed or attempt == self._retries or time.perf_counter() > deadline:
                break
            if attempt % 2 == 1:  # alternate: failed agents first, then a random order
                order = self._rng.permutation(order).astype(np.int32)
            first = np.flatnonzero(self._stuck[order])
            order = np.concatenate([order[first], np.delete(order, first)]).astype(np.int32)
        self.window_plans += 1
        self.window_failures += int(n_failed)

        if n_failed:
            self._plan = None  # only step 1 is safe for sure: replan next step
        else:
            self._plan, self._plan_t = out, 1
            self._plan_goals, self._plan_mask = goal.copy(), mask.copy()
        return out[1].copy()


_WARMED: set[str] = set()  # table dtypes whose kernels this process has loaded


def warm_up(graph: GraphArrays, no_rotation: bool = False) -> None:
    """Load (or, after an install, compile) every kernel a lifelong fleet on `graph` uses:
    a booked step, a PIBT step, the gridlock guard and a LaCAM rescue, on one agent. Numba
    specialises on the graph's table dtype, so it runs on the graph itself, once per dtype
    and process. Called before a service starts planning: a first compile (about 80 s) in
    the planning loop would stall the command thread mid-shift."""
    from planners.lacam import compile_kernels, solve

    kind = table_dtype(graph.n_nodes).str
    if graph.n_nodes < 2 or kind in _WARMED:
        return
    _WARMED.add(kind)
    compile_kernels()
    start = np.array([0], dtype=np.int32)
    nbrs = graph.indices[graph.indptr[0]:graph.indptr[1]]
    goal = np.array([int(nbrs[0]) if nbrs.size else 0], dtype=np.int32)
    standing = np.zeros(0, dtype=np.int32)
    for window in (WINDOW_MAX_AGENTS, 0):  # booked paths, then PIBT
        planner = LifelongPlanner(graph, no_rotation=no_rotation, window_max_agents=window)
        planner.step(start, goal, budget_s=5.0, standing=standing)
    solve(graph, start, goal, 5.0, no_rotation=no_rotation, max_configs=64)
