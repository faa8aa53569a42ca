"""Crane runway scheduling and its independent validator."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planners.runway import (
    CraneAxis,
    CraneTrack,
    Runway,
    RunwayJob,
    RunwayStatus,
    crane_reach,
    eligible_cranes,
    lower_bound,
    schedule_fcfs,
    schedule_greedy,
    schedule_runway,
    simulate,
)
from planners.runway_validate import check_gaps, validate_runway


def runway(n: int = 3, length: float = 150.0) -> Runway:
    cranes = tuple(CraneAxis(f"C{k}", 8.0, 20 + k * (length - 40) / max(1, n - 1), pick_s=10, drop_s=10) for k in range(n))
    return Runway(length, 2.0, 4.0, cranes)


def jobs_for(rw: Runway, n: int, seed: int) -> list[RunwayJob]:
    rnd = random.Random(seed)
    out: list[RunwayJob] = []
    while len(out) < n:
        p, d = rnd.uniform(5, rw.length_m - 5), rnd.uniform(5, rw.length_m - 5)
        job = RunwayJob(f"j{len(out)}", round(p, 1), round(d, 1), rnd.uniform(0, 8), rnd.uniform(0, 8),
                        release_s=rnd.uniform(0, 200), due_s=rnd.choice([None, 900.0]))
        if eligible_cranes(rw, job):
            out.append(job)
    return out


def test_reach_pushes_neighbours_to_the_ends() -> None:
    lo, hi = crane_reach(np.array([6.0, 6.0]), 3.0, 60.0)
    assert lo.tolist() == [3.0, 12.0] and hi.tolist() == [48.0, 57.0]


def test_two_cranes_swapping_sides_never_cross() -> None:
    rw = runway(2, 100.0)
    jobs = [RunwayJob("left-to-right", 20.0, 70.0), RunwayJob("right-to-left", 80.0, 30.0)]
    for sch in (schedule_fcfs(rw, jobs), schedule_greedy(rw, jobs), schedule_runway(rw, jobs, budget_s=0.5)):
        assert validate_runway(rw, jobs, sch) == []
        assert set(sch.timings) == {"left-to-right", "right-to-left"}


def test_release_and_drop_not_before_are_kept() -> None:
    rw = runway(1, 60.0)
    jobs = [RunwayJob("a", 10.0, 40.0, release_s=100.0, drop_not_before_s=400.0)]
    sch = schedule_runway(rw, jobs, budget_s=0.3)
    tm = sch.timings["a"]
    assert tm.pick_s >= 100.0 and tm.drop_s >= 400.0
    assert validate_runway(rw, jobs, sch) == []


def test_parked_crane_blocks_its_side() -> None:
    rw = runway(2, 100.0)
    rw = dataclasses.replace(rw, cranes=(rw.cranes[0], dataclasses.replace(rw.cranes[1], parked=True, start_m=60.0)))
    assert eligible_cranes(rw, RunwayJob("beyond", 20.0, 70.0)) == []
    jobs = [RunwayJob("ok", 10.0, 45.0)]
    sch = schedule_runway(rw, jobs, budget_s=0.3)
    assert validate_runway(rw, jobs, sch) == [] and sch.tracks[1].positions.tolist() == [60.0]


def test_greedy_beats_fcfs_and_respects_the_lower_bound() -> None:
    rw = runway()
    jobs = jobs_for(rw, 30, 3)
    f, g = schedule_fcfs(rw, jobs), schedule_greedy(rw, jobs)
    assert g.objective() <= f.objective() + 1e-6
    lb = lower_bound(rw, jobs)
    assert lb <= g.makespan_s + 1e-6 and lb <= f.makespan_s + 1e-6


def test_re_solve_with_warm_start_keeps_the_plan_valid() -> None:
    rw = runway()
    jobs = jobs_for(rw, 12, 5)
    first = schedule_runway(rw, jobs[:8], budget_s=0.4)
    second = schedule_runway(rw, jobs, budget_s=0.4, previous=first)
    assert validate_runway(rw, jobs, second) == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 14), cranes=st.integers(1, 3))
def test_every_plan_is_valid(seed, n, cranes) -> None:
    rw = runway(cranes)
    jobs = jobs_for(rw, n, seed)
    for sch in (schedule_fcfs(rw, jobs), schedule_greedy(rw, jobs)):
        assert sch.status != RunwayStatus.STALLED
        assert validate_runway(rw, jobs, sch) == []


@pytest.mark.slow
def test_cp_sat_plans_are_valid() -> None:
    for seed in range(5):
        rw = runway()
        jobs = jobs_for(rw, 20, seed)
        sch = schedule_runway(rw, jobs, budget_s=1.0)
        assert validate_runway(rw, jobs, sch) == []


# -- the validator must catch bad schedules -----------------------------------------


def _valid():  # type: ignore[no-untyped-def]
    rw = runway(2, 100.0)
    jobs = [RunwayJob("a", 20.0, 40.0), RunwayJob("b", 70.0, 85.0)]
    return rw, jobs, simulate(rw, jobs, [[0], [1]])


def test_validator_accepts_the_simulated_plan() -> None:
    rw, jobs, sch = _valid()
    assert validate_runway(rw, jobs, sch) == []


@settings(max_examples=60, deadline=None)
@given(t=st.floats(0, 300), x=st.floats(-20, 120))
def test_validator_catches_a_bridge_moved_into_its_neighbour(t, x) -> None:
    rw, _jobs, sch = _valid()
    a, b = sch.tracks
    need = rw.delta(0, 1)
    # insert a point into crane 1's track at time t, position x
    times = np.union1d(b.times, [t])
    pos = np.interp(times, b.times, b.positions)
    pos[int(np.flatnonzero(times == t)[0])] = x
    bad = dataclasses.replace(sch, tracks=(a, CraneTrack(times, pos)))
    found = check_gaps(rw, bad)
    if x - a.at(t) < need - 1e-3:
        assert found, "a gap violation went unnoticed"
    else:
        # no new violation at t itself; neighbours of t may still be flagged by the jump
        assert all("apart at t=" in f for f in found)


def test_validator_catches_crossing_between_breakpoints() -> None:
    rw, _jobs, sch = _valid()
    # crane 0 sweeps 10 -> 90 over 0..100 s while crane 1 stays at 50: they cross at t=50
    a = CraneTrack(np.array([0.0, 100.0]), np.array([10.0, 90.0]))
    b = CraneTrack(np.array([0.0]), np.array([50.0]))
    found = check_gaps(rw, dataclasses.replace(sch, tracks=(a, b)))
    assert found and "cross" in found[0]


def test_validator_catches_job_errors() -> None:
    rw, jobs, sch = _valid()
    twice = dataclasses.replace(sch, sequences=(("a", "b"), ("b",)))
    assert any("twice" in f for f in validate_runway(rw, jobs, twice))
    missing = dataclasses.replace(sch, sequences=(("a",), ()))
    assert any("not scheduled" in f for f in validate_runway(rw, jobs, missing))
    early = [dataclasses.replace(jobs[0], release_s=1e6), jobs[1]]
    assert any("before its release" in f for f in validate_runway(rw, early, sch))
    moved = dataclasses.replace(jobs[0], pick_m=25.0)
    assert any("not standing at the pick" in f for f in validate_runway(rw, [moved, jobs[1]], sch))
    heavy = dataclasses.replace(rw, cranes=(dataclasses.replace(rw.cranes[0], payload_kg=1.0), rw.cranes[1]))
    assert any("over crane" in f for f in validate_runway(heavy, [dataclasses.replace(jobs[0], weight_kg=5.0), jobs[1]], sch))
    fast = dataclasses.replace(rw, cranes=(dataclasses.replace(rw.cranes[0], bridge_mps=0.01), rw.cranes[1]))
    assert any("faster than" in f for f in validate_runway(fast, jobs, sch))
