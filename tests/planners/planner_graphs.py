"""Small graphs for planner tests: grids from strings, directed lane graphs with footprints."""

from __future__ import annotations

import numpy as np

from maps.graph import GraphArrays, csr_from_lists
from maps.movingai import Grid, grid_graph


def grid(rows: list[str]) -> GraphArrays:
    """A 4-connected grid from rows of '.' (free) and '@' (blocked)."""
    free = np.array([[c != "@" for c in row] for row in rows], dtype=bool)
    return grid_graph(Grid("test", free))


def lane_graph(n: int, edges: list[tuple[int, int]],
               conflicts: list[tuple[int, int]] | None = None) -> GraphArrays:
    """Directed graph on n nodes; `conflicts` are symmetric footprint pairs."""
    out: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        out[a].append(b)
    indptr, indices = csr_from_lists(n, out)
    conf: list[list[int]] = [[] for _ in range(n)]
    for a, b in conflicts or []:
        conf[a].append(b)
        conf[b].append(a)
    cptr, cind = csr_from_lists(n, conf)
    return GraphArrays(
        xy=np.stack([np.arange(n), np.zeros(n)], axis=1).astype(np.float32),
        indptr=indptr, indices=indices,
        edge_length_m=np.ones(indices.shape[0], dtype=np.float32),
        conflict_indptr=cptr, conflict_indices=cind,
        node_ids=tuple(str(i) for i in range(n)),
        is_waypoint=np.zeros(n, dtype=bool),
    )


def undirected(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return [e for a, b in pairs for e in ((a, b), (b, a))]


def conflict_sets(n: int, pairs: list[tuple[int, int]]) -> dict[int, set[int]]:
    """Each node's footprint-conflict partners, from symmetric pairs."""
    conf: dict[int, set[int]] = {v: set() for v in range(n)}
    for a, b in pairs:
        conf[a].add(b)
        conf[b].add(a)
    return conf


def spread(order, k: int, conf: dict[int, set[int]]) -> list[int]:  # type: ignore[no-untyped-def]
    """The first k nodes of `order` that are distinct and not in conflict with each other."""
    taken: list[int] = []
    for v in order:
        if v not in taken and not (conf[v] & set(taken)):
            taken.append(int(v))
        if len(taken) == k:
            break
    return taken
