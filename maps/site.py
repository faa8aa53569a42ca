"""The site model every other part reads: lanes, stations, zones, crane bays, sensors.

Values are frozen dataclasses; a `Site` is built once by `maps.loader` (from a site
file) or `maps.movingai` (from a benchmark grid) and never mutated. Dynamic facts
(a zone closed for maintenance, a charger out of order) live in the core, not here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon


class StationKind(StrEnum):
    PICKUP = "pickup"
    DROP = "drop"
    CHARGER = "charger"
    PARKING = "parking"
    HANDOFF = "handoff"  # crane and AGV exchange a load here


class ZoneKind(StrEnum):
    NO_GO = "no_go"
    HAZARDOUS = "hazardous"  # hazardous goods area: only hazardous-rated vehicles
    SPEED_LIMIT = "speed_limit"
    ONE_WAY = "one_way"
    MAINTENANCE = "maintenance"  # locked for maintenance when closed
    OUTDOOR = "outdoor"  # BeiDou is usable here


@dataclass(frozen=True)
class Node:
    id: str
    x: float
    y: float


@dataclass(frozen=True)
class Lane:
    """A lane between two nodes; `two_way` lanes may be driven in both directions."""

    id: str
    start: str
    end: str
    length_m: float
    max_speed_mps: float
    width_m: float
    two_way: bool
    agv: bool = True  # False for lanes no AGV may use (e.g. a pedestrian crossing)


@dataclass(frozen=True)
class Station:
    id: str
    kind: StationKind
    node: str
    load_types: tuple[str, ...] = ()  # empty: any load type
    bay: str | None = None  # handoff stations: the crane bay they serve
    runway_m: float | None = None  # handoff stations: position along the runway
    cross_m: float | None = None  # and across it (trolley axis)


@dataclass(frozen=True)
class Zone:
    id: str
    kind: ZoneKind
    polygon: Polygon
    speed_limit_mps: float | None = None
    closed: bool = False  # closed at start (maintenance-locked zones usually are not)
    direction_deg: float | None = None  # one-way zones: allowed heading in the site frame


@dataclass(frozen=True)
class CraneSpec:
    id: str
    home_m: float  # bridge position along the runway at start
    width_m: float  # bridge width along the runway (its footprint on the runway)
    payload_kg: float
    bridge_speed_mps: float = 1.0
    trolley_speed_mps: float = 0.6
    hoist_speed_mps: float = 0.2
    bridge_accel_mps2: float = 0.2
    pick_s: float = 20.0
    drop_s: float = 20.0
    load_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Slot:
    """A storage place: a coil-yard slot under a crane bay or a rack location."""

    id: str
    x: float
    y: float
    tiers: int = 1  # coil yards: 2 means a coil may rest on two below
    max_weight_kg: float = math.inf
    bay: str | None = None  # crane-served slots
    runway_m: float | None = None
    cross_m: float | None = None
    node: str | None = None  # AGV-served slots (racks): the access node
    levels: int = 1  # racks: levels of the rack location
    load_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class CraneBay:
    id: str
    runway_start: tuple[float, float]
    runway_end: tuple[float, float]
    span_m: float  # trolley travel across the runway
    safety_gap_m: float  # minimum clear distance between neighbouring bridges
    hook_height_m: float
    cranes: tuple[CraneSpec, ...]
    slots: tuple[Slot, ...]
    handoffs: tuple[str, ...]  # station ids

    @property
    def runway_length_m(self) -> float:
        (x0, y0), (x1, y1) = self.runway_start, self.runway_end
        return math.hypot(x1 - x0, y1 - y0)

    def to_site(self, runway_m: float, cross_m: float) -> tuple[float, float]:
        """Site-frame point of a (runway, cross) position in this bay."""
        (x0, y0), (x1, y1) = self.runway_start, self.runway_end
        length = self.runway_length_m or 1.0
        ux, uy = (x1 - x0) / length, (y1 - y0) / length
        return (x0 + ux * runway_m - uy * cross_m, y0 + uy * runway_m + ux * cross_m)


@dataclass(frozen=True)
class RfidTag:
    id: str
    x: float
    y: float


@dataclass(frozen=True)
class UwbAnchor:
    id: str
    x: float
    y: float
    z: float = 3.0


@dataclass(frozen=True)
class GeodeticAnchor:
    """Where the site frame's origin is on Earth (CGCS2000, BeiDou's datum).

    `heading_deg` is the compass bearing of the site's +x axis (clockwise from north;
    90 means +x points east and +y north). CGCS2000 and WGS84 agree to a few
    centimetres at the ellipsoid level, so a WGS84 survey may be given as well.
    """

    lat_deg: float
    lon_deg: float
    height_m: float
    heading_deg: float = 90.0  # bearing of +x from north, clockwise: 90 means +x points east
    datum: str = "CGCS2000"


@dataclass(frozen=True)
class VehicleShape:
    """The footprint used to find nodes too close to be occupied at once."""

    length_m: float = 1.4
    width_m: float = 0.9
    safety_margin_m: float = 0.25


@dataclass(frozen=True)
class Site:
    name: str
    file: str
    nodes: tuple[Node, ...]
    lanes: tuple[Lane, ...]
    stations: tuple[Station, ...]
    zones: tuple[Zone, ...] = ()
    crane_bays: tuple[CraneBay, ...] = ()
    racks: tuple[Slot, ...] = ()
    rfid_tags: tuple[RfidTag, ...] = ()
    uwb_anchors: tuple[UwbAnchor, ...] = ()
    geodetic_anchor: GeodeticAnchor | None = None
    vehicle_shape: VehicleShape = field(default_factory=VehicleShape)
    step_s: float = 1.0
    description: str = ""

    @cached_property
    def node_by_id(self) -> dict[str, Node]:
        return {n.id: n for n in self.nodes}

    @cached_property
    def station_by_id(self) -> dict[str, Station]:
        return {s.id: s for s in self.stations}

    @cached_property
    def zone_by_id(self) -> dict[str, Zone]:
        return {z.id: z for z in self.zones}

    @cached_property
    def bay_by_id(self) -> dict[str, CraneBay]:
        return {b.id: b for b in self.crane_bays}

    @cached_property
    def slot_by_id(self) -> dict[str, Slot]:
        out = {s.id: s for s in self.racks}
        for bay in self.crane_bays:
            out.update({s.id: s for s in bay.slots})
        return out

    @cached_property
    def tag_by_id(self) -> dict[str, RfidTag]:
        return {t.id: t for t in self.rfid_tags}

    def stations_of(self, kind: StationKind) -> list[Station]:
        return [s for s in self.stations if s.kind == kind]

    def lane_line(self, lane: Lane) -> LineString:
        a, b = self.node_by_id[lane.start], self.node_by_id[lane.end]
        return LineString([(a.x, a.y), (b.x, b.y)])

    def point_of(self, node_id: str) -> Point:
        n = self.node_by_id[node_id]
        return Point(n.x, n.y)

    @cached_property
    def bounds(self) -> tuple[float, float, float, float]:
        """(min_x, min_y, max_x, max_y) over nodes, zones and bays, in metres."""
        xs = [n.x for n in self.nodes]
        ys = [n.y for n in self.nodes]
        for z in self.zones:
            x0, y0, x1, y1 = z.polygon.bounds
            xs += [x0, x1]
            ys += [y0, y1]
        for b in self.crane_bays:
            for cross in (0.0, b.span_m):
                for along in (0.0, b.runway_length_m):
                    x, y = b.to_site(along, cross)
                    xs.append(x)
                    ys.append(y)
        if not xs:
            return (0.0, 0.0, 0.0, 0.0)
        return (min(xs), min(ys), max(xs), max(ys))

    @cached_property
    def _outdoor_areas(self) -> list[Polygon]:
        areas = [z.polygon for z in self.zones if z.kind == ZoneKind.OUTDOOR]
        for a in areas:
            shapely.prepare(a)  # sensors ask for every fix: a prepared polygon answers fast
        return areas

    def is_outdoor(self, x: Any, y: Any) -> Any:
        """Under the open sky (the boundary counts); for arrays of positions, a mask."""
        if np.ndim(x) == 0:
            return any(shapely.intersects_xy(a, x, y) for a in self._outdoor_areas)
        out = shapely.intersects_xy(self._outdoor_areas[0], x, y) if self._outdoor_areas else None
        for a in self._outdoor_areas[1:]:
            out |= shapely.intersects_xy(a, x, y)
        return out if out is not None else np.zeros(len(x), dtype=bool)
