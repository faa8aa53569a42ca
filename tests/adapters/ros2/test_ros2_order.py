"""A WMS order carried out by ROS 2 robots over DDS (loopback, a private domain): the real
core and traffic on one side of the bus, the ROS 2 gateway, robots as their own processes."""

from __future__ import annotations

import time
from pathlib import Path

from adapters.bus import BusHub
from adapters.ros2 import Ros2Config, Ros2Gateway, Ros2Machine
from fleet.core import FleetCore, OrderRequest
from fleet.domain import OrderState, Vehicle, VehicleId
from fleet.domain.commands import ActionStatus, MachineState
from fleet.store import Store
from fleet.traffic import FleetTraffic
from maps.loader import load_site, resolve_site
from tests.adapters.conftest import wait_until
from tests.adapters.ros2.conftest import Proc


def test_ros2_robots_pick_and_drop_orders_and_the_core_marks_them_done(
        domain: int, inproc_name: str, tmp_path: Path) -> None:
    site = load_site(resolve_site("warehouse"))
    traffic = FleetTraffic(site)  # before the robots' clocks start: on a cold cache it compiles (~80 s)
    a, b = site.node_by_id["A0-2"], site.node_by_id["S1-6"]  # a few lanes from the inbound docks
    # agv-1 knows its start node and reports it; agv-2 does not: the gateway takes the nearest
    robots = [
        Proc(["-m", "sim.ros2_robot", "--domain", str(domain), "--namespace", "agv_1", "--speed", "10",
              "--start", str(a.x), str(a.y), "--start-node", "A0-2", "--action-s", "0.3",
              "--seconds", "90"]),
        Proc(["-m", "sim.ros2_robot", "--domain", str(domain), "--namespace", "agv_2", "--speed", "10",
              "--start", str(b.x + 0.2), str(b.y), "--action-s", "0.3", "--seconds", "90"]),
    ]
    hub = BusHub(inproc_name, heartbeat_s=0.1, resend_after_s=0.3)
    core = FleetCore(Store(f"sqlite:///{tmp_path}/core.db"), site,
                     machines=[Vehicle(id=VehicleId("agv-1")), Vehicle(id=VehicleId("agv-2"))],
                     traffic=traffic, link=hub)
    states: list[MachineState] = []
    hub.subscribe(lambda s: (states.append(s), core.on_state(s)))
    nodes = tuple((n.id, float(n.x), float(n.y)) for n in site.nodes)
    gw = Ros2Gateway(Ros2Config("gw-ros2", inproc_name, (Ros2Machine("agv-1", "agv_1"),
                                                          Ros2Machine("agv-2", "agv_2")),
                                backend="dds", domain_id=domain, nodes=nodes), heartbeat_s=0.1)
    try:
        hub.start()
        core.start()
        gw.start()
        # both join the plan on a node from their first state on
        assert wait_until(lambda: core.machine("agv-1").node == "A0-2"
                          and core.machine("agv-2").node == "S1-6", timeout_s=30), (
            [r.lines for r in robots], states[-2:])
        first = {s.machine_id: s for s in reversed(states)}
        assert first["agv-1"].last_node_id == "A0-2" and first["agv-2"].last_node_id == "S1-6"
        futs = [core.submit_order(OrderRequest("IN1", "OUT1", client_id="wms-1")),
                core.submit_order(OrderRequest("IN2", "OUT2", client_id="wms-2"))]
        orders = [f.result(timeout=10)[0] for f in futs]
        done = lambda: all(core.store.get_order(o.id).state == OrderState.DONE for o in orders)  # noqa: E731
        assert wait_until(done, timeout_s=75, step_s=0.2), (
            [core.store.get_order(o.id).state for o in orders], [r.lines[-5:] for r in robots])
        for o in orders:
            timeline = core.store.timeline(o.id)
            assert [row["state"] for row in timeline][-1] == "done"
            assert timeline[-1]["machine_id"] in ("agv-1", "agv-2")
        # the robots themselves confirmed each pick and drop, at the stations' nodes
        finished = {(a.action_type, s.last_node_id) for s in states for a in s.action_states
                    if a.status == ActionStatus.FINISHED}
        for src, dst in (("IN1", "OUT1"), ("IN2", "OUT2")):
            assert ("pick", site.station_by_id[src].node) in finished
            assert ("drop", site.station_by_id[dst].node) in finished
        for mid in ("agv-1", "agv-2"):
            m = core.machine(mid)
            assert m.load_id is None and m.leg_id is None
    finally:
        t0 = time.monotonic()
        gw.stop()
        core.stop()
        hub.stop()
        for r in robots:
            r.stop()
        assert time.monotonic() - t0 < 30
