"""Node actions through the ROS 2 gateway over DDS, with the robots in the gateway's own
process (as in the demo, where a DDS write may be delivered on the writer's thread)."""

from __future__ import annotations

import threading

from adapters.bus import BusHub
from adapters.ros2 import Ros2Config, Ros2Gateway, Ros2Machine
from adapters.ros2 import messages as m
from adapters.ros2.transport import DdsTransport
from fleet.domain.commands import (
    Action,
    ActionStatus,
    ActionType,
    MachineState,
    MovementCommand,
    RouteEdge,
    RouteNode,
)
from sim.ros2_robot import SimAmr
from tests.adapters.conftest import wait_until


def order(machine_id: str, order_id: str, actions: dict[int, Action], n: int) -> MovementCommand:
    nodes = tuple(RouteNode(f"n{i}", 2 * i, 2.0 * i, 0.0, True,
                            actions=(actions[i],) if i in actions else ()) for i in range(n))
    edges = tuple(RouteEdge(f"e{i}", 2 * i + 1, f"n{i}", f"n{i + 1}", True) for i in range(n - 1))
    return MovementCommand(f"{order_id}/0", machine_id, order_id, 0, nodes, edges)


def statuses(states: list[MachineState]) -> dict[str, ActionStatus]:
    return {a.action_id: a.status for s in states[-1:] for a in s.action_states}


def test_pick_and_drop_run_at_their_nodes_and_a_silent_robot_fails_its_action(
        domain: int, inproc_name: str) -> None:
    robots = DdsTransport(domain)
    amr = SimAmr(robots, "amr1", 8.0, (0.0, 0.0), start_node="n0", action_s=0.2)
    odom = robots.publisher("amr2", "odom", m.Odometry)  # a robot without fleet5g_msgs
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(0.05):
            amr.step(0.05)
            odom(m.Odometry(m.Header(m.stamp(0.0), "odom")))

    hub = BusHub(inproc_name, heartbeat_s=0.1, resend_after_s=0.3)
    states: dict[str, list[MachineState]] = {"amr-1": [], "amr-2": []}
    hub.subscribe(on_state=lambda s: states[s.machine_id].append(s))
    gw = Ros2Gateway(Ros2Config("gw-ros2", inproc_name, (Ros2Machine("amr-1", "amr1"),
                                                          Ros2Machine("amr-2", "amr2")),
                                backend="dds", domain_id=domain, action_timeout_s=0.5),
                     heartbeat_s=0.1)
    thread = threading.Thread(target=run, daemon=True)
    try:
        hub.start()
        gw.start()
        thread.start()
        assert wait_until(lambda: all(states.values()), timeout_s=20)
        first = states["amr-1"][0]
        assert first.last_node_id == "n0" and first.x == 0.0  # the node: reported by the robot
        pick = Action("leg-pick", ActionType.PICK, params={"orderId": "coil-7"})
        drop = Action("leg-drop", ActionType.DROP)
        hub.send(order("amr-1", "o1", {1: pick, 3: drop}, 5))
        assert wait_until(lambda: statuses(states["amr-1"]).get("leg-drop") == ActionStatus.FINISHED,
                          timeout_s=20), states["amr-1"][-1]
        seen = states["amr-1"]
        picked = next(s for s in seen if any(a.action_id == "leg-pick" and a.status == ActionStatus.FINISHED
                                             for a in s.action_states))
        assert picked.last_node_id == "n1" and abs(picked.x - 2.0) < 0.05
        assert any(s.load_id == "coil-7" for s in seen)
        # it held at n1 until the pick was done, and went on to n3 (not n4) for the drop
        assert all(s.x < 2.05 for s in seen[:seen.index(picked)])
        last = seen[-1]
        assert last.last_node_id == "n3" and last.load_id is None and last.remaining_node_ids == ("n4",)
        # the drop done, the robot drives the rest of the base
        assert wait_until(lambda: states["amr-1"][-1].last_node_id == "n4", timeout_s=10)
        # a robot that never answers on fleet_state: the core is told the action failed
        hub.send(order("amr-2", "o2", {0: Action("p2", ActionType.PICK)}, 1))
        assert wait_until(lambda: statuses(states["amr-2"]).get("p2") == ActionStatus.FAILED, timeout_s=10)
        failed = next(a for a in states["amr-2"][-1].action_states if a.action_id == "p2")
        assert "fleet_state" in (failed.result or "")
    finally:
        stop.set()
        thread.join(2)
        gw.stop()
        hub.stop()
        robots.close()
