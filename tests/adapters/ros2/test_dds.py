"""ROS 2 over pure DDS for real, across processes, on loopback with a private domain."""

from __future__ import annotations

import time

from adapters.bus import BusHub
from adapters.ros2 import Ros2Config, Ros2Gateway, Ros2Machine, dds_topic
from fleet.domain.commands import (
    CraneCommand,
    CraneMove,
    CraneMoveKind,
    MachineState,
)
from tests.adapters.conftest import movement, wait_until
from tests.adapters.ros2.conftest import Proc


def test_ros2_names_follow_the_wire_conventions() -> None:
    from adapters.ros2 import messages as m

    assert dds_topic("amr1", "odom") == "rt/amr1/odom"
    assert dds_topic("", "odom") == "rt/odom"
    assert m.Path.__idl_typename__ == "nav_msgs::msg::dds_::Path_"
    assert m.BatteryState.__idl_typename__ == "sensor_msgs::msg::dds_::BatteryState_"
    assert m.JointTrajectory.__idl_typename__ == "trajectory_msgs::msg::dds_::JointTrajectory_"
    assert m.Odometry().serialize()[:2] == b"\x00\x01"  # XCDR1 little endian, as ROS 2 writes
    assert m.RobotState.__idl_typename__ == "fleet5g_msgs::msg::dds_::RobotState_"
    assert m.ActionRequest.__idl_typename__ == "fleet5g_msgs::msg::dds_::ActionRequest_"
    assert m.KeyValue.__idl_typename__ == "diagnostic_msgs::msg::dds_::KeyValue_"


def test_amr_and_crane_across_processes(domain: int, inproc_name: str) -> None:
    amr = Proc(["-m", "sim.ros2_robot", "--domain", str(domain), "--namespace", "amr1",
                "--kind", "amr", "--speed", "8", "--seconds", "60"])
    crane = Proc(["-m", "sim.ros2_robot", "--domain", str(domain), "--namespace", "crane1",
                  "--kind", "crane", "--speed", "6", "--seconds", "60"])
    listener = Proc(["tests/adapters/ros2/ros2_listener.py", str(domain), "amr1", "60"])
    hub = BusHub(inproc_name, heartbeat_s=0.1, resend_after_s=0.3)
    hub.start()
    cfg = Ros2Config("gw-ros2", inproc_name, (Ros2Machine("amr-1", "amr1", "amr"),
                                                Ros2Machine("crane-1", "crane1", "crane")),
                     backend="dds", domain_id=domain)
    gw = Ros2Gateway(cfg, heartbeat_s=0.1)
    states: dict[str, list[MachineState]] = {"amr-1": [], "crane-1": []}
    hub.subscribe(on_state=lambda s: states[s.machine_id].append(s))
    try:
        gw.start()
        assert gw.transport.backend == "dds"
        assert wait_until(lambda: all(states.values()) and "ready" in listener.lines,
                          timeout_s=30), (amr.lines, crane.lines, listener.lines)
        # AMR: the released base n0..n3 of a 6-node order; it stops at n3
        hub.send(movement("amr-1", order_id="r1", n=6, released=4, spacing_m=2.0))
        assert wait_until(lambda: states["amr-1"][-1].last_node_id == "n3"
                          and not states["amr-1"][-1].driving, timeout_s=45)
        last = states["amr-1"][-1]
        assert abs(last.x - 6.0) < 0.35 and last.order_id == "r1" and last.battery is not None
        # the independent ROS 2-style subscriber decoded the same path and goal
        assert wait_until(lambda: any(j["topic"] == "fleet_path" for j in listener.json_lines())
                          and any(j["topic"] == "goal_pose" for j in listener.json_lines()))
        path = next(j for j in listener.json_lines() if j["topic"] == "fleet_path")
        # the nodes still to drive: the robot stands on n0 already
        assert path["xy"] == [[2.0, 0.0], [4.0, 0.0], [6.0, 0.0]]
        assert path["frame"] == "map"
        goal = next(j for j in listener.json_lines() if j["topic"] == "goal_pose")
        assert goal["xy"] == [6.0, 0.0]
        # crane: moves are released one by one, the pick not before its schedule time
        t0 = time.time()
        K = CraneMoveKind
        hub.send(CraneCommand("cc1", "crane-1", "lift-1", (
            CraneMove(K.BRIDGE, 3.0), CraneMove(K.HOIST, 1.0),
            CraneMove(K.PICK, load_id="coil-1", not_before_s=t0 + 1.0),
            CraneMove(K.HOIST, 5.0), CraneMove(K.DROP))))
        assert wait_until(lambda: any(s.load_id == "coil-1" for s in states["crane-1"]),
                          timeout_s=20)
        picked = next(s for s in states["crane-1"] if s.load_id == "coil-1")
        assert picked.stamp_s >= t0 + 1.0  # not before the runway schedule allowed
        assert abs(picked.bridge_m - 3.0) < 0.06 and picked.hoist_m < 1.5  # lifted at the pick
        before = [s for s in states["crane-1"] if s.stamp_s < picked.stamp_s]
        assert any(abs(s.hoist_m - 1.0) < 0.06 for s in before)  # hook down before the pick
        assert wait_until(lambda: gw._live["crane-1"].sequencer.done, timeout_s=20)
        assert wait_until(lambda: states["crane-1"][-1].load_id is None)
        assert abs(states["crane-1"][-1].hoist_m - 5.0) < 0.06
        # each move is confirmed from the crane's own state, reported as `command_id:k`
        assert wait_until(lambda: {a.action_id: a.status.value
                                   for a in states["crane-1"][-1].action_states}
                          == {f"cc1:{k}": "FINISHED" for k in range(5)})
    finally:
        gw.stop()
        hub.stop()
        for p in (amr, crane, listener):
            p.stop()
