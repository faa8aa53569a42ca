"""Split an order into the legs machines can do, or refuse it at submission.

An order names a source and a destination, each a station id or a slot id (a bay
slot under a crane, or a rack slot reached at its access node). Places on the floor
are joined by AGV legs; places inside one crane bay by a crane leg; the two meet at
a handoff station of the bay. So a coil slot to a shipping dock is a crane leg
(slot -> handoff) followed by an AGV leg (handoff -> dock); a coil from one bay to
another is crane + AGV + crane.

Only the first leg is OPEN; each later leg is PENDING with `after` naming the leg
before it. The core opens an AGV leg that follows a crane leg when the crane is
close to setting the load down (`handoff_timing`): early enough that the AGV is
there when the load comes down, late enough that it does not stand in the lane.

`split_order` reads `site.stations`, `site.slot_by_id`, `site.crane_bays`
(cranes, handoffs, safety gap) and the lanes, zones and machines' capabilities.
It is pure and raises `OrderRejected` for anything that can never be done, so an
impossible order is never queued.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleet.dispatch.distances import SiteDistances, distances_for
from fleet.dispatch.view import FleetView
from fleet.domain import Capabilities, Leg, LegId, LegKind, LegState, Order, OrderRejected, Veto
from maps.site import CraneBay, Site, StationKind
from planners.runway import crane_reach

HANDOFF_MARGIN_S = 10.0  # the AGV is at the handoff this long before the load comes down
CRANE_METRE_WEIGHT = 3.0  # crane runway metres are the scarce resource of a coil yard


@dataclass(frozen=True)
class Place:
    """Where a source or destination is: on the floor (`node`), in a bay, or both (handoff)."""

    id: str
    node: str | None  # AGV access node; None for a bay slot
    bay: str | None  # crane bay; None for floor places
    runway_m: float | None = None
    cross_m: float | None = None
    load_types: tuple[str, ...] = ()
    max_weight_kg: float = float("inf")


def resolve_place(site: Site, ident: str, field: str) -> Place:
    """The place an order names; `OrderRejected(UNKNOWN_STATION)` when there is none."""
    st = site.station_by_id.get(ident)
    if st is not None:
        if st.kind == StationKind.HANDOFF and st.bay in site.bay_by_id:
            return Place(st.id, st.node, st.bay, st.runway_m, st.cross_m, st.load_types)
        return Place(st.id, st.node, None, load_types=st.load_types)
    slot = site.slot_by_id.get(ident)
    if slot is not None:
        if slot.bay is not None:
            return Place(slot.id, None, slot.bay, slot.runway_m, slot.cross_m, slot.load_types, slot.max_weight_kg)
        return Place(slot.id, slot.node, None, load_types=slot.load_types, max_weight_kg=slot.max_weight_kg)
    raise OrderRejected(Veto.UNKNOWN_STATION, f"{field} {ident!r} is no station or slot of site {site.name!r}", field)


def _check_place(order: Order, place: Place, field: str) -> None:
    if place.load_types and order.load_type not in place.load_types:
        raise OrderRejected(
            Veto.LOAD_TYPE,
            f"{field} {place.id!r} accepts {', '.join(place.load_types)}, not {order.load_type!r}",
            field,
        )
    if order.weight_kg > place.max_weight_kg:
        raise OrderRejected(
            Veto.OVERWEIGHT, f"{field} {place.id!r} holds at most {place.max_weight_kg:g} kg, the load is {order.weight_kg:g} kg", field
        )


def _refuse_capability(order: Order, caps: list[Capabilities], machines: str) -> OrderRejected:
    """The most telling reason no machine of this kind can carry the load."""
    one = machines[:-1]
    if not caps:
        return OrderRejected(Veto.NO_CAPABLE_MACHINE, f"the site has no {machines} in service")
    heaviest = max(c.payload_kg for c in caps)
    if order.weight_kg > heaviest:
        return OrderRejected(
            Veto.OVERWEIGHT, f"{order.weight_kg:g} kg is over every {one} payload (largest {heaviest:g} kg)", "weight_kg"
        )
    typed = [c for c in caps if not c.load_types or order.load_type in c.load_types]
    if not typed:
        return OrderRejected(Veto.LOAD_TYPE, f"no {one} takes load type {order.load_type!r}", "load_type")
    if order.hazardous:
        typed = [c for c in typed if c.hazardous_rated]
        if not typed:
            return OrderRejected(Veto.HAZARDOUS, f"no hazardous-rated {one} takes {order.load_type!r}", "hazardous")
    heaviest = max(c.payload_kg for c in typed)
    return OrderRejected(
        Veto.OVERWEIGHT,
        f"{order.weight_kg:g} kg is over the payload of every {one} that takes {order.load_type!r} (largest {heaviest:g} kg)",
        "weight_kg",
    )


class _Splitter:
    def __init__(self, order: Order, site: Site, fleet: FleetView, closed_zones: frozenset[str], dist: SiteDistances) -> None:
        self.order = order
        self.site = site
        self.fleet = fleet
        self.closed = closed_zones
        self.dist = dist
        caps = [v.capabilities for v in fleet.in_service_vehicles()]
        self.agv_caps = caps
        able = [c for c in caps if c.can_carry(order.load_type, order.weight_kg, order.hazardous)]
        self.agv_able = able
        # which lane variants a capable vehicle may use: rated vehicles may use hazardous zones
        self.variants = sorted({c.hazardous_rated for c in able}, reverse=True)

    # -- AGV side --------------------------------------------------------------
    def agv_distance(self, a: str, b: str) -> float:
        """Shortest usable distance for any capable vehicle (inf: none reaches)."""
        best = float("inf")
        for rated in self.variants:
            best = min(best, self.dist.network(self.closed, rated).between(a, b))
        return best

    def require_agv(self) -> None:
        if not self.agv_able:
            raise _refuse_capability(self.order, self.agv_caps, "AGVs")

    # -- crane side ------------------------------------------------------------
    def crane_can(self, bay: CraneBay, positions: list[float]) -> bool:
        """Some crane of the bay can lift the load and reach every runway position."""
        return bool(self.capable_cranes(bay, positions))

    def capable_cranes(self, bay: CraneBay, positions: list[float]) -> list[str]:
        widths = np.array([c.width_m for c in bay.cranes])
        lo, hi = crane_reach(widths, bay.safety_gap_m, bay.runway_length_m)
        live = {c.id: c for c in self.fleet.cranes_of(bay.id)}
        out = []
        for k, spec in enumerate(bay.cranes):
            if live:
                if spec.id not in live:
                    continue
                caps = live[spec.id].capabilities
            else:
                caps = Capabilities(spec.payload_kg, spec.load_types, False)
            if not caps.can_carry(self.order.load_type, self.order.weight_kg, self.order.hazardous):
                continue
            if all(lo[k] - 1e-6 <= p <= hi[k] + 1e-6 for p in positions):
                out.append(spec.id)
        return out

    def crane_caps(self, bay: CraneBay) -> list[Capabilities]:
        live = self.fleet.cranes_of(bay.id)
        if live:
            return [c.capabilities for c in live]
        return [Capabilities(s.payload_kg, s.load_types, False) for s in bay.cranes]

    def require_crane(self, bay: CraneBay, a: Place, b: Place) -> None:
        positions = [p for p in (a.runway_m, b.runway_m) if p is not None]
        if self.crane_can(bay, positions):
            return
        caps = self.crane_caps(bay)
        if not any(c.can_carry(self.order.load_type, self.order.weight_kg, self.order.hazardous) for c in caps):
            raise _refuse_capability(self.order, caps, "cranes")
        raise OrderRejected(
            Veto.UNREACHABLE, f"no crane of bay {bay.id!r} that can lift the load reaches both {a.id!r} and {b.id!r}"
        )

    def handoffs(self, bay: CraneBay, slot: Place) -> list[Place]:
        out = []
        for hid in bay.handoffs:
            h = resolve_place(self.site, hid, "handoff")
            if h.load_types and self.order.load_type not in h.load_types:
                continue
            pos = [p for p in (slot.runway_m, h.runway_m) if p is not None]
            if self.crane_can(bay, pos):
                out.append(h)
        return out

    def best_handoff(self, bay: CraneBay, slot: Place, floor: Place, outbound: bool) -> Place:
        """The handoff of `bay` with the least crane + AGV effort towards/from `floor`."""
        self.require_agv()
        options = self.handoffs(bay, slot)
        if not options:
            raise OrderRejected(Veto.UNREACHABLE, f"no crane of bay {bay.id!r} can bring the load between {slot.id!r} and a handoff station")
        scored = []
        for h in options:
            assert h.node is not None and floor.node is not None
            d = self.agv_distance(h.node, floor.node) if outbound else self.agv_distance(floor.node, h.node)
            crane_m = abs((slot.runway_m or 0.0) - (h.runway_m or 0.0))
            scored.append((d + CRANE_METRE_WEIGHT * crane_m, h.id, h, d))
        scored.sort(key=lambda s: (s[0], s[1]))
        if scored[0][3] == float("inf"):
            where = f"from handoffs of bay {bay.id!r} to {floor.id!r}" if outbound else f"from {floor.id!r} to the handoffs of bay {bay.id!r}"
            raise OrderRejected(Veto.UNREACHABLE, f"no usable lanes {where}", "destination" if outbound else "source")
        return scored[0][2]

    def best_bay_to_bay(self, b1: CraneBay, s1: Place, b2: CraneBay, s2: Place) -> tuple[Place, Place]:
        self.require_agv()
        best = None
        for h1 in self.handoffs(b1, s1):
            for h2 in self.handoffs(b2, s2):
                assert h1.node is not None and h2.node is not None
                d = self.agv_distance(h1.node, h2.node)
                cost = d + abs((s1.runway_m or 0) - (h1.runway_m or 0)) + abs((s2.runway_m or 0) - (h2.runway_m or 0))
                if d < float("inf") and (best is None or (cost, h1.id, h2.id) < best[0]):
                    best = ((cost, h1.id, h2.id), h1, h2)
        if best is None:
            raise OrderRejected(Veto.UNREACHABLE, f"no handoff route from bay {b1.id!r} to bay {b2.id!r}")
        return best[1], best[2]

    def agv_path_ok(self, a: Place, b: Place) -> None:
        self.require_agv()
        assert a.node is not None and b.node is not None
        if self.agv_distance(a.node, b.node) == float("inf"):
            why = " for a hazardous load" if self.order.hazardous else ""
            raise OrderRejected(Veto.UNREACHABLE, f"no usable lanes from {a.id!r} to {b.id!r}{why}", "destination")


def _validate_fields(order: Order) -> None:
    if not 0 <= order.priority <= 9:
        raise OrderRejected(Veto.INVALID, f"priority {order.priority} is outside 0..9", "priority")
    if not order.weight_kg >= 0 or order.weight_kg == float("inf"):
        raise OrderRejected(Veto.INVALID, f"weight {order.weight_kg} kg is not a finite weight", "weight_kg")
    if order.source == order.destination:
        raise OrderRejected(Veto.SAME_PLACE, f"source and destination are both {order.source!r}", "destination")


def split_order(
    order: Order,
    site: Site,
    fleet: FleetView,
    closed_zones: frozenset[str] = frozenset(),
    distances: SiteDistances | None = None,
) -> list[Leg]:
    """The legs of `order` in execution order; raises `OrderRejected` if it can never be done.

    Args:
        order: as the WMS asked (source/destination are station or slot ids).
        site: the site model.
        fleet: the machines that exist (their modes do not matter except
            out-of-service: a faulted vehicle may come back).
        closed_zones: zone ids closed now; their lanes count as unusable.
        distances: cached distance tables (defaults to `distances_for(site)`).
    """
    _validate_fields(order)
    src = resolve_place(site, order.source, "source")
    dst = resolve_place(site, order.destination, "destination")
    _check_place(order, src, "source")
    _check_place(order, dst, "destination")
    if src.node is not None and src.node == dst.node and src.bay == dst.bay:
        raise OrderRejected(Veto.SAME_PLACE, f"{src.id!r} and {dst.id!r} are the same place (node {src.node!r})", "destination")
    sp = _Splitter(order, site, fleet, closed_zones, distances or distances_for(site))
    hops: list[tuple[LegKind, Place, Place]] = []
    same_bay = src.bay is not None and src.bay == dst.bay
    if same_bay and (src.node is None or dst.node is None or not sp.agv_able):
        bay = site.bay_by_id[src.bay]  # type: ignore[index]
        sp.require_crane(bay, src, dst)
        hops.append((LegKind.CRANE, src, dst))
    elif src.node is not None and dst.node is not None:
        sp.agv_path_ok(src, dst)
        hops.append((LegKind.AGV, src, dst))
    elif src.node is None and dst.node is not None:
        bay = site.bay_by_id[src.bay]  # type: ignore[index]
        h = sp.best_handoff(bay, src, dst, outbound=True)
        sp.require_crane(bay, src, h)
        hops += [(LegKind.CRANE, src, h), (LegKind.AGV, h, dst)]
    elif src.node is not None and dst.node is None:
        bay = site.bay_by_id[dst.bay]  # type: ignore[index]
        h = sp.best_handoff(bay, dst, src, outbound=False)
        sp.require_crane(bay, h, dst)
        hops += [(LegKind.AGV, src, h), (LegKind.CRANE, h, dst)]
    else:
        b1, b2 = site.bay_by_id[src.bay], site.bay_by_id[dst.bay]  # type: ignore[index]
        h1, h2 = sp.best_bay_to_bay(b1, src, b2, dst)
        hops += [(LegKind.CRANE, src, h1), (LegKind.AGV, h1, h2), (LegKind.CRANE, h2, dst)]
    return _legs(order, hops)


def _legs(order: Order, hops: list[tuple[LegKind, Place, Place]]) -> list[Leg]:
    legs: list[Leg] = []
    for seq, (kind, a, b) in enumerate(hops):
        after = legs[-1].id if legs else None
        follows = seq + 1 < len(hops)
        handoff = a.id if after is not None else (b.id if follows else None)
        extra: dict[str, str] = {"load_id": order.load_id} if order.load_id else {}
        if kind == LegKind.CRANE:
            extra["bay"] = str(a.bay if a.bay is not None else b.bay)
        else:
            extra["source_node"] = str(a.node)
            extra["destination_node"] = str(b.node)
        legs.append(
            Leg(
                id=LegId(f"{order.id}.{seq}"),
                order_id=order.id,
                kind=kind,
                source=a.id,
                destination=b.id,
                seq=seq,
                state=LegState.OPEN if after is None else LegState.PENDING,
                after=after,
                handoff=handoff,
                load_type=order.load_type,
                weight_kg=order.weight_kg,
                hazardous=order.hazardous,
                priority=order.priority,
                deadline_s=order.deadline_s,
                created_s=order.created_s,
                updated_s=order.created_s,
                extra=extra,
            )
        )
    return legs


@dataclass(frozen=True)
class HandoffTiming:
    """When the AGV of a crane -> AGV handoff should arrive, and when to send it off."""

    arrive_s: float  # the AGV stands at the handoff from this time
    send_s: float  # the earliest time to send it (later blocks nothing, earlier blocks the lane)


def handoff_timing(drop_s: float, travel_s: float, margin_s: float = HANDOFF_MARGIN_S) -> HandoffTiming:
    """Arrive `margin_s` before the crane sets the load down; leave `travel_s` before that."""
    arrive = drop_s - margin_s
    return HandoffTiming(arrive_s=arrive, send_s=arrive - travel_s)


def node_of(site: Site, place_id: str) -> str | None:
    """The AGV access node of a station or rack slot (None for bay slots and unknown ids)."""
    st = site.station_by_id.get(place_id)
    if st is not None:
        return st.node
    slot = site.slot_by_id.get(place_id)
    return slot.node if slot is not None else None
