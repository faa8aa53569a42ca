"""Turn a Site into the planners' `GraphArrays`, in exactly one place.

Two jobs beyond the CSR layout:
- Lanes longer than one time step are split into waypoint nodes (length over the
  lane's speed, the lowest speed limit of any zone it crosses, rounded up), so the
  planners stay unit-time and a slow lane costs what it really costs.
- Footprint conflicts: each node gets the vehicle's footprint (grown by the safety
  margin) oriented along every lane through it; nodes whose footprints overlap may
  not be occupied at the same time, and are listed in each other's conflict set. The
  nodes around a junction form one block: at most one of them is taken at a time.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np
from shapely import STRtree, covers, points
from shapely.affinity import rotate, translate
from shapely.geometry import LineString, Polygon, box
from shapely.ops import unary_union

from maps.graph import GraphArrays, csr_from_lists
from maps.site import Lane, Site, VehicleShape, ZoneKind

OVERLAP_EPS_M2 = 1e-4  # touching footprints do not conflict


def lane_speed(site: Site, lane: Lane) -> float:
    """The lane's top speed, lowered by every speed-limited zone it crosses."""
    speed = lane.max_speed_mps
    line = site.lane_line(lane)
    for zone in site.zones:
        if zone.kind == ZoneKind.SPEED_LIMIT and zone.speed_limit_mps and zone.polygon.intersects(line):
            speed = min(speed, zone.speed_limit_mps)
    return speed


def lane_steps(site: Site, lane: Lane) -> int:
    return max(1, math.ceil(lane.length_m / (lane_speed(site, lane) * site.step_s) - 1e-9))


def compile_site(site: Site, shape: VehicleShape | None = None) -> GraphArrays:
    """The compact graph of the lanes AGVs may use (cached per site and shape)."""
    return _compile(site, shape or site.vehicle_shape)


@lru_cache(maxsize=16)
def _compile(site: Site, shape: VehicleShape) -> GraphArrays:
    ids: list[str] = [n.id for n in site.nodes]
    xy: list[tuple[float, float]] = [(n.x, n.y) for n in site.nodes]
    waypoint: list[bool] = [False] * len(ids)
    index = {nid: i for i, nid in enumerate(ids)}
    adjacency: list[list[int]] = [[] for _ in ids]
    lengths: list[list[float]] = [[] for _ in ids]
    headings: list[set[float]] = [set() for _ in ids]

    def add_edge(a: int, b: int, length: float) -> None:
        adjacency[a].append(b)
        lengths[a].append(length)

    for lane in site.lanes:
        if not lane.agv:
            continue
        a, b = index[lane.start], index[lane.end]
        steps = lane_steps(site, lane)
        (x0, y0), (x1, y1) = xy[a], xy[b]
        chain = [a]
        for k in range(1, steps):
            f = k / steps
            ids.append(f"{lane.start}>{lane.end}#{k}")
            xy.append((x0 + (x1 - x0) * f, y0 + (y1 - y0) * f))
            waypoint.append(True)
            adjacency.append([])
            lengths.append([])
            headings.append(set())
            chain.append(len(ids) - 1)
        chain.append(b)
        step_len = lane.length_m / steps
        heading = math.atan2(y1 - y0, x1 - x0) % math.pi  # footprint is symmetric
        for u, v in itertools.pairwise(chain):
            add_edge(u, v, step_len)
            if lane.two_way:
                add_edge(v, u, step_len)
        for u in chain:
            headings[u].add(round(heading, 4))

    n = len(ids)
    indptr, indices = csr_from_lists(n, adjacency)
    edge_len = np.fromiter((x for ls in lengths for x in ls), dtype=np.float32, count=int(indptr[-1]))
    xy_arr = np.asarray(xy, dtype=np.float32).reshape(n, 2)
    c_indptr, c_indices = _conflicts(xy_arr, headings, shape, adjacency)
    return GraphArrays(
        xy=xy_arr,
        indptr=indptr,
        indices=indices,
        edge_length_m=edge_len,
        conflict_indptr=c_indptr,
        conflict_indices=c_indices,
        node_ids=tuple(ids),
        is_waypoint=np.asarray(waypoint, dtype=bool),
        step_s=site.step_s,
    )


def footprint(x: float, y: float, headings: set[float], shape: VehicleShape) -> Polygon:
    """The area a vehicle standing at (x, y) may cover, turning between its lanes."""
    length = shape.length_m + 2 * shape.safety_margin_m
    width = shape.width_m + 2 * shape.safety_margin_m
    base = box(-length / 2, -width / 2, length / 2, width / 2)
    parts = [rotate(base, h, origin=(0, 0), use_radians=True) for h in (headings or {0.0})]
    return translate(unary_union(parts), x, y)


def _conflicts(xy: np.ndarray, headings: list[set[float]], shape: VehicleShape,
               adjacency: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    n = xy.shape[0]
    prints = [footprint(float(xy[i, 0]), float(xy[i, 1]), headings[i], shape) for i in range(n)]
    tree = STRtree(prints)
    pairs = tree.query(prints, predicate="intersects")
    out: list[list[int]] = [[] for _ in range(n)]
    for i, j in zip(pairs[0].tolist(), pairs[1].tolist(), strict=True):
        if i < j and prints[i].intersection(prints[j]).area > OVERLAP_EPS_M2:
            out[i].append(j)
            out[j].append(i)
    # a junction is one block (openTCS's single-vehicle block): of the nodes around it only
    # one may be taken at a time. Two vehicles each standing close to a junction from
    # different lanes, neither in the other's way, can otherwise never pass it: whoever
    # enters it touches the other.
    around: list[set[int]] = [set() for _ in range(n)]
    for u, nbrs in enumerate(adjacency):
        for w in nbrs:
            if w != u:
                around[u].add(w)
                around[w].add(u)
    for j in range(n):
        if len(around[j]) >= 3:
            block = [j, *out[j]]
            for a, b in itertools.combinations(block, 2):
                out[a].append(b)
                out[b].append(a)
    out = [sorted(set(lst)) for lst in out]
    return csr_from_lists(n, out)


def blocked_nodes(site: Site, graph: GraphArrays, zone_ids: frozenset[str] | set[str]) -> np.ndarray:
    """bool mask of graph nodes inside the given zones (e.g. closed for maintenance)."""
    mask = np.zeros(graph.n_nodes, dtype=bool)
    polys = [site.zone_by_id[z].polygon for z in zone_ids if z in site.zone_by_id]
    if not polys:
        return mask
    area = unary_union(polys)
    mask[:] = covers(area, points(graph.xy.astype(np.float64)))
    return mask


def lane_crosses(site: Site, lane: Lane, polygon: Polygon) -> bool:
    """True when a lane runs through a polygon's interior (not just along its edge)."""
    line: LineString = site.lane_line(lane)
    inter = polygon.intersection(line)
    return inter.length > 1e-6
