"""Builders of small, valid site dicts for tests; tweak the dict to make it broken."""

from __future__ import annotations

from typing import Any


def tiny_site(**overrides: Any) -> dict[str, Any]:
    """A 3x2 two-way grid with a pickup, a drop and a charger; all checks pass."""
    nodes = [{"id": f"n{i}{j}", "x": 3.0 * i, "y": 3.0 * j} for i in range(3) for j in range(2)]
    lanes = []
    for i in range(3):
        for j in range(2):
            if i < 2:
                lanes.append({"from": f"n{i}{j}", "to": f"n{i + 1}{j}", "two_way": True, "max_speed_mps": 3.0})
            if j < 1:
                lanes.append({"from": f"n{i}{j}", "to": f"n{i}{j + 1}", "two_way": True, "max_speed_mps": 3.0})
    d: dict[str, Any] = {
        "format": "fleet5g-site",
        "version": 1,
        "name": "tiny",
        "nodes": nodes,
        "lanes": lanes,
        "stations": [
            {"id": "P", "kind": "pickup", "node": "n00"},
            {"id": "D", "kind": "drop", "node": "n21"},
            {"id": "C", "kind": "charger", "node": "n01"},
        ],
        "rfid_tags": [{"id": "t1", "x": 0.0, "y": 0.0}],
        "geodetic_anchor": {"lat_deg": 31.0, "lon_deg": 121.0, "height_m": 5.0},
    }
    d.update(overrides)
    return d
