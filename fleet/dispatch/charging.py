"""Batteries and chargers: who goes to charge, and to which charger.

A vehicle's battery drains per metre driven and per lift (`Vehicle.drain_per_m`,
`Vehicle.drain_per_lift`). Below `ChargingPolicy.low` it must charge: it gets no
new leg and is sent to the nearest free charger. An idle vehicle with no leg this
round and below `ChargingPolicy.opportunity` charges opportunistically. A vehicle on
a charger is available for work again once it has `ChargingPolicy.work_min` (its
charge is interrupted), and is done charging at `ChargingPolicy.full`.

Chargers are scarce: one vehicle each, and a charger can be out of order. A charger
is free when it is in service, nobody is on it and no CHARGE leg is heading to it
(`Charger.occupant` names either). The result is CHARGE legs (OPEN, with the vehicle
they are planned for) that the core stores and assigns like any other leg.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from fleet.dispatch.assignment import Availability
from fleet.dispatch.distances import SiteDistances, distances_for
from fleet.domain import Leg, LegId, LegKind, LegState, Mode, Vehicle, VehicleId
from maps.site import Site, StationKind


@dataclass(frozen=True)
class ChargingPolicy:
    low: float = 0.25  # must charge below this
    opportunity: float = 0.6  # idle and below this: charge if a charger is free
    work_min: float = 0.5  # a charging vehicle may take work again from here
    full: float = 0.95  # charging is done


@dataclass(frozen=True)
class Charger:
    """A charger station's live state (kept by the core)."""

    station_id: str
    node: str
    in_service: bool = True
    occupant: VehicleId | None = None  # on it, or a CHARGE leg heading to it

    @property
    def free(self) -> bool:
        return self.in_service and self.occupant is None


@dataclass(frozen=True)
class ChargePlan:
    leg: Leg
    vehicle_id: VehicleId
    charger_id: str
    travel_m: float
    eta_s: float
    urgent: bool  # below `low` (not opportunity charging)


def chargers_of(site: Site) -> list[Charger]:
    """Every charger station of the site, in service and free (the state at start)."""
    return [Charger(s.id, s.node) for s in site.stations if s.kind == StationKind.CHARGER]


def battery_after(vehicle: Vehicle, metres: float, lifts: int = 0, battery: float | None = None) -> float:
    """State of charge after driving `metres` and doing `lifts` lifts (not below 0)."""
    start = vehicle.battery if battery is None else battery
    return max(0.0, start - metres * vehicle.drain_per_m - lifts * vehicle.drain_per_lift)


def must_charge(battery: float, policy: ChargingPolicy) -> bool:
    return battery < policy.low


def may_work(vehicle: Vehicle, battery: float, policy: ChargingPolicy) -> bool:
    """Whether dispatch may give this vehicle a transport leg now."""
    if must_charge(battery, policy):
        return False
    return not (vehicle.charging and battery < policy.work_min)


def plan_charging(
    site: Site,
    vehicles: Sequence[Vehicle | Availability],
    chargers: Iterable[Charger],
    now_s: float,
    policy: ChargingPolicy | None = None,
    busy: Iterable[VehicleId] = (),
    closed_zones: frozenset[str] = frozenset(),
    distances: SiteDistances | None = None,
    opportunity: bool = True,
) -> list[ChargePlan]:
    """CHARGE legs for vehicles that must (lowest battery first), then for idle ones that may.

    `vehicles` are the idle ones (busy vehicles are ignored, and so are vehicles in
    `busy`, e.g. given a leg this round). Each charger gets at most one vehicle.
    """
    policy = policy or ChargingPolicy()
    dist = distances or distances_for(site)
    taken = set(busy)
    free = [c for c in chargers if c.free]
    occupied = {c.occupant for c in chargers if c.occupant is not None}
    cands: list[tuple[bool, float, str, Availability]] = []
    for v in vehicles:
        a = v if isinstance(v, Availability) else Availability.now(v, now_s)
        if a is None or a.vehicle.id in taken or a.vehicle.id in occupied or a.vehicle.charging:
            continue
        if not (a.vehicle.mode == Mode.AUTO and a.vehicle.link_ok):
            continue
        if must_charge(a.battery, policy):
            cands.append((True, a.battery, a.vehicle.id, a))
        elif opportunity and a.battery < policy.opportunity:
            cands.append((False, a.battery, a.vehicle.id, a))
    cands.sort(key=lambda c: (not c[0], c[1], c[2]))
    plans: list[ChargePlan] = []
    for urgent, _battery, _vid, a in cands:
        if not free:
            break
        net = dist.network(closed_zones, a.vehicle.capabilities.hazardous_rated)
        if a.node not in net.node_index:
            continue
        known = [c for c in free if c.node in net.node_index]  # a charger off the site is never used
        if not known:
            continue
        net.prepare({c.node for c in known})
        here = net.node_index[a.node]
        metres = np.array([net.to(c.node)[here] if c.node in net.node_index else np.inf for c in free])
        best = int(np.argmin(metres))
        if not math.isfinite(metres[best]):
            continue
        charger = free.pop(best)
        travel = float(metres[best])
        leg = Leg(
            id=LegId(f"charge.{a.vehicle.id}.{int(now_s * 1000)}"),
            order_id=None,
            kind=LegKind.CHARGE,
            source=a.node,
            destination=charger.station_id,
            state=LegState.OPEN,
            priority=9 if urgent else 0,
            created_s=now_s,
            updated_s=now_s,
            extra={"charger": charger.station_id, "vehicle": a.vehicle.id},
        )
        eta = max(a.free_s, now_s) + travel / max(a.vehicle.speed_mps, 0.1)
        plans.append(ChargePlan(leg, a.vehicle.id, charger.station_id, travel, eta, urgent))
    return plans
