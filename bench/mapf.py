"""One-shot MAPF (LaCAM*) on the MovingAI instances of ../shared/bench.

For each map and agent count: success rate, median wall time over the scenarios (and
CPU time, which a busy shared machine inflates less; with --refine the time is the first
solution's and the CPU time the whole call's, refinement included),
sum of costs and makespan and their ratios to the lower bounds (sum and max of the
agents' own shortest distances). Every solution goes through the independent checker
(`planners.validate`); an invalid plan counts as a failure. With --refine, the first
solution's and the refined plan's sum of costs are reported side by side. Numba kernels are loaded
(or compiled) before any clock starts and that time is reported on its own.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

DESCRIPTION = "one-shot multi-agent path finding (LaCAM*) on MovingAI maps"
BENCH_DIR = Path(os.environ.get("FLEET_BENCH_DIR", Path(__file__).resolve().parents[2] / "shared" / "bench"))

# (map, agent counts, time limit s): the floors
SUITE: list[tuple[str, tuple[int, ...], float]] = [
    ("warehouse-20-40-10-2-2", (100, 200, 500, 1000), 10.0),
    ("room-64-64-8", (100, 200, 500, 1000), 10.0),
    ("random-64-64-10", (100, 200, 500, 1000), 10.0),
    ("den520d", (100, 200, 500, 1000), 10.0),
    ("Berlin_1_256", (100, 200, 500, 1000), 10.0),
    ("random-32-32-20", (100, 200, 300, 400), 10.0),
    ("maze-32-32-4", (100, 200, 300, 400), 10.0),
    ("warehouse_long_corridor_large", (1000, 3000), 30.0),
]
QUICK: list[tuple[str, tuple[int, ...], float]] = [
    ("random-32-32-20", (100, 300), 10.0),
    ("maze-32-32-4", (100, 200), 10.0),
    ("warehouse-20-40-10-2-2", (500,), 10.0),
    ("den520d", (500,), 10.0),
]
# counts whose full success the issue requires (the rest are reported only)
REPORT_ONLY = {("random-32-32-20", 400), ("maze-32-32-4", 400)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--maps", nargs="*", help="only these maps (names as in the suite)")
    parser.add_argument("--scenarios", type=int, default=5, help="scenarios per map (1-5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--refine", action="store_true",
                        help="large-neighbourhood refinement after the first solution, until the limit")
    parser.add_argument("--refine-limit", type=float, default=None,
                        help="with --refine: seconds per instance instead of the suite's limit")
    parser.add_argument("--bench-dir", type=Path, default=BENCH_DIR)


def _scenario_agents(path: Path) -> int:
    with path.open(encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip() and not line.lower().startswith("version"))


def run(args: argparse.Namespace) -> dict:
    from fleet.cli.mapf import instance
    from planners.lacam import compile_kernels, solve
    from planners.validate import violations

    t_c = time.perf_counter()
    compile_kernels()
    compile_s = time.perf_counter() - t_c
    suite = QUICK if args.quick else SUITE
    if getattr(args, "maps", None):
        suite = [row for row in suite if row[0] in set(args.maps)]
    n_scen = 1 if args.quick else max(1, min(5, getattr(args, "scenarios", 5)))
    bench_dir = Path(getattr(args, "bench_dir", BENCH_DIR))
    figures: dict = {"compile_s": round(compile_s, 3)}
    rows = []
    floors_ok = True
    for map_name, counts, limit in suite:
        map_path = bench_dir / "maps" / f"{map_name}.map"
        for count in counts:
            times, cpus, socs, mks, soc_r, mk_r, solved = [], [], [], [], [], [], 0
            first_r, its = [], []
            refine = getattr(args, "refine", False)
            run_limit = limit
            if refine and getattr(args, "refine_limit", None):
                run_limit = min(limit, float(args.refine_limit))
            used = count
            for k in range(1, n_scen + 1):
                scen = bench_dir / "scen" / f"{map_name}-random-{k}.scen"
                used = min(count, _scenario_agents(scen))
                graph, starts, goals, _ = instance(map_path, scen, used)
                cpu0 = time.process_time()
                res = solve(graph, starts, goals, run_limit, seed=getattr(args, "seed", 0),
                            refine=refine)
                cpus.append(time.process_time() - cpu0)
                ok = res.solved and not violations(graph, res.plan, starts, goals)
                # without refinement the call ends at the first solution: that is its time
                times.append(res.first_solution_s if (refine and res.solved) else res.runtime_s)
                if ok:
                    first_r.append(res.first_soc / max(1, res.lower_bound_soc))
                    its.append(res.refine_iterations)
                    solved += 1
                    socs.append(res.soc)
                    mks.append(res.makespan)
                    soc_r.append(res.soc / max(1, res.lower_bound_soc))
                    mk_r.append(res.makespan / max(1, res.lower_bound_makespan))
                print(f"  {map_name} {used} #{k}: {res.status} {times[-1]:.3f} s "
                      + (f"first soc/lb {first_r[-1]:.3f} refined " if ok and refine else "")
                      + f"soc/lb {soc_r[-1] if ok else float('nan'):.3f}", file=sys.stderr)
            row = {
                "map": map_name, "agents": used, "scenarios": n_scen, "solved": solved,
                "success_rate": solved / n_scen, "median_s": round(statistics.median(times), 4),
                "max_s": round(max(times), 4),
                "median_cpu_s": round(statistics.median(cpus), 4),
                "median_soc": statistics.median(socs) if socs else None,
                "median_makespan": statistics.median(mks) if mks else None,
                "median_soc_over_lb": round(statistics.median(soc_r), 4) if soc_r else None,
                "median_makespan_over_lb": round(statistics.median(mk_r), 4) if mk_r else None,
            }
            if refine:
                row["median_first_soc_over_lb"] = round(statistics.median(first_r), 4) if first_r else None
                row["median_refine_iterations"] = statistics.median(its) if its else None
                row["refine_limit_s"] = run_limit
            rows.append(row)
            key = f"{map_name}_{used}"
            figures[f"{key}_success_rate"] = row["success_rate"]
            figures[f"{key}_median_s"] = row["median_s"]
            figures[f"{key}_median_cpu_s"] = row["median_cpu_s"]
            figures[f"{key}_soc_over_lb"] = row["median_soc_over_lb"]
            if refine:
                figures[f"{key}_first_soc_over_lb"] = row["median_first_soc_over_lb"]
            if (map_name, count) not in REPORT_ONLY:
                if solved < n_scen or max(times) > run_limit:
                    floors_ok = False
                if count == 500 and row["median_s"] >= 1.0:
                    floors_ok = False
    total = sum(r["scenarios"] for r in rows)
    won = sum(r["solved"] for r in rows)
    figures["rows"] = rows
    figures["instances"] = total
    figures["solved"] = won
    figures["ok"] = floors_ok
    worst = max(rows, key=lambda r: r["median_s"]) if rows else None
    figures["summary"] = (
        f"mapf: {won}/{total} instances solved and valid, floors {'met' if floors_ok else 'MISSED'}"
        + (f"; slowest median {worst['median_s']:.2f} s ({worst['map']} x{worst['agents']})" if worst else "")
        + f"; kernels loaded in {compile_s:.2f} s")
    figures["instance"] = {"bench_dir": str(bench_dir), "suite": [[m, list(c), t] for m, c, t in suite]}
    return figures
