"""An independent check of a runway schedule: it shares no code path with the planner.

It reads only the schedule's tracks (piecewise-linear bridge positions) and job
timings, and the runway and job definitions, and answers with the violations it
finds (an empty list: the schedule is valid):

- *no crossing, gap kept at every instant*: for each pair of neighbouring cranes
  the centre distance is linear between the union of both tracks' breakpoints,
  so checking it at those times is exact, not sampled;
- bridges stay on the runway and within their speed;
- every job is done exactly once, by a crane that can lift it, in its crane's order
  without overlap, not picked before its release or dropped before its AGV is due;
- the bridge stands still over the pick and the drop while the hook is down.
"""

from __future__ import annotations

import math

import numpy as np

from planners.runway import Runway, RunwayJob, RunwaySchedule

TOL_M = 1e-4
TOL_S = 1e-4


def _merged_times(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.union1d(a, b)


def check_gaps(runway: Runway, schedule: RunwaySchedule) -> list[str]:
    out: list[str] = []
    tracks = schedule.tracks
    if len(tracks) != len(runway.cranes):
        return [f"schedule has {len(tracks)} tracks for {len(runway.cranes)} cranes"]
    for k in range(len(tracks) - 1):
        a, b = tracks[k], tracks[k + 1]
        need = (runway.cranes[k].width_m + runway.cranes[k + 1].width_m) / 2 + runway.safety_gap_m
        ts = _merged_times(a.times, b.times)
        gap = np.interp(ts, b.times, b.positions) - np.interp(ts, a.times, a.positions)
        bad = np.flatnonzero(gap < need - TOL_M)
        if bad.size:
            i = int(bad[0])
            out.append(
                f"cranes {runway.cranes[k].id!r} and {runway.cranes[k + 1].id!r} are {gap[i]:.3f} m apart "
                f"at t={ts[i]:.2f} s (need {need:.3f} m)"
                + (" - they cross" if gap[i] < 0 else "")
            )
    return out


def check_tracks(runway: Runway, schedule: RunwaySchedule) -> list[str]:
    out: list[str] = []
    for c, tr in zip(runway.cranes, schedule.tracks, strict=False):
        if tr.times.shape != tr.positions.shape or tr.times.size == 0:
            out.append(f"crane {c.id!r}: malformed track")
            continue
        if np.any(np.diff(tr.times) < -TOL_S):
            out.append(f"crane {c.id!r}: track times go backwards")
        lo, hi = c.width_m / 2, runway.length_m - c.width_m / 2
        if np.any(tr.positions < lo - TOL_M) or np.any(tr.positions > hi + TOL_M):
            out.append(f"crane {c.id!r}: bridge leaves the runway ({tr.positions.min():.2f}..{tr.positions.max():.2f} m)")
        dt = np.diff(tr.times)
        dx = np.abs(np.diff(tr.positions))
        fast = np.flatnonzero(dx > c.bridge_mps * dt + TOL_M)
        if fast.size:
            i = int(fast[0])
            out.append(f"crane {c.id!r}: bridge faster than {c.bridge_mps} m/s at t={tr.times[i]:.2f} s")
    return out


def _still_at(track_times: np.ndarray, track_pos: np.ndarray, t0: float, t1: float, where: float) -> bool:
    inside = track_times[(track_times > t0) & (track_times < t1)]
    probe = np.concatenate(([t0, t1], inside))
    return bool(np.all(np.abs(np.interp(probe, track_times, track_pos) - where) <= 1e-3))


def check_jobs(runway: Runway, jobs: list[RunwayJob], schedule: RunwaySchedule) -> list[str]:
    out: list[str] = []
    by_id = {j.id: j for j in jobs}
    seen: dict[str, int] = {}
    for k, seq in enumerate(schedule.sequences):
        for jid in seq:
            if jid in seen:
                out.append(f"job {jid!r} scheduled twice (cranes {seen[jid]} and {k})")
            seen[jid] = k
            if jid not in by_id:
                out.append(f"crane {k} has unknown job {jid!r}")
    for job in jobs:
        if job.id not in seen:
            out.append(f"job {job.id!r} is not scheduled")
    for k, seq in enumerate(schedule.sequences):
        if k >= len(runway.cranes):
            out.append(f"sequence for crane {k} beyond the runway's {len(runway.cranes)} cranes")
            continue
        c = runway.cranes[k]
        track = schedule.tracks[k] if k < len(schedule.tracks) else None
        hook = 2 * runway.hook_height_m / c.hoist_mps
        prev_done = -math.inf
        for jid in seq:
            job = by_id.get(jid)
            tm = schedule.timings.get(jid)
            if job is None:
                continue
            if tm is None:
                out.append(f"job {jid!r} has no timing")
                continue
            if job.eligible is not None and k not in job.eligible:
                out.append(f"job {jid!r} on crane {c.id!r}, which it does not allow")
            if job.weight_kg > c.payload_kg:
                out.append(f"job {jid!r} ({job.weight_kg} kg) over crane {c.id!r} payload {c.payload_kg} kg")
            if not (tm.depart_s <= tm.pick_s + TOL_S and tm.pick_s <= tm.picked_s and tm.picked_s <= tm.drop_s + TOL_S and tm.drop_s <= tm.done_s):
                out.append(f"job {jid!r}: times out of order")
            if tm.depart_s < prev_done - TOL_S:
                out.append(f"job {jid!r} starts on crane {c.id!r} before its previous job is done")
            prev_done = tm.done_s
            if tm.pick_s < job.release_s - TOL_S:
                out.append(f"job {jid!r} picked at {tm.pick_s:.1f} s before its release {job.release_s:.1f} s")
            if tm.drop_s < job.drop_not_before_s - TOL_S:
                out.append(f"job {jid!r} dropped at {tm.drop_s:.1f} s before the handoff partner is due ({job.drop_not_before_s:.1f} s)")
            if tm.picked_s - tm.pick_s < hook + c.pick_s - TOL_S or tm.done_s - tm.drop_s < hook + c.drop_s - TOL_S:
                out.append(f"job {jid!r}: pick or drop shorter than the hoist and hold time")
            if track is not None:
                if not _still_at(track.times, track.positions, tm.pick_s, tm.picked_s, job.pick_m):
                    out.append(f"job {jid!r}: crane {c.id!r} not standing at the pick ({job.pick_m} m) while the hook is down")
                if not _still_at(track.times, track.positions, tm.drop_s, tm.done_s, job.drop_m):
                    out.append(f"job {jid!r}: crane {c.id!r} not standing at the drop ({job.drop_m} m) while the hook is down")
    return out


def validate_runway(runway: Runway, jobs: list[RunwayJob], schedule: RunwaySchedule) -> list[str]:
    """Every violation found (empty: valid)."""
    return check_tracks(runway, schedule) + check_gaps(runway, schedule) + check_jobs(runway, jobs, schedule)
