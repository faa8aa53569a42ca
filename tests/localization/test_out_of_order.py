"""Late fixes (up to ~1 s over the 5G link) are replayed: same result as in stamp order."""

from __future__ import annotations

import itertools

import numpy as np

from fleet.localization import Fusion, Odometry, UwbFix
from sim.sensors import Link, merged
from sim.sensors_route import drive_route
from sim.sensors_scenes import warehouse


def _streams(seed: int, late_prob: float = 0.15):
    scene = warehouse()
    suite = scene.suite()
    suite.link = Link(late_prob=late_prob, late_max_s=1.0)
    traj = drive_route(scene.route, max_duration_s=40.0)
    return scene, merged(suite.streams("m", traj, np.random.default_rng(seed)))


def test_arrival_order_equals_stamp_order():
    scene, inbox = _streams(3)
    by_stamp = sorted(inbox, key=lambda m: m.stamp_s)
    assert by_stamp != inbox  # some really did arrive out of order
    late = sum(1 for a, b in itertools.pairwise(inbox) if b.stamp_s < a.stamp_s)
    assert late > 20

    in_order = Fusion(scene.site)
    for m in by_stamp:
        in_order.ingest(m)
    arrival = Fusion(scene.site)
    outcomes = [arrival.ingest(m) for m in inbox]
    assert sum(o.replayed > 0 for o in outcomes) > 20
    t_end = max(m.received_s for m in inbox)
    a, b = in_order.pose("m", t_end), arrival.pose("m", t_end)
    assert np.allclose([a.x, a.y, a.heading, a.speed], [b.x, b.y, b.heading, b.speed], atol=1e-9)
    assert np.allclose(a.cov, b.cov, atol=1e-12)
    assert arrival.health("m")["replays"] > 0
    # the same measurements were accepted and rejected either way
    for src, h in in_order.health("m", t_end)["sources"].items():
        assert arrival.health("m", t_end)["sources"][src]["accepted"] == h["accepted"]


def test_batches_in_any_order_match():
    scene, inbox = _streams(5)
    one = Fusion(scene.site)
    for m in inbox:
        one.ingest(m)
    batched = Fusion(scene.site)
    for k in range(0, len(inbox), 37):
        batched.ingest_many(inbox[k:k + 37])
    t_end = max(m.received_s for m in inbox)
    a, b = one.pose("m", t_end), batched.pose("m", t_end)
    assert np.allclose([a.x, a.y, a.heading], [b.x, b.y, b.heading], atol=1e-9)


def _line(skip_special: bool, special: UwbFix | None, late: UwbFix | None) -> Fusion:
    f = Fusion(None)
    for k in range(250):
        t = k * 0.02
        f.ingest(Odometry("m", t, t + 0.005, 1.0, 0.0))
        if k % 10 == 0 and not (skip_special and k == 150):
            f.ingest(UwbFix("m", t, t + 0.005, 1.0 * t, 0.0, 0.01, 0.0, 0.01))
        if k == 150 and special is not None:
            f.ingest(special)
    if late is not None:
        out = f.ingest(late)
        assert out.accepted and out.replayed > 0
    return f


def test_a_late_fix_moves_the_pose_like_an_on_time_one():
    """A late fix is not dropped: it changes the estimate exactly as if it had been on time."""
    fix = UwbFix("m", 3.0, 3.005, 3.0, 0.15, 0.01, 0.0, 0.01)
    late_fix = UwbFix("m", 3.0, 3.95, 3.0, 0.15, 0.01, 0.0, 0.01)  # ~1 s late
    on_time = _line(True, fix, None)
    late = _line(True, None, late_fix)
    plain = _line(True, None, None)
    a, b, c = on_time.pose("m", 4.98), late.pose("m", 4.98), plain.pose("m", 4.98)
    assert np.allclose([a.x, a.y, a.heading], [b.x, b.y, b.heading], atol=1e-9)
    assert abs(c.y - b.y) > 1e-3  # the late fix did count
