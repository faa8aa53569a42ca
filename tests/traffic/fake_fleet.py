"""A test double of AGVs that obey movement commands with random delays.

Each vehicle drives along released nodes only, one node per `1..max_delay` ticks,
runs node actions when it reaches them and reports a MachineState. It also checks
that every released node is stitched to the previous order properly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fleet.domain.commands import ActionState, ActionStatus, MachineState, MovementCommand


@dataclass
class FakeAgv:
    machine_id: str
    node: str
    order_id: str = ""
    seq: int = 0  # sequence id of the last reached node
    route: list = field(default_factory=list)  # RouteNodes released, not reached
    moving: int = 0  # ticks left to reach route[0]
    action_states: dict = field(default_factory=dict)
    load: str | None = None
    charging: bool = False

    def apply(self, cmd: MovementCommand) -> None:
        released = [n for n in cmd.nodes if n.released]
        if cmd.order_id != self.order_id:
            assert released[0].node_id == (self.route[-1].node_id if self.route else self.node), (cmd, self)
            self.order_id, self.seq = cmd.order_id, released[0].sequence_id
            self.route = []
            first = released[0]
            self._actions(first)
            released = released[1:]
        else:
            tail = self.route[-1] if self.route else None
            assert released[0].sequence_id == (tail.sequence_id if tail else self.seq), "stitching node mismatch"
            released = released[1:]
        self.route.extend(released)

    def _actions(self, node) -> None:
        for a in node.actions:
            self.action_states[a.action_id] = ActionState(a.action_id, a.action_type.value, ActionStatus.FINISHED)
            if a.action_type == "startCharging":
                self.charging = True
            if a.action_type == "stopCharging":
                self.charging = False

    def step(self, rng: np.random.Generator, max_delay: int) -> None:
        if not self.route:
            return
        if self.moving <= 0:
            self.moving = int(rng.integers(1, max_delay + 1))
        self.moving -= 1
        if self.moving == 0:
            n = self.route.pop(0)
            self.node, self.seq = n.node_id, n.sequence_id
            self._actions(n)

    def occupied(self) -> list[str]:
        return [self.node] + ([self.route[0].node_id] if self.route and self.moving > 0 else [])

    def state(self, t: float) -> MachineState:
        return MachineState(
            machine_id=self.machine_id, stamp_s=t, order_id=self.order_id, last_node_id=self.node,
            last_node_sequence_id=self.seq, driving=bool(self.route), charging=self.charging,
            action_states=tuple(self.action_states.values()), battery=0.9,
        )
