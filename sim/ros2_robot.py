"""A simulated ROS 2 AMR or crane on pure DDS, speaking ROS 2's topics and types.

Runs in its own process for the two-process tests and demos:
    python -m sim.ros2_robot --domain 17 --namespace amr1 --kind amr
AMR: follows the poses of `fleet_path` at `--speed`, publishes `odom`, `amcl_pose`
and `battery_state` at `--rate` Hz; runs the `fleet_action` requests (pick, drop,
charging, pause, cancelOrder, e-stop) and reports them, its load and its start node
(`--start-node`) on `fleet_state`. Crane: moves its axes (bridge,
trolley, hoist) to the last point of each `joint_trajectory` at its axis speeds and
publishes `joint_states` (plus `hook_load`); "pick <load>" and "drop" take
`--action-s` seconds. Prints "ready" on stdout once its readers exist.
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from typing import Any

from adapters.ros2 import mapping
from adapters.ros2 import messages as m
from adapters.ros2.transport import DdsTransport

PARAM_LOAD = ("loadId", "load_id", "load", "orderId")  # where a pick names its load


class SimAmr:
    """A robot with the fleet5g_msgs profile: drives `fleet_path`, runs what comes on
    `fleet_action` in order (pick/drop take `action_s`, HARD ones stop it meanwhile) and
    reports them on `fleet_state`, with its start node until it first moves."""

    def __init__(self, transport: DdsTransport, ns: str, speed_mps: float = 2.0,
                 start: tuple[float, float] = (0.0, 0.0), *, start_node: str = "",
                 action_s: float = 0.2, state_period_s: float = 1.0) -> None:
        self.x, self.y = start
        self.theta = 0.0
        self.speed = speed_mps
        self.poses: list[tuple[float, float]] = []
        self.paused = False
        self.battery = 0.9
        self.charging = False
        self.node = start_node
        self.load_id = ""
        self.action_s = action_s
        self.state_period_s = state_period_s
        self.queue: list[m.ActionRequest] = []
        self.running: tuple[m.ActionRequest, float] | None = None
        self.states: dict[str, m.ActionState] = {}
        self._dirty = True
        self._state_sent = 0.0
        self.lock = threading.Lock()
        self.odom = transport.publisher(ns, "odom", m.Odometry)
        self.amcl = transport.publisher(ns, "amcl_pose", m.PoseWithCovarianceStamped)
        self.batt = transport.publisher(ns, "battery_state", m.BatteryState)
        self.robot_state = transport.publisher(ns, "fleet_state", m.RobotState)
        transport.subscribe(ns, "fleet_path", m.Path, self._on_path)
        transport.subscribe(ns, "fleet_action", m.ActionRequest, self._on_action)

    def _on_path(self, path: m.Path) -> None:
        with self.lock:
            self.poses = [(p.pose.position.x, p.pose.position.y) for p in path.poses]

    def _set(self, req: m.ActionRequest, status: str, result: str = "") -> None:
        self.states[req.action_id] = m.ActionState(req.action_id, req.action_type,
                                                   m.ACTION_STATUS.index(status), result)
        while len(self.states) > 16:
            del self.states[next(iter(self.states))]
        self._dirty = True

    def _on_action(self, req: m.ActionRequest) -> None:
        with self.lock:
            if req.node_id or req.action_type in ("pick", "drop"):
                self.queue.append(req)
                self._set(req, "WAITING")
                return
            t, status, result = req.action_type, "FINISHED", ""
            if t in ("startPause", "emergencyStop"):
                self.paused = True
            elif t in ("stopPause", "releaseEmergencyStop"):
                self.paused = False
            elif t == "cancelOrder":
                self.poses = self.poses[:1]  # stop at the next node
                for q in [*self.queue, *([self.running[0]] if self.running else [])]:
                    self._set(q, "FAILED", "cancelled")
                self.queue, self.running = [], None
            elif t in ("startCharging", "stopCharging"):
                self.charging = t == "startCharging"
            elif t not in ("stateRequest", "initPosition"):
                status, result = "FAILED", f"unknown action {t!r}"
            self._set(req, status, result)

    def _run_actions(self, now: float) -> None:
        if self.running is not None:
            req, until = self.running
            if now < until:
                return
            if req.action_type == "pick":
                params = {kv.key: kv.value for kv in req.parameters}
                self.load_id = next((params[k] for k in PARAM_LOAD if params.get(k)), "load")
            else:
                self.load_id = ""
            self.running = None
            self._set(req, "FINISHED")
        while self.queue and self.running is None and not self.paused:
            req = self.queue.pop(0)
            if req.action_type in ("pick", "drop"):
                self.running = (req, now + self.action_s)
                self._set(req, "RUNNING")
            elif req.action_type in ("startCharging", "stopCharging"):
                self.charging = req.action_type == "startCharging"
                self._set(req, "FINISHED")
            else:
                self._set(req, "FINISHED")

    def step(self, dt: float) -> None:
        # messages are written after the lock is released: a gateway in this process may
        # get them on this thread at once and answer (fleet_action) into our callbacks
        with self.lock:
            out = self._advance(dt)
        for write, msg in out:
            write(msg)

    def _advance(self, dt: float) -> list[tuple[Any, Any]]:
        self._run_actions(time.monotonic())
        if self.charging:
            self.battery = min(1.0, self.battery + dt * 0.01)
        moving = False
        while self.poses and not self.paused and self.running is None:
            tx, ty = self.poses[0]
            d = math.hypot(tx - self.x, ty - self.y)
            if d < 1e-6:
                self.poses.pop(0)
                continue
            step = min(d, self.speed * dt)
            self.theta = math.atan2(ty - self.y, tx - self.x)
            self.x += (tx - self.x) / d * step
            self.y += (ty - self.y) / d * step
            self.battery = max(0.0, self.battery - step * 1e-4)
            self.node = ""  # it no longer knows which node it is on
            moving = True
            break
        t = time.time()
        now = m.stamp(t)
        pose = m.Pose(m.Point(self.x, self.y, 0.0), mapping.quaternion(self.theta))
        v = self.speed if moving else 0.0
        twist = m.Twist(m.Vector3(v, 0.0, 0.0), m.Vector3())
        out: list[tuple[Any, Any]] = []
        if self._dirty or t - self._state_sent >= self.state_period_s:
            self._dirty, self._state_sent = False, t
            out.append((self.robot_state, m.RobotState(
                m.Header(now, "map"), self.node, self.load_id, self.paused, [],
                list(self.states.values()))))
        out += [
            (self.odom, m.Odometry(m.Header(now, "odom"), "base_link",
                                   m.PoseWithCovariance(pose), m.TwistWithCovariance(twist))),
            (self.amcl, m.PoseWithCovarianceStamped(m.Header(now, "map"),
                                                    m.PoseWithCovariance(pose))),
            (self.batt, m.BatteryState(m.Header(now, ""), voltage=48.0, percentage=self.battery,
                                       power_supply_status=1 if self.charging else 2))]
        return out


class SimCrane:
    def __init__(self, transport: DdsTransport, ns: str,
                 speeds_mps: tuple[float, float, float] = (2.0, 1.0, 1.0),
                 action_s: float = 0.2) -> None:
        self.axes = [0.0, 0.0, 5.0]
        self.targets = list(self.axes)
        self.speeds = speeds_mps
        self.loaded = False
        self.action: tuple[str, float] | None = None
        self.action_s = action_s
        self.halted = False
        self.lock = threading.Lock()
        self.joints = transport.publisher(ns, "joint_states", m.JointState)
        transport.subscribe(ns, "joint_trajectory", m.JointTrajectory, self._on_trajectory)
        transport.subscribe(ns, "fleet_command", m.String, self._on_command)

    def _on_trajectory(self, traj: m.JointTrajectory) -> None:
        if not traj.points:
            return
        last = traj.points[-1]
        with self.lock:
            for name, pos in zip(traj.joint_names, last.positions, strict=False):
                if name in mapping.CRANE_JOINTS:
                    self.targets[mapping.CRANE_JOINTS.index(name)] = pos

    def _on_command(self, msg: m.String) -> None:
        with self.lock:
            word = msg.data.split(" ", 1)[0]
            if word in ("pick", "drop"):
                self.action = (word, time.monotonic() + self.action_s)
            elif word in ("startPause", "emergencyStop", "cancelOrder"):
                self.halted = word != "cancelOrder"
                self.targets = list(self.axes)
            elif word in ("stopPause", "releaseEmergencyStop"):
                self.halted = False

    def step(self, dt: float) -> None:
        with self.lock:
            vel = [0.0, 0.0, 0.0]
            if not self.halted:
                for i in range(3):
                    d = self.targets[i] - self.axes[i]
                    step = max(-self.speeds[i] * dt, min(self.speeds[i] * dt, d))
                    self.axes[i] += step
                    vel[i] = step / dt if dt else 0.0
            if self.action and time.monotonic() >= self.action[1]:
                self.loaded = self.action[0] == "pick"
                self.action = None
            msg = m.JointState(
                m.Header(m.stamp(time.time()), "crane"),
                [*mapping.CRANE_JOINTS, mapping.HOOK_LOAD],
                [*self.axes, 1.0 if self.loaded else 0.0], [*vel, 0.0], [])
        self.joints(msg)  # outside the lock (see SimAmr.step)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domain", type=int, default=0)
    ap.add_argument("--namespace", required=True)
    ap.add_argument("--kind", choices=("amr", "crane"), default="amr")
    ap.add_argument("--speed", type=float, default=2.0)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--seconds", type=float, default=120.0, help="exit after this long")
    ap.add_argument("--start", type=float, nargs=2, default=(0.0, 0.0), metavar=("X", "Y"))
    ap.add_argument("--start-node", default="", help="the node it stands on at start")
    ap.add_argument("--action-s", type=float, default=0.2, help="how long a pick or drop takes")
    args = ap.parse_args(argv)
    transport = DdsTransport(args.domain)
    machine: SimAmr | SimCrane = (
        SimAmr(transport, args.namespace, args.speed, tuple(args.start), start_node=args.start_node,
               action_s=args.action_s) if args.kind == "amr"
        else SimCrane(transport, args.namespace, (args.speed, args.speed / 2, args.speed / 2),
                      action_s=args.action_s))
    print("ready", flush=True)
    dt = 1.0 / args.rate
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        machine.step(dt)
        time.sleep(dt)
    transport.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
