"""Distance tables: for each goal, the number of steps from every node to it.

Planners follow edges forward, so a table is a breadth-first search over the
*reversed* edges from the goal (on a one-way lane graph, distance to a goal is
not distance from it). Tables are uint16 when every distance fits (graphs under
65,535 nodes), halving memory and cache traffic in the hot loops; the largest
value of the dtype marks a node that cannot reach the goal.

On a plain 4-connected grid (a MovingAI map) the search runs over a padded cell array
instead of the CSR: neighbours are four fixed offsets and walls are a sentinel, so no
index arrays are read, about twice as fast; the rows come out identical.
"""

from __future__ import annotations

import time
import weakref

import numpy as np
from numba import njit

from maps.graph import GraphArrays

_layouts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


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


@njit(cache=True)
def bfs_grid_rows(template, width, cell_of, goals, table, rows, inf):  # pragma: no cover
    """Grid BFS: template holds -1 on free padded cells, -2 on walls (and blocked cells)."""
    work = np.empty(template.shape[0], dtype=np.int32)
    queue = np.empty(template.shape[0], dtype=np.int32)
    for k in range(goals.shape[0]):
        out = table[rows[k]]
        g = cell_of[goals[k]]
        work[:] = template
        if work[g] == -1:
            work[g] = 0
            queue[0] = g
            head = 0
            tail = 1
            while head < tail:
                v = queue[head]
                head += 1
                d = work[v] + 1
                for u in (v + 1, v + width, v - 1, v - width):
                    if work[u] == -1:
                        work[u] = d
                        queue[tail] = u
                        tail += 1
        for i in range(cell_of.shape[0]):
            x = work[cell_of[i]]
            out[i] = inf if x < 0 else x


def grid_layout(graph: GraphArrays) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(padded template int32, node -> padded cell int32, padded width) when the graph is a
    plain 4-connected grid (every pair of free side-by-side cells linked both ways, nothing
    else), else None. Kept per graph object."""
    if graph in _layouts:
        return _layouts[graph]
    out = None
    if graph.grid_shape is not None and graph.cell_to_node is not None:
        h, w = graph.grid_shape
        wp = w + 2
        cells = np.flatnonzero(graph.cell_to_node >= 0)
        nodes = graph.cell_to_node[cells]
        if nodes.shape[0] == graph.n_nodes and np.array_equal(np.sort(nodes), np.arange(graph.n_nodes)):
            cell_of = np.empty(graph.n_nodes, dtype=np.int32)
            cell_of[nodes] = ((cells // w + 1) * wp + cells % w + 1).astype(np.int32)
            template = np.full((h + 2) * wp, -2, dtype=np.int32)
            template[cell_of] = -1
            node_at = np.full(template.shape[0], -1, dtype=np.int64)
            node_at[cell_of] = np.arange(graph.n_nodes)
            src = np.repeat(np.arange(graph.n_nodes, dtype=np.int64), np.diff(graph.indptr))
            have = np.sort(src * graph.n_nodes + graph.indices)
            want = []
            for off in (1, wp, -1, -wp):
                tgt = node_at[cell_of.astype(np.int64) + off]
                ok = tgt >= 0
                want.append(np.flatnonzero(ok) * graph.n_nodes + tgt[ok])
            if np.array_equal(have, np.sort(np.concatenate(want))):
                out = (template, cell_of, wp)
    _layouts[graph] = out
    return out


def goal_distances(graph: GraphArrays, goals: np.ndarray, blocked: np.ndarray,
                   deadline: float | None = None) -> np.ndarray | None:
    """`distance_tables` for a graph, over its padded grid when it is a plain grid."""
    return distance_tables(graph.indptr, graph.indices, goals, blocked, deadline,
                           layout=grid_layout(graph))


def distance_tables(
    indptr: np.ndarray, indices: np.ndarray, goals: np.ndarray, blocked: np.ndarray,
    deadline: float | None = None, *, layout: tuple[np.ndarray, np.ndarray, int] | None = None,
) -> np.ndarray | None:
    """One row per goal; None when `deadline` (perf_counter seconds) passes first.
    layout: `grid_layout(graph)` to search the padded grid instead of the CSR."""
    n = indptr.shape[0] - 1
    dtype = table_dtype(n)
    table = np.empty((goals.shape[0], n), dtype=dtype)
    rows = np.arange(goals.shape[0], dtype=np.int32)
    g32 = goals.astype(np.int32)
    inf = dtype.type(unreachable(dtype))
    if layout is not None:
        template, cell_of, width = layout
        if blocked.any():
            template = template.copy()
            template[cell_of[blocked]] = -2
    else:
        rptr, rind = reverse_csr(indptr, indices)
    step = 64
    for lo in range(0, goals.shape[0], step):
        hi = min(goals.shape[0], lo + step)
        if layout is not None:
            bfs_grid_rows(template, width, cell_of, g32[lo:hi], table, rows[lo:hi], inf)
        else:
            bfs_rows(rptr, rind, blocked, g32[lo:hi], table, rows[lo:hi], inf)
        if deadline is not None and hi < goals.shape[0] and time.perf_counter() > deadline:
            return None
    return table
