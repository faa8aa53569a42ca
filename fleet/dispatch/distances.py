"""Real path distances over a site's lanes, the cost every dispatch decision uses.

Dispatch needs "how far is it from where this vehicle stands to that station" for
thousands of pairs per round, so the distances *to* each station node are computed
once per site and lane network (one Dijkstra over the reversed lanes per station,
numba) and then read as numpy rows. Two things change which lanes are usable:
closed zones (nobody drives through them) and hazardous zones (only hazardous-rated
vehicles may enter), so tables are kept per (closed zones, hazardous-rated) variant.
No-go zones and lanes marked `agv: false` are never usable.

Distances are in metres over the site's own nodes (lanes are not split into
waypoints here: a lane's length is its length, whatever the planner's time step).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from maps.site import Site, ZoneKind

INF = math.inf


@njit(cache=True)
def _dijkstra_into(rptr, rsrc, rlen, goal, out):  # pragma: no cover - numba
    """Fill `out` with the shortest distance from every node *to* `goal` (reversed CSR)."""
    n = out.shape[0]
    for v in range(n):
        out[v] = np.inf
    out[goal] = 0.0
    heap_d = np.empty(rsrc.shape[0] + 1, dtype=np.float64)
    heap_v = np.empty(rsrc.shape[0] + 1, dtype=np.int32)
    size = 1
    heap_d[0] = 0.0
    heap_v[0] = goal
    while size > 0:
        d = heap_d[0]
        v = heap_v[0]
        size -= 1
        # pop: move last to root and sift down
        if size > 0:
            ld = heap_d[size]
            lv = heap_v[size]
            i = 0
            while True:
                c = 2 * i + 1
                if c >= size:
                    break
                if c + 1 < size and heap_d[c + 1] < heap_d[c]:
                    c += 1
                if heap_d[c] < ld:
                    heap_d[i] = heap_d[c]
                    heap_v[i] = heap_v[c]
                    i = c
                else:
                    break
            heap_d[i] = ld
            heap_v[i] = lv
        if d > out[v]:
            continue
        for k in range(rptr[v], rptr[v + 1]):
            u = rsrc[k]
            nd = d + rlen[k]
            if nd < out[u]:
                out[u] = nd
                # push and sift up
                i = size
                size += 1
                while i > 0:
                    p = (i - 1) // 2
                    if heap_d[p] > nd:
                        heap_d[i] = heap_d[p]
                        heap_v[i] = heap_v[p]
                        i = p
                    else:
                        break
                heap_d[i] = nd
                heap_v[i] = u


@njit(cache=True)
def _dijkstra_rows(rptr, rsrc, rlen, goals, table):  # pragma: no cover - numba
    for k in range(goals.shape[0]):
        _dijkstra_into(rptr, rsrc, rlen, goals[k], table[k])


def lanes_blocked(site: Site, closed_zones: frozenset[str], hazardous_rated: bool) -> np.ndarray:
    """bool per lane: True where the lane may not be driven in this variant.

    A lane is blocked when it is not an AGV lane, or crosses the inside of a no-go
    zone, a closed zone, or (for vehicles that are not hazardous-rated) a hazardous zone.
    """
    forbidding = [
        z
        for z in site.zones
        if z.kind == ZoneKind.NO_GO
        or z.id in closed_zones
        or (z.kind == ZoneKind.HAZARDOUS and not hazardous_rated)
    ]
    out = np.zeros(len(site.lanes), dtype=bool)
    for i, lane in enumerate(site.lanes):
        if not lane.agv:
            out[i] = True
            continue
        if forbidding:
            line = site.lane_line(lane)
            out[i] = any(z.polygon.intersects(line) and not z.polygon.touches(line) for z in forbidding)
    return out


@dataclass
class LaneNetwork:
    """One usable-lane variant of a site with lazily filled distance rows per target node."""

    site: Site
    closed_zones: frozenset[str]
    hazardous_rated: bool
    node_index: dict[str, int] = field(init=False)
    _rptr: np.ndarray = field(init=False, repr=False)
    _rsrc: np.ndarray = field(init=False, repr=False)
    _rlen: np.ndarray = field(init=False, repr=False)
    _rows: dict[int, np.ndarray] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        site = self.site
        self.node_index = {n.id: i for i, n in enumerate(site.nodes)}
        blocked = lanes_blocked(site, self.closed_zones, self.hazardous_rated)
        src: list[int] = []
        dst: list[int] = []
        length: list[float] = []
        for lane, bad in zip(site.lanes, blocked, strict=True):
            if bad:
                continue
            a, b = self.node_index[lane.start], self.node_index[lane.end]
            src.append(a)
            dst.append(b)
            length.append(lane.length_m)
            if lane.two_way:
                src.append(b)
                dst.append(a)
                length.append(lane.length_m)
        n = len(site.nodes)
        s = np.asarray(src, dtype=np.int32)
        d = np.asarray(dst, dtype=np.int32)
        w = np.asarray(length, dtype=np.float64)
        # reversed CSR: for target v, the edges u -> v
        order = np.argsort(d, kind="stable")
        self._rptr = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(d, minlength=n), out=self._rptr[1:])
        self._rsrc = s[order].astype(np.int32)
        self._rlen = w[order]

    @property
    def n_nodes(self) -> int:
        return len(self.node_index)

    def prepare(self, targets: list[str] | set[str]) -> None:
        """Compute the rows for these target nodes in one numba call (missing ones only)."""
        idx = sorted({self.node_index[t] for t in targets} - self._rows.keys())
        if not idx:
            return
        goals = np.asarray(idx, dtype=np.int32)
        table = np.empty((len(idx), self.n_nodes), dtype=np.float64)
        _dijkstra_rows(self._rptr, self._rsrc, self._rlen, goals, table)
        for k, g in enumerate(idx):
            self._rows[g] = table[k]

    def to(self, target: str) -> np.ndarray:
        """Distance in metres from every node (by site index) to `target` (inf: unreachable)."""
        g = self.node_index[target]
        row = self._rows.get(g)
        if row is None:
            self.prepare([target])
            row = self._rows[g]
        return row

    def between(self, a: str, b: str) -> float:
        return float(self.to(b)[self.node_index[a]])

    def matrix(self, sources: list[str], targets: list[str]) -> np.ndarray:
        """(len(sources), len(targets)) distances; rows are read from cached per-target tables."""
        self.prepare(set(targets))
        src = np.fromiter((self.node_index[s] for s in sources), dtype=np.int64, count=len(sources))
        out = np.empty((len(sources), len(targets)), dtype=np.float64)
        for j, t in enumerate(targets):
            out[:, j] = self.to(t)[src]
        return out


class SiteDistances:
    """All lane-network variants of one site, built on first use and kept.

    Not thread-safe: the core calls it from its dispatch task only.
    """

    def __init__(self, site: Site) -> None:
        self.site = site
        self._networks: dict[tuple[frozenset[str], bool], LaneNetwork] = {}

    def network(self, closed_zones: frozenset[str] = frozenset(), hazardous_rated: bool = False) -> LaneNetwork:
        known = frozenset(z for z in closed_zones if z in self.site.zone_by_id)
        key = (known, hazardous_rated)
        net = self._networks.get(key)
        if net is None:
            net = LaneNetwork(self.site, known, hazardous_rated)
            self._networks[key] = net
        return net


_CACHE: OrderedDict[int, tuple[Site, SiteDistances]] = OrderedDict()
CACHE_SITES = 8  # a service has one site; tests and benchmarks a few


def distances_for(site: Site) -> SiteDistances:
    """The cached `SiteDistances` of a site (by identity; the last few sites are kept)."""
    hit = _CACHE.get(id(site))
    if hit is not None and hit[0] is site:
        _CACHE.move_to_end(id(site))
        return hit[1]
    dist = SiteDistances(site)
    _CACHE[id(site)] = (site, dist)
    while len(_CACHE) > CACHE_SITES:
        _CACHE.popitem(last=False)
    return dist


def closed_at_start(site: Site) -> frozenset[str]:
    """Zones the site file marks closed; the core starts its closed-zone set from these."""
    return frozenset(z.id for z in site.zones if z.closed)
