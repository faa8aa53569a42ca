"""The fusion reads the bundled sites' tags, anchors, outdoor zones and geodetic anchor."""

from __future__ import annotations

import pytest

from fleet.localization import BeidouFix, Fusion, Odometry, Reason, RfidRead, UwbFix, UwbRanges
from maps.loader import bundled_sites, load_site

SITES = sorted(bundled_sites())


@pytest.mark.parametrize("name", SITES)
def test_fixes_on_a_bundled_site(name):
    site = load_site(bundled_sites()[name])
    f = Fusion(site)
    if site.rfid_tags:
        tag = site.rfid_tags[0]
        assert f.ingest(RfidRead("m", 0.0, 0.01, tag.id)).accepted
        assert f.ingest(UwbFix("m", 0.1, 0.11, tag.x + 0.02, tag.y, 0.01, 0.0, 0.01)).accepted
        assert f.ingest(Odometry("m", 0.2, 0.21, 0.0, 0.0)).accepted
        p = f.pose("m")
        assert abs(p.x - tag.x) < 0.1 and abs(p.y - tag.y) < 0.1
        assert f.ingest(RfidRead("m", 0.3, 0.31, "not-a-tag")).reason == Reason.UNKNOWN_TAG
    if site.uwb_anchors and site.rfid_tags:
        a = site.uwb_anchors[0]
        out = f.ingest(UwbRanges("m", 0.4, 0.41, (a.id,), (((a.x - tag.x) ** 2 + (a.y - tag.y) ** 2
                                                              + (a.z - 0.5) ** 2) ** 0.5,)))
        assert out.accepted
    outdoor = [z for z in site.zones if z.kind == "outdoor"]
    if site.geodetic_anchor is None:
        return
    if outdoor:
        c = outdoor[0].polygon.representative_point()
        lat, lon, h = f.frame.to_geodetic(c.x, c.y, 2.0)
        assert f.ingest(BeidouFix("b", 0.0, 0.01, lat, lon, h)).accepted
        p = f.pose("b")
        assert abs(p.x - c.x) < 0.01 and abs(p.y - c.y) < 0.01
    else:  # no outdoor zone: BeiDou is refused everywhere on this site
        x0, y0, x1, y1 = site.bounds
        lat, lon, h = f.frame.to_geodetic((x0 + x1) / 2, (y0 + y1) / 2, 2.0)
        assert f.ingest(BeidouFix("b", 0.0, 0.01, lat, lon, h)).reason == Reason.INDOORS
