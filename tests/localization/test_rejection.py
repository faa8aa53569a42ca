"""Each rejection rule drops the measurement, counts it per source and reason, never raises."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.localization import (
    BeidouFix,
    FixQuality,
    Fusion,
    Odometry,
    Reason,
    RfidRead,
    SiteFrame,
    UwbFix,
    UwbRanges,
)
from tests.localization.conftest import small_site


def settled(site, x=5.0, y=0.0, until=3.0) -> Fusion:
    """A machine standing at (x, y), located by 10 Hz UWB and 50 Hz odometry."""
    f = Fusion(site)
    rng = np.random.default_rng(1)
    for k in range(int(until * 50)):
        t = k * 0.02
        f.ingest(Odometry("m", t, t + 0.01, 0.0, 0.0))
        if k % 5 == 0:
            f.ingest(UwbFix("m", t, t + 0.01, x + rng.normal(0, 0.05), y + rng.normal(0, 0.05),
                            0.0025, 0.0, 0.0025))
    return f


def rejected(f: Fusion, source: str) -> dict[str, int]:
    return f.rejections().get("m", {}).get(source, {})


def test_gate_rejects_a_far_fix(site):
    f = settled(site)
    out = f.ingest(UwbFix("m", 3.0, 3.01, 9.0, 4.0, 0.0025, 0.0, 0.0025))
    assert not out.accepted and out.reason == Reason.GATED
    assert rejected(f, "uwb") == {"gated": 1}
    assert math.hypot(f.pose("m").x - 5.0, f.pose("m").y) < 0.1


def test_gate_accepts_a_near_fix(site):
    f = settled(site)
    assert f.ingest(UwbFix("m", 3.0, 3.01, 5.05, 0.02, 0.0025, 0.0, 0.0025)).accepted


def test_stale_fix(site):
    f = settled(site)
    out = f.ingest(UwbFix("m", 1.0, 3.0, 5.0, 0.0))  # 2 s in transit > max_latency_s
    assert out.reason == Reason.STALE
    assert rejected(f, "uwb") == {"stale": 1}


def test_fix_older_than_the_replay_history_is_stale(site):
    f = settled(site, until=5.0)
    # arrived "quickly" by its own account, but older than anything the history still holds
    out = f.ingest(UwbFix("m", 0.5, 1.0, 5.0, 0.0))
    assert out.reason == Reason.STALE


def test_fix_from_the_future(site):
    f = settled(site)
    out = f.ingest(UwbFix("m", 4.0, 3.0, 5.0, 0.0))  # stamped a second after it arrived
    assert out.reason == Reason.FUTURE
    assert rejected(f, "uwb") == {"future": 1}


def test_a_wild_receive_time_does_not_move_the_clock(site):
    f = settled(site)
    out = f.ingest(UwbFix("m", 1e9, 1e9, 5.0, 0.0))
    assert out.reason == Reason.FUTURE
    assert f.pose_quality("m") == "ok"


def test_unknown_tag(site):
    f = settled(site)
    assert f.ingest(RfidRead("m", 3.0, 3.01, "T-nope")).reason == Reason.UNKNOWN_TAG
    assert f.ingest(RfidRead("m", 3.0, 3.01, "T1")).accepted
    assert rejected(f, "rfid") == {"unknown_tag": 1}


def test_nan_values(site):
    f = settled(site)
    assert f.ingest(UwbFix("m", 3.0, 3.01, math.nan, 0.0)).reason == Reason.NAN
    assert f.ingest(Odometry("m", 3.0, 3.01, math.inf, 0.0)).reason == Reason.NAN
    assert f.ingest(UwbFix("m", math.nan, 3.01, 5.0, 0.0)).reason == Reason.NAN
    assert rejected(f, "uwb") == {"nan": 2}
    assert rejected(f, "odometry") == {"nan": 1}
    assert np.isfinite(f.pose("m").cov).all()


def test_out_of_site(site):
    f = settled(site)
    # bounds are (0, -5, 45, 25); margin 10 m
    assert f.ingest(UwbFix("m", 3.0, 3.01, 70.0, 0.0)).reason == Reason.OUT_OF_SITE
    frame = SiteFrame.from_anchor(site.geodetic_anchor)
    lat, lon, h = frame.to_geodetic(500.0, 0.0, 0.0)
    assert f.ingest(BeidouFix("m", 3.0, 3.01, lat, lon, h)).reason == Reason.OUT_OF_SITE


def test_beidou_indoors_is_refused_outdoors_used(site):
    frame = SiteFrame.from_anchor(site.geodetic_anchor)
    f = settled(site, x=25.0, y=2.0)
    lat, lon, h = frame.to_geodetic(10.0, 2.0, 0.0)  # inside the shed
    assert f.ingest(BeidouFix("m", 3.0, 3.01, lat, lon, h)).reason == Reason.INDOORS
    lat, lon, h = frame.to_geodetic(25.02, 2.01, 2.0)
    assert f.ingest(BeidouFix("m", 3.0, 3.01, lat, lon, h, FixQuality.RTK_FIXED, 1.0)).accepted
    assert rejected(f, "beidou") == {"indoors": 1}


def test_beidou_without_fix_or_anchor():
    site = small_site()
    f = Fusion(site)
    assert f.ingest(BeidouFix("m", 0.0, 0.01, 31.2304, 121.4737, 4.0, FixQuality.NONE)).reason == Reason.NO_FIX
    g = Fusion(None)
    assert g.ingest(BeidouFix("m", 0.0, 0.01, 31.2304, 121.4737, 4.0)).reason == Reason.NO_GEODETIC_ANCHOR


def test_beidou_covariance_is_rotated_into_the_site_frame():
    site = small_site(geodetic_anchor={"lat_deg": 31.2304, "lon_deg": 121.4737, "height_m": 4.0,
                                       "heading_deg": 0.0})  # +x north, +y west
    f = Fusion(site)
    frame = f.frame
    lat, lon, h = frame.to_geodetic(25.0, 2.0, 2.0)
    out = f.ingest(BeidouFix("m", 0.0, 0.01, lat, lon, h, FixQuality.SINGLE, cov_en=(4.0, 0.0, 0.25)))
    assert out.accepted
    p = f.pose("m", 0.0)
    assert p.cov[0, 0] == pytest.approx(0.25) and p.cov[1, 1] == pytest.approx(4.0)


def test_ranges_need_known_anchors_and_a_track(site):
    f = Fusion(site)
    r = UwbRanges("m", 0.0, 0.01, ("A1", "A2", "A3"), (5.0, 15.0, 20.0))
    assert f.ingest(r).reason == Reason.UNINITIALIZED
    assert f.ingest(UwbRanges("m", 0.0, 0.01, ("A1", "ZZ"), (5.0, 5.0))).reason == Reason.UNKNOWN_ANCHOR
    assert f.ingest(UwbRanges("m", 0.0, 0.01, ("A1",), (5.0, 5.0))).reason == Reason.INVALID


def test_ranges_update_a_track(site):
    f = Fusion(site)
    f.ingest(UwbFix("m", 3.0, 3.0, 8.6, 5.5, 1.0, 0.0, 1.0))  # a coarse start, 1 m sigma
    before = f.pose("m")
    anchors = {a.id: a for a in site.uwb_anchors}
    t = 3.0
    for _ in range(20):
        f.ingest(Odometry("m", t, t + 0.01, 0.0, 0.0))
        ranges = tuple(math.sqrt((8.0 - a.x) ** 2 + (6.0 - a.y) ** 2 + (a.z - 0.5) ** 2)
                       for a in anchors.values())
        assert f.ingest(UwbRanges("m", t, t + 0.01, tuple(anchors), ranges, 0.05)).accepted
        t += 0.1
    after = f.pose("m")
    assert after.sigma_m < 0.1 < before.sigma_m
    assert math.hypot(after.x - 8.0, after.y - 6.0) < 0.05


def test_invalid_covariances(site):
    f = settled(site)
    assert f.ingest(UwbFix("m", 3.0, 3.01, 5.0, 0.0, -1.0, 0.0, 0.01)).reason == Reason.INVALID
    assert f.ingest(UwbFix("m", 3.0, 3.01, 5.0, 0.0, 0.01, 0.5, 0.01)).reason == Reason.INVALID
    assert f.ingest(Odometry("m", 3.0, 3.01, 1.0, 0.0, 0.0, 0.01)).reason == Reason.INVALID
    assert f.ingest(RfidRead("m", 3.0, 3.01, "T1", -0.1)).reason == Reason.INVALID


def test_unknown_types_are_counted_not_raised(site):
    f = Fusion(site)
    assert f.ingest(object()).reason == Reason.UNKNOWN_TYPE
    assert f.ingest({"machine_id": "m"}).reason == Reason.UNKNOWN_TYPE
    assert f.unknown_type == 2


def test_rejections_are_per_machine(site):
    f = settled(site)
    f.ingest(RfidRead("other", 3.0, 3.01, "nope"))
    assert f.rejections()["other"] == {"rfid": {"unknown_tag": 1}}
    assert "rfid" not in f.rejections().get("m", {})


numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6))


@settings(max_examples=150, deadline=None)
@given(kind=st.sampled_from(["odo", "uwb", "rfid", "bd", "rng"]), a=numbers, b=numbers, c=numbers,
       d=numbers, e=numbers, tag=st.text(max_size=5))
def test_garbage_never_raises(kind, a, b, c, d, e, tag):
    f = settled(small_site(), until=0.5)
    m = {
        "odo": lambda: Odometry("m", a, b, c, d, e, e),
        "uwb": lambda: UwbFix("m", a, b, c, d, e, 0.0, e),
        "rfid": lambda: RfidRead("m", a, b, tag, c),
        "bd": lambda: BeidouFix("m", a, b, c, d, e, FixQuality.FLOAT, e),
        "rng": lambda: UwbRanges("m", a, b, ("A1", "A2"), (c, d), e),
    }[kind]()
    out = f.ingest(m)
    assert out.accepted or out.reason is not None
    p = f.pose("m")
    assert np.isfinite([p.x, p.y, p.heading]).all()
