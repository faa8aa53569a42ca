"""A sim run feeds the localization's sensor models from the true trajectories."""

from __future__ import annotations

import numpy as np
import pytest

from maps.loader import load_site, resolve_site
from sim.agv import AgvSpec
from sim.truth import TrajectoryRecorder, measurements, site_suite
from sim.world import World
from tests.sim.builders import route


def test_recorded_drive_produces_sensor_streams_near_the_truth() -> None:
    site = load_site(resolve_site("warehouse"))
    start = site.stations_of(site.stations[0].kind)[0].node  # a dock node with lanes
    w = World(site, [AgvSpec("a1", start)], seed=4)
    # drive a few lanes from the start node
    adj = {}
    for lane in site.lanes:
        adj.setdefault(lane.start, []).append(lane.end)
        if lane.two_way:
            adj.setdefault(lane.end, []).append(lane.start)
    path = [start]
    while len(path) < 8:
        nxt = [n for n in adj.get(path[-1], []) if n not in path]
        if not nxt:
            break
        path.append(sorted(nxt)[0])
    w.apply(route(site, "a1", path))
    rec = TrajectoryRecorder(w)
    rec.sample()
    for _ in range(240):
        w.step(0.25)
        rec.sample()
    traj = rec.trajectory("a1")
    assert traj.t.shape[0] == 241 and float(np.max(traj.speed)) > 0.5
    out = measurements(rec, site_suite(w), np.random.default_rng(1))
    assert out, "no measurements from a 60 s drive"
    kinds = {type(m).__name__ for m in out}
    assert "Odometry" in kinds
    assert all(m.machine_id == "a1" for m in out)
    assert [m.received_s for m in out] == sorted(m.received_s for m in out)
    with pytest.raises(ValueError):
        rec.trajectory("a1", since_s=1e9)


def test_a_recorder_rides_along_a_shift_as_an_observer() -> None:
    import copy

    from sim.brain_double import ReservationBrainDouble
    from sim.runner import build_world, run_shift
    from sim.scenario import scenario_from_dict
    from tests.sim.test_runner import SCENARIO

    data = copy.deepcopy(SCENARIO)
    data["duration_h"] = 0.02
    sc = scenario_from_dict(data, "t.yaml")
    world = build_world(sc)
    rec = TrajectoryRecorder(world, ["agv-1"])
    run_shift(sc, ReservationBrainDouble(sc.site, list(sc.agvs), list(sc.cranes)), world=world, observers=(rec,))
    traj = rec.trajectory("agv-1")
    assert traj.t.shape[0] == int(sc.duration_s / sc.dt_s)
