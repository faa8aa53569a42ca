"""The ROS 2 gateway: the vehicle bus on one side, ROS 2 robots and cranes on the other.

`fleet gateway --adapter ros2 --config FILE` (example: adapters/examples/ros2.yaml).
One namespace per machine (`/<ns>/odom`, `/<ns>/fleet_path`, ...); topic names and
message types in adapters/ros2/mapping.py. Cranes go through `CraneSequencer`, so a
move is released only when the schedule and the handoff allow and the previous
move is confirmed from the crane's own `joint_states`.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import zmq

from adapters.bus import CommandRefused, Gateway
from adapters.crane import CraneSequencer
from adapters.ros2 import mapping
from adapters.ros2 import messages as m
from adapters.ros2.transport import Ros2Transport, open_transport
from fleet.domain.commands import (
    ActionType,
    Command,
    CraneCommand,
    InstantAction,
    MachineState,
    MovementCommand,
    RouteNode,
)

STATE_MIN_PERIOD_S = 0.1


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
                       str(ros.get("frame_id", "map")), float(data.get("node_tolerance_m", 0.3)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"ROS 2 gateway config: missing or bad {exc}") from None


@dataclass
class _Live:
    spec: Ros2Machine
    publish: dict[str, Any]
    state: MachineState
    base: tuple[RouteNode, ...] = ()
    have_amcl: bool = False
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
        self._stop_ticks = threading.Event()
        self._ticker: threading.Thread | None = None

    @property
    def transport(self) -> Ros2Transport:
        assert self._transport is not None
        return self._transport

    def on_start(self) -> None:
        if self._transport is None:
            self._transport = open_transport(self.config.backend, self.config.domain_id)
        t = self._transport
        for spec in self.config.machines:
            ns = spec.namespace
            pubs: dict[str, Any] = {"command": t.publisher(ns, "fleet_command", m.String)}
            live = _Live(spec, pubs, MachineState(spec.machine_id, 0.0))
            if spec.kind == "amr":
                pubs["path"] = t.publisher(ns, "fleet_path", m.Path)
                pubs["goal"] = t.publisher(ns, "goal_pose", m.PoseStamped)
                t.subscribe(ns, "odom", m.Odometry, lambda msg, lv=live: self._on_odom(lv, msg))
                t.subscribe(ns, "amcl_pose", m.PoseWithCovarianceStamped,
                            lambda msg, lv=live: self._on_amcl(lv, msg))
                t.subscribe(ns, "battery_state", m.BatteryState,
                            lambda msg, lv=live: self._on_battery(lv, msg))
            else:
                pubs["trajectory"] = t.publisher(ns, "joint_trajectory", m.JointTrajectory)
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
        with self._lock:
            if isinstance(cmd, MovementCommand):
                if live.spec.kind != "amr":
                    raise CommandRefused(f"{cmd.machine_id} is a crane: no movement orders")
                live.base = tuple(n for n in sorted(cmd.nodes, key=lambda n: n.sequence_id)
                                  if n.released)
                live.state = dataclasses.replace(
                    live.state, order_id=cmd.order_id, order_update_id=cmd.order_update_id,
                    remaining_node_ids=tuple(n.node_id for n in live.base))
                path = mapping.base_path(cmd, self.config.frame_id, now)
                live.publish["path"](path)
                if path.poses:
                    live.publish["goal"](path.poses[-1])
            elif isinstance(cmd, InstantAction):
                for a in cmd.actions:
                    if a.action_type is ActionType.EMERGENCY_STOP:
                        live.estopped = True
                    elif a.action_type is ActionType.RELEASE_EMERGENCY_STOP:
                        live.estopped = False
                    elif a.action_type is ActionType.CANCEL_ORDER:
                        live.base = ()
                        if live.sequencer is not None:
                            live.sequencer.cancel()
                    live.publish["command"](m.String(a.action_type.value))
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
            with self._lock:
                for live in self._live.values():
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

    def _reached(self, live: _Live, x: float, y: float) -> None:
        tol = self.config.node_tolerance_m
        for i, node in enumerate(live.base):
            if math.hypot(node.x - x, node.y - y) <= tol:
                live.state = dataclasses.replace(
                    live.state, last_node_id=node.node_id, last_node_sequence_id=node.sequence_id,
                    remaining_node_ids=tuple(n.node_id for n in live.base[i + 1:]))
                live.base = live.base[i:]
                return

    def _emit(self, live: _Live, stamp_s: float, force: bool = False) -> None:
        mode = "estopped" if live.estopped else "auto"
        live.state = dataclasses.replace(live.state, stamp_s=max(stamp_s, live.state.stamp_s),
                                         mode=mode)
        now = time.time()
        if force or now - live.last_sent_s >= STATE_MIN_PERIOD_S:
            live.last_sent_s = now
            self.publish_state(live.state)

    def _on_odom(self, live: _Live, msg: m.Odometry) -> None:
        with self._lock:
            p = msg.pose.pose
            speed = math.hypot(msg.twist.twist.linear.x, msg.twist.twist.linear.y)
            kw: dict[str, Any] = {"driving": speed > 0.01}
            if not live.have_amcl:
                kw.update(x=p.position.x, y=p.position.y, theta=mapping.yaw(p.orientation))
            live.state = dataclasses.replace(live.state, **kw)
            self._reached(live, live.state.x or 0.0, live.state.y or 0.0)
            self._emit(live, m.seconds(msg.header.stamp))

    def _on_amcl(self, live: _Live, msg: m.PoseWithCovarianceStamped) -> None:
        with self._lock:
            live.have_amcl = True
            p = msg.pose.pose
            live.state = dataclasses.replace(live.state, x=p.position.x, y=p.position.y,
                                             theta=mapping.yaw(p.orientation))
            self._reached(live, p.position.x, p.position.y)
            self._emit(live, m.seconds(msg.header.stamp))

    def _on_battery(self, live: _Live, msg: m.BatteryState) -> None:
        with self._lock:
            pct = msg.percentage if msg.percentage == msg.percentage else None  # NaN: unknown
            live.state = dataclasses.replace(
                live.state, battery=None if pct is None else max(0.0, min(1.0, float(pct))),
                charging=msg.power_supply_status == m.POWER_SUPPLY_STATUS_CHARGING)

    def _on_joints(self, live: _Live, msg: m.JointState) -> None:
        with self._lock:
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
