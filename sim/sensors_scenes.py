"""Scenes for localization runs: a small site, a route through it, its sensors.

Three settings the benchmark and tests share: an indoor warehouse (UWB + RFID),
an outdoor yard under a crane runway next to a shed (BeiDou), and a route that
drives out of a warehouse door into a yard and back (all of them). The sites are
built in code through `maps.loader.site_from_dict`, so they pass the same checks
as site files and do not depend on which bundled sites exist.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from shapely.geometry import LineString, Polygon

from fleet.localization.geodesy import SiteFrame
from maps.loader import site_from_dict
from maps.site import Site
from sim.sensors import BeidouSensor, OdometrySensor, RfidSensor, SensorSuite, UwbSensor

# Yangshan deep-water port, Shanghai: a plausible place for a coil yard on BeiDou.
ANCHOR = {"lat_deg": 30.6263, "lon_deg": 122.0650, "height_m": 12.0, "heading_deg": 63.0,
          "datum": "CGCS2000"}


@dataclass(frozen=True)
class Scene:
    name: str
    site: Site
    route: tuple[tuple[float, float], ...]
    buildings: tuple[Polygon, ...] = ()  # walls that cause GNSS multipath nearby

    def suite(self, *, uwb: bool = True, rfid: bool = True, beidou: bool = True) -> SensorSuite:
        """Every sensor the site supports (switch sources off for single-source runs)."""
        site = self.site
        def indoor(x, y):
            return np.logical_not(site.is_outdoor(x, y))
        frame = SiteFrame.from_anchor(site.geodetic_anchor) if site.geodetic_anchor else None
        obstructions: list[Any] = [b.exterior for b in self.buildings]
        obstructions += [LineString([b.runway_start, b.runway_end]) for b in site.crane_bays]
        return SensorSuite(
            odometry=OdometrySensor(),
            uwb=UwbSensor(
                anchors=tuple((a.x, a.y, a.z) for a in site.uwb_anchors),
                anchor_ids=tuple(a.id for a in site.uwb_anchors),
                coverage=indoor,
            ) if uwb and site.uwb_anchors else None,
            rfid=RfidSensor(tags=tuple((t.id, t.x, t.y) for t in site.rfid_tags))
            if rfid and site.rfid_tags else None,
            beidou=BeidouSensor(frame=frame, outdoor=site.is_outdoor,
                                obstructions=tuple(obstructions))
            if beidou and frame is not None else None,
        )


def _tags_along(route: Sequence[tuple[float, float]], spacing_m: float,
                keep: Any = None) -> list[dict[str, Any]]:
    tags: list[dict[str, Any]] = []
    seen: set[tuple[float, float]] = set()
    for (x0, y0), (x1, y1) in itertools.pairwise(route):
        n = max(1, int(math.hypot(x1 - x0, y1 - y0) // spacing_m))
        for k in range(n):
            f = k / n
            p = (round(x0 + f * (x1 - x0), 3), round(y0 + f * (y1 - y0), 3))
            if p in seen or (keep is not None and not keep(*p)):
                continue
            seen.add(p)
            tags.append({"id": f"T{len(tags):04d}", "x": p[0], "y": p[1]})
    return tags


def _site(name: str, route: Sequence[tuple[float, float]], **extra: Any) -> Site:
    pts = list(dict.fromkeys(tuple(p) for p in route))
    nodes = [{"id": f"N{i}", "x": x, "y": y} for i, (x, y) in enumerate(pts)]
    index = {p: f"N{i}" for i, p in enumerate(pts)}
    lanes, pairs = [], set()
    for a, b in itertools.pairwise(route):
        key = tuple(sorted((index[tuple(a)], index[tuple(b)])))
        if key in pairs or a == b:
            continue
        pairs.add(key)
        lanes.append({"from": index[tuple(a)], "to": index[tuple(b)], "two_way": True})
    data = {"format": "fleet5g-site", "version": 1, "name": name, "nodes": nodes, "lanes": lanes,
            "stations": [{"id": "park", "kind": "parking", "node": "N0"}], **extra}
    return site_from_dict(data, f"<scene {name}>")


def _anchors(xs: Sequence[float], ys: Sequence[float], z: float = 6.0) -> list[dict[str, Any]]:
    return [{"id": f"A{i}", "x": x, "y": y, "z": z}
            for i, (x, y) in enumerate((x, y) for x in xs for y in ys)]


def warehouse() -> Scene:
    """60 x 40 m hall, four aisles; anchors every 20 m; floor tags every 1.5 m."""
    route = ((2.0, 2.0), (58.0, 2.0), (58.0, 14.0), (2.0, 14.0), (2.0, 26.0), (58.0, 26.0),
             (58.0, 38.0), (2.0, 38.0), (2.0, 2.0))
    site = _site(
        "loc-warehouse", route,
        rfid_tags=_tags_along(route, 1.5),
        uwb_anchors=_anchors((0.0, 20.0, 40.0, 60.0), (0.0, 20.0, 40.0)),
        geodetic_anchor=ANCHOR,
        zones=[{"id": "hall", "kind": "speed_limit", "speed_limit_mps": 2.0,
                "polygon": [[0, 0], [60, 0], [60, 40], [0, 40]]}],
    )
    hall = Polygon([(0, 0), (60, 0), (60, 40), (0, 40)])
    return Scene("warehouse", site, route, (hall,))


def yard() -> Scene:
    """200 x 120 m open yard with a crane runway across it and a shed in one corner."""
    route = ((10.0, 10.0), (190.0, 10.0), (190.0, 55.0), (30.0, 55.0), (30.0, 110.0),
             (150.0, 110.0), (150.0, 75.0), (10.0, 75.0), (10.0, 10.0))
    outdoor = [[0, 0], [200, 0], [200, 120], [170, 120], [170, 90], [160, 90], [160, 120],
               [0, 120]]  # the shed (160..200 x 90..120) is roofed: not outdoor
    site = _site(
        "loc-yard", route,
        geodetic_anchor=ANCHOR,
        zones=[{"id": "yard", "kind": "outdoor", "polygon": outdoor}],
        crane_bays=[{"id": "bay1", "runway": {"start": [20, 62], "end": [180, 62]}, "span_m": 25,
                     "safety_gap_m": 5, "cranes": [{"id": "C1", "home_m": 40, "width_m": 12,
                                                    "payload_kg": 40000}]}],
    )
    shed = Polygon([(160, 90), (200, 90), (200, 120), (160, 120)])
    return Scene("yard", site, route, (shed,))


def transition() -> Scene:
    """A 40 x 30 m warehouse whose door at x = 40 opens onto a 80 x 70 m yard."""
    route = ((5.0, 5.0), (35.0, 5.0), (35.0, 15.0), (60.0, 15.0), (110.0, 15.0), (110.0, 45.0),
             (60.0, 45.0), (60.0, 15.0), (35.0, 15.0), (35.0, 25.0), (5.0, 25.0), (5.0, 5.0))
    yard_poly = [[40.5, -20], [120, -20], [120, 50], [40.5, 50]]

    def indoors(x: float, y: float) -> bool:
        return x < 40.0

    site = _site(
        "loc-transition", route,
        geodetic_anchor=ANCHOR,
        rfid_tags=_tags_along(route, 1.5, keep=indoors),
        uwb_anchors=_anchors((0.0, 20.0, 40.0), (0.0, 15.0, 30.0)),
        zones=[{"id": "yard", "kind": "outdoor", "polygon": yard_poly}],
    )
    hall = Polygon([(0, 0), (40, 0), (40, 30), (0, 30)])
    return Scene("transition", site, route, (hall,))


SCENES = {"warehouse": warehouse, "yard": yard, "transition": transition}
