"""Lifelong planning (PIBT) with random goals: time per step and goals reached.

Runs the MovingAI warehouse_long_corridor_large map with 1,000 and 3,000 agents
(starts from the scenario file, each new goal uniform over the free cells) and the
bundled warehouse site (directed lanes, footprint conflicts) with 30 AGVs sent to
its stations. Every step of every run goes through the independent checker. The
first step, which computes the distance tables of every initial goal, is reported
apart from the steady-state figures; numba load/compile time is reported on its own.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

from bench.mapf import BENCH_DIR

DESCRIPTION = "lifelong multi-agent planning (PIBT) with random goals"
FLOORS_MS = {  # (median, max) per step
    "corridor_1000": (50.0, 1000.0),
    "corridor_3000": (200.0, None),
    "site_warehouse_30": (10.0, None),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, default=1000, help="steps per run (default 1000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bench-dir", type=Path, default=BENCH_DIR)


def _compile() -> float:
    from maps.movingai import Grid, grid_graph
    from planners.lifelong import LifelongPlanner

    t0 = time.perf_counter()
    g = grid_graph(Grid("warmup", np.ones((2, 3), dtype=bool)))
    LifelongPlanner(g).step(np.array([0, 2], np.int32), np.array([2, 0], np.int32))
    return time.perf_counter() - t0


def _run(name: str, graph, starts: np.ndarray, goal_choices: np.ndarray, steps: int,
         seed: int) -> dict:
    from planners.lifelong import LifelongPlanner
    from planners.validate import violations

    rng = np.random.default_rng(seed)
    planner = LifelongPlanner(graph, seed=seed)
    pos = starts.astype(np.int32)
    goals = rng.choice(goal_choices, size=pos.shape[0]).astype(np.int32)
    history = np.empty((steps + 1, pos.shape[0]), dtype=np.int32)
    history[0] = pos
    times = np.empty(steps)
    reached = 0
    for t in range(steps):
        t0 = time.perf_counter()
        pos = planner.step(pos, goals)
        times[t] = time.perf_counter() - t0
        history[t + 1] = pos
        done = pos == goals
        n_done = int(done.sum())
        if n_done:
            reached += n_done
            goals = goals.copy()
            goals[done] = rng.choice(goal_choices, size=n_done)
    t_check = time.perf_counter()
    problems = violations(graph, history)
    check_s = time.perf_counter() - t_check
    ms = times * 1000.0
    steady = ms[1:] if steps > 1 else ms
    row = {
        "run": name, "agents": int(pos.shape[0]), "nodes": graph.n_nodes, "steps": steps,
        "first_step_ms": round(float(ms[0]), 2),
        "median_step_ms": round(float(np.median(steady)), 3),
        "p99_step_ms": round(float(np.percentile(steady, 99)), 3),
        "max_step_ms": round(float(steady.max()), 2),
        "goals_reached": reached,
        "throughput_per_1000_steps": round(reached * 1000.0 / steps, 1),
        "tables_computed": planner.tables_computed,
        "valid": not problems, "violations": problems[:5], "check_s": round(check_s, 2),
    }
    print(f"  {name}: median {row['median_step_ms']} ms, max {row['max_step_ms']} ms, first "
          f"{row['first_step_ms']} ms, {row['throughput_per_1000_steps']} goals/1000 steps, "
          f"valid={row['valid']}", file=sys.stderr)
    return row


def run(args: argparse.Namespace) -> dict:
    from fleet.cli.mapf import instance

    compile_s = _compile()
    steps = 200 if args.quick else max(2, getattr(args, "steps", 1000))
    seed = getattr(args, "seed", 0)
    bench_dir = Path(getattr(args, "bench_dir", BENCH_DIR))
    rows = []
    counts = (1000,) if args.quick else (1000, 3000)
    m = "warehouse_long_corridor_large"
    for n in counts:
        graph, starts, _, _ = instance(bench_dir / "maps" / f"{m}.map",
                                       bench_dir / "scen" / f"{m}-random-1.scen", n)
        rows.append(_run(f"corridor_{n}", graph, starts, np.arange(graph.n_nodes), steps, seed))
    try:
        from maps.compile import compile_site
        from maps.loader import bundled_sites, load_site

        site = load_site(bundled_sites()["warehouse"])
        graph = compile_site(site)
        stations = np.unique([graph.index(s.node) for s in site.stations]).astype(np.int32)
        rows.append(_site_run(graph, stations, 30, steps, seed))
    except (ImportError, KeyError) as exc:  # the site compiler is optional for this benchmark
        print(f"  site_warehouse_30: skipped ({exc})", file=sys.stderr)
    figures: dict = {"compile_s": round(compile_s, 3)}
    ok = True
    for row in rows:
        floor = FLOORS_MS.get(row["run"])
        for key in ("median_step_ms", "max_step_ms", "first_step_ms", "throughput_per_1000_steps"):
            figures[f"{row['run']}_{key}"] = row[key]
        ok &= row["valid"]
        if floor:
            ok &= row["median_step_ms"] < floor[0]
            if floor[1] is not None:
                ok &= row["max_step_ms"] < floor[1] and row["first_step_ms"] < floor[1]
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    figures["rows"] = rows
    figures["ok"] = bool(ok)
    figures["summary"] = "lifelong: " + "; ".join(
        f"{r['run']} median {r['median_step_ms']} ms max {r['max_step_ms']} ms "
        f"{r['throughput_per_1000_steps']} goals/1000 steps" for r in rows
    ) + f"; floors {'met' if ok else 'MISSED'}; kernels loaded in {compile_s:.2f} s"
    figures["instance"] = {"map": m, "steps": steps, "seed": seed, "goals": "uniform random"}
    return figures


def _site_run(graph, stations: np.ndarray, n: int, steps: int, seed: int) -> dict:
    """30 AGVs on the bundled site, sent to its stations (several share one: they queue)."""
    from planners.problem import footprint_clash

    rng = np.random.default_rng(seed)
    free = np.setdiff1d(np.arange(graph.n_nodes), stations)
    order = rng.permutation(free)
    starts: list[int] = []
    for v in order.tolist():  # footprints must not overlap at the start
        if footprint_clash(graph, np.array([*starts, v], dtype=np.int32)) is None:
            starts.append(v)
        if len(starts) == n:
            break
    return _run(f"site_warehouse_{n}", graph, np.array(starts, np.int32), stations, steps, seed)
