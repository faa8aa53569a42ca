"""What an event does to the legs: which go back to the pool, which wait, which end.

Each handler takes the current legs and returns a `Redispatch`: every input leg
exactly once (changed or not), plus the ids it reopened, held, cancelled or
failed and the machines to stop. Nothing is dropped and nothing can be done twice:
a leg goes back to OPEN only while its load is still where it was picked from.

Rules (also in docs/dispatch.md):
- *A machine faults, goes offline or is taken out*: its legs that have not picked
  the load yet (ASSIGNED, TO_PICKUP) are reopened for another machine. A LOADED leg
  is **held**: the load is on the lost machine, so the leg keeps its state and
  machine and waits for the machine to recover (the core resumes it) or for an
  operator to fail it (`fail_held`). Its CHARGE legs are cancelled.
- *An order is cancelled*: legs not yet loaded are cancelled (machines driving to a
  pickup are stopped); a LOADED leg **continues** to its drop so the load ends up
  somewhere known, and every leg after it is cancelled.
- *An order is reprioritised*: every leg not finished takes the new priority (and
  deadline); open legs move in the next round's queue, machines already under way
  keep their legs.
- *A zone closes*: an assigned leg whose vehicle can no longer reach its pickup, or
  whose pickup can no longer reach its drop, is reopened (another vehicle may reach
  it; otherwise it waits in the pool until the zone opens); a LOADED leg whose drop
  is cut off is held. Open legs stay open (dispatch skips what nobody can reach).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from fleet.dispatch.distances import SiteDistances, distances_for
from fleet.dispatch.legs import node_of
from fleet.domain import (
    Leg,
    LegId,
    LegKind,
    LegState,
    MachineId,
    OrderId,
    Vehicle,
    VehicleId,
    transition_leg,
)
from maps.site import Site

NOT_LOADED = frozenset({LegState.ASSIGNED, LegState.TO_PICKUP})


@dataclass(frozen=True)
class Redispatch:
    legs: tuple[Leg, ...]  # every input leg, in input order, updated where the event changed it
    reopened: tuple[LegId, ...] = ()
    held: tuple[LegId, ...] = ()  # load on a machine that cannot go on: waits (state unchanged)
    continuing: tuple[LegId, ...] = ()  # loaded legs of a cancelled order, finishing to their drop
    cancelled: tuple[LegId, ...] = ()
    failed: tuple[LegId, ...] = ()
    stop: tuple[MachineId, ...] = ()  # machines to send a cancel to

    @property
    def changed(self) -> set[LegId]:
        return set(self.reopened) | set(self.cancelled) | set(self.failed)


class _Edit:
    def __init__(self, legs: Sequence[Leg]) -> None:
        self.legs = list(legs)
        self.reopened: list[LegId] = []
        self.held: list[LegId] = []
        self.continuing: list[LegId] = []
        self.cancelled: list[LegId] = []
        self.failed: list[LegId] = []
        self.stop: list[MachineId] = []

    def set(self, i: int, leg: Leg) -> None:
        self.legs[i] = leg

    def result(self) -> Redispatch:
        return Redispatch(
            tuple(self.legs),
            tuple(self.reopened),
            tuple(self.held),
            tuple(self.continuing),
            tuple(self.cancelled),
            tuple(self.failed),
            tuple(dict.fromkeys(self.stop)),
        )


def on_machine_lost(legs: Sequence[Leg], machine_id: str, now_s: float) -> Redispatch:
    """A vehicle or crane faulted, went offline (link lost) or was taken out of service."""
    ed = _Edit(legs)
    for i, leg in enumerate(ed.legs):
        if leg.terminal or leg.machine_id != machine_id:
            continue
        if leg.kind in (LegKind.CHARGE, LegKind.PARK):
            ed.set(i, transition_leg(leg, LegState.CANCELLED, now_s))
            ed.cancelled.append(leg.id)
        elif leg.state in NOT_LOADED:
            ed.set(i, transition_leg(leg, LegState.OPEN, now_s))
            ed.reopened.append(leg.id)
        elif leg.state == LegState.LOADED:
            ed.held.append(leg.id)
    return ed.result()


def fail_held(legs: Sequence[Leg], machine_id: str, now_s: float) -> Redispatch:
    """An operator gives up on a lost machine's load: its loaded leg and every later leg of that order fail."""
    ed = _Edit(legs)
    orders: set[OrderId] = set()
    for i, leg in enumerate(ed.legs):
        if leg.machine_id == machine_id and leg.state == LegState.LOADED:
            ed.set(i, transition_leg(leg, LegState.FAILED, now_s))
            ed.failed.append(leg.id)
            if leg.order_id is not None:
                orders.add(leg.order_id)
    for i, leg in enumerate(ed.legs):
        if leg.order_id in orders and not leg.terminal:
            if leg.machine_id is not None and leg.state in NOT_LOADED:
                ed.stop.append(leg.machine_id)
            ed.set(i, transition_leg(leg, LegState.FAILED, now_s))
            ed.failed.append(leg.id)
    return ed.result()


def on_order_cancelled(legs: Sequence[Leg], order_id: str, now_s: float) -> Redispatch:
    ed = _Edit(legs)
    for i, leg in enumerate(ed.legs):
        if leg.order_id != order_id or leg.terminal:
            continue
        if leg.state == LegState.LOADED:
            ed.continuing.append(leg.id)
            continue
        if leg.state in NOT_LOADED and leg.machine_id is not None:
            ed.stop.append(leg.machine_id)
        ed.set(i, transition_leg(leg, LegState.CANCELLED, now_s))
        ed.cancelled.append(leg.id)
    return ed.result()


def on_order_reprioritised(
    legs: Sequence[Leg], order_id: str, priority: int, now_s: float, deadline_s: float | None = None
) -> Redispatch:
    ed = _Edit(legs)
    for i, leg in enumerate(ed.legs):
        if leg.order_id != order_id or leg.terminal:
            continue
        ed.set(
            i,
            dataclasses.replace(
                leg, priority=priority, deadline_s=deadline_s if deadline_s is not None else leg.deadline_s, updated_s=now_s
            ),
        )
    return ed.result()


def on_zone_closed(
    site: Site,
    legs: Sequence[Leg],
    vehicles: Iterable[Vehicle],
    closed_zones: frozenset[str],
    now_s: float,
    distances: SiteDistances | None = None,
) -> Redispatch:
    """Re-check AGV legs under way against the lanes still usable with `closed_zones` closed."""
    dist = distances or distances_for(site)
    by_id: Mapping[VehicleId, Vehicle] = {v.id: v for v in vehicles}
    ed = _Edit(legs)
    for i, leg in enumerate(ed.legs):
        if leg.kind == LegKind.CRANE or leg.terminal or leg.machine_id is None:
            continue
        v = by_id.get(VehicleId(leg.machine_id))
        if v is None or v.node is None:
            continue
        net = dist.network(closed_zones, v.capabilities.hazardous_rated)
        src = node_of(site, leg.source) or leg.source
        dst = node_of(site, leg.destination) or leg.destination
        if src not in net.node_index or dst not in net.node_index or v.node not in net.node_index:
            continue
        if leg.state in NOT_LOADED:
            cut = net.between(v.node, src) == float("inf") or (
                leg.kind == LegKind.AGV and net.between(src, dst) == float("inf")
            )
            if cut:
                ed.set(i, transition_leg(leg, LegState.OPEN, now_s))
                ed.reopened.append(leg.id)
                ed.stop.append(leg.machine_id)
        elif leg.state == LegState.LOADED and net.between(v.node, dst) == float("inf"):
            ed.held.append(leg.id)
    return ed.result()


def conservation_errors(before: Sequence[Leg], after: Sequence[Leg]) -> list[str]:
    """What a handler must never do: lose a leg, invent one, reopen a loaded or finished leg."""
    out = []
    b = {leg.id: leg for leg in before}
    a = {leg.id: leg for leg in after}
    if len(after) != len(before) or b.keys() != a.keys():
        out.append(f"leg set changed: lost {sorted(b.keys() - a.keys())}, new {sorted(a.keys() - b.keys())}")
    for lid, old in b.items():
        new = a.get(lid)
        if new is None:
            continue
        if old.terminal and new != old:
            out.append(f"finished leg {lid!r} changed from {old.state.value} to {new.state.value}")
        if old.state == LegState.LOADED and new.state in (LegState.OPEN, LegState.PENDING, LegState.ASSIGNED):
            out.append(f"loaded leg {lid!r} went back to {new.state.value}: its load would be picked twice")
    return out
