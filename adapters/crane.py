"""Crane moves released one at a time, when the runway schedule and the handoff allow.

A `CraneCommand` is a list of timed moves (bridge, trolley, hoist, pick, drop). The
`CraneSequencer` of one crane releases move i only when
- move i-1 is confirmed from the crane's own state (an axis within `tolerance_m` of
  its target; a pick when the crane reports the load on its hook; a drop when it
  reports none), and
- the runway schedule's release time `not_before_s` has come (the CP-SAT schedule
  keeps the cranes of a bay apart; a move early could close the safety gap), and
- `handoff_clear(move)` says the handoff station is ready (an AGV is under the hook
  for a drop onto it, or has left for a pick from it), when such a check is given.
A pick that reports another load is `failed` (the core re-plans); nothing more of
that command is released. Commands queue: the next starts when the current one is
done or failed. Each move k is reported as the action state `f"{command_id}:{k}"`
(WAITING, RUNNING, FINISHED, FAILED), as fleet.domain.commands.CraneCommand says.

Pure logic over `MachineState`s and a time: no I/O, so the simulator, the ROS 2
gateway and tests use the same rules. Not thread-safe: one owner calls it.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass

from fleet.domain.commands import (
    ActionState,
    ActionStatus,
    CraneCommand,
    CraneMove,
    CraneMoveKind,
    MachineState,
)

AXES = (CraneMoveKind.BRIDGE, CraneMoveKind.TROLLEY, CraneMoveKind.HOIST)


def axis_value(state: MachineState, kind: CraneMoveKind) -> float | None:
    return {CraneMoveKind.BRIDGE: state.bridge_m, CraneMoveKind.TROLLEY: state.trolley_m,
            CraneMoveKind.HOIST: state.hoist_m}.get(kind)


@dataclass
class CraneSequencer:
    machine_id: str
    tolerance_m: float = 0.05
    handoff_clear: Callable[[CraneMove], bool] | None = None

    def __post_init__(self) -> None:
        self.command: CraneCommand | None = None
        self.index = 0
        self.released = False
        self.failed: str | None = None
        self.confirmed: list[CraneMove] = []
        self.queue: collections.deque[CraneCommand] = collections.deque()
        self._reported: dict[str, ActionState] = {}  # action states of finished commands

    def load(self, cmd: CraneCommand) -> None:
        """Queue a command (checked now; it starts when the current one is over)."""
        if cmd.machine_id != self.machine_id:
            raise ValueError(f"crane command for {cmd.machine_id!r} given to {self.machine_id!r}")
        for i, move in enumerate(cmd.moves):
            if move.kind in AXES and move.target_m is None:
                raise ValueError(f"crane {self.machine_id}: move {i} ({move.kind}) has no target")
        self.queue.append(cmd)
        self._next_if_over()

    def cancel(self) -> None:
        """Drop the current and the queued commands (their unfinished moves: FAILED)."""
        if self.command is not None and not self.done:
            self.failed = self.failed or "cancelled"
            self._archive()
        self.queue.clear()
        self.command = None

    def _over(self) -> bool:
        return self.command is None or self.done or self.failed is not None

    def _next_if_over(self) -> None:
        if self._over() and self.queue:
            if self.command is not None:
                self._archive()
            self.command, self.index, self.released, self.failed = self.queue.popleft(), 0, False, None
            self.confirmed = []

    def _archive(self) -> None:
        for st in self.action_states():
            self._reported[st.action_id] = st
        while len(self._reported) > 64:
            self._reported.pop(next(iter(self._reported)))

    def action_states(self) -> tuple[ActionState, ...]:
        """Each move of the current command, and of recent ones, as `command_id:k`."""
        out = dict(self._reported)
        cmd = self.command
        if cmd is not None:
            for k, move in enumerate(cmd.moves):
                if k < self.index:
                    status = ActionStatus.FINISHED
                elif k == self.index and self.failed is not None:
                    status = ActionStatus.FAILED
                elif k == self.index and self.released:
                    status = ActionStatus.RUNNING
                elif self.failed is not None:
                    status = ActionStatus.FAILED
                else:
                    status = ActionStatus.WAITING
                aid = f"{cmd.command_id}:{k}"
                out[aid] = ActionState(aid, move.kind.value, status,
                                       self.failed if status is ActionStatus.FAILED else None)
        return tuple(out.values())

    @property
    def current(self) -> CraneMove | None:
        if self.command is None or self.index >= len(self.command.moves):
            return None
        return self.command.moves[self.index]

    @property
    def done(self) -> bool:
        return self.command is not None and self.current is None and self.failed is None

    def step(self, state: MachineState | None, now_s: float) -> CraneMove | None:
        """Confirm what the state shows, then return the move to release now, if any."""
        self._next_if_over()
        if self.failed is not None:
            return None
        move = self.current
        if move is not None and self.released and state is not None and self._confirmed(move, state):
            self.confirmed.append(move)
            self.index += 1
            self.released = False
            self._next_if_over()
            move = self.current
        if move is None or self.released or self.failed is not None:
            return None
        if move.not_before_s is not None and now_s < move.not_before_s:
            return None
        if self.handoff_clear is not None and not self.handoff_clear(move):
            return None
        self.released = True
        return move

    def _confirmed(self, move: CraneMove, state: MachineState) -> bool:
        if move.kind in AXES:
            value = axis_value(state, move.kind)
            return value is not None and move.target_m is not None and \
                abs(value - move.target_m) <= self.tolerance_m
        if move.kind is CraneMoveKind.PICK:
            if state.load_id is None:
                return False
            if move.load_id is not None and state.load_id != move.load_id:
                self.failed = f"picked {state.load_id!r}, expected {move.load_id!r}"
                return False
            return True
        if move.kind is CraneMoveKind.DROP:
            return state.load_id is None
        return False
