"""The ROS 2 gateway: the vehicle bus on one side, ROS 2 robots and cranes on the other.

`fleet gateway --adapter ros2 --config FILE` (example: adapters/examples/ros2.yaml).
One namespace per machine (`/<ns>/odom`, `/<ns>/fleet_path`, ...); topic names and
message types in adapters/ros2/mapping.py. An AMR's order goes through `Route`: the
path only up to the next blocking action's node, the action handed over there as a
`fleet5g_msgs/ActionRequest`, the rest once the robot reports it done in its
`fleet5g_msgs/RobotState`. The last node is known from the start: the one the robot
reports, else the site node nearest its pose (`nodes` in the config). Cranes go
through `CraneSequencer`, so a move is released only when the schedule and the
handoff allow and the previous move is confirmed from the crane's own `joint_states`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import zmq

from adapters.bus import CommandRefused, Gateway
from adapters.crane import CraneSequencer
from adapters.ros2 import mapping
from adapters.ros2 import messages as m
from adapters.ros2.route import Route
from adapters.ros2.transport import Ros2Transport, open_transport
from fleet.domain.commands import (
    ActionType,
    Command,
    CraneCommand,
    InstantAction,
    MachineState,
    MovementCommand,
)
from fleet.errors import FleetError

STATE_MIN_PERIOD_S = 0.1
JOIN_GRACE_S = 2.0  # an AMR's state waits this long for its node before going out without


@dataclass(frozen=True)
class Ros2Machine:
    machine_id: str
    namespace: str
    kind: str = "amr"  # amr | crane
    speeds_mps: tuple[float, float, float] = (0.5, 0.3, 0.2)  # crane bridge, trolley, hoist


@dataclass(frozen=True)
class Ros2Config:
    gateway_id: str
    bus: str
    machines: tuple[Ros2Machine, ...]
    backend: str = "auto"
    domain_id: int = 0
    frame_id: str = "map"
    node_tolerance_m: float = 0.3
    extra: dict[str, Any] = field(default_factory=dict)
    # the site's nodes (id, x, y): a robot that reports no node joins at the nearest one
    nodes: tuple[tuple[str, float, float], ...] = ()
    join_tolerance_m: float = 1.0
    action_timeout_s: float = 30.0  # a handed-over action the robot never acknowledges fails

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ros2Config:
        try:
            ros = data.get("ros2", {}) or {}
            machines = tuple(
                Ros2Machine(str(x["machine_id"]), str(x.get("namespace", x["machine_id"])),
                            str(x.get("kind", "amr")),
                            tuple(float(s) for s in x.get("speeds_mps", (0.5, 0.3, 0.2))))  # type: ignore[arg-type]
                for x in data["machines"]
            )
            for x in machines:
                if x.kind not in ("amr", "crane"):
                    raise ValueError(f"kind {x.kind!r} of {x.machine_id} (amr or crane)")
            return cls(str(data.get("gateway_id", "gw-ros2")), str(data["bus"]), machines,
                       str(ros.get("backend", "auto")), int(ros.get("domain_id", 0)),
                       str(ros.get("frame_id", "map")), float(data.get("node_tolerance_m", 0.3)),
                       nodes=_site_nodes(data.get("site")),
                       join_tolerance_m=float(data.get("join_tolerance_m", 1.0)),
                       action_timeout_s=float(data.get("action_timeout_s", 30.0)))
        except (KeyError, TypeError, ValueError, FleetError) as exc:
            raise ValueError(f"ROS 2 gateway config: missing or bad {exc}") from None


def _site_nodes(site: Any) -> tuple[tuple[str, float, float], ...]:
    """The nodes of `site` (a bundled site name or a site file), or () without one."""
    if not site:
        return ()
    from maps.loader import load_site, resolve_site

    return tuple((n.id, float(n.x), float(n.y)) for n in load_site(resolve_site(str(site))).nodes)


@dataclass
class _Live:
    spec: Ros2Machine
    publish: dict[str, Any]
    state: MachineState
    route: Route = field(default_factory=Route)
    sent_path: tuple[Any, ...] = ()
    have_amcl: bool = False
    first_seen_s: float = 0.0
    last_sent_s: float = 0.0
    estopped: bool = False
    sequencer: CraneSequencer | None = None
    pending_load: str | None = None


class Ros2Gateway(Gateway):
    def __init__(self, config: Ros2Config, *, context: zmq.Context | None = None,
                 heartbeat_s: float = 0.5, transport: Ros2Transport | None = None) -> None:
        super().__init__(config.gateway_id, [x.machine_id for x in config.machines], config.bus,
                         context=context, heartbeat_s=heartbeat_s)
        self.config = config
        self._transport = transport
        self._live: dict[str, _Live] = {}
        self._lock = threading.RLock()
        self._outbox: list[tuple[Any, Any]] = []  # (writer, message), filled under _lock
        self._send_lock = threading.Lock()  # keeps the outbox's order across threads
        self._stop_ticks = threading.Event()
        self._ticker: threading.Thread | None = None

    @property
    def transport(self) -> Ros2Transport:
        assert self._transport is not None
        return self._transport

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """The state lock; what was published meanwhile goes out once it is released."""
        try:
            with self._lock:
                yield
        finally:
            self._flush()

    def _flush(self) -> None:
        """Write the queued messages outside the state lock: DDS may deliver a write to a
        reader in this process at once, on this thread (a robot simulated next door), and
        whatever that reader's owner holds must not wait for our lock (nor we for its)."""
        with self._send_lock:
            with self._lock:
                out, self._outbox = self._outbox, []
            for write, msg in out:
                write(msg)

    def _queued(self, write: Any) -> Any:
        return lambda msg: self._outbox.append((write, msg))

    def on_start(self) -> None:
        if self._transport is None:
            self._transport = open_transport(self.config.backend, self.config.domain_id)
        t, q = self._transport, self._queued
        for spec in self.config.machines:
            ns = spec.namespace
            pubs: dict[str, Any] = {"command": q(t.publisher(ns, "fleet_command", m.String))}
            live = _Live(spec, pubs, MachineState(spec.machine_id, 0.0))
            if spec.kind == "amr":
                pubs["path"] = q(t.publisher(ns, "fleet_path", m.Path))
                pubs["goal"] = q(t.publisher(ns, "goal_pose", m.PoseStamped))
                pubs["action"] = q(t.publisher(ns, "fleet_action", m.ActionRequest))
                t.subscribe(ns, "fleet_state", m.RobotState,
                            lambda msg, lv=live: self._on_robot_state(lv, msg))
                t.subscribe(ns, "odom", m.Odometry, lambda msg, lv=live: self._on_odom(lv, msg))
                t.subscribe(ns, "amcl_pose", m.PoseWithCovarianceStamped,
                            lambda msg, lv=live: self._on_amcl(lv, msg))
                t.subscribe(ns, "battery_state", m.BatteryState,
                            lambda msg, lv=live: self._on_battery(lv, msg))
            else:
                pubs["trajectory"] = q(t.publisher(ns, "joint_trajectory", m.JointTrajectory))
                live.sequencer = CraneSequencer(spec.machine_id)
                t.subscribe(ns, "joint_states", m.JointState,
                            lambda msg, lv=live: self._on_joints(lv, msg))
            self._live[spec.machine_id] = live
        self._stop_ticks.clear()
        self._ticker = threading.Thread(target=self._tick, daemon=True, name="ros2-cranes")
        self._ticker.start()

    def on_stop(self) -> None:
        self._stop_ticks.set()
        if self._ticker:
            self._ticker.join(2)
        if self._transport is not None:
            self._transport.close()

    # --- commands ------------------------------------------------------------------

    def on_command(self, cmd: Command) -> None:
        live = self._live.get(cmd.machine_id)
        if live is None:
            raise CommandRefused(f"{cmd.machine_id} is not on this gateway")
        now = time.time()
        with self._locked():
            if isinstance(cmd, MovementCommand):
                if live.spec.kind != "amr":
                    raise CommandRefused(f"{cmd.machine_id} is a crane: no movement orders")
                new_order = cmd.order_id != live.route.order_id
                if not live.route.load(cmd):
                    return  # stale update or nothing released: nothing changes
                kw: dict[str, Any] = {"order_id": cmd.order_id,
                                      "order_update_id": cmd.order_update_id}
                if new_order:
                    kw["last_node_sequence_id"] = 0  # of the new order, until a node is reached
                live.state = dataclasses.replace(live.state, **kw)
                self._follow(live, now)
                if live.state.stamp_s:
                    self._emit(live, live.state.stamp_s, force=True)
            elif isinstance(cmd, InstantAction):
                for a in cmd.actions:
                    if a.action_type is ActionType.EMERGENCY_STOP:
                        live.estopped = True
                    elif a.action_type is ActionType.RELEASE_EMERGENCY_STOP:
                        live.estopped = False
                    elif a.action_type is ActionType.CANCEL_ORDER:
                        live.route.cancel(live.state.driving)
                        if live.sequencer is not None:
                            live.sequencer.cancel()
                    live.publish["command"](m.String(a.action_type.value))
                    if "action" in live.publish:
                        live.route.instant(a)
                        live.publish["action"](mapping.action_request(a, "", now))
                if "action" in live.publish:
                    self._follow(live, now)
                if live.state.stamp_s:  # the new action states (and a stateRequest's answer)
                    self._emit(live, live.state.stamp_s, force=True)
            elif isinstance(cmd, CraneCommand):
                if live.sequencer is None:
                    raise CommandRefused(f"{cmd.machine_id} is not a crane")
                try:
                    live.sequencer.load(cmd)
                except ValueError as exc:
                    raise CommandRefused(str(exc)) from None
                live.state = dataclasses.replace(live.state, order_id=cmd.order_id)

    def _tick(self) -> None:
        while not self._stop_ticks.wait(0.05):
            now = time.time()
            with self._locked():
                for live in self._live.values():
                    if live.spec.kind == "amr":
                        if live.route.overdue(now, self.config.action_timeout_s):
                            self._follow(live, now)
                            self._emit(live, live.state.stamp_s, force=True)
                        continue
                    seq = live.sequencer
                    if seq is None or seq.command is None or live.estopped:
                        continue
                    move = seq.step(live.state if live.state.stamp_s else None, now)
                    if move is None:
                        continue
                    if move.kind.value in mapping.CRANE_JOINTS:
                        s = live.state
                        at = (s.bridge_m or 0.0, s.trolley_m or 0.0, s.hoist_m or 0.0)
                        live.publish["trajectory"](
                            mapping.crane_trajectory(move, at, live.spec.speeds_mps, now))
                    else:
                        if move.kind.value == "pick":
                            live.pending_load = move.load_id
                        live.publish["command"](m.String(mapping.crane_word(move)))

    # --- state ---------------------------------------------------------------------

    def _join_node(self, x: float, y: float) -> str:
        """The configured node nearest (x, y) within `join_tolerance_m`, else ""."""
        best, best_d = "", self.config.join_tolerance_m
        for node_id, nx, ny in self.config.nodes:
            d = math.hypot(nx - x, ny - y)
            if d <= best_d:
                best, best_d = node_id, d
        return best

    def _follow(self, live: _Live, now: float) -> None:
        """After any news: count nodes reached, hand over due actions, send the path on
        to the next hold, and put it all into the state the core sees."""
        r, s = live.route, live.state
        if s.x is not None and s.y is not None:
            r.reach(s.x, s.y, self.config.node_tolerance_m)
            if not s.last_node_id and r.last is None and self.config.nodes:
                s = dataclasses.replace(s, last_node_id=self._join_node(s.x, s.y))
        for p in r.due(not s.driving, now):
            live.publish["action"](mapping.action_request(p.action, p.node_id, now))
        path = r.path()
        key = (r.order_id, r.update_id, len(r.nodes), r.hold())
        if not path and r.last is not None:  # stay here (replaces any path the robot has)
            path = [r.last if r.last.theta is not None or s.theta is None
                    else dataclasses.replace(r.last, theta=s.theta)]
        if path and key != live.sent_path:
            msg = mapping.node_path(path, self.config.frame_id, now, before=r.last)
            live.publish["path"](msg)
            live.publish["goal"](msg.poses[-1])
        live.sent_path = key
        kw: dict[str, Any] = {"remaining_node_ids": r.remaining_ids(),
                              "action_states": r.action_states()}
        if r.last is not None:
            kw.update(last_node_id=r.last.node_id, last_node_sequence_id=r.last.sequence_id)
        live.state = dataclasses.replace(s, **kw)

    def _emit(self, live: _Live, stamp_s: float, force: bool = False) -> None:
        mode = "estopped" if live.estopped else "auto"
        live.state = dataclasses.replace(live.state, stamp_s=max(stamp_s, live.state.stamp_s),
                                         mode=mode)
        now = time.time()
        if live.spec.kind == "amr" and (not live.state.last_node_id or live.state.x is None):
            # the core plans a vehicle from the node of its first state: give the robot's
            # reports (fleet_state, a pose) a moment to arrive before sending one without
            live.first_seen_s = live.first_seen_s or now
            if now - live.first_seen_s < JOIN_GRACE_S:
                return
        if force or now - live.last_sent_s >= STATE_MIN_PERIOD_S:
            live.last_sent_s = now
            self.publish_state(live.state)

    def _on_odom(self, live: _Live, msg: m.Odometry) -> None:
        with self._locked():
            p = msg.pose.pose
            speed = math.hypot(msg.twist.twist.linear.x, msg.twist.twist.linear.y)
            kw: dict[str, Any] = {"driving": speed > 0.01}
            if not live.have_amcl:
                kw.update(x=p.position.x, y=p.position.y, theta=mapping.yaw(p.orientation))
            live.state = dataclasses.replace(live.state, **kw)
            self._follow(live, time.time())
            self._emit(live, m.seconds(msg.header.stamp))

    def _on_amcl(self, live: _Live, msg: m.PoseWithCovarianceStamped) -> None:
        with self._locked():
            live.have_amcl = True
            p = msg.pose.pose
            live.state = dataclasses.replace(live.state, x=p.position.x, y=p.position.y,
                                             theta=mapping.yaw(p.orientation))
            self._follow(live, time.time())
            self._emit(live, m.seconds(msg.header.stamp))

    def _on_battery(self, live: _Live, msg: m.BatteryState) -> None:
        with self._locked():
            pct = msg.percentage if msg.percentage == msg.percentage else None  # NaN: unknown
            live.state = dataclasses.replace(
                live.state, battery=None if pct is None else max(0.0, min(1.0, float(pct))),
                charging=msg.power_supply_status == m.POWER_SUPPLY_STATUS_CHARGING)

    def _on_robot_state(self, live: _Live, msg: m.RobotState) -> None:
        with self._locked():
            states = [st for st in (mapping.action_state(a) for a in msg.action_states) if st]
            changed = live.route.report(states)
            s = live.state
            kw: dict[str, Any] = {"load_id": msg.load_id or None, "paused": bool(msg.paused),
                                  "errors": tuple(str(e) for e in msg.errors)}
            if msg.last_node_id and not s.last_node_id:
                kw["last_node_id"] = msg.last_node_id  # where it was put (commissioning)
            changed = changed or any(getattr(s, k) != v for k, v in kw.items())
            live.state = dataclasses.replace(s, **kw)
            self._follow(live, time.time())
            self._emit(live, m.seconds(msg.header.stamp), force=changed)

    def _on_joints(self, live: _Live, msg: m.JointState) -> None:
        with self._locked():
            pos = dict(zip(msg.name, msg.position, strict=False))
            vel = dict(zip(msg.name, msg.velocity, strict=False))
            loaded = pos.get(mapping.HOOK_LOAD, 0.0) > 0.5
            load_id = (live.state.load_id or live.pending_load or "load") if loaded else None
            changed = load_id != live.state.load_id  # a pick or drop: tell the core at once
            live.state = dataclasses.replace(
                live.state, bridge_m=pos.get("bridge"), trolley_m=pos.get("trolley"),
                hoist_m=pos.get("hoist"), load_id=load_id,
                driving=any(abs(vel.get(j, 0.0)) > 1e-3 for j in mapping.CRANE_JOINTS),
                remaining_node_ids=(),
                action_states=live.sequencer.action_states() if live.sequencer else ())
            self._emit(live, m.seconds(msg.header.stamp), force=changed)
