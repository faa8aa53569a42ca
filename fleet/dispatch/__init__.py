"""Dispatch: orders into legs, legs to vehicles and cranes, batteries to chargers.

Pure library code the core calls from its dispatch task; see docs/dispatch.md.
Entry points: `split_order` (at submission), `dispatch_round` (every round), the
`on_*` event handlers (re-dispatch), and the validators.
"""

from fleet.dispatch.assignment import (
    Assignment,
    Availability,
    Dispatcher,
    GreedyDispatcher,
    OrToolsDispatcher,
)
from fleet.dispatch.charging import (
    ChargePlan,
    Charger,
    ChargingPolicy,
    battery_after,
    chargers_of,
    plan_charging,
)
from fleet.dispatch.cranes import BaySchedule, schedule_bay
from fleet.dispatch.distances import SiteDistances, closed_at_start, distances_for
from fleet.dispatch.legs import HandoffTiming, handoff_timing, split_order
from fleet.dispatch.redispatch import (
    Redispatch,
    conservation_errors,
    fail_held,
    on_machine_lost,
    on_order_cancelled,
    on_order_reprioritised,
    on_zone_closed,
)
from fleet.dispatch.round import LegTimes, RoundResult, SoonIdle, dispatch_round
from fleet.dispatch.validate import CraneLegTiming, validate_assignments
from fleet.dispatch.view import FleetView

__all__ = [
    "Assignment",
    "Availability",
    "BaySchedule",
    "ChargePlan",
    "Charger",
    "ChargingPolicy",
    "CraneLegTiming",
    "Dispatcher",
    "FleetView",
    "GreedyDispatcher",
    "HandoffTiming",
    "LegTimes",
    "OrToolsDispatcher",
    "Redispatch",
    "RoundResult",
    "SiteDistances",
    "SoonIdle",
    "battery_after",
    "chargers_of",
    "closed_at_start",
    "conservation_errors",
    "dispatch_round",
    "distances_for",
    "fail_held",
    "handoff_timing",
    "on_machine_lost",
    "on_order_cancelled",
    "on_order_reprioritised",
    "on_zone_closed",
    "plan_charging",
    "schedule_bay",
    "split_order",
    "validate_assignments",
]
