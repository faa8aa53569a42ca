"""Simulated overhead cranes: bridge, trolley and hoist axes on a shared runway.

The bridge accelerates (`CraneSpec.bridge_accel_mps2`) up to its top speed and brakes
to stop on target; trolley and hoist run at their constant speeds. Moves of a
`CraneCommand` run one after another, each not before its `not_before_s`.

Cranes on one runway are physical bodies: after every step the bridges are checked
against their neighbours, and a crane driven into another stops at contact, fails its
command and reports `collision:<other>` until it receives a new command. It never
passes through.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from fleet.domain.commands import (
    ActionState,
    ActionStatus,
    ActionType,
    CraneCommand,
    CraneMove,
    CraneMoveKind,
    InstantAction,
    MachineState,
)
from maps.site import CraneBay, CraneSpec, Site

AXIS_EPS_M = 1e-4


@dataclass
class SimCrane:
    spec: CraneSpec
    bay: CraneBay
    bridge_m: float
    trolley_m: float
    hoist_m: float
    v_bridge: float = 0.0
    load_id: str | None = None
    order_id: str = ""
    queue: deque[tuple[CraneCommand, int]] = field(default_factory=deque)  # (command, next move)
    move_started_s: float | None = None
    timer_until: float | None = None  # pick/drop end
    actions: dict[str, ActionState] = field(default_factory=dict)
    errors: set[str] = field(default_factory=set)
    fault: bool = False
    estop: bool = False
    paused: bool = False
    hoist_stalled: bool = False
    busy_s: float = 0.0
    lifts: int = 0
    dirty: bool = True

    @property
    def current(self) -> tuple[CraneCommand, CraneMove, str] | None:
        if not self.queue:
            return None
        cmd, k = self.queue[0]
        return cmd, cmd.moves[k], f"{cmd.command_id}:{k}"

    @property
    def halted(self) -> bool:
        return self.fault or self.estop or self.paused or any(e.startswith("collision") for e in self.errors)

    def lo(self, at: float | None = None) -> float:
        return (self.bridge_m if at is None else at) - self.spec.width_m / 2

    def hi(self, at: float | None = None) -> float:
        return (self.bridge_m if at is None else at) + self.spec.width_m / 2


class CraneFleet:
    """Every crane of every bay of a site, stepped together so runways stay physical."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.cranes: dict[str, SimCrane] = {}
        self.by_bay: dict[str, list[SimCrane]] = {}
        for bay in site.crane_bays:
            lst = []
            for spec in bay.cranes:
                c = SimCrane(spec, bay, spec.home_m, bay.span_m / 2, bay.hook_height_m)
                self.cranes[spec.id] = c
                lst.append(c)
            self.by_bay[bay.id] = lst
        self.collisions: list[tuple[float, str, str]] = []  # (time, crane, other)
        self.seen_commands: set[str] = set()

    @property
    def ids(self) -> list[str]:
        return list(self.cranes)

    def place(self, where: dict[str, tuple[float, float, str | None]]) -> list[str]:
        """Stand cranes idle at runway positions with loads on their hooks (a resumed
        plant): crane id -> (bridge m, trolley m, load id). A bay whose new positions would
        put a bridge into its neighbour keeps its positions (loads still go on). Returns
        the bays kept."""
        kept = []
        for bay_id, row in self.by_bay.items():
            at = [where.get(c.spec.id, (c.bridge_m, c.trolley_m, c.load_id)) for c in row]
            bridge = [min(max(b, c.spec.width_m / 2), c.bay.runway_length_m - c.spec.width_m / 2) for c, (b, _, _) in zip(row, at, strict=True)]
            clear = all(bridge[k] + row[k].spec.width_m / 2 + row[k].bay.safety_gap_m <= bridge[k + 1] - row[k + 1].spec.width_m / 2
                        for k in range(len(row) - 1))
            if not clear:
                kept.append(bay_id)
            for c, b, (_, trolley, load) in zip(row, bridge, at, strict=True):
                if clear:
                    c.bridge_m = b
                    c.trolley_m = min(max(trolley, 0.0), c.bay.span_m)
                c.load_id = load
                c.dirty = True
        return kept

    def apply(self, cmd: CraneCommand, now: float) -> None:
        c = self.cranes[cmd.machine_id]
        if cmd.command_id in self.seen_commands:
            return
        self.seen_commands.add(cmd.command_id)
        if not cmd.moves:
            return
        c.errors = {e for e in c.errors if not e.startswith("collision")}  # a new command resets
        for k, m in enumerate(cmd.moves):
            c.actions[f"{cmd.command_id}:{k}"] = ActionState(f"{cmd.command_id}:{k}", m.kind.value,
                                                            ActionStatus.WAITING)
        c.queue.append((cmd, 0))
        c.dirty = True

    def apply_instant(self, cmd: InstantAction, now: float) -> None:
        c = self.cranes[cmd.machine_id]
        for a in cmd.actions:
            t = a.action_type
            status = ActionStatus.FINISHED
            if t == ActionType.START_PAUSE:
                c.paused = True
            elif t == ActionType.STOP_PAUSE:
                c.paused = False
            elif t == ActionType.EMERGENCY_STOP:
                c.estop, c.v_bridge = True, 0.0
                c.errors.add("emergencyStop")
            elif t == ActionType.RELEASE_EMERGENCY_STOP:
                c.estop = False
                c.errors.discard("emergencyStop")
            elif t == ActionType.CANCEL_ORDER:
                self._fail_queue(c, "cancelled")
            elif t != ActionType.STATE_REQUEST:
                status = ActionStatus.FAILED
            c.actions[a.action_id] = ActionState(a.action_id, t.value, status)
        c.dirty = True

    def _fail_queue(self, c: SimCrane, why: str) -> None:
        for cmd, k in c.queue:
            for j in range(k, len(cmd.moves)):
                aid = f"{cmd.command_id}:{j}"
                c.actions[aid] = ActionState(aid, cmd.moves[j].kind.value, ActionStatus.FAILED, why)
        c.queue.clear()
        c.timer_until = None
        c.v_bridge = 0.0
        c.dirty = True

    # --- time ------------------------------------------------------------------------

    def step(self, now: float, dt: float) -> None:
        t1 = now + dt
        for bay_id, cranes in self.by_bay.items():
            old = [c.bridge_m for c in cranes]
            for c in cranes:
                self._advance(c, now, t1, dt)
            self._resolve(self.site.bay_by_id[bay_id], cranes, old, t1)

    def _advance(self, c: SimCrane, now: float, t1: float, dt: float) -> None:
        cur = c.current
        if cur is None:
            c.v_bridge = 0.0
            return
        cmd, move, aid = cur
        if c.halted:
            c.v_bridge = 0.0 if not c.paused else max(c.v_bridge - c.spec.bridge_accel_mps2 * dt, 0.0)
            return
        if move.not_before_s is not None and t1 < move.not_before_s:
            return
        c.busy_s += dt
        c.order_id = cmd.order_id
        if c.actions.get(aid) is None or c.actions[aid].status == ActionStatus.WAITING:
            c.actions[aid] = ActionState(aid, move.kind.value, ActionStatus.RUNNING)
            c.dirty = True
        done = False
        if move.kind == CraneMoveKind.BRIDGE:
            done = self._bridge(c, move.target_m, dt)
        elif move.kind == CraneMoveKind.TROLLEY:
            target = _clamp(move.target_m, 0.0, c.bay.span_m, c.trolley_m)
            c.trolley_m, done = _toward(c.trolley_m, target, c.spec.trolley_speed_mps * dt)
        elif move.kind == CraneMoveKind.HOIST:
            if not c.hoist_stalled:
                target = _clamp(move.target_m, 0.0, c.bay.hook_height_m, c.hoist_m)
                c.hoist_m, done = _toward(c.hoist_m, target, c.spec.hoist_speed_mps * dt)
        else:  # pick or drop: the hook works for pick_s / drop_s
            if c.hoist_stalled:
                if c.timer_until is not None:
                    c.timer_until += dt
            elif c.timer_until is None:
                c.timer_until = now + (c.spec.pick_s if move.kind == CraneMoveKind.PICK else c.spec.drop_s)
            if c.timer_until is not None and c.timer_until <= t1 and not c.hoist_stalled:
                c.timer_until = None
                done = True
                c.lifts += 1
                c.load_id = (move.load_id or cmd.order_id) if move.kind == CraneMoveKind.PICK else None
        if done:
            c.actions[aid] = ActionState(aid, move.kind.value, ActionStatus.FINISHED)
            c.dirty = True
            k = c.queue[0][1] + 1
            if k >= len(cmd.moves):
                c.queue.popleft()
            else:
                c.queue[0] = (cmd, k)

    def _bridge(self, c: SimCrane, target: float | None, dt: float) -> bool:
        half = c.spec.width_m / 2
        goal = _clamp(target, half, c.bay.runway_length_m - half, c.bridge_m)
        dist = goal - c.bridge_m
        if abs(dist) <= AXIS_EPS_M:
            c.bridge_m, c.v_bridge = goal, 0.0
            return True
        a = c.spec.bridge_accel_mps2
        vlim = min(c.spec.bridge_speed_mps, math.sqrt(2 * a * abs(dist)))
        c.v_bridge = min(abs(c.v_bridge) + a * dt, vlim)
        step = c.v_bridge * dt
        if step >= abs(dist):
            c.bridge_m, c.v_bridge = goal, 0.0
            return True
        c.bridge_m += math.copysign(step, dist)
        c.v_bridge = math.copysign(c.v_bridge, dist)
        return False

    def _resolve(self, bay: CraneBay, cranes: list[SimCrane], old: list[float], t1: float) -> None:
        """Stop bridges at contact with their neighbours; the movers report the collision."""
        for _ in range(len(cranes)):
            clean = True
            for j in range(len(cranes) - 1):
                a, b = cranes[j], cranes[j + 1]
                overlap = a.hi() - b.lo()
                if overlap <= 1e-9:
                    continue
                clean = False
                a_moved = a.bridge_m - old[j] > 1e-12
                b_moved = old[j + 1] - b.bridge_m > 1e-12
                if a_moved and b_moved:
                    a.bridge_m -= overlap / 2
                    b.bridge_m += overlap / 2
                elif b_moved:
                    b.bridge_m += overlap
                else:
                    a.bridge_m -= overlap
                for mover, other, moved in ((a, b, a_moved or not b_moved), (b, a, b_moved)):
                    if moved:
                        self._collide(mover, other, t1)
            if clean:
                break

    def _collide(self, c: SimCrane, other: SimCrane, t1: float) -> None:
        c.v_bridge = 0.0
        tag = f"collision:{other.spec.id}"
        if tag not in c.errors:
            c.errors.add(tag)
            self.collisions.append((t1, c.spec.id, other.spec.id))
            self._fail_queue(c, tag)

    # --- faults ----------------------------------------------------------------------

    def set_fault(self, crane_id: str, on: bool) -> None:
        c = self.cranes[crane_id]
        c.fault = on
        (c.errors.add if on else c.errors.discard)("breakdown")
        c.dirty = True

    def set_estop(self, crane_id: str, on: bool) -> None:
        c = self.cranes[crane_id]
        c.estop = on
        (c.errors.add if on else c.errors.discard)("emergencyStop")
        c.dirty = True

    def set_hoist_stall(self, crane_id: str, on: bool) -> None:
        c = self.cranes[crane_id]
        c.hoist_stalled = on
        (c.errors.add if on else c.errors.discard)("hoistStall")
        c.dirty = True

    # --- reporting -------------------------------------------------------------------

    def state(self, crane_id: str, now: float, received_s: float | None = None) -> MachineState:
        c = self.cranes[crane_id]
        x, y = c.bay.to_site(c.bridge_m, c.trolley_m)
        mode = "estopped" if c.estop else "fault" if (c.fault or c.hoist_stalled) else "paused" if c.paused else "auto"
        return MachineState(
            machine_id=crane_id,
            stamp_s=now,
            order_id=c.order_id,
            driving=abs(c.v_bridge) > 0 or (c.current is not None and not c.halted),
            paused=c.paused,
            x=x,
            y=y,
            load_id=c.load_id,
            mode=mode,
            errors=tuple(sorted(c.errors)),
            action_states=tuple(c.actions.values()),
            bridge_m=c.bridge_m,
            trolley_m=c.trolley_m,
            hoist_m=c.hoist_m,
            received_s=received_s,
        )

    def prune_actions(self, keep: int = 64) -> None:
        """Forget the oldest finished move states so reports stay short."""
        for c in self.cranes.values():
            if len(c.actions) > keep:
                items = list(c.actions.items())
                c.actions = dict(items[-keep:])


def _toward(pos: float, target: float, step: float) -> tuple[float, bool]:
    d = target - pos
    if abs(d) <= step + AXIS_EPS_M:
        return target, True
    return pos + math.copysign(step, d), False


def _clamp(value: float | None, lo: float, hi: float, default: float) -> float:
    if value is None or not math.isfinite(value):
        return default
    return min(max(value, lo), hi)
