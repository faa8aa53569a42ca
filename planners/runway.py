"""Crane runway scheduling: who lifts which coil when, without cranes passing each other.

Cranes on one runway are ordered (crane 0 nearest the runway start) and can never
pass: at every instant the bridge centres keep `delta(k, k+1) = (w_k + w_{k+1}) / 2
+ safety_gap` apart. A job is one crane leg: travel empty to the pick position,
lower, pick, raise, carry to the drop position, lower, drop, raise.

The work is split in two, each part small and checkable:

1. *Sequencing* (which crane does which job, in which order). OR-Tools CP-SAT with
   one optional interval per (job, eligible crane), a circuit per crane whose arcs
   carry the empty-travel setup times, and, for neighbouring cranes, a disjunction
   between any two jobs whose runway spans cannot be worked at the same time. It
   minimises makespan plus priority-weighted lateness within a time budget, hinted
   with the greedy plan (or the previous solution when re-solving as jobs arrive).
2. *Timing* (`simulate`): a deterministic runway simulation turns sequences into
   piecewise-linear bridge positions over time. The crane working the most urgent
   job has the right of way; the others keep out of the span it still has to
   sweep and yield when idle. Every step is clamped so no gap is ever violated, so
   the simulation is valid by construction, and `planners.runway_validate` checks
   it independently.

`schedule_runway` returns the better of the CP-SAT plan and the greedy plan, both
timed by the same simulation, so the greedy plan is always the fallback. Pure:
arrays and dataclasses in and out, no I/O, nothing from `fleet/`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

SIM_DT_S = 1.0  # simulation step; positions are linear inside a step
MAX_SIM_S = 7 * 24 * 3600.0  # give up (status STALLED) past a week of simulated time
CLAIM_WHOLE_JOB = False  # True: a crane going to its pick also claims the way to its drop (measured 2-4% worse)
DET_PER_WALL_S = 0.1  # CP-SAT deterministic time allowed per second of budget (~1/3 s wall on this machine)
WORK_LIMITED_CAP = 20.0  # work-limited: the wall clock stops CP-SAT only past this many budgets
STALL_S = 3600.0  # or after an hour of simulated time without any job making progress
EPS = 1e-6


class RunwayStatus(StrEnum):
    OPTIMAL = "optimal"  # CP-SAT proved its sequence optimal (for its model)
    FEASIBLE = "feasible"  # CP-SAT found a sequence that beat or matched greedy
    GREEDY = "greedy"  # the greedy plan (CP-SAT found nothing better in the budget)
    FCFS = "fcfs"  # first come, first served (the baseline)
    EMPTY = "empty"  # no jobs
    STALLED = "stalled"  # the simulation could not finish (should not happen)


@dataclass(frozen=True)
class CraneAxis:
    """One crane as the scheduler sees it; positions are bridge centres along the runway."""

    id: str
    width_m: float
    start_m: float  # where the bridge is (or will be when free_s comes)
    start_cross_m: float = 0.0
    free_s: float = 0.0  # when it can start its first job
    bridge_mps: float = 1.0
    trolley_mps: float = 0.6
    hoist_mps: float = 0.2
    pick_s: float = 20.0
    drop_s: float = 20.0
    payload_kg: float = math.inf
    parked: bool = False  # out of order or manual: stands still, takes no job, blocks the runway


@dataclass(frozen=True)
class Runway:
    length_m: float
    safety_gap_m: float
    hook_height_m: float
    cranes: tuple[CraneAxis, ...]  # in runway order

    def delta(self, a: int, b: int) -> float:
        """Least centre distance between cranes a < b (with everyone between them)."""
        if a > b:
            a, b = b, a
        total = 0.0
        for k in range(a, b):
            total += (self.cranes[k].width_m + self.cranes[k + 1].width_m) / 2 + self.safety_gap_m
        return total

    def reach(self) -> tuple[np.ndarray, np.ndarray]:
        """Per crane the lowest and highest bridge centre it can reach; a parked crane
        reaches only where it stands and bounds its neighbours."""
        widths = np.array([c.width_m for c in self.cranes], dtype=np.float64)
        lo, hi = crane_reach(widths, self.safety_gap_m, self.length_m)
        for p, c in enumerate(self.cranes):
            if not c.parked:
                continue
            lo[p] = hi[p] = c.start_m
            for k in range(len(self.cranes)):
                if k < p:
                    hi[k] = min(hi[k], c.start_m - self.delta(k, p))
                elif k > p:
                    lo[k] = max(lo[k], c.start_m + self.delta(p, k))
        return lo, hi


@dataclass(frozen=True)
class RunwayJob:
    """One crane leg. Times are seconds on the caller's clock."""

    id: str
    pick_m: float
    drop_m: float
    pick_cross_m: float = 0.0
    drop_cross_m: float = 0.0
    release_s: float = 0.0  # earliest pick (load there: e.g. the AGV arrives at the handoff)
    drop_not_before_s: float = 0.0  # earliest drop (e.g. the AGV that takes it is there)
    due_s: float | None = None
    priority: int = 5
    weight_kg: float = 0.0
    eligible: tuple[int, ...] | None = None  # crane indices allowed; None: every crane that reaches
    load_id: str | None = None


class StepKind(StrEnum):
    BRIDGE = "bridge"
    TROLLEY = "trolley"
    HOIST = "hoist"
    PICK = "pick"
    DROP = "drop"


@dataclass(frozen=True)
class RunwayStep:
    """One move of one crane: start and end time, the axis target, the job it serves."""

    kind: StepKind
    start_s: float
    end_s: float
    target_m: float | None = None
    job: str | None = None


@dataclass(frozen=True)
class CraneTrack:
    """Bridge centre position over time, piecewise linear between the breakpoints.

    Before `times[0]` the crane stands at `positions[0]`; after `times[-1]` at `positions[-1]`.
    """

    times: np.ndarray
    positions: np.ndarray

    def at(self, t: float) -> float:
        return float(np.interp(t, self.times, self.positions))


@dataclass(frozen=True)
class JobTiming:
    job: str
    crane: int
    depart_s: float  # leaves for the pick
    pick_s: float  # starts lowering at the pick position
    picked_s: float  # hook up with the load
    drop_s: float  # starts lowering at the drop position
    done_s: float  # hook up, load set down


@dataclass(frozen=True)
class RunwaySchedule:
    status: RunwayStatus
    sequences: tuple[tuple[str, ...], ...]  # per crane, job ids in order
    timings: dict[str, JobTiming]
    tracks: tuple[CraneTrack, ...]
    steps: tuple[tuple[RunwayStep, ...], ...]  # per crane, time ordered
    makespan_s: float
    lateness_s: float  # sum of (done - due)+ over jobs with a due time
    solve_s: float = 0.0
    notes: tuple[str, ...] = field(default=())

    def objective(self) -> float:
        return objective_of(self.makespan_s, self.lateness_s)


def objective_of(makespan_s: float, lateness_s: float) -> float:
    """Lateness first (a late coil holds a truck), makespan second."""
    return makespan_s + 2.0 * lateness_s


def crane_reach(widths: np.ndarray, gap: float, length: float) -> tuple[np.ndarray, np.ndarray]:
    """(lowest, highest) bridge centre each crane can reach with its neighbours pushed to the ends."""
    widths = np.asarray(widths, dtype=np.float64)
    n = widths.shape[0]
    lo = np.empty(n)
    hi = np.empty(n)
    left = 0.0
    for k in range(n):
        lo[k] = left + widths[k] / 2
        left += widths[k] + gap
    right = length
    for k in range(n - 1, -1, -1):
        hi[k] = right - widths[k] / 2
        right -= widths[k] + gap
    return lo, hi


# --------------------------------------------------------------------------- durations


def bridge_time(crane: CraneAxis, a: float, b: float) -> float:
    return abs(b - a) / crane.bridge_mps


def travel_time(crane: CraneAxis, a: float, ac: float, b: float, bc: float) -> float:
    """Bridge and trolley move together: the slower axis decides."""
    return max(abs(b - a) / crane.bridge_mps, abs(bc - ac) / crane.trolley_mps)


def lift_time(runway: Runway, crane: CraneAxis, hold_s: float) -> float:
    """Lower the hook, hold (pick or drop), raise it."""
    return 2 * runway.hook_height_m / crane.hoist_mps + hold_s


def job_duration(runway: Runway, crane: CraneAxis, job: RunwayJob) -> float:
    """From the hook lowering at the pick to the hook up after the drop."""
    return (
        lift_time(runway, crane, crane.pick_s)
        + travel_time(crane, job.pick_m, job.pick_cross_m, job.drop_m, job.drop_cross_m)
        + lift_time(runway, crane, crane.drop_s)
    )


def eligible_cranes(runway: Runway, job: RunwayJob) -> list[int]:
    lo, hi = runway.reach()
    out = []
    allowed = range(len(runway.cranes)) if job.eligible is None else job.eligible
    for k in allowed:
        if not 0 <= k < len(runway.cranes):
            continue
        c = runway.cranes[k]
        if job.weight_kg > c.payload_kg or c.parked:
            continue
        if all(lo[k] - EPS <= p <= hi[k] + EPS for p in (job.pick_m, job.drop_m)):
            out.append(k)
    return out


class RunwayInputError(ValueError):
    """A job no crane can do; the caller should have refused its order."""


def _eligibility(runway: Runway, jobs: list[RunwayJob]) -> list[list[int]]:
    out = []
    for job in jobs:
        el = eligible_cranes(runway, job)
        if not el:
            raise RunwayInputError(f"runway job {job.id!r}: no crane can lift it and reach {job.pick_m} m and {job.drop_m} m")
        out.append(el)
    return out


# --------------------------------------------------------------------------- simulation

_IDLE, _TO_PICK, _PICKING, _TO_DROP, _DROPPING = range(5)


@dataclass
class _CraneState:
    axis: CraneAxis
    x: float
    cross: float
    queue: list[int]
    phase: int = _IDLE
    job: int = -1
    phase_start: float = 0.0
    timer: float = 0.0  # remaining stationary time (picking/dropping)
    trolley_left: float = 0.0  # time the trolley still needs in a move phase
    times: list[float] = field(default_factory=list)
    xs: list[float] = field(default_factory=list)
    steps: list[RunwayStep] = field(default_factory=list)


def separate(xs: list[float], lo: np.ndarray, hi: np.ndarray, gaps: list[float]) -> list[float]:
    """Start positions moved the least way to keep every gap (inputs that disagree,
    e.g. a busy crane reported where it will end, must not make the plan invalid)."""
    out = [min(max(x, float(lo[k])), float(hi[k])) for k, x in enumerate(xs)]
    for k in range(1, len(out)):
        out[k] = max(out[k], out[k - 1] + gaps[k - 1])
    for k in range(len(out) - 2, -1, -1):
        out[k] = min(out[k], out[k + 1] - gaps[k])
    return out


def simulate(
    runway: Runway,
    jobs: list[RunwayJob],
    sequences: list[list[int]],
    rank: list[int] | None = None,
    now_s: float = 0.0,
    status: RunwayStatus = RunwayStatus.GREEDY,
    dt: float = SIM_DT_S,
) -> RunwaySchedule:
    """Time the given per-crane job sequences on the runway (valid by construction).

    `rank[j]` orders jobs by urgency (lower wins the right of way); defaults to the
    order of release times. Idle cranes move aside for working ones.
    """
    n_c = len(runway.cranes)
    if rank is None:
        order = sorted(range(len(jobs)), key=lambda j: (jobs[j].release_s, jobs[j].id))
        rank = [0] * len(jobs)
        for r, j in enumerate(order):
            rank[j] = r
    lo, hi = runway.reach()
    deltas = [[runway.delta(a, b) if a != b else 0.0 for b in range(n_c)] for a in range(n_c)]
    starts = separate([c.start_m for c in runway.cranes], lo, hi, [deltas[k][k + 1] for k in range(n_c - 1)])
    cranes = [
        _CraneState(c, starts[k], c.start_cross_m, list(sequences[k]) if k < len(sequences) else [])
        for k, c in enumerate(runway.cranes)
    ]
    t = now_s
    for c in cranes:
        c.times.append(t)
        c.xs.append(c.x)
    timing: dict[int, dict[str, float]] = {}
    remaining = sum(len(c.queue) for c in cranes)
    stalled = False
    progress_s = t  # last time a job changed phase

    def start_next(k: int, c: _CraneState, now: float) -> None:
        if c.queue and now + EPS >= c.axis.free_s and not c.axis.parked:
            j = c.queue.pop(0)
            c.job = j
            c.phase = _TO_PICK
            c.phase_start = now
            job = jobs[j]
            c.trolley_left = abs(job.pick_cross_m - c.cross) / c.axis.trolley_mps
            timing[j] = {"depart": now}
            c.steps.append(RunwayStep(StepKind.TROLLEY, now, now + c.trolley_left, job.pick_cross_m, job.id))
        else:
            c.phase = _IDLE
            c.job = -1

    for k, c in enumerate(cranes):
        start_next(k, c, t)

    hook_down_up = [2 * runway.hook_height_m / c.hoist_mps for c in runway.cranes]
    while remaining > 0 or any(c.phase != _IDLE for c in cranes):
        if t - now_s > MAX_SIM_S or t - progress_s > STALL_S:
            stalled = True
            break
        # -- targets and claims, most urgent crane first
        def prio(k: int) -> tuple[float, int]:
            c = cranes[k]
            if c.job >= 0:
                return (rank[c.job], k)
            if c.queue:
                return (len(jobs) + rank[c.queue[0]], k)
            return (math.inf, k)

        order = sorted(range(n_c), key=prio)
        desired = [c.x for c in cranes]
        claims: list[tuple[int, float, float]] = []  # (crane, lo, hi) swept span still ahead
        for k in order:
            c = cranes[k]
            target = c.x
            span = [c.x]
            if c.job >= 0:
                job = jobs[c.job]
                if c.phase == _TO_PICK:
                    target = job.pick_m
                    span += [job.pick_m, job.drop_m] if CLAIM_WHOLE_JOB else [job.pick_m]
                elif c.phase in (_PICKING, _TO_DROP):
                    target = job.drop_m if c.phase == _TO_DROP else c.x
                    span += [job.drop_m]
            allowed_lo, allowed_hi = lo[k], hi[k]
            for (j, clo, chi) in claims:
                if j < k:
                    new_lo = max(allowed_lo, chi + deltas[j][k])
                    if new_lo <= allowed_hi + EPS:
                        allowed_lo = new_lo
                else:
                    new_hi = min(allowed_hi, clo - deltas[k][j])
                    if new_hi + EPS >= allowed_lo:
                        allowed_hi = new_hi
            if c.phase in (_PICKING, _DROPPING) or c.axis.parked:
                desired[k] = c.x  # the hook is down (or the crane is parked): the bridge stays
            else:
                desired[k] = min(max(target, allowed_lo), allowed_hi)
            sweep = [*span, desired[k]]
            claims.append((k, min(sweep), max(sweep)))
        # -- jump ahead when nobody needs to move (while anyone moves: one `dt` at a time,
        #    so cranes that yield follow a shrinking claim closely; measured better than
        #    jumping to the next event)
        moving = any(abs(desired[k] - cranes[k].x) > EPS for k in range(n_c))
        step = dt
        if not moving:
            waits = []
            for c in cranes:
                if c.phase in (_PICKING, _DROPPING):
                    waits.append(c.timer)
                elif c.phase in (_TO_PICK, _TO_DROP) and c.trolley_left > EPS:
                    waits.append(c.trolley_left)
                elif c.phase == _TO_PICK and c.job >= 0:
                    waits.append(max(jobs[c.job].release_s - t, dt))
                elif c.phase == _TO_DROP and c.job >= 0:
                    waits.append(max(jobs[c.job].drop_not_before_s - t, dt))
                elif c.phase == _IDLE and c.queue:
                    waits.append(max(c.axis.free_s - t, dt))
            step = max(min(waits), EPS) if waits else dt
            step = min(step, 3600.0)
            progress_s = t + step  # waiting on a timer or a release is not a stall
        # -- move, clamped so every gap holds at the end of the step (and so all along it)
        new_x = [c.x for c in cranes]
        done_k = [False] * n_c
        for k in order:
            c = cranes[k]
            d = desired[k] - c.x
            reach = c.axis.bridge_mps * step
            x = c.x + max(-reach, min(reach, d))
            if k > 0:
                left = new_x[k - 1] if done_k[k - 1] else cranes[k - 1].x
                x = max(x, left + deltas[k - 1][k])
            if k + 1 < n_c:
                right = new_x[k + 1] if done_k[k + 1] else cranes[k + 1].x
                x = min(x, right - deltas[k][k + 1])
            # never move away from the desired side because of a clamp (keeps motion monotone per step)
            if (x - c.x) * d < 0:
                x = c.x
            new_x[k] = x
            done_k[k] = True
        t_next = t + step
        for k, c in enumerate(cranes):
            if abs(new_x[k] - c.x) > EPS:
                if c.times[-1] < t - EPS:
                    c.times.append(t)  # it stood still until now
                    c.xs.append(c.x)
                c.times.append(t_next)
                c.xs.append(new_x[k])
            c.x = new_x[k]
        # -- phase progress
        phases_before = [c.phase for c in cranes]
        for k, c in enumerate(cranes):
            if c.phase in (_TO_PICK, _TO_DROP):
                c.trolley_left = max(0.0, c.trolley_left - step)
            if c.phase == _TO_PICK:
                job = jobs[c.job]
                if abs(c.x - job.pick_m) < 1e-4 and c.trolley_left <= EPS and t_next + EPS >= job.release_s:
                    c.x = job.pick_m
                    c.cross = job.pick_cross_m
                    c.phase = _PICKING
                    c.timer = hook_down_up[k] + c.axis.pick_s
                    timing[c.job]["pick"] = t_next
                    half = hook_down_up[k] / 2
                    c.steps += [
                        RunwayStep(StepKind.BRIDGE, c.phase_start, t_next, job.pick_m, job.id),
                        RunwayStep(StepKind.HOIST, t_next, t_next + half, 0.0, job.id),
                        RunwayStep(StepKind.PICK, t_next + half, t_next + half + c.axis.pick_s, None, job.id),
                        RunwayStep(StepKind.HOIST, t_next + half + c.axis.pick_s, t_next + c.timer, runway.hook_height_m, job.id),
                    ]
            elif c.phase == _PICKING or c.phase == _DROPPING:
                c.timer -= step
                if c.timer <= EPS:
                    job = jobs[c.job]
                    if c.phase == _PICKING:
                        timing[c.job]["picked"] = t_next
                        c.phase = _TO_DROP
                        c.phase_start = t_next
                        c.trolley_left = abs(job.drop_cross_m - c.cross) / c.axis.trolley_mps
                        c.steps.append(RunwayStep(StepKind.TROLLEY, t_next, t_next + c.trolley_left, job.drop_cross_m, job.id))
                    else:
                        timing[c.job]["done"] = t_next
                        remaining -= 1
                        start_next(k, c, t_next)
            elif c.phase == _TO_DROP:
                job = jobs[c.job]
                if abs(c.x - job.drop_m) < 1e-4 and c.trolley_left <= EPS and t_next + EPS >= job.drop_not_before_s:
                    c.x = job.drop_m
                    c.cross = job.drop_cross_m
                    c.phase = _DROPPING
                    c.timer = hook_down_up[k] + c.axis.drop_s
                    timing[c.job]["drop"] = t_next
                    half = hook_down_up[k] / 2
                    c.steps += [
                        RunwayStep(StepKind.BRIDGE, c.phase_start, t_next, job.drop_m, job.id),
                        RunwayStep(StepKind.HOIST, t_next, t_next + half, 0.0, job.id),
                        RunwayStep(StepKind.DROP, t_next + half, t_next + half + c.axis.drop_s, None, job.id),
                        RunwayStep(StepKind.HOIST, t_next + half + c.axis.drop_s, t_next + c.timer, runway.hook_height_m, job.id),
                    ]
            elif c.phase == _IDLE:
                start_next(k, c, t_next)
        if any(c.phase != ph for c, ph in zip(cranes, phases_before, strict=True)):
            progress_s = t_next
        t = t_next
    return _result(runway, jobs, cranes, timing, now_s, RunwayStatus.STALLED if stalled else status)


def _yield_steps(c: _CraneState) -> list[RunwayStep]:
    """Bridge moves outside any job (making way): one step per monotone stretch of the track."""
    busy = [(s.start_s, s.end_s) for s in c.steps if s.kind == StepKind.BRIDGE]
    out: list[RunwayStep] = []
    times, xs = c.times, c.xs
    i = 0
    while i + 1 < len(times):
        if abs(xs[i + 1] - xs[i]) <= EPS:
            i += 1
            continue
        start = times[i]
        direction = np.sign(xs[i + 1] - xs[i])
        j = i + 1
        while j + 1 < len(times) and np.sign(xs[j + 1] - xs[j]) == direction and abs(xs[j + 1] - xs[j]) > EPS:
            j += 1
        mid = (start + times[j]) / 2
        if not any(a - EPS <= mid <= b + EPS for a, b in busy):
            out.append(RunwayStep(StepKind.BRIDGE, start, times[j], xs[j], None))
        i = j
    return out


def _result(
    runway: Runway,
    jobs: list[RunwayJob],
    cranes: list[_CraneState],
    timing: dict[int, dict[str, float]],
    now_s: float,
    status: RunwayStatus,
) -> RunwaySchedule:
    timings: dict[str, JobTiming] = {}
    sequences: list[tuple[str, ...]] = []
    for _k, c in enumerate(cranes):
        seq = [s.job for s in c.steps if s.kind in (StepKind.PICK,) and s.job is not None]
        sequences.append(tuple(seq))
    crane_of = {jid: k for k, seq in enumerate(sequences) for jid in seq}
    makespan = now_s
    lateness = 0.0
    for j, tm in timing.items():
        if "done" not in tm:
            continue
        job = jobs[j]
        timings[job.id] = JobTiming(job.id, crane_of.get(job.id, -1), tm["depart"], tm["pick"], tm["picked"], tm["drop"], tm["done"])
        makespan = max(makespan, tm["done"])
        if job.due_s is not None:
            lateness += max(0.0, tm["done"] - job.due_s)
    tracks = []
    steps = []
    for c in cranes:
        times = np.asarray(c.times, dtype=np.float64)
        xs = np.asarray(c.xs, dtype=np.float64)
        keep = _breakpoints(times, xs)
        tracks.append(CraneTrack(times[keep], xs[keep]))
        steps.append(tuple(sorted(c.steps + _yield_steps(c), key=lambda s: (s.start_s, s.kind != StepKind.BRIDGE))))
    notes = () if len(timings) == len(jobs) else (f"{len(jobs) - len(timings)} job(s) not finished",)
    return RunwaySchedule(status, tuple(sequences), timings, tuple(tracks), tuple(steps), makespan - now_s, lateness, notes=notes)


def _breakpoints(times: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Indices of the points where the piecewise-linear track changes slope."""
    n = times.shape[0]
    if n <= 2:
        return np.arange(n)
    keep = [0]
    for i in range(1, n - 1):
        a = keep[-1]
        # slope from the last kept point to i vs from i to i+1
        s1 = (xs[i] - xs[a]) / max(times[i] - times[a], EPS)
        s2 = (xs[i + 1] - xs[i]) / max(times[i + 1] - times[i], EPS)
        if abs(s1 - s2) > 1e-9:
            keep.append(i)
    keep.append(n - 1)
    return np.asarray(keep)


# --------------------------------------------------------------------------- heuristics


def _rank_by(jobs: list[RunwayJob], key) -> list[int]:  # type: ignore[no-untyped-def]
    order = sorted(range(len(jobs)), key=key)
    rank = [0] * len(jobs)
    for r, j in enumerate(order):
        rank[j] = r
    return rank


def fcfs_sequences(runway: Runway, jobs: list[RunwayJob]) -> tuple[list[list[int]], list[int]]:
    """First come, first served: in release order, each job to the eligible crane free first."""
    elig = _eligibility(runway, jobs)
    order = sorted(range(len(jobs)), key=lambda j: (jobs[j].release_s, jobs[j].id))
    free = [c.free_s for c in runway.cranes]
    pos = [c.start_m for c in runway.cranes]
    seqs: list[list[int]] = [[] for _ in runway.cranes]
    for j in order:
        job = jobs[j]
        k = min(elig[j], key=lambda k: (free[k], k))
        c = runway.cranes[k]
        start = max(free[k] + bridge_time(c, pos[k], job.pick_m), job.release_s)
        free[k] = start + job_duration(runway, c, job)
        pos[k] = job.drop_m
        seqs[k].append(j)
    return seqs, _rank_by(jobs, lambda j: (jobs[j].release_s, jobs[j].id))


def greedy_sequences(runway: Runway, jobs: list[RunwayJob], split: str = "mid") -> tuple[list[list[int]], list[int]]:
    """Zones along the runway with balanced work, nearest job next within a zone.

    Each crane gets the jobs whose runway midpoint (`split="mid"`) or pick position
    (`split="pick"`) falls in its zone, so neighbours rarely want the same stretch;
    a job outside every eligible crane's zone goes to the nearest eligible crane.
    """
    n_c = len(runway.cranes)
    elig = _eligibility(runway, jobs)
    if not jobs:
        return [[] for _ in range(n_c)], []

    def key_pos(j: int) -> float:
        job = jobs[j]
        return job.pick_m if split == "pick" else (job.pick_m + job.drop_m) / 2

    # balanced zones: cut the jobs sorted by position into n_c groups of equal total work
    by_pos = sorted(range(len(jobs)), key=lambda j: (key_pos(j), jobs[j].id))
    work = [job_duration(runway, runway.cranes[elig[j][0]], jobs[j]) for j in by_pos]
    total = sum(work)
    zone_of: dict[int, int] = {}
    acc = 0.0
    for j, w in zip(by_pos, work, strict=True):
        zone = min(n_c - 1, int((acc + w / 2) / total * n_c)) if total > 0 else 0
        zone_of[j] = zone
        acc += w
    seqs: list[list[int]] = [[] for _ in range(n_c)]
    buckets: list[list[int]] = [[] for _ in range(n_c)]
    for j in range(len(jobs)):
        z = zone_of[j]
        k = z if z in elig[j] else min(elig[j], key=lambda e: (abs(e - z), e))
        buckets[k].append(j)
    _rebalance(runway, jobs, elig, buckets)
    est_start: dict[int, float] = {}
    for k, bucket in enumerate(buckets):
        c = runway.cranes[k]
        pos, free = c.start_m, c.free_s
        left = set(bucket)
        while left:
            # among jobs released by the time the crane could get there, the nearest; else the earliest
            def cost(j: int, pos: float = pos, free: float = free, c: CraneAxis = c) -> tuple[float, str]:
                arrive = free + bridge_time(c, pos, jobs[j].pick_m)
                start = max(arrive, jobs[j].release_s)
                urgency = 0.0 if jobs[j].due_s is None else max(0.0, start + job_duration(runway, c, jobs[j]) - jobs[j].due_s)
                return (start + 2.0 * urgency - 0.5 * jobs[j].priority, jobs[j].id)

            j = min(left, key=cost)
            left.remove(j)
            start = max(free + bridge_time(c, pos, jobs[j].pick_m), jobs[j].release_s)
            est_start[j] = start
            free = start + job_duration(runway, c, jobs[j])
            pos = jobs[j].drop_m
            seqs[k].append(j)
    return seqs, _rank_by(jobs, lambda j: (est_start[j], jobs[j].id))


def _rebalance(runway: Runway, jobs: list[RunwayJob], elig: list[list[int]], buckets: list[list[int]]) -> None:
    """Move jobs from the busiest crane to a less busy neighbour that can do them, nearest
    to the zone border first, while that lowers the busiest crane's work."""
    n_c = len(runway.cranes)

    def load(k: int) -> float:
        return sum(job_duration(runway, runway.cranes[k], jobs[j]) for j in buckets[k])

    for _ in range(4 * len(jobs)):
        loads = [load(k) for k in range(n_c)]
        k = max(range(n_c), key=lambda i: (loads[i], -i))
        best = None
        for nb in (k - 1, k + 1):
            if not 0 <= nb < n_c:
                continue
            for j in buckets[k]:
                if nb not in elig[j]:
                    continue
                w = job_duration(runway, runway.cranes[nb], jobs[j])
                if loads[nb] + w >= loads[k]:
                    continue
                mid = (jobs[j].pick_m + jobs[j].drop_m) / 2
                toward = -mid if nb < k else mid  # the job nearest the neighbour's side moves first
                cand = (-toward, jobs[j].id, j, nb)
                if best is None or cand < best:
                    best = cand
        if best is None:
            return
        _, _, j, nb = best
        buckets[k].remove(j)
        buckets[nb].append(j)


def schedule_fcfs(runway: Runway, jobs: list[RunwayJob], now_s: float = 0.0) -> RunwaySchedule:
    if not jobs:
        return simulate(runway, jobs, [[] for _ in runway.cranes], [], now_s, RunwayStatus.EMPTY)
    seqs, rank = fcfs_sequences(runway, jobs)
    return simulate(runway, jobs, seqs, rank, now_s, RunwayStatus.FCFS)


def schedule_greedy(runway: Runway, jobs: list[RunwayJob], now_s: float = 0.0) -> RunwaySchedule:
    """The best of a few greedy plans, each timed by the simulation."""
    if not jobs:
        return simulate(runway, jobs, [[] for _ in runway.cranes], [], now_s, RunwayStatus.EMPTY)
    best: RunwaySchedule | None = None
    for split in ("mid", "pick"):
        seqs, rank = greedy_sequences(runway, jobs, split)
        sch = simulate(runway, jobs, seqs, rank, now_s, RunwayStatus.GREEDY)
        if sch.status != RunwayStatus.STALLED and (best is None or sch.objective() < best.objective()):
            best = sch
    if best is None:  # both stalled (not seen): first come, first served still finishes
        fcfs = schedule_fcfs(runway, jobs, now_s)
        best = RunwaySchedule(RunwayStatus.GREEDY, fcfs.sequences, fcfs.timings, fcfs.tracks, fcfs.steps, fcfs.makespan_s, fcfs.lateness_s)
    return best


def lower_bound(runway: Runway, jobs: list[RunwayJob], now_s: float = 0.0) -> float:
    """A makespan no schedule can beat: the longest single job from its release, or the
    total lifting work spread perfectly over the cranes (ignores empty travel and interference)."""
    if not jobs:
        return 0.0
    elig = _eligibility(runway, jobs)
    durs = [min(job_duration(runway, runway.cranes[k], job) for k in elig[j]) for j, job in enumerate(jobs)]
    single = max(
        max(job.release_s, min(runway.cranes[k].free_s for k in elig[j])) + durs[j] - now_s for j, job in enumerate(jobs)
    )
    spread = (sum(durs) + sum(max(0.0, c.free_s - now_s) for c in runway.cranes)) / len(runway.cranes)
    # work only one crane can do must be done by that crane
    forced = [max(0.0, c.free_s - now_s) for c in runway.cranes]
    for j, el in enumerate(elig):
        if len(el) == 1:
            forced[el[0]] += durs[j]
    return max(single, spread, max(forced))


# --------------------------------------------------------------------------- CP-SAT


def _sequences_from_starts(n_c: int, assign: dict[int, int], start: dict[int, float]) -> tuple[list[list[int]], list[int]]:
    seqs: list[list[int]] = [[] for _ in range(n_c)]
    for j in sorted(assign, key=lambda j: (start[j], j)):
        seqs[assign[j]].append(j)
    order = sorted(assign, key=lambda j: (start[j], j))
    rank = [0] * len(assign)
    for r, j in enumerate(order):
        rank[j] = r
    return seqs, rank


def solve_sequences(
    runway: Runway,
    jobs: list[RunwayJob],
    now_s: float,
    budget_s: float,
    hint: tuple[list[list[int]], list[int], dict[int, float]] | None = None,
    seed: int = 0,
    workers: int = 2,
    allowed: list[list[int]] | None = None,
    wall_cap_s: float | None = None,
) -> tuple[list[list[int]], list[int], bool] | None:
    """CP-SAT sequencing (see the module docstring); None when it found nothing in time.
    wall_cap_s: the hard wall-clock cap (default `budget_s`); the deterministic-time
    limit, `DET_PER_WALL_S` x `budget_s`, ends the search first on an unloaded machine.

    Returns (per-crane sequences, urgency rank, proved optimal).
    """
    from ortools.sat.python import cp_model

    n_j, n_c = len(jobs), len(runway.cranes)
    elig = _eligibility(runway, jobs)
    if allowed is not None:
        elig = [[k for k in el if k in allowed[j]] or el for j, el in enumerate(elig)]
    m = cp_model.CpModel()
    dur = [[math.ceil(job_duration(runway, runway.cranes[k], jobs[j])) for k in range(n_c)] for j in range(n_j)]
    rel = [max(0, math.ceil(jobs[j].release_s - now_s)) for j in range(n_j)]
    free = [max(0, math.ceil(c.free_s - now_s)) for c in runway.cranes]
    horizon = max(rel + free) + sum(max(dur[j][k] for k in elig[j]) for j in range(n_j))
    horizon += sum(math.ceil(runway.length_m / c.bridge_mps) for c in runway.cranes) * (n_j + 1)
    start = [m.NewIntVar(rel[j], horizon, f"s{j}") for j in range(n_j)]
    end = [m.NewIntVar(0, horizon, f"e{j}") for j in range(n_j)]
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    for j in range(n_j):
        lits = []
        for k in elig[j]:
            lit = m.NewBoolVar(f"x{j}_{k}")
            x[j, k] = lit
            lits.append(lit)
            m.Add(end[j] == start[j] + dur[j][k]).OnlyEnforceIf(lit)
            # the drop waits for the AGV: end >= drop_not_before + the drop lift
            dnb = math.ceil(jobs[j].drop_not_before_s - now_s + lift_time(runway, runway.cranes[k], runway.cranes[k].drop_s))
            if dnb > 0:
                m.Add(end[j] >= dnb).OnlyEnforceIf(lit)
        m.AddExactlyOne(lits)
    arcs_lit: dict[tuple[int, int, int], cp_model.IntVar] = {}
    for k, c in enumerate(runway.cranes):
        mine = [j for j in range(n_j) if (j, k) in x]
        arcs = []
        empty = m.NewBoolVar(f"empty{k}")
        arcs.append((0, 0, empty))
        for j in mine:
            m.AddImplication(empty, x[j, k].Not())
            arcs.append((j + 1, j + 1, x[j, k].Not()))
            a = m.NewBoolVar(f"d{k}_{j}")
            arcs_lit[k, -1, j] = a
            arcs.append((0, j + 1, a))
            setup = math.ceil(travel_time(c, c.start_m, c.start_cross_m, jobs[j].pick_m, jobs[j].pick_cross_m))
            m.Add(start[j] >= free[k] + setup).OnlyEnforceIf(a)
            b = m.NewBoolVar(f"f{k}_{j}")
            arcs_lit[k, j, -1] = b
            arcs.append((j + 1, 0, b))
        for i in mine:
            for j in mine:
                if i == j:
                    continue
                lit = m.NewBoolVar(f"a{k}_{i}_{j}")
                arcs_lit[k, i, j] = lit
                arcs.append((i + 1, j + 1, lit))
                setup = math.ceil(travel_time(c, jobs[i].drop_m, jobs[i].drop_cross_m, jobs[j].pick_m, jobs[j].pick_cross_m))
                m.Add(start[j] >= end[i] + setup).OnlyEnforceIf(lit)
        m.AddCircuit(arcs)
    # neighbours may not work overlapping spans at the same time
    span = [(min(jb.pick_m, jb.drop_m), max(jb.pick_m, jb.drop_m)) for jb in jobs]
    order_lit: dict[tuple[int, int, int], cp_model.IntVar] = {}
    for k in range(n_c - 1):
        d = runway.delta(k, k + 1)
        for i in range(n_j):
            if (i, k) not in x:
                continue
            for j in range(n_j):
                if i == j or (j, k + 1) not in x:
                    continue
                if span[i][1] + d <= span[j][0] + EPS:
                    continue  # i stays left of j with room to spare
                b = m.NewBoolVar(f"o{k}_{i}_{j}")
                order_lit[k, i, j] = b
                m.Add(end[i] <= start[j]).OnlyEnforceIf([b, x[i, k], x[j, k + 1]])
                m.Add(end[j] <= start[i]).OnlyEnforceIf([b.Not(), x[i, k], x[j, k + 1]])
    makespan = m.NewIntVar(0, horizon, "makespan")
    m.AddMaxEquality(makespan, end)
    late_terms = []
    for j, job in enumerate(jobs):
        if job.due_s is None:
            continue
        late = m.NewIntVar(0, horizon, f"late{j}")
        m.Add(late >= end[j] - math.floor(job.due_s - now_s))
        late_terms.append((2 + job.priority // 3) * late)
    m.Minimize(makespan + sum(late_terms) if late_terms else makespan)
    if hint is not None:
        seqs, hint_rank, _hint_start = hint
        starts = _model_starts(runway, jobs, seqs, hint_rank, dur, rel, free, now_s, order_lit)
        if starts is not None:
            for j, t in starts.items():
                m.AddHint(start[j], t)
            for (_k, i, j), b in order_lit.items():
                if i in starts and j in starts:
                    m.AddHint(b, starts[i] < starts[j])
        for k, seq in enumerate(seqs):
            prev = -1
            for j in seq:
                if (j, k) not in x:
                    continue
                for kk in elig[j]:
                    m.AddHint(x[j, kk], kk == k)
                if (k, prev, j) in arcs_lit:
                    m.AddHint(arcs_lit[k, prev, j], True)
                prev = j
            if prev >= 0 and (k, prev, -1) in arcs_lit:
                m.AddHint(arcs_lit[k, prev, -1], True)
    solver = cp_model.CpSolver()
    # deterministic: interleaved workers stopped by a deterministic-time limit give the same
    # answer every run; the wall-clock limit is only the hard cap (a very busy machine)
    solver.parameters.max_time_in_seconds = max(0.05, budget_s if wall_cap_s is None else wall_cap_s)
    solver.parameters.max_deterministic_time = max(0.01, DET_PER_WALL_S * budget_s)
    solver.parameters.interleave_search = True
    solver.parameters.num_workers = max(1, workers)
    solver.parameters.random_seed = seed
    code = solver.Solve(m)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    assign = {j: k for (j, k), lit in x.items() if solver.BooleanValue(lit)}
    starts = {j: float(solver.Value(start[j])) for j in range(n_j)}
    seqs, rank = _sequences_from_starts(n_c, assign, starts)
    return seqs, rank, code == cp_model.OPTIMAL


def _model_starts(
    runway: Runway,
    jobs: list[RunwayJob],
    seqs: list[list[int]],
    rank: list[int] | None,
    dur: list[list[int]],
    rel: list[int],
    free: list[int],
    now_s: float,
    order_lit: dict,
) -> dict[int, int] | None:
    """Start times that satisfy the CP model for the hinted sequences (a list schedule:
    each job as early as its crane, release and conflicting neighbour jobs allow), so the
    solver starts from a feasible solution."""
    crane_of = {j: k for k, seq in enumerate(seqs) for j in seq}
    conflicts: dict[int, list[int]] = {}
    for (_k, i, j) in order_lit:
        conflicts.setdefault(i, []).append(j)
        conflicts.setdefault(j, []).append(i)
    if rank is None:
        rank = list(range(len(jobs)))
    heads = [0] * len(seqs)
    end_of: dict[int, int] = {}
    start_of: dict[int, int] = {}
    t_crane = list(free)
    pos = [(c.start_m, c.start_cross_m) for c in runway.cranes]
    while True:
        ready = [(rank[seqs[k][heads[k]]], k) for k in range(len(seqs)) if heads[k] < len(seqs[k])]
        if not ready:
            break
        _, k = min(ready)
        j = seqs[k][heads[k]]
        heads[k] += 1
        c = runway.cranes[k]
        job = jobs[j]
        setup = math.ceil(travel_time(c, pos[k][0], pos[k][1], job.pick_m, job.pick_cross_m))
        d = dur[j][k]
        dnb = math.ceil(job.drop_not_before_s - now_s + lift_time(runway, c, c.drop_s))
        s0 = max(t_crane[k] + setup, rel[j], dnb - d)
        moved = True
        while moved:
            moved = False
            for i in conflicts.get(j, ()):
                if i in end_of and crane_of.get(i) != k and start_of[i] < s0 + d and s0 < end_of[i]:
                    s0 = end_of[i]
                    moved = True
        start_of[j], end_of[j] = s0, s0 + d
        t_crane[k] = s0 + d
        pos[k] = (job.drop_m, job.drop_cross_m)
    return start_of if len(start_of) == sum(len(q) for q in seqs) else None


def schedule_runway(
    runway: Runway,
    jobs: list[RunwayJob],
    now_s: float = 0.0,
    budget_s: float = 1.5,
    previous: RunwaySchedule | None = None,
    seed: int = 0,
    workers: int = 2,
    work_limited: bool = False,
) -> RunwaySchedule:
    """Plan the runway: CP-SAT sequencing within `budget_s`, timed by `simulate`, never
    worse than the greedy plan (returned as status GREEDY when CP-SAT does not beat it).
    work_limited: CP-SAT gets its deterministic-time share of `budget_s` whatever the
    greedy plan cost in wall time, and the wall clock only caps it at `WORK_LIMITED_CAP`
    x `budget_s`: the same schedule for the same input on a busy machine (a simulated shift).

    `previous` (the last schedule of this bay) warm-starts the solver: jobs still
    pending keep their crane and order as the hint, new jobs are placed greedily.
    Raises `RunwayInputError` for a job no crane can do.
    """
    t0 = time.perf_counter()
    if not jobs:
        return simulate(runway, jobs, [[] for _ in runway.cranes], [], now_s, RunwayStatus.EMPTY)
    greedy = schedule_greedy(runway, jobs, now_s)
    one_sim_s = (time.perf_counter() - t0) / 2  # greedy timed two plans; CP-SAT's needs one more
    index = {job.id: j for j, job in enumerate(jobs)}
    hint_seqs = [[index[jid] for jid in seq] for seq in greedy.sequences]
    if previous is not None:
        hint_seqs = _warm_hint(runway, jobs, previous, hint_seqs)
    hint_rank = _rank_by(jobs, lambda j: (greedy.timings[jobs[j].id].pick_s if jobs[j].id in greedy.timings else math.inf, jobs[j].id))
    spent = 0.0 if work_limited else time.perf_counter() - t0 + 1.2 * one_sim_s
    left = budget_s - spent - 0.05  # keep room to time its answer
    best = greedy
    if left > 0.05:
        hint_start = {index[jid]: tm.pick_s for jid, tm in greedy.timings.items()}
        # each job keeps the hinted crane: the full choice is too large for a 2 s budget at
        # 60 jobs; CP-SAT re-orders and re-times around neighbour interference
        allowed = [[k] for k in _crane_of(len(jobs), hint_seqs)]
        found = solve_sequences(
            runway, jobs, now_s, left, (hint_seqs, hint_rank, hint_start), seed, workers, allowed,
            wall_cap_s=WORK_LIMITED_CAP * left if work_limited else None,
        )
        if found is not None:
            seqs, rank, optimal = found
            status = RunwayStatus.OPTIMAL if optimal else RunwayStatus.FEASIBLE
            sch = simulate(runway, jobs, seqs, rank, now_s, status)
            if sch.status != RunwayStatus.STALLED and sch.objective() <= greedy.objective() and not sch.notes:
                best = sch
    return RunwaySchedule(
        best.status, best.sequences, best.timings, best.tracks, best.steps, best.makespan_s, best.lateness_s,
        solve_s=time.perf_counter() - t0, notes=best.notes,
    )


def _crane_of(n_jobs: int, seqs: list[list[int]]) -> list[int]:
    out = [0] * n_jobs
    for k, seq in enumerate(seqs):
        for j in seq:
            out[j] = k
    return out


def _warm_hint(runway: Runway, jobs: list[RunwayJob], previous: RunwaySchedule, greedy: list[list[int]]) -> list[list[int]]:
    """The previous crane and order for jobs still here; new jobs where greedy put them."""
    index = {job.id: j for j, job in enumerate(jobs)}
    elig = _eligibility(runway, jobs)
    seqs: list[list[int]] = [[] for _ in runway.cranes]
    placed: set[int] = set()
    for k, seq in enumerate(previous.sequences[: len(seqs)]):
        for jid in seq:
            j = index.get(jid)
            if j is not None and k in elig[j]:
                seqs[k].append(j)
                placed.add(j)
    for k, seq in enumerate(greedy):
        seqs[k] += [j for j in seq if j not in placed]
    return seqs
