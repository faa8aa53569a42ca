"""Localization in the loop: raw readings over the bus, fused in the core, policies applied."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import zmq

from adapters.bus.codec import from_plain, read_measurements, to_plain
from adapters.bus.gateway import Gateway
from adapters.bus.hub import BusHub
from adapters.errors import BusMessageError
from fleet.core.poses import measurement_of, reading_of, readings_of
from fleet.domain.commands import Measurements
from fleet.localization import BeidouFix, FixQuality, Odometry, RfidRead, UwbFix, UwbRanges
from tests.wiring.road import SimRoad, fault

FIXES = [
    Odometry("a", 1.0, 1.0, 0.8, 0.01),
    UwbFix("a", 1.1, 1.1, 3.0, 4.0, 0.01, 0.001, 0.02),
    UwbRanges("a", 1.2, 1.2, ("A1", "A2", "A3"), (5.0, 6.5, 7.25), 0.1, 0.5),
    RfidRead("a", 1.3, 1.3, "T-17", 0.15),
    BeidouFix("a", 1.4, 1.4, 30.62, 122.06, 14.0, FixQuality.FLOAT, 1.2, (0.04, 0.0, 0.05)),
    BeidouFix("a", 1.5, 1.5, 30.62, 122.06, 14.0, FixQuality.RTK_FIXED, 0.9),
]


def test_readings_round_trip_through_the_bus_codec() -> None:
    batch = Measurements("a", 2.0, readings_of(FIXES))
    back = from_plain(Measurements, to_plain(batch))
    assert back == batch
    for fix, r in zip(FIXES, back.readings, strict=True):
        assert measurement_of("a", r, fix.received_s) == fix
    with pytest.raises(TypeError):
        reading_of(object())
    with pytest.raises(BusMessageError):  # strict: an unknown field is refused with its path
        read_measurements({**to_plain(batch), "extra": 1})
    with pytest.raises(BusMessageError):
        read_measurements({"machine_id": "a", "sent_s": 1.0, "readings": [{"kind": "uwb", "stamp_s": "x"}]})


def test_gateway_measurements_reach_the_hub_subscriber() -> None:
    ctx = zmq.Context()
    got: list[Measurements] = []

    class Quiet(Gateway):
        def on_command(self, cmd: object) -> None:
            pass

    hub = BusHub("inproc://wiring-meas", context=ctx, heartbeat_s=0.1)
    hub.subscribe(on_measurements=got.append)
    hub.start()
    gw = Quiet("gw-x", ["agv-1"], "inproc://wiring-meas", context=ctx, heartbeat_s=0.1)
    gw.start()
    try:
        batch = Measurements("agv-1", 5.0, readings_of(FIXES[:2]))
        deadline = time.time() + 5
        while not got and time.time() < deadline:
            if hub.gateway_of("agv-1"):
                gw.publish_measurements(batch)
                gw.publish_measurements(Measurements("agv-9", 5.0, ()))  # not this gateway's: dropped
            time.sleep(0.05)
        assert got and got[0] == batch
        assert {b.machine_id for b in got} == {"agv-1"}
    finally:
        gw.stop()
        hub.stop()
        ctx.term()


def _false_reports(road: SimRoad, offset_m: float) -> None:
    """Machines report poses `offset_m` off the truth: only fusion can keep the core right."""
    real = road.brain.on_state

    def shifted(st: object) -> None:
        if getattr(st, "x", None) is not None:
            st = dataclasses.replace(st, x=st.x + offset_m, y=st.y - offset_m)  # type: ignore[arg-type]
        real(st)  # type: ignore[arg-type]

    road.brain.on_state = shifted  # type: ignore[method-assign]


def test_fused_poses_replace_the_reported_ones_and_follow_the_truth() -> None:
    road = SimRoad("coil_yard", seed=3)
    try:
        _false_reports(road, 25.0)
        for _, order in road.scenario.orders()[:6]:
            road.submit(order)
        road.run(10.0)
        road.run(80.0, every=1.0)
        agvs = road.world.agvs.ids
        assert set(road.errors) == set(agvs), "every AGV has a fused track"
        moved = 0
        for mid in agvs:
            err = np.array(road.errors[mid])
            assert np.median(err) < 0.3 and np.percentile(err, 95) < 1.0, (mid, err.max())
            assert (err > 1e-6).mean() > 0.9  # the core's pose is the estimate, not the truth
            view = road.core.machine_public(road.core.machine(mid))
            assert view["pose_source"] == "fused" and view["pose_quality"] in ("ok", "degraded")
            assert view["pose_sigma_m"] is not None and view["pose_sigma_m"] < 1.0
            assert "odometry" in view["localization"] and view["localization"]["odometry"]["rate_hz"] > 5
            moved += int(road.world.agvs.v[road.world.agvs.index[mid]] > 0 or err.size > 0)
        assert moved == len(agvs)
        live = road.core.poses()
        assert all("sigma_m" in live[mid] and "quality" in live[mid] for mid in agvs)
    finally:
        road.close()


def test_a_lost_machine_is_stopped_alarmed_and_released_when_fixes_return() -> None:
    agvs = [f"cc-{k}" for k in range(1, 7)]
    road = SimRoad("coil_yard", faults=tuple(fault("positioning_loss", a, 15.0, 45.0) for a in agvs), seed=3)
    try:
        for _, order in road.scenario.orders()[:8]:
            road.submit(order)
        lost: dict[str, float] = {}
        while road.world.now < 58.0 and not lost:
            road.step()
            lost = {a: road.world.now for a in agvs if road.core.localization.quality(a) == "lost"}
        assert lost and min(lost.values()) > 15.0, "dead reckoning alone loses a moving machine's pose"
        road.run(6.0)  # the pause reaches it and it brakes (0.3 m/s2)
        for mid in lost:
            i = road.world.agvs.index[mid]
            m = road.core.machine(mid)
            assert m.mode.value == "paused" and not m.available
            assert bool(road.world.agvs.paused[i]) and float(road.world.agvs.v[i]) == 0.0  # the machine obeyed
            alarms = [a for a in road.core.store.alarms(open_only=True) if a["machine_id"] == mid]
            assert [a["kind"] for a in alarms] == ["localization_degraded"] and alarms[0]["severity"] == "critical"
        road.run(max(0.0, 60.0 - road.world.now) + 8.0)  # fixes are back at 60 s
        for mid in lost:
            assert road.core.localization.quality(mid) in ("ok", "degraded")
            assert road.core.machine(mid).mode.value == "auto"
            assert not bool(road.world.agvs.paused[road.world.agvs.index[mid]])
    finally:
        road.close()


def test_a_degraded_machine_gets_every_released_step_speed_capped(tmp_path: object) -> None:
    from fleet.core.core import FleetCore
    from fleet.core.link import RecordingLink
    from fleet.core.poses import _Machine
    from fleet.domain.commands import MovementCommand, RouteEdge, RouteNode
    from fleet.store import Store

    store = Store(f"sqlite:///{tmp_path}/d.db")
    link = RecordingLink()
    core = FleetCore(store, None, link=link, threaded=False)
    nodes = (RouteNode("n1", 0, 0.0, 0.0, True), RouteNode("n2", 2, 5.0, 0.0, True))
    edges = (RouteEdge("e1", 1, "n1", "n2", True, max_speed_mps=1.5), RouteEdge("e2", 3, "n2", "n3", False))
    cmd = MovementCommand("c1", "agv-1", "o1", 0, nodes, edges)
    try:
        core._send(cmd)
        core.localization._machines["agv-1"] = _Machine(quality="degraded")
        core._send(dataclasses.replace(cmd, command_id="c2"))
        ok, slow = link.take()
        assert [e.max_speed_mps for e in ok.edges] == [1.5, None]
        assert [e.max_speed_mps for e in slow.edges] == [0.3, 0.3] and slow.nodes == cmd.nodes
    finally:
        store.close()
