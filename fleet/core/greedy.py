"""The fallback dispatcher: one leg per order (two around a crane handoff), nearest machine.

Good enough for tests and for a site whose OR-Tools dispatcher is not configured; it
is also the reference the real dispatcher's benchmarks compare against.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from fleet.core.dispatcher import Assignment, DispatchSnapshot, Machine
from fleet.domain import (
    Crane,
    Leg,
    LegId,
    LegKind,
    LegState,
    Order,
    OrderRejected,
    Vehicle,
    Veto,
)

if TYPE_CHECKING:
    from maps.site import Site

LOW_BATTERY = 0.15


def _bay_of(site: Site, place: str) -> str | None:
    slot = site.slot_by_id.get(place)
    if slot is not None and slot.bay:
        return slot.bay
    return None


def _xy(site: Site | None, place: str) -> tuple[float, float] | None:
    if site is None:
        return None
    station = site.station_by_id.get(place)
    node_id = station.node if station else place
    node = site.node_by_id.get(node_id)
    if node is not None:
        return (node.x, node.y)
    slot = site.slot_by_id.get(place)
    return (slot.x, slot.y) if slot else None


class GreedyDispatcher:
    """Split an order into legs and give each open leg the nearest capable free machine."""

    def split(self, order: Order, site: Site | None, machines: Sequence[Machine],
              closed_zones: frozenset[str]) -> list[Leg]:
        if order.source == order.destination:
            raise OrderRejected(Veto.SAME_PLACE, f"source and destination are both {order.source!r}",
                                field="destination")
        if site is None:
            return [self._leg(order, 0, LegKind.AGV, order.source, order.destination)]
        for name, place in (("source", order.source), ("destination", order.destination)):
            if place not in site.station_by_id and place not in site.slot_by_id:
                raise OrderRejected(Veto.UNKNOWN_STATION, f"{name} {place!r} is no station or slot of site {site.name!r}",
                                    field=name)
        src_bay, dst_bay = _bay_of(site, order.source), _bay_of(site, order.destination)
        legs: list[Leg] = []
        if src_bay and src_bay == dst_bay:
            legs.append(self._leg(order, 0, LegKind.CRANE, order.source, order.destination, bay=src_bay))
        else:
            here = order.source
            if src_bay:
                handoff = self._handoff(site, src_bay, "source")
                legs.append(self._leg(order, 0, LegKind.CRANE, here, handoff, bay=src_bay))
                here = handoff
            end = self._handoff(site, dst_bay, "destination") if dst_bay else order.destination
            legs.append(self._leg(order, len(legs), LegKind.AGV, here, end, after=legs[-1] if legs else None))
            if dst_bay:
                legs.append(self._leg(order, len(legs), LegKind.CRANE, end, order.destination,
                                      after=legs[-1], bay=dst_bay))
        for leg in legs:
            kind = Crane if leg.kind == LegKind.CRANE else Vehicle
            if not any(isinstance(m, kind) and m.capabilities.can_carry(order.load_type, order.weight_kg, order.hazardous)
                       and (leg.kind != LegKind.CRANE or getattr(m, "bay", None) == leg.extra.get("bay"))
                       for m in machines):
                raise OrderRejected(Veto.NO_CAPABLE_MACHINE,
                                    f"no {leg.kind.value} can carry {order.weight_kg} kg of {order.load_type!r}"
                                    f"{' (hazardous)' if order.hazardous else ''} from {leg.source!r}",
                                    field="load_type")
        return legs

    @staticmethod
    def _handoff(site: Site, bay_id: str, name: str) -> str:
        bay = site.bay_by_id[bay_id]
        if not bay.handoffs:
            raise OrderRejected(Veto.UNREACHABLE, f"crane bay {bay_id!r} has no handoff station", field=name)
        return bay.handoffs[0]

    @staticmethod
    def _leg(order: Order, seq: int, kind: LegKind, source: str, destination: str,
             after: Leg | None = None, bay: str | None = None) -> Leg:
        return Leg(
            id=LegId(f"{order.id}.{seq}"), order_id=order.id, kind=kind, source=source,
            destination=destination, seq=seq, state=LegState.PENDING if after else LegState.OPEN,
            after=after.id if after else None, handoff=after.destination if after else None,
            load_type=order.load_type, weight_kg=order.weight_kg, hazardous=order.hazardous,
            priority=order.priority, deadline_s=order.deadline_s, created_s=order.created_s,
            updated_s=order.created_s, extra={"bay": bay} if bay else {},
        )

    def assign(self, snapshot: DispatchSnapshot) -> list[Assignment]:
        free = [m for m in snapshot.machines if m.available
                and not (isinstance(m, Vehicle) and m.battery < LOW_BATTERY)]
        out: list[Assignment] = []
        for leg in sorted(snapshot.legs, key=lambda g: (-g.priority, g.created_s, g.id)):
            if not free:
                break
            if leg.kind in (LegKind.CHARGE, LegKind.PARK):
                continue
            want = Crane if leg.kind == LegKind.CRANE else Vehicle
            fits = [m for m in free if isinstance(m, want)
                    and m.capabilities.can_carry(leg.load_type, leg.weight_kg, leg.hazardous)
                    and (want is Vehicle or getattr(m, "bay", None) == leg.extra.get("bay"))]
            if not fits:
                continue
            target = _xy(snapshot.site, leg.source)

            def distance(m: Machine, target: tuple[float, float] | None = target) -> float:
                if target is None or not isinstance(m, Vehicle):
                    return 0.0
                here = _xy(snapshot.site, m.node) if m.node else None
                x, y = here if here else (m.x, m.y)
                return math.hypot(x - target[0], y - target[1])

            best = min(fits, key=lambda m: (distance(m), m.id))
            free.remove(best)
            out.append(Assignment(leg.id, best.id, distance(best)))
        return out
