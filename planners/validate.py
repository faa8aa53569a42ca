"""The independent plan checker: every planner test and benchmark runs it.

Written apart from the planners (plain numpy, no shared kernels) so a bug in the
search cannot hide itself. A plan is a (T+1, N) int32 array of node indices, row t
holding every agent's node at step t. The rules:

- row 0 is the starts and the last row the goals (when given);
- each step an agent waits or follows one directed edge;
- no two agents on one node (vertex conflict), none in another's footprint
  conflict set at the same step, no two agents swapping nodes along an edge;
- no agent on a blocked node, nor on a node during one of its block windows.
"""

from __future__ import annotations

import numpy as np

from maps.graph import GraphArrays
from planners.errors import PlanViolation

MAX_REPORTED = 50


def _edge_keys(graph: GraphArrays) -> np.ndarray:
    n = graph.n_nodes
    src = np.repeat(np.arange(n, dtype=np.int64), np.diff(graph.indptr))
    return np.sort(src * n + graph.indices.astype(np.int64))


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    if sorted_keys.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    pos = np.searchsorted(sorted_keys, keys)
    pos = np.minimum(pos, sorted_keys.size - 1)
    return sorted_keys[pos] == keys


def violations(
    graph: GraphArrays,
    plan: np.ndarray,
    starts: np.ndarray | None = None,
    goals: np.ndarray | None = None,
    blocked: np.ndarray | None = None,
    windows: np.ndarray | None = None,
    t0: int = 0,
    no_rotation: bool = False,
) -> list[str]:
    """Every rule the plan breaks, as readable sentences (empty list: the plan is valid).

    windows: rows (node, t_from, t_to) of block windows, in the plan's time where row t of
    the plan is step t0 + t. no_rotation also reports rings of agents that each move into
    a node the next one vacates (or one in conflict with it) in the same step. At most
    MAX_REPORTED problems are listed, plus a count.
    """
    out: list[str] = []
    plan = np.asarray(plan)
    if plan.ndim != 2 or plan.shape[0] < 1:
        return [f"plan must be a (T+1, N) array, got shape {plan.shape}"]
    n = graph.n_nodes
    steps, agents = plan.shape
    if not np.issubdtype(plan.dtype, np.integer):
        return [f"plan must hold integer node indices, got {plan.dtype}"]
    p = plan.astype(np.int64)
    bad = np.argwhere((p < 0) | (p >= n))
    if bad.size:
        t, a = bad[0]
        return [f"agent {a} at step {t}: {int(p[t, a])} is not a node"]

    def add(msgs: list[str], total: int) -> None:
        out.extend(msgs[: max(0, MAX_REPORTED - len(out))])
        if total > len(msgs):
            out.append(f"... {total - len(msgs)} more of the same kind")

    if starts is not None:
        s = np.asarray(starts, dtype=np.int64)
        if s.shape != (agents,):
            out.append(f"{s.shape[0]} starts for {agents} agents")
        else:
            wrong = np.flatnonzero(p[0] != s)
            add([f"agent {a} starts at {int(p[0, a])}, not its start {int(s[a])}" for a in wrong[:10]],
                wrong.size)
    if goals is not None:
        g = np.asarray(goals, dtype=np.int64)
        if g.shape != (agents,):
            out.append(f"{g.shape[0]} goals for {agents} agents")
        else:
            wrong = np.flatnonzero(p[-1] != g)
            add([f"agent {a} ends at {int(p[-1, a])}, not its goal {int(g[a])}" for a in wrong[:10]],
                wrong.size)

    if steps > 1 and agents:
        a_from, a_to = p[:-1], p[1:]
        moving = a_from != a_to
        ts, ag = np.nonzero(moving)
        keys = a_from[ts, ag] * n + a_to[ts, ag]
        off = ~_contains(_edge_keys(graph), keys)
        idx = np.flatnonzero(off)
        add([f"agent {ag[k]} jumps from {int(a_from[ts[k], ag[k]])} to {int(a_to[ts[k], ag[k]])} "
             f"at step {ts[k]}->{ts[k] + 1} without an edge" for k in idx[:10]], idx.size)
        # swaps: a moves u->v while b moves v->u in the same step
        fwd = (ts.astype(np.int64) * n + a_from[ts, ag]) * n + a_to[ts, ag]
        rev = (ts.astype(np.int64) * n + a_to[ts, ag]) * n + a_from[ts, ag]
        order = np.argsort(fwd, kind="stable")
        hit = _contains(fwd[order], rev)
        idx = np.flatnonzero(hit)
        msgs = []
        for k in idx[:20]:
            u, v = int(a_from[ts[k], ag[k]]), int(a_to[ts[k], ag[k]])
            if u < v:
                msgs.append(f"agent {ag[k]} swaps along {u}<->{v} with another agent at step "
                            f"{ts[k]}->{ts[k] + 1}")
        add(msgs, idx.size // 2)

    # vertex conflicts: two agents on one node at one step
    cell = (np.arange(steps, dtype=np.int64)[:, None] * n + p).ravel()
    order = np.argsort(cell, kind="stable")
    sc = cell[order]
    dup = np.flatnonzero(sc[1:] == sc[:-1])
    add([f"agents {order[k] % agents} and {order[k + 1] % agents} both on node "
         f"{int(sc[k] % n)} at step {int(sc[k] // n)}" for k in dup[:10]], dup.size)

    # footprint conflicts: an agent on a node in another agent's node's conflict set
    if graph.conflict_indices.shape[0] and agents > 1:
        cptr = graph.conflict_indptr.astype(np.int64)
        flat = p.ravel()
        counts = (cptr[1:] - cptr[:-1])[flat]
        total = int(counts.sum())
        if total:
            owner_row = np.repeat(np.arange(flat.size, dtype=np.int64), counts)
            offs = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
            other_node = graph.conflict_indices[np.repeat(cptr[flat], counts) + offs].astype(np.int64)
            t_of = owner_row // agents
            other_key = t_of * n + other_node
            pos = np.searchsorted(sc, other_key)
            pos = np.minimum(pos, sc.size - 1)
            found = sc[pos] == other_key
            idx = np.flatnonzero(found)
            add([f"agent {owner_row[k] % agents} at node {int(flat[owner_row[k]])} and agent "
                 f"{order[pos[k]] % agents} at node {int(other_node[k])} overlap (footprint) at "
                 f"step {int(t_of[k])}" for k in idx[:10]], idx.size)

    if blocked is not None:
        b = np.asarray(blocked, dtype=bool)
        hit = np.argwhere(b[p])
        add([f"agent {a} on blocked node {int(p[t, a])} at step {t}" for t, a in hit[:10]],
            hit.shape[0])
    if windows is not None and len(windows):
        w = np.asarray(windows, dtype=np.int64)
        msgs, count = [], 0
        for node, t_from, t_to in w:
            lo, hi = max(0, t_from - t0), min(steps, t_to - t0)
            if lo >= hi:
                continue
            ts_, ag_ = np.nonzero(p[lo:hi] == node)
            count += ts_.size
            msgs += [f"agent {a} on node {node} at step {t + lo} inside its block window "
                     f"[{t_from}, {t_to})" for t, a in zip(ts_[:5], ag_[:5], strict=True)]
        add(msgs[:10], count)
    if no_rotation and steps > 1:
        rings = rotations(graph, p)
        add(rings[:10], len(rings))
    return out


def rotations(graph: GraphArrays, plan: np.ndarray) -> list[str]:
    """Steps where agents form a ring, each entering a node (or one in conflict with it)
    that the next occupies before the step. Plain Python: meant for tests and checks."""
    found = []
    cptr, cind = graph.conflict_indptr, graph.conflict_indices
    for t in range(plan.shape[0] - 1):
        now, nxt = plan[t], plan[t + 1]
        owner = {int(v): a for a, v in enumerate(now.tolist())}
        deps: dict[int, list[int]] = {}
        for a in np.flatnonzero(now != nxt).tolist():
            u = int(nxt[a])
            near = [u, *cind[cptr[u]:cptr[u + 1]].tolist()]
            deps[a] = [owner[x] for x in near if x in owner and owner[x] != a]
        state: dict[int, int] = {}
        for root in deps:
            if state.get(root):
                continue
            stack = [(root, iter(deps[root]))]
            state[root] = 1
            while stack:
                node, it = stack[-1]
                nxt_agent = next(it, None)
                if nxt_agent is None:
                    state[node] = 2
                    stack.pop()
                elif nxt_agent in deps:
                    s = state.get(nxt_agent, 0)
                    if s == 1:
                        found.append(f"agents around agent {nxt_agent} rotate (follow each other in a ring) "
                                     f"at step {t}->{t + 1}")
                        stack.clear()
                        break
                    if s == 0:
                        state[nxt_agent] = 1
                        stack.append((nxt_agent, iter(deps[nxt_agent])))
            if found and found[-1].endswith(f"{t}->{t + 1}"):
                break
    return found


def check_plan(graph: GraphArrays, plan: np.ndarray, starts: np.ndarray | None = None,
               goals: np.ndarray | None = None, blocked: np.ndarray | None = None,
               windows: np.ndarray | None = None, t0: int = 0) -> None:
    """Raise PlanViolation listing what is wrong with the plan; return quietly if it is valid."""
    found = violations(graph, plan, starts, goals, blocked, windows, t0)
    if found:
        raise PlanViolation(found)
