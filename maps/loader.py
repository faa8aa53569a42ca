"""Load a site file (YAML or JSON, format `fleet5g-site` version 1) into a `Site`.

Two stages, so every error says where it is: the JSON Schema (shape and types), then
the references and geometry (unknown nodes, stations off every lane, invalid zone
polygons, overlapping cranes). Graph checks (connectivity, dead ends) are in
`maps.checks`.
"""

from __future__ import annotations

import itertools
import json
import math
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from shapely.geometry import Polygon
from shapely.validation import explain_validity

from maps.errors import SiteFileError
from maps.site import (
    CraneBay,
    CraneSpec,
    GeodeticAnchor,
    Lane,
    Node,
    RfidTag,
    Site,
    Slot,
    Station,
    StationKind,
    UwbAnchor,
    VehicleShape,
    Zone,
    ZoneKind,
)

DEFAULT_SPEED_MPS = 1.5
DEFAULT_LANE_WIDTH_M = 1.2
SITES_DIR = Path(__file__).parent / "sites"


@cache
def site_schema() -> dict[str, Any]:
    text = resources.files("maps").joinpath("site.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def bundled_sites() -> dict[str, Path]:
    """Name -> path of every site shipped under maps/sites/."""
    return {p.stem: p for p in sorted(SITES_DIR.glob("*.yaml"))}


def resolve_site(name_or_path: str | Path) -> Path:
    """A bundled site's name (`warehouse`) or a path to a site file."""
    p = Path(name_or_path)
    if p.exists():
        return p
    sites = bundled_sites()
    if str(name_or_path) in sites:
        return sites[str(name_or_path)]
    raise SiteFileError(str(name_or_path), "", f"no such file or bundled site (bundled: {', '.join(sites)})")


def load_site(path: str | Path) -> Site:
    """Read and validate a site file; raises `SiteFileError` naming file, place and problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteFileError(str(path), "", f"cannot read site file: {exc}") from None
    return parse_site(text, str(path))


def parse_site(text: str, file: str = "<site>") -> Site:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SiteFileError(file, where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return site_from_dict(data, file)


def _where(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def site_from_dict(data: Any, file: str = "<site>") -> Site:
    validator = jsonschema.Draft202012Validator(site_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        err = errors[0]
        raise SiteFileError(file, _where(err.absolute_path), err.message)
    return _Builder(file, data).build()


class _Builder:
    """Turns schema-valid data into a Site, checking references and geometry."""

    def __init__(self, file: str, data: dict[str, Any]) -> None:
        self.file = file
        self.data = data

    def fail(self, where: str, problem: str) -> SiteFileError:
        return SiteFileError(self.file, where, problem)

    def unique(self, items: list[dict[str, Any]], key: str, seen: dict[str, str]) -> None:
        for i, item in enumerate(items):
            ident = item["id"]
            if ident in seen:
                raise self.fail(f"{key}[{i}].id", f"duplicate id {ident!r} (first used at {seen[ident]})")
            seen[ident] = f"{key}[{i}]"

    def build(self) -> Site:
        d = self.data
        nodes = tuple(Node(n["id"], float(n["x"]), float(n["y"])) for n in d["nodes"])
        self.unique(d["nodes"], "nodes", {})
        for i, n in enumerate(nodes):
            if not (math.isfinite(n.x) and math.isfinite(n.y)):
                raise self.fail(f"nodes[{i}]", "coordinates must be finite numbers")
        by_id = {n.id: n for n in nodes}
        lanes = self._lanes(by_id)
        stations = self._stations(by_id, lanes)
        zones = self._zones()
        bays = self._bays(stations)
        racks = self._racks(by_id)
        shape = VehicleShape(**d.get("vehicle_shape", {}))
        anchor = GeodeticAnchor(**d["geodetic_anchor"]) if "geodetic_anchor" in d else None
        tags = tuple(RfidTag(t["id"], float(t["x"]), float(t["y"])) for t in d.get("rfid_tags", []))
        self.unique(d.get("rfid_tags", []), "rfid_tags", {})
        anchors = tuple(
            UwbAnchor(a["id"], float(a["x"]), float(a["y"]), float(a.get("z", 3.0)))
            for a in d.get("uwb_anchors", [])
        )
        self.unique(d.get("uwb_anchors", []), "uwb_anchors", {})
        return Site(
            name=d["name"],
            file=self.file,
            nodes=nodes,
            lanes=lanes,
            stations=stations,
            zones=zones,
            crane_bays=bays,
            racks=racks,
            rfid_tags=tags,
            uwb_anchors=anchors,
            geodetic_anchor=anchor,
            vehicle_shape=shape,
            step_s=float(d.get("step_s", 1.0)),
            description=d.get("description", ""),
        )

    def _lanes(self, by_id: dict[str, Node]) -> tuple[Lane, ...]:
        out: list[Lane] = []
        seen_ids: dict[str, str] = {}
        seen_pairs: dict[tuple[str, str], int] = {}
        for i, raw in enumerate(self.data["lanes"]):
            for end in ("from", "to"):
                if raw[end] not in by_id:
                    raise self.fail(f"lanes[{i}].{end}", f"lane refers to unknown node {raw[end]!r}")
            a, b = by_id[raw["from"]], by_id[raw["to"]]
            if a.id == b.id:
                raise self.fail(f"lanes[{i}]", f"lane starts and ends at the same node {a.id!r}")
            geometric = math.hypot(b.x - a.x, b.y - a.y)
            length = float(raw.get("length_m", geometric))
            if length + 1e-6 < geometric:
                raise self.fail(
                    f"lanes[{i}].length_m",
                    f"length {length} m is shorter than the straight distance {geometric:.2f} m",
                )
            lane_id = raw.get("id", f"{a.id}-{b.id}")
            if lane_id in seen_ids:
                raise self.fail(f"lanes[{i}].id", f"duplicate lane id {lane_id!r} (first at {seen_ids[lane_id]})")
            seen_ids[lane_id] = f"lanes[{i}]"
            two_way = bool(raw.get("two_way", False))
            pairs = [(a.id, b.id), (b.id, a.id)] if two_way else [(a.id, b.id)]
            for pair in pairs:
                if pair in seen_pairs:
                    raise self.fail(
                        f"lanes[{i}]",
                        f"a lane from {pair[0]!r} to {pair[1]!r} is already given by lanes[{seen_pairs[pair]}]",
                    )
                seen_pairs[pair] = i
            out.append(
                Lane(
                    id=lane_id,
                    start=a.id,
                    end=b.id,
                    length_m=length,
                    max_speed_mps=float(raw.get("max_speed_mps", DEFAULT_SPEED_MPS)),
                    width_m=float(raw.get("width_m", DEFAULT_LANE_WIDTH_M)),
                    two_way=two_way,
                    agv=bool(raw.get("agv", True)),
                )
            )
        return tuple(out)

    def _stations(self, by_id: dict[str, Node], lanes: tuple[Lane, ...]) -> tuple[Station, ...]:
        on_lane = {lane.start for lane in lanes} | {lane.end for lane in lanes}
        raw_list = self.data["stations"]
        self.unique(raw_list, "stations", {})
        out = []
        for i, raw in enumerate(raw_list):
            if raw["node"] not in by_id:
                raise self.fail(f"stations[{i}].node", f"station {raw['id']!r} is at unknown node {raw['node']!r}")
            if raw["node"] not in on_lane:
                raise self.fail(f"stations[{i}].node", f"station {raw['id']!r} is off every lane (node {raw['node']!r} has no lane)")
            kind = StationKind(raw["kind"])
            if kind == StationKind.HANDOFF and "bay" not in raw:
                raise self.fail(f"stations[{i}]", f"handoff station {raw['id']!r} needs the 'bay' it serves")
            out.append(
                Station(
                    id=raw["id"],
                    kind=kind,
                    node=raw["node"],
                    load_types=tuple(raw.get("load_types", ())),
                    bay=raw.get("bay"),
                    runway_m=raw.get("runway_m"),
                    cross_m=raw.get("cross_m"),
                )
            )
        return tuple(out)

    def _zones(self) -> tuple[Zone, ...]:
        raw_list = self.data.get("zones", [])
        self.unique(raw_list, "zones", {})
        out = []
        for i, raw in enumerate(raw_list):
            poly = Polygon(raw["polygon"])
            if not poly.is_valid or poly.area <= 0:
                reason = explain_validity(poly) if not poly.is_valid else "zero area"
                raise self.fail(f"zones[{i}].polygon", f"zone {raw['id']!r} is not a valid polygon: {reason}")
            kind = ZoneKind(raw["kind"])
            if kind == ZoneKind.SPEED_LIMIT and "speed_limit_mps" not in raw:
                raise self.fail(f"zones[{i}]", f"speed-limited zone {raw['id']!r} needs speed_limit_mps")
            if kind == ZoneKind.ONE_WAY and "direction_deg" not in raw:
                raise self.fail(f"zones[{i}]", f"one-way zone {raw['id']!r} needs direction_deg")
            out.append(
                Zone(
                    id=raw["id"],
                    kind=kind,
                    polygon=poly,
                    speed_limit_mps=raw.get("speed_limit_mps"),
                    closed=bool(raw.get("closed", False)),
                    direction_deg=raw.get("direction_deg"),
                )
            )
        return tuple(out)

    def _bays(self, stations: tuple[Station, ...]) -> tuple[CraneBay, ...]:
        raw_list = self.data.get("crane_bays", [])
        self.unique(raw_list, "crane_bays", {})
        crane_ids: dict[str, str] = {}
        slot_ids: dict[str, str] = {}
        out = []
        for i, raw in enumerate(raw_list):
            start = tuple(map(float, raw["runway"]["start"]))
            end = tuple(map(float, raw["runway"]["end"]))
            length = math.dist(start, end)
            if length <= 0:
                raise self.fail(f"crane_bays[{i}].runway", "runway start and end are the same point")
            gap = float(raw["safety_gap_m"])
            cranes = []
            for j, c in enumerate(raw["cranes"]):
                where = f"crane_bays[{i}].cranes[{j}]"
                if c["id"] in crane_ids:
                    raise self.fail(f"{where}.id", f"duplicate crane id {c['id']!r} (first at {crane_ids[c['id']]})")
                crane_ids[c["id"]] = where
                spec = CraneSpec(**{k: (tuple(v) if k == "load_types" else v) for k, v in c.items()})
                half = spec.width_m / 2
                if spec.home_m - half < 0 or spec.home_m + half > length:
                    raise self.fail(f"{where}.home_m", f"crane {spec.id!r} does not fit on the {length:.1f} m runway at {spec.home_m} m")
                cranes.append(spec)
            ordered = sorted(cranes, key=lambda c: c.home_m)
            if [c.id for c in ordered] != [c.id for c in cranes]:
                raise self.fail(f"crane_bays[{i}].cranes", "list cranes in runway order (cranes cannot pass each other)")
            for a, b in itertools.pairwise(ordered):
                clear = (b.home_m - b.width_m / 2) - (a.home_m + a.width_m / 2)
                if clear < gap:
                    raise self.fail(
                        f"crane_bays[{i}].cranes",
                        f"cranes {a.id!r} and {b.id!r} overlap or are closer than the safety gap ({clear:.1f} m < {gap} m)",
                    )
            span = float(raw["span_m"])
            bay_id = raw["id"]
            slots = []
            for j, s in enumerate(raw.get("slots", [])):
                where = f"crane_bays[{i}].slots[{j}]"
                if s["id"] in slot_ids:
                    raise self.fail(f"{where}.id", f"duplicate slot id {s['id']!r} (first at {slot_ids[s['id']]})")
                slot_ids[s["id"]] = where
                if s["runway_m"] > length or s["cross_m"] > span:
                    raise self.fail(where, f"slot {s['id']!r} lies outside the bay ({length:.1f} m x {span} m)")
                slots.append(self._bay_slot(s, bay_id, start, end, length))
            handoffs = tuple(st.id for st in stations if st.kind == StationKind.HANDOFF and st.bay == bay_id)
            for st in stations:
                if st.kind == StationKind.HANDOFF and st.bay == bay_id and st.runway_m is not None and st.runway_m > length:
                    raise self.fail(f"stations[{st.id}]", f"handoff {st.id!r} lies beyond the end of runway {bay_id!r}")
            out.append(
                CraneBay(
                    id=bay_id,
                    runway_start=start,  # type: ignore[arg-type]
                    runway_end=end,  # type: ignore[arg-type]
                    span_m=span,
                    safety_gap_m=gap,
                    hook_height_m=float(raw.get("hook_height_m", 10.0)),
                    cranes=tuple(cranes),
                    slots=tuple(slots),
                    handoffs=handoffs,
                )
            )
        bay_ids = {b.id for b in out}
        for i, st in enumerate(stations):
            if st.kind == StationKind.HANDOFF and st.bay not in bay_ids:
                raise self.fail(f"stations[{i}].bay", f"handoff {st.id!r} serves unknown crane bay {st.bay!r}")
        return tuple(out)

    @staticmethod
    def _bay_slot(s: dict[str, Any], bay: str, start: tuple, end: tuple, length: float) -> Slot:
        ux, uy = (end[0] - start[0]) / length, (end[1] - start[1]) / length
        x = start[0] + ux * s["runway_m"] - uy * s["cross_m"]
        y = start[1] + uy * s["runway_m"] + ux * s["cross_m"]
        return Slot(
            id=s["id"],
            x=x,
            y=y,
            tiers=int(s.get("tiers", 1)),
            max_weight_kg=float(s.get("max_weight_kg", math.inf)),
            bay=bay,
            runway_m=float(s["runway_m"]),
            cross_m=float(s["cross_m"]),
            load_types=tuple(s.get("load_types", ())),
        )

    def _racks(self, by_id: dict[str, Node]) -> tuple[Slot, ...]:
        raw_list = self.data.get("racks", [])
        self.unique(raw_list, "racks", {})
        out = []
        for i, r in enumerate(raw_list):
            if r["node"] not in by_id:
                raise self.fail(f"racks[{i}].node", f"rack {r['id']!r} is reached from unknown node {r['node']!r}")
            n = by_id[r["node"]]
            out.append(
                Slot(
                    id=r["id"],
                    x=float(r.get("x", n.x)),
                    y=float(r.get("y", n.y)),
                    node=r["node"],
                    levels=int(r.get("levels", 1)),
                    max_weight_kg=float(r.get("max_weight_kg", math.inf)),
                    load_types=tuple(r.get("load_types", ())),
                )
            )
        return tuple(out)
