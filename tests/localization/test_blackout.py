"""Recovery after 30 s without any positioning fix, and the pose-quality policy."""

from __future__ import annotations

import math

import numpy as np

from fleet.localization import Fusion, FusionConfig, PoseQuality, UwbFix
from sim.sensors import Blackout, merged
from sim.sensors_route import drive_route
from sim.sensors_scenes import transition, warehouse


def _drive(scene, seconds: float, blackout: Blackout, seed: int = 11):
    suite = scene.suite()
    suite.blackouts = (blackout,)
    traj = drive_route(scene.route, laps=50, max_duration_s=seconds)
    inbox = merged(suite.streams("m", traj, np.random.default_rng(seed)))
    fusion = Fusion(scene.site)
    out = []
    k = 0
    for t in np.arange(0.5, traj.t[-1], 0.1):
        j = k
        while j < len(inbox) and inbox[j].received_s <= t:
            j += 1
        fusion.ingest_many(inbox[k:j])
        k = j
        fusion.advance(float(t))
        p = fusion.pose("m", float(t))
        x, y, *_ = traj.at(np.array([t]))
        out.append((t, math.hypot(p.x - x[0], p.y - y[0]), p.sigma_m, p.quality))
    return fusion, out


def _check_recovery(out, start, end):
    before = [e for t, e, s, q in out if start - 10 < t < start]
    during_q = [q for t, e, s, q in out if end - 2 < t < end]
    after = [(e, q) for t, e, s, q in out if end + 5 < t < end + 20]
    assert max(before) < 0.3
    assert all(q != PoseQuality.OK for q in during_q)  # the core was told to slow/stop
    assert max(e for e, _ in after) < 0.3  # back on track within 5 s
    assert all(q == PoseQuality.OK for _, q in after)


def test_recovers_after_30s_blackout_indoors():
    fusion, out = _drive(warehouse(), 90.0, Blackout(30.0, 60.0))
    _check_recovery(out, 30.0, 60.0)
    sigmas = [s for t, e, s, q in out if 30 < t < 60]
    assert sigmas[-1] > 3 * sigmas[0]  # uncertainty grew while dead-reckoning
    uwb = fusion.health("m")["sources"]["uwb"]
    assert uwb["last_fix_age_s"] < 1.0 and uwb["rate_hz"] > 5


def test_recovers_after_30s_blackout_across_the_door():
    _, out = _drive(transition(), 110.0, Blackout(40.0, 70.0))
    _check_recovery(out, 40.0, 70.0)


def test_quality_policy_limits():
    cfg = FusionConfig(slow_sigma_m=0.3, stop_sigma_m=1.0)
    f = Fusion(None, cfg)
    f.ingest(UwbFix("m", 0.0, 0.0, 1.0, 1.0, 0.01, 0.0, 0.01))
    assert f.pose_quality("m", 0.0) == PoseQuality.OK
    f.ingest(UwbFix("n", 0.0, 0.0, 1.0, 1.0, 0.25, 0.0, 0.25))  # sigma 0.5 m
    assert f.pose_quality("n", 0.0) == PoseQuality.DEGRADED
    f.ingest(UwbFix("o", 0.0, 0.0, 1.0, 1.0, 4.0, 0.0, 4.0))  # sigma 2 m
    assert f.pose_quality("o", 0.0) == PoseQuality.LOST
    assert f.pose_quality("never-seen") == PoseQuality.LOST
    # with nothing arriving at all, time alone degrades the pose
    f.advance(100.0)
    assert f.pose_quality("m") == PoseQuality.LOST


def test_machine_with_only_odometry_is_lost():
    from fleet.localization import Odometry
    f = Fusion(None)
    f.ingest(Odometry("m", 0.0, 0.0, 0.5, 0.0))
    p = f.pose("m")
    assert p.quality == PoseQuality.LOST and math.isnan(p.x)
