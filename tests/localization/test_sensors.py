"""Sensor models: deterministic from a seed, and each failure mode where it belongs."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np

from fleet.localization import BeidouFix, Odometry, RfidRead, SiteFrame, UwbFix, UwbRanges
from sim.sensors import Link, RfidSensor, UwbSensor, merged
from sim.sensors_route import drive_route
from sim.sensors_scenes import transition, warehouse, yard


def test_route_is_followed():
    traj = drive_route([(0, 0), (20, 0), (20, 10)], cruise_mps=1.5)
    assert traj.speed.max() <= 1.5 + 1e-9
    assert math.hypot(traj.x[-1] - 20, traj.y[-1] - 10) < 0.1
    on_first_leg = (traj.x > 1) & (traj.x < 17) & (traj.y < 1)
    assert np.abs(traj.y[on_first_leg]).max() < 0.02
    # speed and yaw rate are consistent with the positions
    dx = np.gradient(traj.x, traj.t)
    dy = np.gradient(traj.y, traj.t)
    assert np.allclose(np.hypot(dx, dy)[5:-5], traj.speed[5:-5], atol=0.05)


def test_streams_are_deterministic():
    scene = warehouse()
    traj = drive_route(scene.route, max_duration_s=30)
    a = merged(scene.suite().streams("m", traj, np.random.default_rng(4)))
    b = merged(scene.suite().streams("m", traj, np.random.default_rng(4)))
    c = merged(scene.suite().streams("m", traj, np.random.default_rng(5)))
    assert a == b and a != c


def test_rfid_reads_only_near_tags_with_misreads_and_misses():
    scene = warehouse()
    traj = drive_route(scene.route, max_duration_s=60)
    tags = tuple((t.id, t.x, t.y) for t in scene.site.rfid_tags)
    clean = RfidSensor(tags=tags, miss_prob=0.0, misread_prob=0.0)
    reads = clean.measure("m", traj, np.random.default_rng(1))
    assert len(reads) > 20
    for r in reads:
        assert isinstance(r, RfidRead)
        tag = scene.site.tag_by_id[r.tag_id]
        x, y, *_ = traj.at(np.array([r.stamp_s]))
        assert math.hypot(tag.x - x[0], tag.y - y[0]) <= clean.reader_range_m + 0.02
    lossy = replace(clean, miss_prob=0.3, misread_prob=0.3)
    lossy_reads = lossy.measure("m", traj, np.random.default_rng(1))
    assert len(lossy_reads) < len(reads)
    assert any(r.tag_id not in scene.site.tag_by_id for r in lossy_reads)


def test_uwb_nlos_outliers_and_coverage():
    scene = warehouse()
    traj = drive_route(scene.route, max_duration_s=60)
    anchors = tuple((a.x, a.y, a.z) for a in scene.site.uwb_anchors)
    ids = tuple(a.id for a in scene.site.uwb_anchors)
    sensor = UwbSensor(anchors=anchors, anchor_ids=ids, nlos_prob=0.2, dropout_prob=0.0)
    fixes = sensor.measure("m", traj, np.random.default_rng(2))
    assert 550 <= len(fixes) <= 610  # 10 Hz for 60 s
    err = []
    for f in fixes:
        x, y, *_ = traj.at(np.array([f.stamp_s]))
        err.append(math.hypot(f.x - x[0], f.y - y[0]))
    share = np.mean(np.array(err) > 0.4)
    assert 0.12 < share < 0.28
    none = replace(sensor, min_anchors=99).measure("m", traj, np.random.default_rng(2))
    assert none == []
    ranges = replace(sensor, ranges=True).measure("m", traj, np.random.default_rng(2))
    assert all(isinstance(r, UwbRanges) and len(r.ranges_m) >= 3 for r in ranges)


def test_beidou_only_outdoors_and_worse_near_buildings():
    scene = transition()
    suite = scene.suite(uwb=False, rfid=False)
    traj = drive_route(scene.route, laps=3, max_duration_s=300)
    fixes = suite.beidou.measure("m", traj, np.random.default_rng(3))
    frame = SiteFrame.from_anchor(scene.site.geodetic_anchor)
    indoor, near_err, far_err = 0, [], []
    for f in fixes:
        assert isinstance(f, BeidouFix)
        x, y, *_ = traj.at(np.array([f.stamp_s]))
        fx, fy, _ = frame.to_site(f.lat_deg, f.lon_deg, f.height_m)
        if not scene.site.is_outdoor(x[0], y[0]):
            indoor += 1
            continue
        e = math.hypot(fx - x[0], fy - y[0])
        (near_err if x[0] < 52 else far_err).append(e)
    assert indoor < 0.05 * len(fixes)  # only stray leaks indoors
    assert np.median(far_err) < 0.05  # RTK fixed in open sky
    assert np.mean(near_err) > 2 * np.mean(far_err)


def test_link_delays_and_reorders():
    ms = [Odometry("m", k * 0.02, k * 0.02, 1.0, 0.0) for k in range(2000)]
    out = Link(late_prob=0.05, late_max_s=0.9).deliver(ms, np.random.default_rng(0))
    lat = np.array([m.received_s - m.stamp_s for m in out])
    assert lat.min() >= 0.015 and lat.max() <= 0.015 + 0.9 + 0.2
    assert any(b.stamp_s < a.stamp_s for a, b in itertools.pairwise(out))
    assert all(b.received_s >= a.received_s for a, b in itertools.pairwise(out))


def test_yard_has_multipath_under_the_crane():
    scene = yard()
    traj = drive_route(scene.route, max_duration_s=400)
    fixes = scene.suite().beidou.measure("m", traj, np.random.default_rng(8))
    qualities = {f.quality.value for f in fixes}
    assert {"rtk_fixed", "float", "single"} <= qualities
    assert all(not isinstance(f, UwbFix) for f in fixes)
