"""Small sites and fleets for the dispatch tests (built in code, no files)."""

from __future__ import annotations

from typing import Any

from fleet.dispatch import FleetView
from fleet.domain import Capabilities, Crane, CraneId, Vehicle, VehicleId
from maps.loader import site_from_dict
from maps.site import Site


def small_site_dict() -> dict[str, Any]:
    """A 6 x 3 grid (10 m) with stations, a hazardous corner, a maintenance zone and one crane bay.

    - HZ (n5_0) is reachable only through the hazardous zone HAZ.
    - P3 (n2_2) is reachable only through the maintenance zone M1.
    - Bay BAY: runway 60 m, cranes CA (home 8) and CB (home 52), 6 m wide, 3 m gap:
      CA reaches 3..48 m, CB 12..57 m. Slot S4 (58 m) is out of every crane's reach.
    """
    nodes = [{"id": f"n{c}_{r}", "x": c * 10.0, "y": r * 10.0} for r in range(3) for c in range(6)]
    lanes = []
    for r in range(3):
        for c in range(6):
            if c + 1 < 6:
                lanes.append({"from": f"n{c}_{r}", "to": f"n{c + 1}_{r}", "two_way": True})
            if r + 1 < 3:
                lanes.append({"from": f"n{c}_{r}", "to": f"n{c}_{r + 1}", "two_way": True})
    stations = [
        {"id": "P1", "kind": "pickup", "node": "n0_0"},
        {"id": "P2", "kind": "pickup", "node": "n0_2"},
        {"id": "P3", "kind": "pickup", "node": "n2_2"},
        {"id": "D1", "kind": "drop", "node": "n5_2"},
        {"id": "D2", "kind": "drop", "node": "n3_0"},
        {"id": "HZ", "kind": "drop", "node": "n5_0"},
        {"id": "C1", "kind": "charger", "node": "n1_1"},
        {"id": "C2", "kind": "charger", "node": "n4_1"},
        {"id": "H1", "kind": "handoff", "node": "n1_2", "bay": "BAY", "runway_m": 10.0, "cross_m": 0.0},
        {"id": "H2", "kind": "handoff", "node": "n4_2", "bay": "BAY", "runway_m": 40.0, "cross_m": 0.0},
    ]
    zones = [
        {"id": "HAZ", "kind": "hazardous", "polygon": [[42, -5], [58, -5], [58, 5], [42, 5]]},
        {"id": "M1", "kind": "maintenance", "polygon": [[15, 15], [25, 15], [25, 25], [15, 25]]},
    ]
    bay = {
        "id": "BAY",
        "runway": {"start": [0, 40], "end": [60, 40]},
        "span_m": 20,
        "safety_gap_m": 3,
        "hook_height_m": 6,
        "cranes": [
            {"id": "CA", "home_m": 8, "width_m": 6, "payload_kg": 40000, "load_types": ["coil"], "pick_s": 10, "drop_s": 10},
            {"id": "CB", "home_m": 52, "width_m": 6, "payload_kg": 40000, "load_types": ["coil"], "pick_s": 10, "drop_s": 10},
        ],
        "slots": [
            {"id": "S1", "runway_m": 10, "cross_m": 5},
            {"id": "S2", "runway_m": 30, "cross_m": 5, "max_weight_kg": 20000, "load_types": ["coil"]},
            {"id": "S3", "runway_m": 50, "cross_m": 5},
            {"id": "S4", "runway_m": 58.5, "cross_m": 5},
        ],
    }
    racks = [{"id": "R1", "node": "n3_1"}]
    return {
        "format": "fleet5g-site",
        "version": 1,
        "name": "small",
        "nodes": nodes,
        "lanes": lanes,
        "stations": stations,
        "zones": zones,
        "crane_bays": [bay],
        "racks": racks,
    }


def small_site() -> Site:
    return site_from_dict(small_site_dict(), "<small>")


def vehicle(ident: str, node: str = "n0_0", **kw: Any) -> Vehicle:
    caps = kw.pop("capabilities", Capabilities(payload_kg=1000.0, load_types=("pallet",)))
    return Vehicle(VehicleId(ident), caps, node=node, **kw)


def small_fleet(hazardous: bool = True, coil_agv: bool = True) -> FleetView:
    vs = [vehicle("V1", "n0_0"), vehicle("V2", "n2_1"), vehicle("V3", "n5_2"), vehicle("V4", "n3_0")]
    if hazardous:
        vs.append(vehicle("V5", "n4_0", capabilities=Capabilities(1000.0, ("pallet",), hazardous_rated=True)))
    if coil_agv:
        vs.append(vehicle("V6", "n1_2", capabilities=Capabilities(40000.0, ("coil",))))
    cranes = [
        Crane(CraneId("CA"), "BAY", bridge_m=8.0),
        Crane(CraneId("CB"), "BAY", bridge_m=52.0),
    ]
    return FleetView.of(vs, cranes)
