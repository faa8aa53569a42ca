"""Gridlock: agents that can never move again, and the steps that would make them.

On one-way lanes with footprints (a port's road grid: 12.5 m vehicles, junctions 20 m
apart, each junction one block) the vehicles around a city block can each end up
waiting for the one ahead: every one's next node touches another's footprint, none may
move first, and no planner undoes it (LaCAM explores the few reachable configurations
and proves there is no plan). Prioritized booking and PIBT both walk into it, because
each move that closes the ring is harmless on its own.

The dead set of a configuration is its greatest set of agents each of whose successor
nodes is blocked by another member: none can move before another does, so none ever
moves. A step whose dead set holds an agent that moved in it created that gridlock (a
set of agents that did not move was dead before); `GridlockGuard.hold` keeps such movers
where they were, one at a time, and whoever would then run into them, until the step
makes none.
Holding every agent gives back the previous configuration, so it always ends.
Pure functions over the graph's arrays.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from maps.graph import GraphArrays
from planners.distance import reverse_csr


@njit(cache=True)
def _free_of(s, a, b, cptr, cind, occ, dead):  # pragma: no cover
    """Node s touches no member of the dead set but agents a and b."""
    c = occ[s]
    if c != -1 and c != a and c != b and dead[c]:
        return False
    for k in range(cptr[s], cptr[s + 1]):
        c = occ[cind[k]]
        if c != -1 and c != a and c != b and dead[c]:
            return False
    return True


@njit(cache=True)
def _can_clear(a, indptr, indices, rptr, rind, cptr, cind, config, occ, dead, seen, near, queue,
               frees, stamp):  # pragma: no cover
    """Can agent a, moving alone around the dead set, get out of its own footprint, or to
    a node from which it no longer blocks a way another member alone is kept from?"""
    p = config[a]
    sink = True
    for e in range(indptr[p], indptr[p + 1]):
        if indices[e] != p:
            sink = False
    if sink:
        return True  # a sink of the graph: nobody can ever leave it, gridlock or not
    stamp[0] += 1
    st = stamp[0]
    near[p] = st
    for k in range(cptr[p], cptr[p + 1]):
        near[cind[k]] = st
    # the ways of other members that only a blocks: nodes around a that one of them would enter
    n_frees = 0
    for j in range(-1, cptr[p + 1] - cptr[p]):
        x = p if j == -1 else cind[cptr[p] + j]
        for e in range(rptr[x], rptr[x + 1]):
            y = rind[e]
            b = occ[y]
            if y != x and b != -1 and b != a and dead[b] and _free_of(x, a, b, cptr, cind, occ, dead):
                frees[n_frees] = x
                n_frees += 1
                break
    seen[p] = st
    head, tail = 0, 1
    queue[0] = p
    while head < tail:
        u = queue[head]
        head += 1
        for e in range(indptr[u], indptr[u + 1]):
            q = indices[e]
            if seen[q] == st:
                continue
            seen[q] = st
            if not _free_of(q, a, a, cptr, cind, occ, dead):
                continue
            if near[q] != st:
                return True
            for f in range(n_frees):  # standing on q instead, would a let one of them on?
                x = frees[f]
                if x == q:
                    continue
                touches = False
                for k in range(cptr[q], cptr[q + 1]):
                    if cind[k] == x:
                        touches = True
                        break
                if not touches:
                    return True
            queue[tail] = q
            tail += 1
    return False


@njit(cache=True)
def _dead(indptr, indices, rptr, rind, cptr, cind, config, occ, dead, seen, near, queue, frees,
          stamp):  # pragma: no cover
    """Mark the dead set of `config` in `dead`; occ is a node-sized scratch of -1s."""
    n = config.shape[0]
    for i in range(n):
        occ[config[i]] = i
        dead[i] = True
    changed = True
    while changed:
        changed = False
        for a in range(n):
            if dead[a] and _can_clear(a, indptr, indices, rptr, rind, cptr, cind, config, occ, dead, seen,
                                      near, queue, frees, stamp):
                dead[a] = False  # it can get out of the way (or only agents that can will block it)
                changed = True
    for i in range(n):
        occ[config[i]] = -1


@njit(cache=True)
def _hold(indptr, indices, rptr, rind, cptr, cind, pos, nxt, rank, occ, dead, seen, near, queue, frees,
          stamp):  # pragma: no cover
    """Hold movers of new dead sets in place, the lowest ranked first, one at a time (holding
    one often frees the rest); returns how many agents were held."""
    n = pos.shape[0]
    held = 0
    while True:
        _dead(indptr, indices, rptr, rind, cptr, cind, nxt, occ, dead, seen, near, queue, frees, stamp)
        worst = -1
        for i in range(n):
            if dead[i] and nxt[i] != pos[i] and (worst == -1 or rank[i] < rank[worst]):
                worst = i
        if worst == -1:
            return held
        nxt[worst] = pos[worst]
        held += 1
        while True:  # whoever would now run into an agent left standing waits too
            stamp[0] += 1
            st = stamp[0]
            for i in range(n):
                if nxt[i] == pos[i]:
                    p = pos[i]
                    seen[p] = st
                    for k in range(cptr[p], cptr[p + 1]):
                        seen[cind[k]] = st
            more = False
            for i in range(n):
                if nxt[i] != pos[i] and seen[nxt[i]] == st:
                    nxt[i] = pos[i]
                    held += 1
                    more = True
            if not more:
                break


class GridlockGuard:
    """The dead set and `hold`, with scratch arrays kept for one graph."""

    def __init__(self, graph: GraphArrays) -> None:
        self.graph = graph
        n = graph.n_nodes
        self._occ = np.full(n, -1, dtype=np.int32)
        self._seen = np.zeros(n, dtype=np.int64)
        self._near = np.zeros(n, dtype=np.int64)
        self._queue = np.zeros(n + 1, dtype=np.int32)
        self._rptr, self._rind = reverse_csr(graph.indptr, graph.indices)
        maxconf = int(np.diff(graph.conflict_indptr).max()) if n else 0
        self._frees = np.zeros(maxconf + 1, dtype=np.int32)
        self._stamp = np.zeros(1, dtype=np.int64)

    def _args(self) -> tuple:
        g = self.graph
        return g.indptr, g.indices, self._rptr, self._rind, g.conflict_indptr, g.conflict_indices

    def dead_set(self, config: np.ndarray) -> np.ndarray:
        """Which agents of `config` (one node each) can never move again (bool per agent)."""
        cfg = np.ascontiguousarray(config, dtype=np.int32)
        dead = np.zeros(cfg.shape[0], dtype=np.bool_)
        _dead(*self._args(), cfg, self._occ, dead, self._seen, self._near, self._queue, self._frees, self._stamp)
        return dead

    def hold(self, pos: np.ndarray, nxt: np.ndarray, standing: np.ndarray | None = None,
             rank: np.ndarray | None = None) -> int:
        """Hold back, in `nxt` in place, every move that closes a gridlock; how many were held.
        `pos` and `nxt` are valid configurations one step apart (one node per agent);
        `standing`: nodes of machines not planned this step (they count, and stay); `rank`:
        agent priorities, the lowest held first (default: later agents first)."""
        extra = np.zeros(0, dtype=np.int32) if standing is None else np.asarray(standing, dtype=np.int32)
        p = np.concatenate([np.asarray(pos, dtype=np.int32), extra])
        q = np.concatenate([np.asarray(nxt, dtype=np.int32), extra])
        r = -np.arange(pos.shape[0], dtype=np.float64) if rank is None else np.asarray(rank, dtype=np.float64)
        r = np.concatenate([r, np.full(extra.shape[0], np.inf)])
        dead = np.zeros(p.shape[0], dtype=np.bool_)
        held = int(_hold(*self._args(), p, q, r, self._occ, dead, self._seen, self._near, self._queue,
                         self._frees, self._stamp))
        if held:
            nxt[:] = q[: nxt.shape[0]]
        return held
