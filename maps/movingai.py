"""MovingAI benchmark files: `.map` grids and `.scen` scenarios.

The format (Sturtevant 2012): a header `type octile`, `height H`, `width W`, `map`,
then H rows of W characters. `@ O T W` are blocked; every other character is free.
Scenarios: a `version 1` line, then tab-separated
`bucket map width height start_x start_y goal_x goal_y optimal` (x column, y row).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maps.errors import SiteFileError
from maps.graph import GraphArrays

BLOCKED = frozenset("@OTW")


@dataclass(frozen=True)
class Grid:
    """A MovingAI grid: free[y, x] is True for a free cell."""

    name: str
    free: np.ndarray

    @property
    def height(self) -> int:
        return int(self.free.shape[0])

    @property
    def width(self) -> int:
        return int(self.free.shape[1])

    @property
    def free_cells(self) -> int:
        return int(self.free.sum())


@dataclass(frozen=True)
class ScenarioAgent:
    start: tuple[int, int]  # (x, y)
    goal: tuple[int, int]
    optimal: float


def read_map(path: str | Path) -> Grid:
    """Parse a `.map` file; errors name the file and the line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise SiteFileError(str(path), "", f"cannot read map file: {exc.strerror}") from None
    header: dict[str, str] = {}
    row0 = None
    for lineno, line in enumerate(lines):
        text = line.strip()
        if text.lower() == "map":
            row0 = lineno + 1
            break
        parts = text.split()
        if len(parts) == 2:
            header[parts[0].lower()] = parts[1]
        elif text:
            raise SiteFileError(str(path), f"line {lineno + 1}", f"unexpected header line {text!r}")
    if row0 is None:
        raise SiteFileError(str(path), "header", "no 'map' line: not a MovingAI map file")
    try:
        height, width = int(header["height"]), int(header["width"])
    except (KeyError, ValueError):
        raise SiteFileError(str(path), "header", "needs integer 'height' and 'width'") from None
    if height <= 0 or width <= 0:
        raise SiteFileError(str(path), "header", f"height and width must be positive, got {height}x{width}")
    rows = lines[row0 : row0 + height]
    if len(rows) < height:
        raise SiteFileError(str(path), f"line {row0 + len(rows) + 1}", f"expected {height} map rows, found {len(rows)}")
    free = np.zeros((height, width), dtype=bool)
    for y, row in enumerate(rows):
        row = row.rstrip("\r\n")
        if len(row) < width:
            raise SiteFileError(str(path), f"line {row0 + y + 1}", f"row has {len(row)} cells, expected {width}")
        free[y] = [c not in BLOCKED for c in row[:width]]
    return Grid(name=path.stem, free=free)


def read_scenario(path: str | Path, agents: int | None = None) -> list[ScenarioAgent]:
    """Parse a `.scen` file, keeping the first `agents` lines when given."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SiteFileError(str(path), "", f"cannot read scenario file: {exc.strerror}") from None
    out: list[ScenarioAgent] = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip() or line.lower().startswith("version"):
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) < 9:
            raise SiteFileError(str(path), f"line {lineno}", f"expected 9 fields, found {len(parts)}")
        try:
            sx, sy, gx, gy = (int(p) for p in parts[4:8])
            opt = float(parts[8])
        except ValueError:
            raise SiteFileError(str(path), f"line {lineno}", "start/goal must be integers") from None
        out.append(ScenarioAgent((sx, sy), (gx, gy), opt))
        if agents is not None and len(out) >= agents:
            break
    if agents is not None and len(out) < agents:
        raise SiteFileError(str(path), "", f"asked for {agents} agents, scenario has {len(out)}")
    return out


def grid_graph(grid: Grid) -> GraphArrays:
    """4-connected unit-time graph over the free cells, row-major node order.

    Neighbour order is fixed (right, down, left, up) so planners are deterministic.
    """
    h, w = grid.height, grid.width
    free = grid.free
    cell_to_node = np.full(h * w, -1, dtype=np.int32)
    ys, xs = np.nonzero(free)
    n = len(xs)
    cell_to_node[ys * w + xs] = np.arange(n, dtype=np.int32)
    counts = np.zeros(n, dtype=np.int32)
    nbrs = np.full((n, 4), -1, dtype=np.int32)
    for k, (dx, dy) in enumerate(((1, 0), (0, 1), (-1, 0), (0, -1))):
        nx, ny = xs + dx, ys + dy
        ok = (nx >= 0) & (nx < w) & (ny >= 0) & (ny < h)
        tgt = np.full(n, -1, dtype=np.int32)
        tgt[ok] = cell_to_node[ny[ok] * w + nx[ok]]
        nbrs[:, k] = tgt
    valid = nbrs >= 0
    counts = valid.sum(axis=1).astype(np.int32)
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=indptr[1:])
    indices = nbrs[valid].astype(np.int32)  # row-major over (node, k): keeps per-node order
    xy = np.stack([xs, ys], axis=1).astype(np.float32)
    return GraphArrays(
        xy=xy,
        indptr=indptr,
        indices=indices,
        edge_length_m=np.ones(indices.shape[0], dtype=np.float32),
        conflict_indptr=np.zeros(n + 1, dtype=np.int32),
        conflict_indices=np.zeros(0, dtype=np.int32),
        node_ids=tuple(f"{x},{y}" for x, y in zip(xs.tolist(), ys.tolist(), strict=True)),
        is_waypoint=np.zeros(n, dtype=bool),
        grid_shape=(h, w),
        cell_to_node=cell_to_node,
    )
