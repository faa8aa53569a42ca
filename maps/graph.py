"""The compact array form of a site's lane graph, the only thing planners read.

Every edge takes exactly one time step: lanes longer than one step are split into
intermediate nodes when the graph is compiled (`maps.compile`), so planners stay
unit-time and a slow lane costs what it really costs. Nodes that two vehicles may
not occupy at the same time (their footprints would overlap) are listed per node in
a second CSR, the *conflict* sets; a node is never listed in its own set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class GraphArrays:
    """Immutable CSR graph; all ids are int32 indices into these arrays.

    Attributes:
        xy: float32 (n, 2) node positions in site metres (grid: column, row).
        indptr, indices: int32 CSR of directed out-neighbours (a two-way lane
            appears in both directions). Waiting in place is implicit, not an edge.
        edge_length_m: float32 (m,) physical length of each directed edge.
        conflict_indptr, conflict_indices: int32 CSR of nodes too close to be
            occupied together with node i (empty for point agents on a grid).
        node_ids: original ids (site node id, `A>B#k` for lane interiors, `x,y` for grids).
        is_waypoint: bool (n,), True for lane-interior nodes inserted by the compiler.
        grid_shape: (height, width) when the graph is a 4-connected grid, else None.
        cell_to_node: int32 (height*width,) row-major cell -> node, -1 where blocked.
        step_s: seconds one time step stands for.
    """

    xy: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    edge_length_m: np.ndarray
    conflict_indptr: np.ndarray
    conflict_indices: np.ndarray
    node_ids: tuple[str, ...]
    is_waypoint: np.ndarray
    grid_shape: tuple[int, int] | None = None
    cell_to_node: np.ndarray | None = None
    step_s: float = 1.0
    _index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("indptr", "indices", "conflict_indptr", "conflict_indices"):
            arr = getattr(self, name)
            if arr.dtype != np.int32:
                raise TypeError(f"GraphArrays.{name} must be int32, got {arr.dtype}")
            arr.setflags(write=False)
        self.xy.setflags(write=False)
        self._index.update({nid: i for i, nid in enumerate(self.node_ids)})

    @property
    def n_nodes(self) -> int:
        return int(self.indptr.shape[0] - 1)

    @property
    def n_edges(self) -> int:
        return int(self.indices.shape[0])

    def index(self, node_id: str) -> int:
        """The int32 index of a node id; KeyError names the id when it is unknown."""
        try:
            return self._index[node_id]
        except KeyError:
            raise KeyError(f"unknown node id {node_id!r}") from None

    def neighbours(self, i: int) -> np.ndarray:
        return self.indices[self.indptr[i] : self.indptr[i + 1]]

    def conflicts(self, i: int) -> np.ndarray:
        return self.conflict_indices[self.conflict_indptr[i] : self.conflict_indptr[i + 1]]

    def node_of_cell(self, x: int, y: int) -> int:
        """Grid only: node index of column x, row y, or -1 when blocked or outside."""
        if self.grid_shape is None or self.cell_to_node is None:
            raise ValueError("node_of_cell needs a grid graph")
        h, w = self.grid_shape
        if not (0 <= x < w and 0 <= y < h):
            return -1
        return int(self.cell_to_node[y * w + x])


def csr_from_lists(n: int, adjacency: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Build int32 CSR arrays from per-node neighbour lists (kept in list order)."""
    counts = np.fromiter((len(a) for a in adjacency), dtype=np.int64, count=n)
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=indptr[1:])
    indices = np.fromiter((j for a in adjacency for j in a), dtype=np.int32, count=int(indptr[-1]))
    return indptr, indices
