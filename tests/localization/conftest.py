"""Small sites and helpers for the localization tests."""

from __future__ import annotations

import pytest

from maps.loader import site_from_dict
from maps.site import Site


def small_site(**extra: object) -> Site:
    """A 40 x 20 m site: a shed (x < 20) and an outdoor yard (x >= 20), tags and anchors."""
    data = {
        "format": "fleet5g-site", "version": 1, "name": "loc-test",
        "nodes": [{"id": "a", "x": 0, "y": 0}, {"id": "b", "x": 40, "y": 0},
                  {"id": "c", "x": 40, "y": 20}, {"id": "d", "x": 0, "y": 20}],
        "lanes": [{"from": "a", "to": "b"}, {"from": "b", "to": "c"}, {"from": "c", "to": "d"}],
        "stations": [{"id": "s", "kind": "parking", "node": "a"}],
        "zones": [{"id": "yard", "kind": "outdoor", "polygon": [[20, -5], [45, -5], [45, 25], [20, 25]]}],
        "rfid_tags": [{"id": "T1", "x": 5.0, "y": 0.0}, {"id": "T2", "x": 10.0, "y": 0.0}],
        "uwb_anchors": [{"id": "A1", "x": 0, "y": 0, "z": 4}, {"id": "A2", "x": 20, "y": 0, "z": 4},
                        {"id": "A3", "x": 0, "y": 20, "z": 4}, {"id": "A4", "x": 20, "y": 20, "z": 4}],
        "geodetic_anchor": {"lat_deg": 31.2304, "lon_deg": 121.4737, "height_m": 4.0,
                            "heading_deg": 90.0},
        **extra,
    }
    return site_from_dict(data, "<test>")


@pytest.fixture
def site() -> Site:
    return small_site()
