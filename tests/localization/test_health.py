"""Per-source health as the core sees it."""

from __future__ import annotations

import numpy as np
import pytest

from fleet.localization import Fusion, RfidRead, UnknownMachine
from sim.sensors import merged
from sim.sensors_route import drive_route
from sim.sensors_scenes import warehouse


def test_health_reports_rate_latency_rejections():
    scene = warehouse()
    traj = drive_route(scene.route, max_duration_s=30)
    inbox = merged(scene.suite().streams("m", traj, np.random.default_rng(6)))
    f = Fusion(scene.site)
    f.ingest_many(inbox)
    f.ingest(RfidRead("m", 29.0, 29.05, "no-such-tag"))
    h = f.health("m")
    uwb, odo, rfid = h["sources"]["uwb"], h["sources"]["odometry"], h["sources"]["rfid"]
    assert 8.0 < uwb["rate_hz"] < 10.5
    assert 45.0 < odo["rate_hz"] < 51.0
    assert 0.015 < uwb["latency_mean_s"] < 0.2
    assert uwb["latency_max_s"] > 0.1  # the late tail
    assert 0.0 < uwb["rejection_ratio"] < 0.3  # NLOS outliers are gated
    assert uwb["rejected"].get("gated", 0) > 0
    assert rfid["rejected"]["unknown_tag"] >= 1
    assert uwb["last_fix_age_s"] < 1.0
    assert h["quality"] == "ok" and h["pose_sigma_m"] < 0.3
    assert uwb["accepted"] + sum(uwb["rejected"].values()) == uwb["received"]


def test_unknown_machine():
    f = Fusion(None)
    with pytest.raises(UnknownMachine):
        f.pose("ghost")
    with pytest.raises(UnknownMachine):
        f.health("ghost")
    assert UnknownMachine("ghost").status == 404


def test_forget_frees_the_row():
    from fleet.localization import UwbFix
    f = Fusion(None)
    f.ingest(UwbFix("a", 0.0, 0.0, 1.0, 1.0))
    row = f._by_id["a"].row
    assert f.forget("a") and not f.forget("a")
    with pytest.raises(UnknownMachine):
        f.pose("a")
    f.ingest(UwbFix("b", 0.0, 0.0, 5.0, 5.0))
    assert f._by_id["b"].row == row
    p = f.pose("b")
    assert abs(p.x - 5.0) < 1e-9 and p.sigma_m < 0.2
