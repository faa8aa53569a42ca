"""One AMR's order as the ROS 2 gateway follows it: the nodes reached, where the robot
holds for a blocking action, the actions to hand over and what the robot reported.

ROS 2 navigation drives poses, not nodes, and knows no pick or drop. So the gateway
sends the path only up to the next node with a blocking (SOFT/HARD) action, hands the
action over once the robot stands there, and sends the rest when the robot reports it
FINISHED: VDA 5050's node and action semantics on a robot that has neither. Pure
logic over the core's commands (no DDS); the gateway calls it under its lock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fleet.domain.commands import (
    Action,
    ActionState,
    ActionStatus,
    BlockingType,
    MovementCommand,
    RouteNode,
)

TERMINAL = (ActionStatus.FINISHED, ActionStatus.FAILED)
KEEP_STATES = 32  # action states reported per machine (oldest finished ones dropped)


@dataclass
class Pending:
    """A node action not yet FINISHED or FAILED."""

    action: Action
    sequence_id: int  # of its node
    node_id: str
    issued_s: float | None = None  # when it went to the robot


class Route:
    def __init__(self) -> None:
        self.order_id = ""
        self.update_id = 0
        self.nodes: list[RouteNode] = []  # the released base, in sequence
        self.at = -1  # index of the last node reached in `nodes` (-1: none yet)
        self.pending: dict[str, Pending] = {}
        self.states: dict[str, ActionState] = {}  # node and instant actions, oldest first

    # --- what the core sends
    def load(self, cmd: MovementCommand) -> bool:
        """Take a new order or a stitched update; False (and no change) for a stale one."""
        released = sorted((n for n in cmd.nodes if n.released), key=lambda n: n.sequence_id)
        if not released:
            return False
        if cmd.order_id == self.order_id and self.nodes:
            if cmd.order_update_id <= self.update_id:
                return False
            first = released[0].sequence_id
            self.nodes = [n for n in self.nodes if n.sequence_id < first] + released
        else:
            for p in list(self.pending.values()):
                self._fail(p.action, f"order {self.order_id!r} replaced by {cmd.order_id!r}")
            self.nodes, self.at = released, -1
        self.order_id, self.update_id = cmd.order_id, cmd.order_update_id
        for n in released:
            for a in n.actions:
                if a.action_id not in self.states:
                    self.states[a.action_id] = ActionState(a.action_id, a.action_type.value,
                                                           ActionStatus.WAITING)
                    self.pending[a.action_id] = Pending(a, n.sequence_id, n.node_id)
        self._trim()
        return True

    def instant(self, action: Action) -> None:
        self.states.setdefault(action.action_id, ActionState(
            action.action_id, action.action_type.value, ActionStatus.WAITING))
        self._trim()

    def cancel(self, driving: bool) -> None:
        """cancelOrder: the robot stops at the node it is driving to (or where it is);
        node actions it was not given yet fail as cancelled."""
        if self.nodes:
            stop = max(0, self.at + (1 if driving else 0))
            self.nodes = self.nodes[: stop + 1]
        for p in list(self.pending.values()):
            if p.issued_s is None:
                self._fail(p.action, "cancelled")

    # --- what the robot does
    def reach(self, x: float, y: float, tolerance_m: float) -> bool:
        """Count the next node (up to the hold) within `tolerance_m` of (x, y) as reached;
        nodes may be skipped between two poses, but not while the robot still stands on
        the last one (a path that comes back there is not done yet)."""
        end = self.hold()
        if self.at >= 0 and math.hypot(self.nodes[self.at].x - x,
                                       self.nodes[self.at].y - y) <= tolerance_m:
            end = min(end, self.at + 1)
        for i in range(self.at + 1, end + 1):
            n = self.nodes[i]
            if math.hypot(n.x - x, n.y - y) <= tolerance_m:
                self.at = i
                return True
        return False

    def due(self, stopped: bool, now_s: float) -> list[Pending]:
        """Actions of the nodes reached, not yet handed to the robot (a blocking one only
        once it stands still); marks them handed over."""
        if self.at < 0:
            return []
        seq = self.nodes[self.at].sequence_id
        out = []
        for p in self.pending.values():
            if p.issued_s is None and p.sequence_id <= seq \
                    and (stopped or p.action.blocking is BlockingType.NONE):
                p.issued_s = now_s
                out.append(p)
        return out

    def report(self, states: list[ActionState]) -> bool:
        """The robot's action states; True when one changed. A finished or failed action
        stays so (a late or repeated report does not bring it back)."""
        changed = False
        for st in states:
            old = self.states.get(st.action_id)
            if old == st or (old is not None and old.status in TERMINAL) \
                    or (old is None and st.status in TERMINAL):  # long done (or never ours)
                continue
            self.states[st.action_id] = st
            changed = True
            if st.status in TERMINAL:
                self.pending.pop(st.action_id, None)
        self._trim()
        return changed

    def overdue(self, now_s: float, timeout_s: float) -> bool:
        """Fail actions the robot never acknowledged within `timeout_s` of being handed
        over (a robot without fleet5g_msgs), so the core sees a failure, not a hang."""
        late = [p for p in self.pending.values() if p.issued_s is not None
                and now_s - p.issued_s > timeout_s
                and self.states[p.action.action_id].status is ActionStatus.WAITING]
        for p in late:
            self._fail(p.action, f"robot did not answer on fleet_state within {timeout_s:g} s")
        return bool(late)

    # --- what the gateway sends and reports
    def hold(self) -> int:
        """Index of the last node the robot may drive to now: the first node (from the
        one reached) with a blocking action still to do, else the end of the base."""
        blocked = {p.sequence_id for p in self.pending.values()
                   if p.action.blocking is not BlockingType.NONE}
        for i in range(max(self.at, 0), len(self.nodes)):
            if self.nodes[i].sequence_id in blocked:
                return i
        return len(self.nodes) - 1

    def path(self) -> list[RouteNode]:
        """The nodes still to drive, up to the hold."""
        return self.nodes[self.at + 1: self.hold() + 1]

    @property
    def last(self) -> RouteNode | None:
        return self.nodes[self.at] if self.at >= 0 else None

    def remaining_ids(self) -> tuple[str, ...]:
        return tuple(n.node_id for n in self.nodes[self.at + 1:])

    def action_states(self) -> tuple[ActionState, ...]:
        return tuple(self.states.values())

    def _fail(self, action: Action, why: str) -> None:
        self.states[action.action_id] = ActionState(action.action_id, action.action_type.value,
                                                    ActionStatus.FAILED, why)
        self.pending.pop(action.action_id, None)

    def _trim(self) -> None:
        extra = len(self.states) - KEEP_STATES
        if extra <= 0:
            return
        for key in [k for k, s in self.states.items() if s.status in TERMINAL][:extra]:
            del self.states[key]
