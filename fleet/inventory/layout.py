"""Every storage position of a Site as compact arrays, built once per site.

A *slot* is what the site file lists (a rack location or a coil-yard slot); a
*position* is one place a single load can occupy in it:

- rack location `R07-03L` with `levels: 4` -> positions `R07-03L/L1` .. `/L4`
  (level 1 is the floor beam). Levels are separate beams: nothing rests on
  anything, so a rack load is never dug out.
- coil-yard slot `S1-05` with `tiers: 2` -> the lower position `S1-05/T1` (a coil
  on the floor saddle) and, when the slot has a neighbour along the runway in the
  same row (same bay, same `cross_m`, next larger `runway_m`, at most
  `StackingRules.max_saddle_pitch_m` away, e.g. `S1-06`), the upper position
  `S1-05/T2`, which rests on the two lower coils `S1-05/T1` and `S1-06/T1`. So upper
  k sits between lower k and k+1 of its row; the last slot of a row has no upper
  position, and a lower coil k carries at most two: upper k-1 and upper k.
  `tiers: 1` gives only the lower position; more than two tiers are treated as two.

Travel cost (seconds) of a position is the time to bring a load from it to the
nearest dock: racks by AGV over the lane graph to the nearest pickup/drop station
(plus a lift time per level); coil slots by crane to the nearest handoff of the bay
(bridge and trolley move together) plus the AGV time from that handoff to a dock.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

import networkx as nx
import numpy as np
import shapely

from fleet.inventory.rules import StackingRules
from maps.site import CraneBay, Site, StationKind, ZoneKind

RACK, LOWER, UPPER = 0, 1, 2
KIND_NAMES = ("rack", "lower", "upper")


@dataclass(frozen=True)
class TypeRule:
    """Which load types a position takes: `allowed` (None = any) minus `denied`."""

    allowed: frozenset[str] | None
    denied: frozenset[str] = frozenset()

    def accepts(self, load_type: str) -> bool:
        if load_type in self.denied:
            return False
        return self.allowed is None or load_type in self.allowed


@dataclass(frozen=True, eq=False)
class Layout:
    """Positions of one site; arrays indexed by position index (int).

    `support[p]` holds the two lower positions an upper position rests on (-1 for
    others); `above[p]` the upper positions resting on lower p (-1 where none).
    Capacities already include what the serving cranes can lift and handle.
    """

    site_name: str
    ids: tuple[str, ...]
    slot_ids: tuple[str, ...]
    kind: np.ndarray  # int8: RACK, LOWER, UPPER
    tier: np.ndarray  # int16: level of a rack position, tier of a coil position
    x: np.ndarray
    y: np.ndarray
    bay: tuple[str | None, ...]
    runway_m: np.ndarray  # nan for racks
    cross_m: np.ndarray
    max_weight_kg: np.ndarray
    max_width_m: np.ndarray
    max_diameter_m: np.ndarray
    pitch_m: np.ndarray  # uppers: distance between the two supports; else nan
    support: np.ndarray  # int32 (n, 2)
    above: np.ndarray  # int32 (n, 2)
    travel_s: np.ndarray  # inf where no dock can be reached
    reachable: np.ndarray  # bool
    in_hazard_zone: np.ndarray  # bool
    type_rule: tuple[TypeRule, ...]  # distinct rules
    type_rule_of: np.ndarray  # int16 index into type_rule
    has_hazard_zones: bool
    rules: StackingRules
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index.update({pid: i for i, pid in enumerate(self.ids)})

    @property
    def n(self) -> int:
        return len(self.ids)

    def index(self, position_id: str) -> int:
        from fleet.inventory.errors import UnknownPosition

        try:
            return self._index[position_id]
        except (KeyError, TypeError):
            raise UnknownPosition(str(position_id)) from None

    def has(self, position_id: str) -> bool:
        return position_id in self._index

    @cached_property
    def bay_index(self) -> np.ndarray:
        """int32 bay number per position (-1 for racks), for vectorised same-bay tests."""
        names = sorted({b for b in self.bay if b is not None})
        lookup = {b: i for i, b in enumerate(names)}
        return np.array([lookup.get(b, -1) if b is not None else -1 for b in self.bay], dtype=np.int32)

    def accepts_type(self, p: int, load_type: str) -> bool:
        return self.type_rule[int(self.type_rule_of[p])].accepts(load_type)

    def positions_of_slot(self, slot_id: str) -> list[int]:
        return [i for i, s in enumerate(self.slot_ids) if s == slot_id]

    def crane_distance_s(self, p: int, q: int) -> float:
        """Crane travel time between two coil positions of one bay (inf across bays)."""
        if self.bay[p] is None or self.bay[p] != self.bay[q]:
            return math.inf
        dr = abs(float(self.runway_m[p] - self.runway_m[q]))
        dc = abs(float(self.cross_m[p] - self.cross_m[q]))
        return max(dr / self.rules.crane_bridge_mps, dc / self.rules.crane_trolley_mps)


def position_id(slot_id: str, kind: int, tier: int) -> str:
    return f"{slot_id}/{'L' if kind == RACK else 'T'}{tier}"


def _dock_times(site: Site) -> dict[str, float]:
    """Seconds from each node to the nearest pickup/drop station (AGV, lane speeds)."""
    g = nx.DiGraph()
    for lane in site.lanes:
        if not lane.agv:
            continue
        t = lane.length_m / max(lane.max_speed_mps, 1e-3)
        g.add_edge(lane.end, lane.start, weight=t)  # reversed: search out from the docks
        if lane.two_way:
            g.add_edge(lane.start, lane.end, weight=t)
    docks = {s.node for s in site.stations if s.kind in (StationKind.PICKUP, StationKind.DROP)}
    docks &= set(g.nodes)
    if not docks:
        return {}
    return dict(nx.multi_source_dijkstra_path_length(g, docks, weight="weight"))


def _crane_envelopes(bay: CraneBay) -> list[tuple[float, float]]:
    """(min, max) hook position along the runway each crane can reach, others parked."""
    cranes = sorted(bay.cranes, key=lambda c: c.home_m)
    out = []
    length = bay.runway_length_m
    for i, c in enumerate(cranes):
        lo = sum(o.width_m + bay.safety_gap_m for o in cranes[:i]) + c.width_m / 2
        hi = length - sum(o.width_m + bay.safety_gap_m for o in cranes[i + 1 :]) - c.width_m / 2
        out.append((lo, hi))
    return out


def build_layout(site: Site, rules: StackingRules | None = None) -> Layout:
    """All positions of `site` with capacities, supports and travel costs."""
    rules = rules or StackingRules()
    dock_s = _dock_times(site)
    rows: dict[str, list] = defaultdict(list)
    type_rules: list[TypeRule] = []

    def rule_index(r: TypeRule) -> int:
        if r not in type_rules:
            type_rules.append(r)
        return type_rules.index(r)

    coil_types = frozenset(rules.coil_types)
    # racks
    for s in site.racks:
        base = dock_s.get(s.node or "", math.inf)
        tr = TypeRule(frozenset(s.load_types)) if s.load_types else TypeRule(None, coil_types)
        for level in range(1, max(1, s.levels) + 1):
            rows["ids"].append(position_id(s.id, RACK, level))
            rows["slot"].append(s.id)
            rows["kind"].append(RACK)
            rows["tier"].append(level)
            rows["x"].append(s.x)
            rows["y"].append(s.y)
            rows["bay"].append(None)
            rows["runway"].append(math.nan)
            rows["cross"].append(math.nan)
            rows["wmax"].append(s.max_weight_kg)
            rows["width"].append(rules.rack_max_width_m)
            rows["diam"].append(rules.rack_max_width_m)
            rows["pitch"].append(math.nan)
            rows["sup"].append((-1, -1))
            rows["travel"].append(base + (level - 1) * rules.rack_level_lift_s)
            rows["reach"].append(math.isfinite(base))
            rows["rule"].append(rule_index(tr))
    stations = site.station_by_id
    for bay in site.crane_bays:
        envelopes = _crane_envelopes(bay)
        payload = max((c.payload_kg for c in bay.cranes), default=0.0)
        crane_types: set[str] = set()
        any_type = any(not c.load_types for c in bay.cranes)
        for c in bay.cranes:
            crane_types |= set(c.load_types)
        bridge = max((c.bridge_speed_mps for c in bay.cranes), default=rules.crane_bridge_mps)
        trolley = max((c.trolley_speed_mps for c in bay.cranes), default=rules.crane_trolley_mps)
        handoffs = [stations[h] for h in bay.handoffs if h in stations and stations[h].runway_m is not None]
        by_row: dict[float, list] = defaultdict(list)
        for s in bay.slots:
            by_row[round(float(s.cross_m or 0.0), 2)].append(s)
        row_keys = sorted(by_row)

        def travel(r: float, c: float, bridge: float = bridge, trolley: float = trolley,
                   handoffs: list = handoffs) -> float:
            best = math.inf
            for h in handoffs:
                agv = dock_s.get(h.node, math.inf)
                crane = max(abs(r - h.runway_m) / bridge, abs(c - (h.cross_m or 0.0)) / trolley)
                best = min(best, crane + agv)
            return best

        for ri, key in enumerate(row_keys):
            row = sorted(by_row[key], key=lambda s: float(s.runway_m or 0.0))
            gaps = [abs(row_keys[ri] - row_keys[j]) for j in (ri - 1, ri + 1) if 0 <= j < len(row_keys)]
            width = (min(gaps) - rules.clearance_m) if gaps else rules.lone_coil_max_m
            for k, s in enumerate(row):
                r, c = float(s.runway_m or 0.0), float(s.cross_m or 0.0)
                pitches = [abs(float(row[j].runway_m or 0.0) - r) for j in (k - 1, k + 1) if 0 <= j < len(row)]
                diam = (min(pitches) - rules.clearance_m) if pitches else rules.lone_coil_max_m
                allowed = frozenset(s.load_types) if s.load_types else coil_types
                if not any_type:
                    allowed = allowed & frozenset(crane_types)
                reach = any(lo - 1e-9 <= r <= hi + 1e-9 for lo, hi in envelopes) and bool(bay.cranes)
                t_low = travel(r, c)
                tiers = [(LOWER, 1, r, c, s.x, s.y, None, math.nan)]
                nxt = row[k + 1] if k + 1 < len(row) else None
                if s.tiers >= 2 and nxt is not None:
                    pitch = float(nxt.runway_m or 0.0) - r
                    if 0 < pitch <= rules.max_saddle_pitch_m:
                        mid = (r + pitch / 2)
                        tiers.append((UPPER, 2, mid, c, (s.x + nxt.x) / 2, (s.y + nxt.y) / 2, nxt.id, pitch))
                for kind, tier, rr, cc, x, y, nxt_id, pitch in tiers:
                    rows["ids"].append(position_id(s.id, kind, tier))
                    rows["slot"].append(s.id)
                    rows["kind"].append(kind)
                    rows["tier"].append(tier)
                    rows["x"].append(x)
                    rows["y"].append(y)
                    rows["bay"].append(bay.id)
                    rows["runway"].append(rr)
                    rows["cross"].append(cc)
                    wmax = min(s.max_weight_kg, payload)
                    if nxt_id is not None:
                        wmax = min(wmax, site.slot_by_id[nxt_id].max_weight_kg)
                    rows["wmax"].append(wmax)
                    rows["width"].append(max(0.0, width))
                    rows["diam"].append(max(0.0, diam))
                    rows["pitch"].append(pitch)
                    rows["sup"].append((s.id, nxt_id) if nxt_id is not None else (-1, -1))
                    rows["travel"].append(t_low if kind == LOWER else travel(rr, cc))
                    rows["reach"].append(reach and (kind == LOWER or any(
                        lo - 1e-9 <= rr <= hi + 1e-9 for lo, hi in envelopes)))
                    rows["rule"].append(rule_index(TypeRule(allowed)))
    ids = tuple(rows["ids"])
    index = {pid: i for i, pid in enumerate(ids)}
    n = len(ids)
    support = np.full((n, 2), -1, dtype=np.int32)
    above = np.full((n, 2), -1, dtype=np.int32)
    for i, sup in enumerate(rows["sup"]):
        if sup[0] == -1:
            continue
        a, b = index[position_id(sup[0], LOWER, 1)], index[position_id(sup[1], LOWER, 1)]
        support[i] = (a, b)
        above[a, 1] = i  # upper k rests on lower k (to its right) ...
        above[b, 0] = i  # ... and on lower k+1 (to its left)
    x = np.asarray(rows["x"], dtype=np.float64)
    y = np.asarray(rows["y"], dtype=np.float64)
    hazard_polys = [z.polygon for z in site.zones if z.kind == ZoneKind.HAZARDOUS]
    in_zone = np.zeros(n, dtype=bool)
    for poly in hazard_polys:
        in_zone |= shapely.contains_xy(poly, x, y) if n else in_zone
    travel = np.asarray(rows["travel"], dtype=np.float64)
    reach = np.asarray(rows["reach"], dtype=bool) & np.isfinite(travel)
    return Layout(
        site_name=site.name,
        ids=ids,
        slot_ids=tuple(rows["slot"]),
        kind=np.asarray(rows["kind"], dtype=np.int8),
        tier=np.asarray(rows["tier"], dtype=np.int16),
        x=x,
        y=y,
        bay=tuple(rows["bay"]),
        runway_m=np.asarray(rows["runway"], dtype=np.float64),
        cross_m=np.asarray(rows["cross"], dtype=np.float64),
        max_weight_kg=np.asarray(rows["wmax"], dtype=np.float64),
        max_width_m=np.asarray(rows["width"], dtype=np.float64),
        max_diameter_m=np.asarray(rows["diam"], dtype=np.float64),
        pitch_m=np.asarray(rows["pitch"], dtype=np.float64),
        support=support,
        above=above,
        travel_s=travel,
        reachable=reach,
        in_hazard_zone=in_zone,
        type_rule=tuple(type_rules),
        type_rule_of=np.asarray(rows["rule"], dtype=np.int16),
        has_hazard_zones=bool(hazard_polys),
        rules=rules,
    )
