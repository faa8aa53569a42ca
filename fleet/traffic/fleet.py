"""The core's Traffic strategy: AGV legs to the lanes, crane legs to the runways."""

from __future__ import annotations

from fleet.core.strategies import LegProgress
from fleet.domain import Leg, LegKind, LegState
from fleet.domain.commands import Command, MachineState
from fleet.traffic.lanes import LaneTraffic
from fleet.traffic.runway import RunwayTraffic
from maps.site import Site


class FleetTraffic:
    """One object for the core; called only from the core's thread."""

    def __init__(self, site: Site, *, seed: int = 0, lookahead: int = 8, horizon: int = 12) -> None:
        self.site = site
        self.lanes = LaneTraffic(site, seed=seed, lookahead=lookahead, horizon=horizon)
        self.runways = RunwayTraffic(site, handoffs=self.lanes)
        self.lanes.handoff_open = self.runways.handoff_open
        self._leg_machine: dict[str, str] = {}
        # legs given (by a restart's recovery) to vehicles that have not reported yet
        self._waiting: dict[str, tuple[Leg, float]] = {}

    def assign(self, leg: Leg, machine_id: str, now_s: float) -> None:
        self._leg_machine[leg.id] = machine_id
        if self.runways.knows(machine_id):
            self.runways.assign(leg, machine_id, now_s)
        elif machine_id not in self.lanes.vehicles:
            self._waiting[machine_id] = (leg, now_s)  # assigned once it reports where it is
        else:
            self._assign_agv(leg, machine_id, now_s)

    def _assign_agv(self, leg: Leg, machine_id: str, now_s: float) -> None:
        self.lanes.assign(leg, machine_id, now_s)
        if leg.state == LegState.LOADED and leg.kind == LegKind.AGV:  # recovered with the load on board: to the drop
            self.lanes.load_handed_over(machine_id, now_s)

    def withdraw(self, leg_id: str, now_s: float) -> None:
        for mid, (leg, _) in list(self._waiting.items()):
            if leg.id == leg_id:
                del self._waiting[mid]
        machine = self._leg_machine.pop(leg_id, None)
        if machine is not None and self.runways.knows(machine):
            self.runways.withdraw(leg_id, now_s)
        else:
            self.lanes.withdraw(leg_id, now_s)

    def on_state(self, state: MachineState) -> list[LegProgress]:
        if self.runways.knows(state.machine_id):
            return self.runways.on_state(state)
        out = self.lanes.on_state(state)
        if state.machine_id in self._waiting and state.machine_id in self.lanes.vehicles:
            leg, now_s = self._waiting.pop(state.machine_id)
            self._assign_agv(leg, state.machine_id, now_s)
        return out

    def tick(self, now_s: float, budget_s: float) -> list[Command]:
        out: list[Command] = list(self.lanes.tick(now_s, budget_s))
        out.extend(self.runways.tick(now_s, budget_s))
        return out

    def set_blocked_zones(self, zone_ids: frozenset[str]) -> None:
        self.lanes.set_blocked_zones(zone_ids)

    def planned_path(self, machine_id: str) -> list[str]:
        if self.runways.knows(machine_id):
            return self.runways.planned_path(machine_id)
        return self.lanes.planned_path(machine_id)

    def machine_stopped(self, machine_id: str, stopped: bool) -> None:
        if self.runways.knows(machine_id):
            self.runways.machine_stopped(machine_id, stopped)
        else:
            self.lanes.machine_stopped(machine_id, stopped)
