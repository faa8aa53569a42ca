"""The execution graph: which step of which agent may start once which others are done.

A multi-agent plan is a sequence of configurations in *virtual* time; real vehicles are
late or early. Following the action-dependency-graph idea (Hönig et al., "Persistent
and Robust Execution of MAPF Schedules in Warehouses", RA-L 2019), each agent's plan
becomes a list of *entries* (the nodes it enters, waits removed), and an entry into node
v depends on every other agent that was planned to occupy v, or a node in v's conflict
set, earlier: that agent must have reached its next entry (left the node) first. An
entry is *released* to the vehicle only when its dependencies are met, so whatever the
delays no two vehicles ever stand on conflicting nodes, and since dependencies follow
the plan's time order the fleet can never deadlock while every vehicle keeps moving.

The graph grows one configuration at a time (lifelong planning appends steps) and can
be cut back to what is released (re-planning after a fault or a closed zone): the
configuration of the last released entries is always collision-free, so a new plan may
start from it. Pure bookkeeping over int ids; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class ExecutionError(ValueError):
    """The plan given to the execution graph is not a valid multi-agent plan."""


@dataclass
class _Agent:
    nodes: list[int] = field(default_factory=list)  # node of entry offset+k
    times: list[int] = field(default_factory=list)  # virtual step it was planned for
    deps: list[tuple[tuple[int, int], ...]] = field(default_factory=list)
    offset: int = 0  # global index of nodes[0] (entries before it were pruned)
    reached: int = 0  # global index of the last entry the vehicle has reached
    released: int = 0  # global index of the last entry released to the vehicle

    @property
    def last(self) -> int:
        return self.offset + len(self.nodes) - 1

    def node(self, k: int) -> int:
        return self.nodes[k - self.offset]


class ExecutionGraph:
    """Incremental execution graph for n agents on one graph's conflict sets."""

    def __init__(self, starts: np.ndarray | list[int], conflict_indptr: np.ndarray, conflict_indices: np.ndarray) -> None:
        self._cptr = conflict_indptr
        self._cidx = conflict_indices
        self._near = around_lists(conflict_indptr, conflict_indices)
        self._agents: list[_Agent] = []
        self._last_visit: dict[int, tuple[int, int]] = {}
        self.time = 0
        for i, v in enumerate(np.asarray(starts, dtype=np.int64).tolist()):
            a = _Agent(nodes=[v], times=[0], deps=[()])
            self._agents.append(a)
            self._visit(v, i, 0, 0)
        self._end: list[int] = [a.nodes[-1] for a in self._agents]  # each agent's last planned node
        self._check_config(self._end)
        self._occ: dict[int, int] = {v: i for i, v in enumerate(self._end)}  # node -> agent planned last there

    # -- building ------------------------------------------------------------
    @property
    def n_agents(self) -> int:
        return len(self._agents)

    def add_agent(self, start: int) -> int:
        """A vehicle joins (comes online); it stands on `start` from now on."""
        i = len(self._agents)
        a = _Agent(nodes=[int(start)], times=[self.time], deps=[()])
        self._agents.append(a)
        for u in self._around(int(start)):
            seen = self._last_visit.get(u)
            if seen is not None and seen[0] != i and self._agents[seen[0]].last == seen[1]:
                raise ExecutionError(f"agent {i} cannot join at node {start}: agent {seen[0]} stands on a conflicting node")
        self._visit(int(start), i, a.offset, self.time)
        self._end.append(int(start))
        self._occ[int(start)] = i
        return i

    def _around(self, v: int) -> list[int]:
        return self._near[v]

    def _visit(self, v: int, agent: int, k: int, t: int) -> None:
        self._last_visit[v] = (agent, k)

    def _check_config(self, nodes: list[int]) -> None:
        taken: dict[int, int] = {}
        near = self._near
        for i, v in enumerate(nodes):
            for u in near[v]:
                k = taken.get(u)
                if k is not None and k != i:
                    raise ExecutionError(f"agents {k} and {i} are planned on conflicting nodes {u}/{v}")
            taken[v] = i

    def append(self, config: np.ndarray | list[int], *, executable: bool = False) -> None:
        """Add the next configuration (node of every agent at virtual step time+1).
        `executable`: the caller has made sure no movers wait on each other in a ring
        (`hold_rotations`), so that check is not run twice.

        Raises ExecutionError when the configuration collides or an agent jumps; the
        graph is then unchanged. Only movers are checked: the configuration before was
        collision-free, and a conflict is symmetric.
        """
        nodes = [int(v) for v in config]
        if len(nodes) != self.n_agents:
            raise ExecutionError(f"configuration has {len(nodes)} agents, graph has {self.n_agents}")
        t = self.time + 1
        end, occ, near = self._end, self._occ, self._near
        movers = [(i, v) for i, v in enumerate(nodes) if v != end[i]]
        left = {end[i] for i, _ in movers}
        came: dict[int, int] = {}
        for i, v in movers:
            k = came.get(v)
            if k is not None:
                raise ExecutionError(f"agents {k} and {i} are planned on conflicting nodes {v}/{v}")
            came[v] = i
        for i, v in movers:
            for u in near[v]:
                k = came.get(u)
                if k is None and u not in left:
                    k = occ.get(u)
                if k is not None and k != i:
                    raise ExecutionError(f"agents {k} and {i} are planned on conflicting nodes {u}/{v}")
        if not movers:
            self.time = t
            return
        if not executable:
            cycle = waiting_cycle(end, nodes, self._cptr, self._cidx)
            if cycle:
                raise ExecutionError(f"agents {cycle} would wait on each other (a rotation): hold them first")
        # dependencies look at visits strictly before t: compute them all first
        agents = self._agents
        moving = {i for i, _ in movers}
        pending: list[tuple[int, int, tuple[tuple[int, int], ...]]] = []
        last_visit = self._last_visit
        for i, v in movers:
            deps: set[tuple[int, int]] = set()
            for u in near[v]:
                seen = last_visit.get(u)
                if seen is None or seen[0] == i:
                    continue
                j, m = seen
                if j not in moving:
                    aj = agents[j]
                    if m >= aj.offset + len(aj.nodes) - 1:  # m is j's last entry: it stands there
                        raise ExecutionError(f"agent {i} enters node {v} at step {t} while agent {j} is still on node {u}")
                deps.add((j, m + 1))
            pending.append((i, v, tuple(sorted(deps))))
        for i, _, deps in pending:
            for j, m in deps:
                aj = agents[j]
                if m > aj.offset + len(aj.nodes) - (0 if j in moving else 1):
                    raise ExecutionError(f"agent {i} depends on agent {j} leaving a node it never leaves")
        for i, v, deps in pending:
            a = agents[i]
            a.nodes.append(v)
            a.times.append(t)
            a.deps.append(deps)
            last_visit[v] = (i, a.offset + len(a.nodes) - 1)
        for u in left:
            del occ[u]
        for i, v in movers:
            end[i] = v
            occ[v] = i
        self.time = t

    # -- executing -----------------------------------------------------------
    def planned(self, agent: int) -> list[int]:
        """Nodes from the one the vehicle last reached to the end of its plan."""
        a = self._agents[agent]
        return a.nodes[a.reached - a.offset :]

    def reached(self, agent: int) -> int:
        return self._agents[agent].reached

    def released(self, agent: int) -> int:
        return self._agents[agent].released

    def last(self, agent: int) -> int:
        return self._agents[agent].last

    def node_at(self, agent: int, k: int) -> int:
        return self._agents[agent].node(k)

    def ahead_all(self) -> list[int]:
        """`ahead` of every agent (one call per planning step, not one per agent)."""
        return [a.offset + len(a.nodes) - 1 - a.reached for a in self._agents]

    def lead(self, skip: frozenset[int] = frozenset()) -> int:
        """Virtual steps the plan runs ahead of the slowest vehicle still executing it:
        the plan's time minus the last step each vehicle with unreached entries has caught
        up to (its next entry's step, less one). 0 when every vehicle is at its plan's end.
        `skip`: agents left out (say, vehicles not heard from lately)."""
        behind = self.time
        for i, a in enumerate(self._agents):
            if i in skip:
                continue
            k = a.reached - a.offset + 1
            if k < len(a.times):
                behind = min(behind, a.times[k] - 1)
        return self.time - behind

    def ahead(self, agent: int) -> int:
        """Planned entries not yet reached."""
        a = self._agents[agent]
        return a.last - a.reached

    def mark_reached(self, agent: int, k: int) -> None:
        """The vehicle reports it has reached entry k (must be released)."""
        a = self._agents[agent]
        if k > a.released:
            raise ExecutionError(f"agent {agent} reports entry {k} beyond what was released ({a.released})")
        a.reached = max(a.reached, k)

    def ready(self, agent: int, k: int) -> bool:
        a = self._agents[agent]
        return all(self._agents[j].reached >= m for j, m in a.deps[k - a.offset])

    def waiting_on(self, agent: int) -> list[tuple[int, int]]:
        """(agent, entry) pairs the next unreleased entry still waits for: who holds it up."""
        a = self._agents[agent]
        k = a.released + 1
        if k > a.last:
            return []
        return [(j, m) for j, m in a.deps[k - a.offset] if self._agents[j].reached < m]

    def release(self, agent: int, lookahead: int) -> int:
        """Release entries whose dependencies are met, at most `lookahead` past the
        reached one; returns the new last released index."""
        a = self._agents[agent]
        limit = min(a.last, a.reached + max(0, lookahead))
        while a.released < limit and self.ready(agent, a.released + 1):
            a.released += 1
        return a.released

    def cut_to_released(self, stopped: frozenset[int] = frozenset()) -> list[int]:
        """Drop every unreleased entry (and, for `stopped` agents, every unreached one)
        so a new plan can start; returns each agent's start node for it."""
        for i, a in enumerate(self._agents):
            keep = a.reached if i in stopped else a.released
            if i in stopped:
                a.released = a.reached
            del a.nodes[keep - a.offset + 1 :]
            del a.times[keep - a.offset + 1 :]
            del a.deps[keep - a.offset + 1 :]
        visits: list[tuple[int, int, int, int]] = []
        for i, a in enumerate(self._agents):
            for k in range(a.reached, a.last + 1):
                visits.append((a.times[k - a.offset], i, k, a.node(k)))
        self._last_visit.clear()
        for _t, i, k, v in sorted(visits):
            self._last_visit[v] = (i, k)
        self._end = [a.nodes[-1] for a in self._agents]
        self._occ = {v: i for i, v in enumerate(self._end)}
        return list(self._end)

    def prune(self, keep: int = 64) -> None:
        """Forget entries long reached, to bound memory in lifelong runs."""
        for a in self._agents:
            drop = a.reached - a.offset - keep
            if drop > 0:
                del a.nodes[:drop]
                del a.times[:drop]
                del a.deps[:drop]
                a.offset += drop

    def end_config(self) -> list[int]:
        return list(self._end)


def from_paths(paths: np.ndarray, conflict_indptr: np.ndarray, conflict_indices: np.ndarray) -> ExecutionGraph:
    """Execution graph of a one-shot plan given as a (T+1, N) array of node ids."""
    paths = np.asarray(paths)
    g = ExecutionGraph(paths[0], conflict_indptr, conflict_indices)
    for t in range(1, paths.shape[0]):
        g.append(paths[t])
    return g


_NEAR: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, list[list[int]]]] = {}


def around_lists(cptr: np.ndarray, cidx: np.ndarray) -> list[list[int]]:
    """Each node with its conflict set, as plain lists: the bookkeeping below reads them
    for every agent at every step, and slicing numpy arrays each time cost more than the rest.
    Kept per graph (the arrays themselves are held, so their ids stay theirs)."""
    key = (id(cptr), id(cidx))
    hit = _NEAR.get(key)
    if hit is not None and hit[0] is cptr and hit[1] is cidx:
        return hit[2]
    flat, ptr = cidx.tolist(), cptr.tolist()
    near = [[v, *flat[ptr[v]:ptr[v + 1]]] for v in range(len(ptr) - 1)]
    if len(_NEAR) >= 16:
        _NEAR.clear()
    _NEAR[key] = (cptr, cidx, near)
    return near


def _waits_on(prev: list[int], nxt: list[int], cptr: np.ndarray, cidx: np.ndarray) -> dict[int, list[int]]:
    """Mover i waits on mover j when j's current node is i's next node or conflicts with it."""
    near = around_lists(cptr, cidx)
    at: dict[int, int] = {v: i for i, v in enumerate(prev)}
    movers = {i for i in range(len(prev)) if prev[i] != nxt[i]}
    out: dict[int, list[int]] = {}
    for i in movers:
        for u in near[nxt[i]]:
            j = at.get(u)
            if j is not None and j != i and j in movers:
                out.setdefault(i, []).append(j)
    return out


def waiting_cycle(prev: list[int], nxt: list[int], cptr: np.ndarray, cidx: np.ndarray) -> list[int]:
    """Agents whose simultaneous moves wait on each other in a ring (a swap or a
    rotation, also through footprints); such a step cannot be executed by real
    vehicles. Returns one cycle, or [] when the step is executable."""
    waits = _waits_on(prev, nxt, cptr, cidx)
    state: dict[int, int] = {}
    for root in waits:
        if state.get(root):
            continue
        stack = [(root, iter(waits.get(root, ())))]
        path = [root]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt_node = next(it, None)
            if nxt_node is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(nxt_node) == 1:
                return path[path.index(nxt_node) :]
            elif not state.get(nxt_node):
                state[nxt_node] = 1
                stack.append((nxt_node, iter(waits.get(nxt_node, ()))))
                path.append(nxt_node)
    return []


def hold_rotations(prev: list[int], nxt: list[int], cptr: np.ndarray, cidx: np.ndarray) -> tuple[list[int], list[int]]:
    """Make a planned step executable: agents in a waiting ring stay where they are,
    and so does every agent that would then run into one of them. Returns the new
    step and the agents held. Holding everyone is always valid, so this terminates."""
    step = list(nxt)
    held: list[int] = []
    near = around_lists(cptr, cidx)
    while True:
        cycle = waiting_cycle(prev, step, cptr, cidx)
        if not cycle:
            return step, held
        stay = set(cycle)
        while stay:
            for i in stay:
                step[i] = prev[i]
                held.append(i)
            blocked = {u for i in range(len(step)) if step[i] == prev[i] for u in near[prev[i]]}
            stay = {k for k in range(len(step)) if step[k] != prev[k] and step[k] in blocked}
