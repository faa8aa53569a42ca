"""Orders (what a WMS asks) and legs (one machine's part), with their lifecycles.

An order from a coil slot to a shipping dock becomes a crane leg (slot to handoff
station) and an AGV leg (handoff to dock); the order is `handed_off` between them.
The allowed moves are tables, not scattered ifs, so every transition is checked
in one place and can be stored and emitted as an event.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum

from fleet.domain.errors import IllegalTransition
from fleet.domain.ids import LegId, MachineId, OrderId


class OrderState(StrEnum):
    CREATED = "created"  # accepted and stored, not yet split into legs
    QUEUED = "queued"  # legs exist, none assigned
    ASSIGNED = "assigned"  # a machine has its first leg
    IN_PROGRESS = "in_progress"  # a machine is carrying it out
    HANDED_OFF = "handed_off"  # load is at a handoff station between two legs
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_ORDER_STATES = frozenset({OrderState.DONE, OrderState.FAILED, OrderState.CANCELLED})

_ORDER_MOVES: dict[OrderState, frozenset[OrderState]] = {
    OrderState.CREATED: frozenset({OrderState.QUEUED, OrderState.FAILED, OrderState.CANCELLED}),
    OrderState.QUEUED: frozenset({OrderState.ASSIGNED, OrderState.FAILED, OrderState.CANCELLED}),
    OrderState.ASSIGNED: frozenset(
        {OrderState.IN_PROGRESS, OrderState.QUEUED, OrderState.FAILED, OrderState.CANCELLED}
    ),
    OrderState.IN_PROGRESS: frozenset(
        {OrderState.HANDED_OFF, OrderState.DONE, OrderState.QUEUED, OrderState.FAILED, OrderState.CANCELLED}
    ),
    OrderState.HANDED_OFF: frozenset(
        {OrderState.ASSIGNED, OrderState.IN_PROGRESS, OrderState.FAILED, OrderState.CANCELLED}
    ),
    OrderState.DONE: frozenset(),
    OrderState.FAILED: frozenset(),
    OrderState.CANCELLED: frozenset(),
}


class LegKind(StrEnum):
    AGV = "agv"  # an AGV carries the load between two stations
    CRANE = "crane"  # a crane moves the load inside its bay (slot, handoff)
    CHARGE = "charge"  # an AGV drives to a charger (no load)
    PARK = "park"  # an AGV drives to a parking place (no load)


class LegState(StrEnum):
    PENDING = "pending"  # waits for the leg before it (e.g. AGV leg after crane leg)
    OPEN = "open"  # may be assigned
    ASSIGNED = "assigned"
    TO_PICKUP = "to_pickup"  # machine travelling empty to the pickup
    LOADED = "loaded"  # load picked, travelling to the drop
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_LEG_STATES = frozenset({LegState.DONE, LegState.FAILED, LegState.CANCELLED})

_LEG_MOVES: dict[LegState, frozenset[LegState]] = {
    LegState.PENDING: frozenset({LegState.OPEN, LegState.CANCELLED, LegState.FAILED}),
    LegState.OPEN: frozenset({LegState.ASSIGNED, LegState.CANCELLED, LegState.FAILED}),
    # back to OPEN: the machine was lost before it picked the load (re-dispatch)
    LegState.ASSIGNED: frozenset({LegState.TO_PICKUP, LegState.LOADED, LegState.OPEN, LegState.CANCELLED, LegState.FAILED}),
    LegState.TO_PICKUP: frozenset({LegState.LOADED, LegState.OPEN, LegState.CANCELLED, LegState.FAILED}),
    # a loaded leg cannot silently go back to OPEN: the load is on a machine
    LegState.LOADED: frozenset({LegState.DONE, LegState.FAILED, LegState.CANCELLED}),
    LegState.DONE: frozenset(),
    LegState.FAILED: frozenset(),
    LegState.CANCELLED: frozenset(),
}


@dataclass(frozen=True)
class Order:
    """A transport order as the WMS asked for it, plus its lifecycle state.

    `source` and `destination` are station or slot ids of the Site. `priority` runs
    from 0 (lowest) to 9 (highest); `deadline_s` is a time on the core's clock.
    """

    id: OrderId
    source: str
    destination: str
    load_type: str = "pallet"
    weight_kg: float = 0.0
    priority: int = 5
    deadline_s: float | None = None
    hazardous: bool = False
    client_id: str | None = None  # the WMS's own id, unique per client (idempotency key)
    load_id: str | None = None
    state: OrderState = OrderState.CREATED
    created_s: float = 0.0
    updated_s: float = 0.0
    reason: str | None = None  # why it failed or was cancelled
    legs: tuple[LegId, ...] = ()

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_ORDER_STATES


@dataclass(frozen=True)
class Leg:
    """One machine's part of an order, between two places it can reach.

    `after` names the leg that must be done first (the crane leg before the AGV leg
    at a handoff); `handoff` is the station where the two meet.
    """

    id: LegId
    order_id: OrderId | None
    kind: LegKind
    source: str
    destination: str
    seq: int = 0  # position within the order
    state: LegState = LegState.OPEN
    machine_id: MachineId | None = None
    after: LegId | None = None
    handoff: str | None = None
    load_type: str = "pallet"
    weight_kg: float = 0.0
    hazardous: bool = False
    priority: int = 5
    deadline_s: float | None = None
    created_s: float = 0.0
    updated_s: float = 0.0
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_LEG_STATES


def transition_order(order: Order, target: OrderState, now_s: float, reason: str | None = None) -> Order:
    """The order in its new state; raises IllegalTransition for a move the table forbids."""
    if target not in _ORDER_MOVES[order.state]:
        raise IllegalTransition("order", order.id, order.state.value, target.value)
    return dataclasses.replace(order, state=target, updated_s=now_s, reason=reason or order.reason)


_EMPTY_RUN_MOVES = frozenset({(LegState.ASSIGNED, LegState.DONE), (LegState.TO_PICKUP, LegState.DONE)})


def transition_leg(leg: Leg, target: LegState, now_s: float, machine_id: MachineId | None = None) -> Leg:
    """The leg in its new state; going back to OPEN frees its machine. Charge and park
    legs carry nothing, so they may finish straight from ASSIGNED or TO_PICKUP."""
    empty_run = leg.kind in (LegKind.CHARGE, LegKind.PARK) and (leg.state, target) in _EMPTY_RUN_MOVES
    if target not in _LEG_MOVES[leg.state] and not empty_run:
        raise IllegalTransition("leg", leg.id, leg.state.value, target.value)
    machine = None if target == LegState.OPEN else (machine_id or leg.machine_id)
    return dataclasses.replace(leg, state=target, updated_s=now_s, machine_id=machine)


def order_moves() -> dict[OrderState, frozenset[OrderState]]:
    return dict(_ORDER_MOVES)


def leg_moves() -> dict[LegState, frozenset[LegState]]:
    return dict(_LEG_MOVES)
