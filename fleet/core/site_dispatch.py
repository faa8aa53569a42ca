"""The core's Dispatcher on top of `fleet.dispatch`: real splitting and OR-Tools rounds.

`split` calls `fleet.dispatch.split_order` (paths, handoffs, capabilities, closed
zones) and `assign` calls `fleet.dispatch.dispatch_round` over the snapshot, turning
its `RoundResult` into the core's `Decisions`. A round with violations is skipped
(logged); if the round itself fails, this round falls back to the greedy dispatcher,
so a bug in dispatch never stops the site.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fleet.core.dispatcher import Assignment, Decisions, DispatchSnapshot, Machine
from fleet.core.greedy import GreedyDispatcher
from fleet.domain import Crane, Leg, LegKind, LegState, Order, Vehicle

if TYPE_CHECKING:
    from maps.site import Site

log = logging.getLogger(__name__)


class SiteDispatcher:
    """Runs on the core's dispatch worker (one thread), so its caches need no locks."""

    plans_rounds = True  # the core also runs rounds with no open leg (charging, crane timing)

    def __init__(self, site: Site, budget_s: float = 1.0, work_limited: bool = False) -> None:
        from fleet.dispatch import distances_for

        self.site = site
        self.budget_s = budget_s
        self.work_limited = work_limited  # crane schedules bounded by solver work, not wall time
        self._distances = distances_for(site)
        self._previous: dict[str, Any] = {}
        self._greedy = GreedyDispatcher()
        self.last_method = ""

    def split(self, order: Order, site: Site | None, machines: Sequence[Machine],
              closed_zones: frozenset[str]) -> list[Leg]:
        from fleet.dispatch import FleetView, split_order

        view = FleetView.of([m for m in machines if isinstance(m, Vehicle)],
                            [m for m in machines if isinstance(m, Crane)])
        return split_order(order, site or self.site, view, closed_zones, self._distances)

    def assign(self, snapshot: DispatchSnapshot) -> Decisions | list[Assignment]:
        from fleet.dispatch import Charger, chargers_of, dispatch_round

        vehicles = [m for m in snapshot.machines if isinstance(m, Vehicle)]
        cranes = [m for m in snapshot.machines if isinstance(m, Crane)]
        occupied = {leg.destination: leg.machine_id for leg in snapshot.all_legs
                    if leg.kind == LegKind.CHARGE and leg.machine_id}
        for v in vehicles:
            if v.charging and v.node:
                for c in chargers_of(self.site):
                    if c.node == v.node:
                        occupied.setdefault(c.station_id, v.id)
        chargers = [Charger(c.station_id, c.node, occupant=occupied.get(c.station_id)) for c in chargers_of(self.site)]
        try:
            result = dispatch_round(
                self.site, list(snapshot.all_legs), vehicles, cranes, chargers, snapshot.now_s,
                budget_s=self.budget_s, closed_zones=snapshot.closed_zones, previous=self._previous,
                distances=self._distances, work_limited=self.work_limited,
            )
        except Exception:
            log.exception("dispatch round failed; greedy this round")
            self.last_method = "greedy-fallback"
            return self._greedy.assign(snapshot)
        self.last_method = result.method
        if result.violations:
            log.warning("dispatch round skipped: %s", "; ".join(result.violations[:5]))
            return Decisions(notes=tuple(result.notes))
        self._previous = {bay: b.schedule for bay, b in result.crane_schedule.items()}
        assignments = [Assignment(a.leg_id, a.vehicle_id, a.empty_travel_m) for a in result.assignments]
        open_crane = {leg.id for leg in result.legs if leg.kind == LegKind.CRANE and leg.state == LegState.OPEN}
        for b in result.crane_schedule.values():
            for leg_id, crane_id in b.crane_of_leg.items():
                if leg_id in open_crane:
                    assignments.append(Assignment(leg_id, crane_id))
        charges = tuple(p.leg for p in result.charge_legs)
        return Decisions(assignments=tuple(assignments), released=tuple(result.released),
                         reopened=tuple(result.reopened), charges=charges, notes=tuple(result.notes))
