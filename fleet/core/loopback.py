"""A stand-in for traffic and machines: legs are driven point to point, no planning.

`LoopbackTraffic` is a `Traffic` that sends each assigned leg as one movement command
(pickup node, drop node, with pick and drop actions) and reads progress from the
action states machines report. `LoopbackMachines` is a `MachineLink` whose machines
carry out such commands after fixed delays and report back through `core.on_state`.
Together they close the loop for tests, the API benchmark and a core run without the
real planners or simulator; they know nothing about collisions.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from fleet.core.strategies import LegProgress, Stage
from fleet.domain import Leg
from fleet.domain.commands import (
    Action,
    ActionState,
    ActionStatus,
    ActionType,
    Command,
    InstantAction,
    MachineState,
    MovementCommand,
    RouteEdge,
    RouteNode,
)

if TYPE_CHECKING:
    from maps.site import Site


class LoopbackTraffic:
    """Traffic without planning: one command per leg, progress from action states."""

    def __init__(self, site: Site | None = None) -> None:
        self.site = site
        self._legs: dict[str, tuple[Leg, str]] = {}  # leg id -> (leg, machine)
        self._unsent: list[str] = []
        self._by_machine: dict[str, str] = {}
        self._seen: set[tuple[str, str]] = set()
        self._blocked: frozenset[str] = frozenset()

    def _xy(self, place: str) -> tuple[str, float, float]:
        if self.site is not None:
            st = self.site.station_by_id.get(place)
            node = self.site.node_by_id.get(st.node if st else place)
            if node is not None:
                return node.id, node.x, node.y
        return place, 0.0, 0.0

    def assign(self, leg: Leg, machine_id: str, now_s: float) -> None:
        self._legs[leg.id] = (leg, machine_id)
        self._by_machine[machine_id] = leg.id
        self._unsent.append(leg.id)

    def withdraw(self, leg_id: str, now_s: float) -> None:
        entry = self._legs.pop(leg_id, None)
        if entry and self._by_machine.get(entry[1]) == leg_id:
            del self._by_machine[entry[1]]

    def tick(self, now_s: float, budget_s: float) -> list[Command]:
        out: list[Command] = []
        for leg_id in self._unsent:
            if leg_id not in self._legs:
                continue
            leg, machine = self._legs[leg_id]
            (a, ax, ay), (b, bx, by) = self._xy(leg.source), self._xy(leg.destination)
            pick = Action(f"{leg_id}:pick", ActionType.PICK, params={"load": leg.order_id or ""})
            drop = Action(f"{leg_id}:drop", ActionType.DROP)
            out.append(MovementCommand(
                command_id=f"mv-{leg_id}", machine_id=machine, order_id=leg_id, order_update_id=0,
                nodes=(RouteNode(a, 0, ax, ay, True, actions=(pick,)), RouteNode(b, 2, bx, by, True, actions=(drop,))),
                edges=(RouteEdge(f"{a}-{b}", 1, a, b, True),), issued_s=now_s))
        self._unsent.clear()
        return out

    def on_state(self, state: MachineState) -> list[LegProgress]:
        out: list[LegProgress] = []
        for act in state.action_states:
            leg_id, _, what = act.action_id.rpartition(":")
            entry = self._legs.get(leg_id)
            if entry is None or entry[1] != state.machine_id or (act.action_id, act.status) in self._seen:
                continue
            if act.status == ActionStatus.FAILED:
                self._seen.add((act.action_id, act.status))
                out.append(LegProgress(leg_id, state.machine_id, Stage.FAILED, state.stamp_s, detail=act.result))
                self.withdraw(leg_id, state.stamp_s)
            elif act.status == ActionStatus.FINISHED:
                self._seen.add((act.action_id, act.status))
                stage = Stage.PICKED if what == "pick" else Stage.DROPPED
                out.append(LegProgress(leg_id, state.machine_id, stage, state.stamp_s, node=state.last_node_id))
                if stage == Stage.DROPPED:
                    self.withdraw(leg_id, state.stamp_s)
        return out

    def set_blocked_zones(self, zone_ids: frozenset[str]) -> None:
        self._blocked = zone_ids

    def planned_path(self, machine_id: str) -> list[str]:
        leg_id = self._by_machine.get(machine_id)
        if leg_id is None:
            return []
        leg, _ = self._legs[leg_id]
        return [self._xy(leg.source)[0], self._xy(leg.destination)[0]]


@dataclass(order=True)
class _Due:
    at: float
    seq: int
    state: MachineState = field(compare=False)


class LoopbackMachines:
    """Machines that do what a movement command says after `step_s` per action."""

    def __init__(self, report: Callable[[MachineState], None], machine_ids: list[str],
                 step_s: float = 0.2, start: dict[str, tuple[str, float, float]] | None = None) -> None:
        """`start` gives each machine's (node, x, y) at start (default: nowhere)."""
        self.report = report
        self.step_s = step_s
        start = start or {}
        self._state = {}
        for m in machine_ids:
            node, x, y = start.get(m, ("", 0.0, 0.0))
            self._state[m] = MachineState(machine_id=m, stamp_s=time.time(), last_node_id=node, x=x, y=y,
                                          battery=1.0)
        self._last = dict(self._state)  # what each machine reported last (heartbeats repeat it)
        self.heartbeat_s = 1.0
        self._heap: list[_Due] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="loopback-machines", daemon=True)

    def start(self) -> LoopbackMachines:
        self._thread.start()
        for st in self._state.values():
            self.report(replace(st, stamp_s=time.time()))
        return self

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join(timeout=2)

    def send(self, command: Command) -> None:
        now = time.time()
        mid = command.machine_id
        st = self._state.get(mid)
        if st is None:
            return
        if isinstance(command, InstantAction):
            if any(a.action_type == ActionType.STATE_REQUEST for a in command.actions):
                self._at(now, replace(st, stamp_s=now))
            return
        if not isinstance(command, MovementCommand):
            return
        t = now
        states = list(st.action_states)
        for node in command.nodes:
            for act in node.actions:
                t += self.step_s
                states = [s for s in states if s.action_id != act.action_id]
                states.append(ActionState(act.action_id, act.action_type.value, ActionStatus.FINISHED))
                load = command.order_id if act.action_type == ActionType.PICK else None
                nxt = replace(st, stamp_s=t, last_node_id=node.node_id, x=node.x, y=node.y,
                              load_id=load, action_states=tuple(states[-4:]), order_id=command.order_id)
                self._at(t, nxt)
                st = nxt
        self._state[mid] = st

    def _at(self, t: float, state: MachineState) -> None:
        with self._cv:
            heapq.heappush(self._heap, _Due(t, next(self._seq), state))
            self._cv.notify()

    def _run(self) -> None:
        beat = time.time()
        while True:
            with self._cv:
                if self._stop:
                    return
                now = time.time()
                due = None
                if self._heap and self._heap[0].at <= now:
                    due = heapq.heappop(self._heap)
                elif now - beat < self.heartbeat_s:
                    self._cv.wait(min(0.2, self._heap[0].at - now) if self._heap else 0.2)
                    continue
            if due is not None:
                self._last[due.state.machine_id] = due.state
                self.report(replace(due.state, stamp_s=due.at, received_s=time.time()))
            else:
                beat = now
                for st in list(self._last.values()):
                    self.report(replace(st, stamp_s=now, received_s=time.time()))
