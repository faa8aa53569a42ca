"""What a planning call is given: starts, goals and the blocks others impose.

A *block* is a reservation by someone else: a closed hazardous zone, a crane
lowering a load over a lane, a vehicle in fault. Either for all time (a bool mask
over nodes) or for a window of steps `[t_from, t_to)` on one node. Checks here
turn malformed input into a `PlanInputError` naming the agent and the node, so
the numba kernels only ever see consistent arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from maps.graph import GraphArrays
from planners.errors import PlanInputError


@dataclass(frozen=True)
class Blocks:
    """Nodes others have reserved. `mask[v]` closes v for good; each row of `windows`
    is `(node, t_from, t_to)` closing the node at steps t_from <= t < t_to."""

    mask: np.ndarray | None = None
    windows: np.ndarray | None = None

    def arrays(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(blocked bool (n,), wptr int32 (n+1,), wfrom int32, wto int32) for the kernels."""
        if self.mask is None:
            blocked = np.zeros(n, dtype=np.bool_)
        else:
            blocked = np.asarray(self.mask, dtype=np.bool_)
            if blocked.shape != (n,):
                raise PlanInputError(f"blocked mask has shape {blocked.shape}, expected ({n},)")
        w = np.zeros((0, 3), dtype=np.int64) if self.windows is None else np.asarray(self.windows)
        if w.size == 0:
            w = np.zeros((0, 3), dtype=np.int64)
        if w.ndim != 2 or w.shape[1] != 3:
            raise PlanInputError(f"block windows must be rows of (node, t_from, t_to), got {w.shape}")
        w = w.astype(np.int64)
        bad = (w[:, 0] < 0) | (w[:, 0] >= n) | (w[:, 1] > w[:, 2])
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise PlanInputError(f"block window {r} {tuple(w[r].tolist())} is not a node and a time range")
        order = np.argsort(w[:, 0], kind="stable")
        w = w[order]
        wptr = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(w[:, 0], minlength=n), out=wptr[1:])
        return blocked, wptr, w[:, 1].astype(np.int32), w[:, 2].astype(np.int32)

    @property
    def has_windows(self) -> bool:
        return self.windows is not None and len(self.windows) > 0


def as_nodes(graph: GraphArrays, values: np.ndarray | list[int], what: str) -> np.ndarray:
    """int32 node indices, each checked to exist."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise PlanInputError(f"{what} must be a 1-D array of node indices, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise PlanInputError(f"{what} must be integer node indices, got {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = np.flatnonzero((arr < 0) | (arr >= graph.n_nodes))
    if bad.size:
        a = int(bad[0])
        raise PlanInputError(f"agent {a}: {what[:-1]} {int(arr[a])} is not a node (0..{graph.n_nodes - 1})", a)
    return arr.astype(np.int32)


def _first_duplicate(arr: np.ndarray) -> tuple[int, int] | None:
    order = np.argsort(arr, kind="stable")
    s = arr[order]
    dup = np.flatnonzero(s[1:] == s[:-1])
    if not dup.size:
        return None
    k = int(dup[0])
    return int(order[k]), int(order[k + 1])


def footprint_clash(graph: GraphArrays, nodes: np.ndarray) -> tuple[int, int] | None:
    """Two agents whose nodes are in each other's conflict sets, or None."""
    if graph.conflict_indices.shape[0] == 0 or nodes.shape[0] < 2:
        return None
    owner = np.full(graph.n_nodes, -1, dtype=np.int64)
    owner[nodes] = np.arange(nodes.shape[0])
    counts = np.diff(graph.conflict_indptr)[nodes]
    agents = np.repeat(np.arange(nodes.shape[0]), counts)
    starts = graph.conflict_indptr[nodes]
    offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    other = owner[graph.conflict_indices[np.repeat(starts, counts) + offs]]
    hit = np.flatnonzero((other >= 0) & (other != agents))
    if not hit.size:
        return None
    return int(agents[hit[0]]), int(other[hit[0]])


def check_problem(
    graph: GraphArrays, starts: np.ndarray, goals: np.ndarray, blocked: np.ndarray
) -> None:
    """Raise PlanInputError for input no plan can be made from (never a hang later)."""
    if starts.shape != goals.shape:
        raise PlanInputError(f"{starts.shape[0]} starts but {goals.shape[0]} goals")
    dup = _first_duplicate(starts)
    if dup:
        raise PlanInputError(f"agents {dup[0]} and {dup[1]} share start node {int(starts[dup[0]])}", dup[1])
    dup = _first_duplicate(goals)
    if dup:
        raise PlanInputError(f"agents {dup[0]} and {dup[1]} share goal node {int(goals[dup[0]])}", dup[1])
    for what, arr in (("start", starts), ("goal", goals)):
        bad = np.flatnonzero(blocked[arr])
        if bad.size:
            a = int(bad[0])
            raise PlanInputError(f"agent {a}: {what} node {int(arr[a])} is blocked", a)
    clash = footprint_clash(graph, starts)
    if clash:
        raise PlanInputError(
            f"agents {clash[0]} and {clash[1]} start too close (footprints overlap at nodes "
            f"{int(starts[clash[0]])} and {int(starts[clash[1]])})", clash[1])
