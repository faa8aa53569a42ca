"""Distance tables: for each goal, the number of steps from every node to it.

Planners follow edges forward, so a table is a breadth-first search over the
*reversed* edges from the goal (on a one-way lane graph, distance to a goal is
not distance from it). Tables are uint16 when every distance fits (graphs under
65,535 nodes), halving memory and cache traffic in the hot loops; the largest
value of the dtype marks a node that cannot reach the goal.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit


def table_dtype(n_nodes: int) -> np.dtype:
    """uint16 when every finite distance fits below the 'unreachable' mark, else int32."""
    return np.dtype(np.uint16) if n_nodes < np.iinfo(np.uint16).max else np.dtype(np.int32)


def unreachable(dtype: np.dtype) -> int:
    """The value that marks 'cannot reach the goal' in a table of this dtype."""
    return int(np.iinfo(dtype).max)


def reverse_csr(indptr: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR of in-neighbours (who can step onto node v), int32, stable order."""
    n = indptr.shape[0] - 1
    src = np.repeat(np.arange(n, dtype=np.int32), np.diff(indptr))
    order = np.argsort(indices, kind="stable")
    rptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(indices, minlength=n), out=rptr[1:])
    return rptr, src[order].astype(np.int32)


@njit(cache=True)
def bfs_into(rptr, rind, blocked, goal, out, inf, queue):  # pragma: no cover - numba
    """Fill `out` (one table row) with steps-to-`goal`; blocked nodes are never entered."""
    for v in range(out.shape[0]):
        out[v] = inf
    if blocked[goal]:
        return
    out[goal] = 0
    queue[0] = goal
    head = 0
    tail = 1
    while head < tail:
        v = queue[head]
        head += 1
        d = out[v] + 1
        for k in range(rptr[v], rptr[v + 1]):
            u = rind[k]
            if out[u] == inf and not blocked[u]:
                out[u] = d
                queue[tail] = u
                tail += 1


@njit(cache=True)
def bfs_rows(rptr, rind, blocked, goals, table, rows, inf):  # pragma: no cover - numba
    """Fill table[rows[k]] with the distances to goals[k] for every k."""
    queue = np.empty(table.shape[1], dtype=np.int32)
    for k in range(goals.shape[0]):
        bfs_into(rptr, rind, blocked, goals[k], table[rows[k]], inf, queue)


def distance_tables(
    indptr: np.ndarray, indices: np.ndarray, goals: np.ndarray, blocked: np.ndarray,
    deadline: float | None = None,
) -> np.ndarray | None:
    """One row per goal; None when `deadline` (perf_counter seconds) passes first."""
    n = indptr.shape[0] - 1
    dtype = table_dtype(n)
    rptr, rind = reverse_csr(indptr, indices)
    table = np.empty((goals.shape[0], n), dtype=dtype)
    rows = np.arange(goals.shape[0], dtype=np.int32)
    g32 = goals.astype(np.int32)
    inf = dtype.type(unreachable(dtype))
    step = 64
    for lo in range(0, goals.shape[0], step):
        hi = min(goals.shape[0], lo + step)
        bfs_rows(rptr, rind, blocked, g32[lo:hi], table, rows[lo:hi], inf)
        if deadline is not None and hi < goals.shape[0] and time.perf_counter() > deadline:
            return None
    return table
