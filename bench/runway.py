"""`fleet bench runway`: crane runway schedules vs first-come-first-served and a lower bound.

Instance: a generated coil yard (`maps.sitegen.coil_yard_site`, 200 m runway, 3
cranes on one runway, handoffs at a quarter, half and three quarters) with 60
pending crane legs made the way the service makes them (`split_order`): coils to
the docks (slot -> handoff), coils from the mills (handoff -> slot, released when
their AGV arrives) and shuffles between nearby slots. Every schedule is checked by
the independent validator (`planners.runway_validate`).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

from fleet.dispatch import FleetView, split_order
from fleet.dispatch.cranes import crane_jobs, runway_of
from fleet.domain import (
    Capabilities,
    Crane,
    CraneId,
    LegKind,
    LegState,
    Order,
    OrderId,
    Vehicle,
    VehicleId,
)
from maps.loader import site_from_dict
from maps.sitegen import coil_yard_site
from planners.runway import Runway, RunwayJob, lower_bound, schedule_fcfs, schedule_runway
from planners.runway_validate import validate_runway

DESCRIPTION = "crane runway scheduling (3 cranes, 60 crane legs): CP-SAT + greedy vs FCFS and a lower bound"
FLOOR_SOLVE_S = 2.0
FLOOR_GAIN = 0.10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--legs", type=int, default=60)
    parser.add_argument("--cranes", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3, help="instances (each seeded)")
    parser.add_argument("--budget", type=float, default=1.5, help="solver budget per schedule, seconds")


def instance(n_legs: int, n_cranes: int, seed: int) -> tuple[Runway, list[RunwayJob]]:
    rnd = random.Random(seed)
    site = site_from_dict(coil_yard_site(runway_m=40.0 * (2 * n_cranes - 1), cranes=n_cranes), "<coil yard>")
    bay = site.crane_bays[0]
    cranes = [Crane(CraneId(c.id), bay.id, bridge_m=c.home_m) for c in bay.cranes]
    fleet = FleetView.of([Vehicle(VehicleId("A1"), Capabilities(40000.0, ("coil",)))], cranes)
    docks = [s.id for s in site.stations if s.id.startswith("DOCK")]
    mills = [s.id for s in site.stations if s.id.startswith("MILL")]
    slots = list(bay.slots)
    legs = []
    ready: dict = {}
    i = 0
    while len(legs) < n_legs:
        i += 1
        r = rnd.random()
        slot = rnd.choice(slots)
        if r < 0.45:
            order = Order(OrderId(f"o{i}"), slot.id, rnd.choice(docks), load_type="coil", weight_kg=20000)
        elif r < 0.8:
            order = Order(OrderId(f"o{i}"), rnd.choice(mills), slot.id, load_type="coil", weight_kg=20000)
        else:
            near = [s for s in slots if s.id != slot.id and abs((s.runway_m or 0) - (slot.runway_m or 0)) < 30]
            order = Order(OrderId(f"o{i}"), slot.id, rnd.choice(near).id, load_type="coil", weight_kg=20000)
        try:
            split = split_order(order, site, fleet)
        except Exception:
            continue
        for leg in split:
            if leg.kind == LegKind.CRANE:
                if leg.state == LegState.PENDING:
                    ready[leg.id] = rnd.uniform(0, 900)  # its AGV brings the coil then
                legs.append(leg)
    runway = runway_of(bay, {c.id: c for c in cranes}, 0.0)
    jobs, _bad = crane_jobs(site, bay, legs[:n_legs], {c.id: c for c in cranes}, ready)
    return runway, jobs


def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = bool(getattr(args, "quick", False))
    n_legs = 20 if quick else args.legs
    seeds = 1 if quick else args.seeds
    rows = []
    for seed in range(seeds):
        runway, jobs = instance(n_legs, args.cranes, seed)
        fcfs = schedule_fcfs(runway, jobs)
        t = time.perf_counter()
        best = schedule_runway(runway, jobs, budget_s=args.budget, seed=seed)
        solve = time.perf_counter() - t
        lb = lower_bound(runway, jobs)
        rows.append(
            {
                "seed": seed,
                "jobs": len(jobs),
                "solve_s": solve,
                "status": best.status.value,
                "makespan_s": best.makespan_s,
                "fcfs_makespan_s": fcfs.makespan_s,
                "lower_bound_s": lb,
                "gain": 1 - best.makespan_s / fcfs.makespan_s,
                "violations": len(validate_runway(runway, jobs, best)) + len(validate_runway(runway, jobs, fcfs)),
            }
        )
    worst_gain = min(r["gain"] for r in rows)
    max_solve = max(r["solve_s"] for r in rows)
    violations = sum(r["violations"] for r in rows)
    out: dict[str, Any] = {
        "cranes": args.cranes,
        "legs": n_legs,
        "instances": len(rows),
        "max_solve_s": round(max_solve, 3),
        "median_makespan_s": round(statistics.median(r["makespan_s"] for r in rows), 1),
        "median_fcfs_makespan_s": round(statistics.median(r["fcfs_makespan_s"] for r in rows), 1),
        "median_lower_bound_s": round(statistics.median(r["lower_bound_s"] for r in rows), 1),
        "worst_gain_vs_fcfs": round(worst_gain, 4),
        "median_gap_to_lower_bound": round(statistics.median(r["makespan_s"] / r["lower_bound_s"] - 1 for r in rows), 4),
        "statuses": ",".join(r["status"] for r in rows),
        "violations": violations,
        "floor_solve_s": FLOOR_SOLVE_S,
        "floor_gain": FLOOR_GAIN,
        "per_instance": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in rows],
    }
    out["ok"] = violations == 0 and (quick or (max_solve < FLOOR_SOLVE_S and worst_gain >= FLOOR_GAIN))
    out["summary"] = (
        f"runway: {args.cranes} cranes, {n_legs} legs, {len(rows)} instance(s): solve <= {max_solve:.2f} s "
        f"(floor {FLOOR_SOLVE_S:.0f} s), makespan {out['median_makespan_s']:.0f} s vs FCFS "
        f"{out['median_fcfs_makespan_s']:.0f} s (worst gain {worst_gain * 100:.1f}%, floor {FLOOR_GAIN * 100:.0f}%), "
        f"{out['median_gap_to_lower_bound'] * 100:.1f}% above the lower bound, {violations} violations"
    )
    return out
