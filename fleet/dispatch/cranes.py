"""The thin layer between crane legs and the runway planner (`planners.runway`).

It turns a bay of the site, its cranes' live state and the crane legs to do into
the planner's `Runway` and `RunwayJob`s, and the planner's timed steps back into
one `CraneCommand` per crane leg (bridge, trolley, hoist, pick, drop moves, each
with the `not_before_s` the schedule gives it), plus commands for the bridge moves
a crane makes only to keep out of a neighbour's way.

Which crane legs are scheduled: OPEN ones, ASSIGNED ones not started yet (they keep
their crane and are re-timed every round), and PENDING ones whose load will be at
the handoff at a known time (`ready_s`: the AGV's arrival). A crane leg whose AGV
partner is assigned gets `drop_not_before_s` = that AGV's arrival, so the load is
never set down at an empty handoff.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fleet.domain import Crane, Leg, LegId, LegKind, LegState, Mode
from fleet.domain.commands import CraneCommand, CraneMove, CraneMoveKind
from maps.site import CraneBay, Site
from planners.runway import (
    CraneAxis,
    Runway,
    RunwayJob,
    RunwaySchedule,
    StepKind,
    eligible_cranes,
    schedule_runway,
)
from planners.runway_validate import validate_runway

JOBS_PER_CRANE = 4  # crane legs planned ahead per crane each round (the rest wait their turn)
BUSY_DEFAULT_S = 60.0  # a busy crane with no estimate is taken to be free this much later


@dataclass(frozen=True)
class BaySchedule:
    bay: str
    runway: Runway
    jobs: tuple[RunwayJob, ...]
    schedule: RunwaySchedule
    commands: tuple[CraneCommand, ...]
    crane_of_leg: dict[LegId, str]
    unschedulable: tuple[LegId, ...] = ()  # no crane can do them now (e.g. a crane parked in the way)
    violations: tuple[str, ...] = field(default=())


def place_on_runway(site: Site, place: str) -> tuple[float, float] | None:
    """(runway_m, cross_m) of a bay slot or handoff station; None if it has none."""
    slot = site.slot_by_id.get(place)
    if slot is not None and slot.runway_m is not None:
        return slot.runway_m, slot.cross_m or 0.0
    st = site.station_by_id.get(place)
    if st is not None and st.runway_m is not None:
        return st.runway_m, st.cross_m or 0.0
    return None


def runway_of(
    bay: CraneBay,
    cranes: Mapping[str, Crane],
    now_s: float,
    busy_until: Mapping[str, float] | None = None,
    planned: frozenset[str] = frozenset(),
) -> Runway:
    """The planner's view of a bay: cranes in runway order, where and when each is free.

    A crane that is not in AUTO mode or has lost its link is parked (it stands where
    it is, blocks the runway and takes no job). A crane whose current leg is one of the
    `planned` ones (assigned, not started) is free: that leg is in the plan.
    """
    axes = []
    for spec in bay.cranes:
        live = cranes.get(spec.id)
        pos = live.bridge_m if live is not None else spec.home_m
        cross = live.trolley_m if live is not None else 0.0
        parked = live is not None and (live.mode != Mode.AUTO or not live.link_ok)
        free = now_s
        if live is not None and live.leg_id is not None and live.leg_id not in planned and not parked:
            free = (busy_until or {}).get(spec.id, now_s + BUSY_DEFAULT_S)
        payload = live.capabilities.payload_kg if live is not None else spec.payload_kg
        axes.append(
            CraneAxis(
                id=spec.id,
                width_m=spec.width_m,
                start_m=pos,
                start_cross_m=cross,
                free_s=free,
                bridge_mps=spec.bridge_speed_mps,
                trolley_mps=spec.trolley_speed_mps,
                hoist_mps=spec.hoist_speed_mps,
                pick_s=spec.pick_s,
                drop_s=spec.drop_s,
                payload_kg=payload,
                parked=parked,
            )
        )
    return Runway(bay.runway_length_m, bay.safety_gap_m, bay.hook_height_m, tuple(axes))


def crane_jobs(
    site: Site,
    bay: CraneBay,
    legs: Sequence[Leg],
    cranes: Mapping[str, Crane],
    ready_s: Mapping[LegId, float] | None = None,
    drop_not_before_s: Mapping[LegId, float] | None = None,
) -> tuple[list[RunwayJob], list[LegId]]:
    """Runway jobs for this bay's schedulable crane legs, and the legs it cannot place."""
    ready = ready_s or {}
    dnb = drop_not_before_s or {}
    jobs: list[RunwayJob] = []
    bad: list[LegId] = []
    ours = {c.id for c in bay.cranes}
    wanted = [leg for leg in legs if leg.kind == LegKind.CRANE and leg.extra.get("bay", bay.id) == bay.id
              and (leg.state in (LegState.OPEN, LegState.ASSIGNED) or (leg.state == LegState.PENDING and leg.id in ready))
              and (leg.state != LegState.ASSIGNED or leg.machine_id in ours)]
    # a horizon: the legs under way and the most urgent few per crane. A backlog of
    # hundreds of coil moves would make every round's CP-SAT model slow for nothing:
    # the cranes can only do the first few before the next round re-plans anyway.
    cap = JOBS_PER_CRANE * max(1, len(bay.cranes))
    waiting = sorted((leg for leg in wanted if leg.state != LegState.ASSIGNED),
                     key=lambda g: (-g.priority, ready.get(g.id, 0.0), g.deadline_s or math.inf, g.created_s, g.id))
    keep = {leg.id for leg in wanted if leg.state == LegState.ASSIGNED} | {leg.id for leg in waiting[:cap]}
    for leg in wanted:
        if leg.id not in keep:
            continue
        a = place_on_runway(site, leg.source)
        b = place_on_runway(site, leg.destination)
        if a is None or b is None:
            bad.append(leg.id)
            continue
        eligible = []
        for k, spec in enumerate(bay.cranes):
            live = cranes.get(spec.id)
            if live is not None and not live.capabilities.can_carry(leg.load_type, leg.weight_kg, leg.hazardous):
                continue
            if leg.state == LegState.ASSIGNED and spec.id != leg.machine_id:
                continue  # assigned, not started: keeps its crane, the plan re-times it
            eligible.append(k)
        jobs.append(
            RunwayJob(
                id=leg.id,
                pick_m=a[0],
                drop_m=b[0],
                pick_cross_m=a[1],
                drop_cross_m=b[1],
                release_s=ready.get(leg.id, 0.0),
                drop_not_before_s=dnb.get(leg.id, 0.0),
                due_s=leg.deadline_s,
                priority=leg.priority,
                weight_kg=leg.weight_kg,
                eligible=tuple(eligible),
                load_id=leg.extra.get("load_id"),
            )
        )
    return jobs, bad


def _move(kind: StepKind) -> CraneMoveKind:
    return CraneMoveKind(kind.value)


def commands_of(runway: Runway, schedule: RunwaySchedule, legs: Mapping[LegId, Leg], now_s: float) -> list[CraneCommand]:
    """One CraneCommand per crane leg (in schedule order) and one per keep-out bridge move."""
    out: list[CraneCommand] = []
    for k, steps in enumerate(schedule.steps):
        crane = runway.cranes[k]
        by_job: dict[str | None, list[CraneMove]] = {}
        order: list[str | None] = []
        n_yield = 0
        for st in steps:
            key = st.job
            if key is None:
                n_yield += 1
                key = f"~yield{n_yield}"
            if key not in by_job:
                by_job[key] = []
                order.append(key)
            leg = legs.get(LegId(st.job)) if st.job else None
            load = leg.extra.get("load_id") if leg is not None else None
            by_job[key].append(
                CraneMove(_move(st.kind), st.target_m, round(st.start_s, 3), load if st.kind in (StepKind.PICK, StepKind.DROP) else None)
            )
        for key in order:
            leg = legs.get(LegId(key)) if key and not key.startswith("~") else None
            out.append(
                CraneCommand(
                    command_id=f"{crane.id}:{key}:{int(now_s * 1000)}",
                    machine_id=crane.id,
                    order_id=str(leg.order_id) if leg is not None and leg.order_id else "",
                    moves=tuple(by_job[key]),
                    issued_s=now_s,
                )
            )
    return out


def schedule_bay(
    site: Site,
    bay_id: str,
    legs: Sequence[Leg],
    cranes: Mapping[str, Crane],
    now_s: float,
    budget_s: float = 1.5,
    previous: RunwaySchedule | None = None,
    ready_s: Mapping[LegId, float] | None = None,
    drop_not_before_s: Mapping[LegId, float] | None = None,
    busy_until: Mapping[str, float] | None = None,
    seed: int = 0,
    work_limited: bool = False,
) -> BaySchedule:
    """Plan one bay's runway and check the plan with the independent validator."""
    bay = site.bay_by_id[bay_id]
    jobs, bad = crane_jobs(site, bay, legs, cranes, ready_s, drop_not_before_s)
    runway = runway_of(bay, cranes, now_s, busy_until, frozenset(j.id for j in jobs))
    ok_jobs = []
    for job in jobs:
        if eligible_cranes(runway, job):
            ok_jobs.append(job)
        else:
            bad.append(LegId(job.id))
    sch = schedule_runway(runway, ok_jobs, now_s, budget_s, previous, seed, work_limited=work_limited)
    violations = validate_runway(runway, ok_jobs, sch)
    crane_of = {LegId(jid): runway.cranes[k].id for k, seq in enumerate(sch.sequences) for jid in seq}
    by_id = {leg.id: leg for leg in legs}
    return BaySchedule(
        bay_id, runway, tuple(ok_jobs), sch, tuple(commands_of(runway, sch, by_id, now_s)), crane_of, tuple(bad), tuple(violations)
    )
