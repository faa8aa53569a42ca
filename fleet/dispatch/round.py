"""One dispatch round: the single entry point the core calls (on events, and every few seconds).

`dispatch_round` is pure: it takes the legs, machines and chargers as the core
last stored them and returns decisions; the core applies them (transitions,
persistence, events, commands). In order:

1. legs held by machines that are no longer usable are put back (`reopened`);
2. each crane bay's runway is planned (`planners.runway`, CP-SAT + greedy);
3. AGV legs waiting behind a crane leg are released when the crane will set the
   load down within `release_horizon_s` (`released`; the core opens them);
4. vehicles that must charge get CHARGE legs first; the open AGV legs go to idle
   and soon-idle vehicles (`OrToolsDispatcher`, greedy fallback); idle vehicles
   left over charge opportunistically;
5. bays whose handoff partners were just assigned are re-timed so no load is
   set down before its AGV is there;
6. everything is checked by the independent validators (`violations`, empty when
   all is well; the core should log and skip a round that has any).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fleet.dispatch.assignment import (
    Assignment,
    Availability,
    Dispatcher,
    OrToolsDispatcher,
    urgency_key,
)
from fleet.dispatch.charging import ChargePlan, Charger, ChargingPolicy, may_work, plan_charging
from fleet.dispatch.cranes import BaySchedule, schedule_bay
from fleet.dispatch.distances import SiteDistances, distances_for
from fleet.dispatch.legs import HANDOFF_MARGIN_S
from fleet.dispatch.redispatch import on_machine_lost
from fleet.dispatch.validate import CraneLegTiming, validate_assignments
from fleet.domain import (
    Crane,
    Leg,
    LegId,
    LegKind,
    LegState,
    Mode,
    Vehicle,
    VehicleId,
    transition_leg,
)
from maps.site import Site
from planners.runway import RunwaySchedule

RELEASE_HORIZON_S = 120.0  # open an AGV handoff leg this long before its crane sets the load down
HANDOFF_BOOST = 3  # priority steps added to an AGV leg a crane waits on
MAX_PRIORITY = 9


@dataclass(frozen=True)
class LegTimes:
    """What the core expects of a leg under way: at its pickup, and done."""

    arrive_s: float
    done_s: float


@dataclass(frozen=True)
class SoonIdle:
    """A busy vehicle that will be free at `node` at `free_s` with `battery` left."""

    node: str
    free_s: float
    battery: float


@dataclass(frozen=True)
class RoundResult:
    assignments: tuple[Assignment, ...]
    charge_legs: tuple[ChargePlan, ...]
    crane_schedule: dict[str, BaySchedule]
    reopened: tuple[LegId, ...]  # legs of machines that were lost (now OPEN again in `legs`)
    released: tuple[LegId, ...]  # PENDING AGV legs the core should open now (crane about to set down)
    legs: tuple[Leg, ...]  # the input legs after step 1 (reopened legs are OPEN)
    violations: tuple[str, ...] = ()
    method: str = ""
    elapsed_s: float = 0.0
    notes: tuple[str, ...] = field(default=())


def _usable(v: Vehicle) -> bool:
    return v.mode == Mode.AUTO and v.link_ok


def dispatch_round(
    site: Site,
    legs: Sequence[Leg],
    vehicles: Sequence[Vehicle],
    cranes: Sequence[Crane],
    chargers: Sequence[Charger],
    now_s: float,
    budget_s: float = 1.0,
    closed_zones: frozenset[str] = frozenset(),
    previous: Mapping[str, RunwaySchedule] | None = None,
    soon_idle: Mapping[VehicleId, SoonIdle] | None = None,
    expected: Mapping[LegId, LegTimes] | None = None,
    policy: ChargingPolicy | None = None,
    dispatcher: Dispatcher | None = None,
    distances: SiteDistances | None = None,
    release_horizon_s: float = RELEASE_HORIZON_S,
    crane_busy_until: Mapping[str, float] | None = None,
    work_limited: bool = False,
) -> RoundResult:
    """Decide this round (see the module docstring). Never raises for a bad leg or machine:
    what cannot be placed is left for the next round and named in `notes`."""
    t0 = time.perf_counter()
    policy = policy or ChargingPolicy()
    dist = distances or distances_for(site)
    expected = expected or {}
    soon_idle = soon_idle or {}
    notes: list[str] = []

    # 1. legs on machines that are gone go back to the pool (loaded ones are held)
    current = list(legs)
    reopened: list[LegId] = []
    machines = {v.id: v for v in vehicles} | {c.id: c for c in cranes}
    lost = sorted(
        {
            leg.machine_id
            for leg in current
            if leg.machine_id is not None
            and not leg.terminal
            and (leg.machine_id not in machines or not (machines[leg.machine_id].mode == Mode.AUTO and machines[leg.machine_id].link_ok))
        }
    )
    for mid in lost:
        r = on_machine_lost(current, mid, now_s)
        current = list(r.legs)
        reopened += r.reopened
        if r.held:
            notes.append(f"machine {mid!r} lost with a load: legs {', '.join(r.held)} held")
    by_id = {leg.id: leg for leg in current}
    next_of = {leg.after: leg for leg in current if leg.after is not None}

    # 2. cranes, pass 1: AGV -> crane legs are released by the AGV's expected drop
    crane_by_id = {c.id: c for c in cranes}
    bays = sorted({leg.extra.get("bay", "") for leg in current if leg.kind == LegKind.CRANE and not leg.terminal} - {""})
    bays = [b for b in bays if b in site.bay_by_id]
    ready: dict[LegId, float] = {}
    for leg in current:
        if leg.kind == LegKind.CRANE and leg.state == LegState.PENDING and leg.after in by_id:
            before = by_id[leg.after]
            if before.state == LegState.DONE:
                ready[leg.id] = now_s
            elif before.id in expected and before.state in (LegState.ASSIGNED, LegState.TO_PICKUP, LegState.LOADED):
                ready[leg.id] = expected[before.id].done_s
    crane_budget = budget_s * 0.6 / max(1, len(bays))
    booked = handoffs_booked(current, by_id, site)
    # one coil per handoff at a time: a crane does not start a coil towards a handoff
    # that holds (or is about to receive) a coil, or that another crane is bringing one to
    schedulable = []
    taken = set(booked.inbound | booked.outbound)
    for leg in sorted(current, key=urgency_key):
        if leg.kind == LegKind.CRANE and leg.state == LegState.OPEN and leg.destination in booked.stations:
            if leg.destination in taken:
                continue
            taken.add(leg.destination)
        schedulable.append(leg)
    schedules: dict[str, BaySchedule] = {}
    for bay in bays:
        schedules[bay] = schedule_bay(
            site, bay, schedulable, crane_by_id, now_s, crane_budget, (previous or {}).get(bay), ready, None, crane_busy_until,
            work_limited=work_limited,
        )
    crane_times = _crane_times(schedules)

    # 3. release AGV legs whose crane will set the load down soon
    released: list[LegId] = []
    ready_agv: dict[LegId, float] = {}
    for leg in current:
        if leg.kind != LegKind.AGV or leg.state != LegState.PENDING or leg.after not in by_id:
            continue
        before = by_id[leg.after]
        if before.kind != LegKind.CRANE:
            continue
        if before.state == LegState.DONE:
            drop = now_s
        elif before.id in crane_times:
            drop = crane_times[before.id].drop_s
        elif before.id in expected:
            drop = expected[before.id].done_s
        else:
            continue
        # a crane that has the leg waits for its AGV before it lifts the coil (traffic),
        # so that AGV leg opens now, however far off the set-down looks
        if drop - now_s <= release_horizon_s or before.state in (LegState.ASSIGNED, LegState.LOADED):
            released.append(leg.id)
            ready_agv[leg.id] = drop - HANDOFF_MARGIN_S

    # 4. vehicles: urgent charging first, then legs, then opportunity charging
    pool: list[Availability] = []
    taken = {leg.machine_id for leg in current if not leg.terminal and leg.machine_id is not None}
    for v in vehicles:
        if not _usable(v):
            continue
        if v.id in soon_idle and v.leg_id is not None:
            s = soon_idle[v.id]
            pool.append(Availability(v, s.node, s.free_s, s.battery))
        elif v.leg_id is None and v.id not in taken and v.node is not None:
            at = site_node(site, v.node)
            if at is not None:
                pool.append(Availability(v, at, now_s, v.battery))
            else:
                notes.append(f"vehicle {v.id!r} reports node {v.node!r}, which is not on the site")
    idle_now = [a for a in pool if a.free_s <= now_s]
    urgent = plan_charging(site, idle_now, chargers, now_s, policy, (), closed_zones, dist, opportunity=False)
    charging_ids = {p.vehicle_id for p in urgent}
    workers = [a for a in pool if a.vehicle.id not in charging_ids and may_work(a.vehicle, a.battery, policy)]
    # an AGV does not bring a coil to a handoff that is taken: by a coil waiting for a
    # crane, or by a crane coming to set one down there
    open_legs = []
    taken_handoffs = set(booked.inbound | booked.outbound)
    for leg in sorted((g for g in current if g.kind == LegKind.AGV and g.state == LegState.OPEN), key=urgency_key):
        if leg.destination in taken_handoffs:
            continue
        if leg.destination in booked.stations:
            taken_handoffs.add(leg.destination)  # one coil at a time: the most urgent goes
        open_legs.append(leg)
    # a crane waits (or soon will) for the AGV of a handoff leg: those go first
    open_legs = [dataclasses.replace(leg, priority=min(MAX_PRIORITY, leg.priority + HANDOFF_BOOST))
                 if leg.after in by_id and by_id[leg.after].kind == LegKind.CRANE else leg for leg in open_legs]
    open_legs += [dataclasses.replace(transition_leg(by_id[lid], LegState.OPEN, now_s),
                                      priority=min(MAX_PRIORITY, by_id[lid].priority + HANDOFF_BOOST)) for lid in released]
    disp = dispatcher or OrToolsDispatcher(site, closed_zones, dist)
    assignments = disp.assign(open_legs, workers, now_s, ready_agv)
    method = getattr(disp, "last_method", type(disp).__name__)
    assigned_v = {a.vehicle_id for a in assignments}
    used_chargers = {p.charger_id for p in urgent}
    rest_chargers = [c if c.station_id not in used_chargers else dataclasses.replace(c, occupant=VehicleId("~booked")) for c in chargers]
    spare = [a for a in idle_now if a.vehicle.id not in assigned_v and a.vehicle.id not in charging_ids]
    opportunity = plan_charging(site, spare, rest_chargers, now_s, policy, (), closed_zones, dist, opportunity=True)
    charge = urgent + opportunity

    # 5. cranes, pass 2: loads wait for their AGV at crane -> AGV handoffs
    eta_of = {a.leg_id: a.eta_s for a in assignments}
    dnb: dict[str, dict[LegId, float]] = {}
    for leg in current:
        if leg.kind == LegKind.CRANE and leg.id in next_of:
            nxt = next_of[leg.id]
            arrive = eta_of.get(nxt.id, expected[nxt.id].arrive_s if nxt.id in expected else None)
            if arrive is not None and leg.id in crane_times and arrive > crane_times[leg.id].drop_s:
                dnb.setdefault(leg.extra.get("bay", ""), {})[leg.id] = arrive
    for bay, waits in dnb.items():
        if bay in schedules:
            schedules[bay] = schedule_bay(
                site, bay, current, crane_by_id, now_s, crane_budget / 2, schedules[bay].schedule, ready, waits, crane_busy_until,
                work_limited=work_limited,
            )
    crane_times = _crane_times(schedules)

    # 6. independent checks
    violations = validate_assignments(
        assignments, open_legs + [leg for leg in current if leg.id not in set(released)], vehicles, charge, chargers, crane_times
    )
    for bay, b in schedules.items():
        violations += [f"bay {bay!r}: {v}" for v in b.violations]
        if b.unschedulable:
            notes.append(f"bay {bay!r}: no crane can do {', '.join(b.unschedulable)} now")
    return RoundResult(
        assignments=tuple(assignments),
        charge_legs=tuple(charge),
        crane_schedule=schedules,
        reopened=tuple(reopened),
        released=tuple(released),
        legs=tuple(current),
        violations=tuple(violations),
        method=method,
        elapsed_s=time.perf_counter() - t0,
        notes=tuple(notes),
    )


def site_node(site: Site, node_id: str) -> str | None:
    """The site node a vehicle's reported node stands for. Traffic splits lanes into
    waypoints (`A>B#k`, see `maps.compile`); a vehicle stopped on one is on its way to B,
    so dispatch costs its trips from B (an unknown node would make it undispatchable)."""
    if node_id in site.node_by_id:
        return node_id
    lane, sep, _k = node_id.rpartition("#")
    if sep and ">" in lane:
        end = lane.split(">", 1)[1]
        if end in site.node_by_id:
            return end
    return None


@dataclass(frozen=True)
class HandoffBookings:
    """Which handoff stations are taken, and by what: `inbound`, a coil an AGV brought
    (or is bringing) that no crane has lifted yet; `outbound`, a crane under way to set
    a coil down there for an AGV."""

    inbound: frozenset[str]
    outbound: frozenset[str]
    stations: frozenset[str]  # every handoff station


def handoffs_booked(legs: Sequence[Leg], by_id: Mapping[LegId, Leg], site: Site) -> HandoffBookings:
    """A handoff holds one coil: book it so a crane and an AGV never wait on each other."""
    stations = {st.id for st in site.stations if st.kind == "handoff"}
    inbound: set[str] = set()
    outbound: set[str] = set()
    for leg in legs:
        if leg.terminal:
            continue
        if leg.kind == LegKind.AGV and leg.destination in stations and leg.state in (LegState.ASSIGNED, LegState.LOADED):
            inbound.add(leg.destination)  # a coil on its way in
        elif leg.kind == LegKind.CRANE and leg.source in stations and leg.state in (LegState.OPEN, LegState.PENDING, LegState.ASSIGNED):
            before = by_id.get(leg.after) if leg.after else None
            if before is None or before.state == LegState.DONE:
                inbound.add(leg.source)  # a coil standing there for a crane
        elif leg.kind == LegKind.CRANE and leg.destination in stations and leg.state in (LegState.ASSIGNED, LegState.LOADED):
            outbound.add(leg.destination)
    return HandoffBookings(frozenset(inbound), frozenset(outbound), frozenset(stations))


def _crane_times(schedules: Mapping[str, BaySchedule]) -> dict[LegId, CraneLegTiming]:
    out: dict[LegId, CraneLegTiming] = {}
    for b in schedules.values():
        for jid, tm in b.schedule.timings.items():
            out[LegId(jid)] = CraneLegTiming(b.runway.cranes[tm.crane].id, tm.pick_s, tm.drop_s)
    return out
