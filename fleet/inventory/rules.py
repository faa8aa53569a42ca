"""The stacking rules and an independent checker for one placement or a whole yard.

The checker is deliberately plain Python over `Load` objects, written apart from the
vectorised feasibility the putaway uses, so a bug in one is caught by the other
(every benchmark placement and every property test goes through it).

Rules (each `Violation.rule` is one of these names):
  type            the position does not take this load type (slot, crane, coil/rack)
  weight          heavier than the position (slot rating, crane payload) takes
  width           wider than the position (row spacing or rack beam) allows
  diameter        a coil larger than the row pitch allows
  unreachable     no crane envelope or AGV route reaches the position
  occupied        two loads in one position, or one load in two positions
  support         an upper coil without both lower coils under it
  saddle-fit      the upper coil does not fit its two supports (falls through the
                  saddle, supports of unequal diameter, or overhangs a narrower one)
  heavier-on-lighter  an upper coil heavier than either coil under it
  hazard-zone     a hazardous load outside the site's hazardous zones (when it has any)
  segregation     loads of different hazard classes closer than `segregation_m`
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fleet.inventory.load import Load

if TYPE_CHECKING:
    from fleet.inventory.layout import Layout

#: The default segregation distance (m) between loads of different hazard classes.
#: A site file field `segregation_m` is a proposed addition to the site format; until
#: it exists, sites use this default or pass `StackingRules(segregation_m=...)`.
DEFAULT_SEGREGATION_M = 10.0


@dataclass(frozen=True)
class StackingRules:
    """Parameters of the hard rules and of the cost model (metres, kg, seconds)."""

    segregation_m: float = DEFAULT_SEGREGATION_M
    clearance_m: float = 0.2  # free space kept between neighbouring floor coils / rows
    saddle_clearance_m: float = 0.1  # an upper coil must clear the floor by this much
    support_diameter_tolerance_m: float = 0.3  # the two supports differ by at most this
    overhang_m: float = 0.05  # an upper coil may be this much wider than a support
    max_saddle_pitch_m: float = 4.0  # neighbours further apart carry no upper coil
    lone_coil_max_m: float = 2.5  # size limit where a slot has no neighbour to measure
    rack_max_width_m: float = 1.3
    rack_level_lift_s: float = 6.0  # extra seconds per rack level above the floor
    crane_bridge_mps: float = 1.0  # used when a bay lists no cranes
    crane_trolley_mps: float = 0.6
    hazard_zone_required: bool = True  # only applies on sites that have hazardous zones
    coil_types: tuple[str, ...] = ("coil",)
    fifo_block_s: float = 30.0  # cost of burying older coils under a new one (FIFO)

    def segregated(self, a: str | None, b: str | None) -> bool:
        """True when loads of hazard classes a and b must be kept apart."""
        return a is not None and b is not None and a != b


@dataclass(frozen=True)
class Violation:
    rule: str
    position: str
    load_id: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule} at {self.position} ({self.load_id}): {self.detail}"


def static_violations(layout: Layout, p: int, load: Load) -> list[Violation]:
    """Rules that depend only on the position and the load (not on neighbours)."""
    pid = layout.ids[p]
    out = []

    def bad(rule: str, detail: str) -> None:
        out.append(Violation(rule, pid, load.id, detail))

    if not layout.accepts_type(p, load.type):
        bad("type", f"position does not take {load.type!r}")
    if load.weight_kg > float(layout.max_weight_kg[p]):
        bad("weight", f"{load.weight_kg:.0f} kg > {float(layout.max_weight_kg[p]):.0f} kg")
    if load.width_m > float(layout.max_width_m[p]):
        bad("width", f"{load.width_m:.2f} m > {float(layout.max_width_m[p]):.2f} m")
    if int(layout.kind[p]) != 0 and load.diameter_m > float(layout.max_diameter_m[p]):
        bad("diameter", f"{load.diameter_m:.2f} m > {float(layout.max_diameter_m[p]):.2f} m")
    if not bool(layout.reachable[p]):
        bad("unreachable", "no crane or AGV reaches it")
    if (load.hazard_class is not None and layout.has_hazard_zones
            and layout.rules.hazard_zone_required and not bool(layout.in_hazard_zone[p])):
        bad("hazard-zone", f"class {load.hazard_class} outside the hazardous zones")
    return out


def saddle_violations(layout: Layout, p: int, load: Load, a: Load | None, b: Load | None) -> list[Violation]:
    """An upper coil at p on supports a and b (None where the lower position is empty)."""
    rules = layout.rules
    pid = layout.ids[p]
    out = []
    if a is None or b is None:
        return [Violation("support", pid, load.id, "needs a coil in both lower positions under it")]
    pitch = float(layout.pitch_m[p])
    lowest = min(a.diameter_m, b.diameter_m)
    if load.diameter_m < pitch - lowest + rules.saddle_clearance_m:
        out.append(Violation("saddle-fit", pid, load.id,
                             f"diameter {load.diameter_m:.2f} m falls through a {pitch:.2f} m saddle"
                             f" on {lowest:.2f} m coils"))
    if abs(a.diameter_m - b.diameter_m) > rules.support_diameter_tolerance_m:
        out.append(Violation("saddle-fit", pid, load.id,
                             f"supports {a.id} and {b.id} differ by {abs(a.diameter_m - b.diameter_m):.2f} m"))
    if load.width_m > min(a.width_m, b.width_m) + rules.overhang_m:
        out.append(Violation("saddle-fit", pid, load.id,
                             f"width {load.width_m:.2f} m overhangs a {min(a.width_m, b.width_m):.2f} m support"))
    if load.weight_kg > min(a.weight_kg, b.weight_kg):
        out.append(Violation("heavier-on-lighter", pid, load.id,
                             f"{load.weight_kg:.0f} kg on a {min(a.weight_kg, b.weight_kg):.0f} kg coil"))
    return out


class _HazardGrid:
    """Hazardous loads bucketed by segregation-sized cells, for near-neighbour checks."""

    def __init__(self, cell: float) -> None:
        self.cell = max(cell, 1e-6)
        self.cells: dict[tuple[int, int], list[tuple[float, float, str, str, str]]] = defaultdict(list)

    def add(self, x: float, y: float, cls: str, load_id: str, pid: str) -> None:
        self.cells[(math.floor(x / self.cell), math.floor(y / self.cell))].append((x, y, cls, load_id, pid))

    def near(self, x: float, y: float, radius: float) -> list[tuple[float, float, str, str, str]]:
        cx, cy = math.floor(x / self.cell), math.floor(y / self.cell)
        out = []
        for i in range(cx - 1, cx + 2):
            for j in range(cy - 1, cy + 2):
                for item in self.cells.get((i, j), ()):
                    if math.hypot(item[0] - x, item[1] - y) < radius:
                        out.append(item)
        return out


def check_placement(layout: Layout, placement: Mapping[int, Load], p: int, load: Load,
                    hazardous: Iterable[int] | None = None) -> list[Violation]:
    """Every rule that putting `load` at position p (into `placement`) would break.

    `hazardous` may list the positions of `placement` that hold hazardous loads (a
    speed hint for large yards; it must be complete, else segregation is missed).
    """
    out = static_violations(layout, p, load)
    pid = layout.ids[p]
    if p in placement:
        out.append(Violation("occupied", pid, load.id, f"holds {placement[p].id}"))
    if int(layout.kind[p]) == 2:
        a, b = (int(v) for v in layout.support[p])
        out += saddle_violations(layout, p, load, placement.get(a), placement.get(b))
    if load.hazard_class is not None:
        rules = layout.rules
        x, y = float(layout.x[p]), float(layout.y[p])
        others = placement.items() if hazardous is None else (
            (q, placement[q]) for q in hazardous if q in placement)
        for q, other in others:
            if q == p or not rules.segregated(load.hazard_class, other.hazard_class):
                continue
            d = math.hypot(float(layout.x[q]) - x, float(layout.y[q]) - y)
            if d < rules.segregation_m:
                out.append(Violation("segregation", pid, load.id,
                                     f"class {load.hazard_class} {d:.1f} m from {other.id} (class "
                                     f"{other.hazard_class}) at {layout.ids[q]}, < {rules.segregation_m} m"))
    return out


def check_yard(layout: Layout, placement: Mapping[int, Load]) -> list[Violation]:
    """Every rule the whole yard state breaks (empty list: the yard is valid)."""
    out: list[Violation] = []
    seen: dict[str, int] = {}
    rules = layout.rules
    grid = _HazardGrid(rules.segregation_m)
    for p, load in placement.items():
        if not 0 <= p < layout.n:
            out.append(Violation("occupied", str(p), load.id, "no such position"))
            continue
        pid = layout.ids[p]
        if load.id in seen:
            out.append(Violation("occupied", pid, load.id, f"also at {layout.ids[seen[load.id]]}"))
        seen[load.id] = p
        out += static_violations(layout, p, load)
        if int(layout.kind[p]) == 2:
            a, b = (int(v) for v in layout.support[p])
            out += saddle_violations(layout, p, load, placement.get(a), placement.get(b))
        if load.hazard_class is not None:
            x, y = float(layout.x[p]), float(layout.y[p])
            for ox, oy, cls, oid, opid in grid.near(x, y, rules.segregation_m):
                if rules.segregated(load.hazard_class, cls):
                    d = math.hypot(ox - x, oy - y)
                    out.append(Violation("segregation", pid, load.id,
                                         f"class {load.hazard_class} {d:.1f} m from {oid} (class {cls}) at {opid}"))
                    out.append(Violation("segregation", opid, oid,
                                         f"class {cls} {d:.1f} m from {load.id} (class {load.hazard_class}) at {pid}"))
            grid.add(x, y, load.hazard_class, load.id, pid)
    return out


def blocking(layout: Layout, placement: Mapping[int, Load], p: int) -> list[int]:
    """Occupied positions resting on p: what must move before the load at p can be lifted."""
    return [int(q) for q in layout.above[p] if q >= 0 and int(q) in placement]
