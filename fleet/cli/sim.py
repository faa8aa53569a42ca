"""`fleet sim`: run a scenario shift and write its report; check and list scenarios."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from fleet.errors import FleetError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sim", help="simulate a shift of a scenario and report its KPIs")
    inner = parser.add_subparsers(dest="sim_command", metavar="ACTION")
    run = inner.add_parser("run", help="run a scenario and write KPIs, plots and a summary")
    run.add_argument("scenario", help="a bundled scenario name (see `fleet sim list`) or a scenario file")
    run.add_argument("--hours", type=float, help="simulated hours (default: the scenario's duration)")
    run.add_argument("--out", type=Path, help="report directory (default: sim-out/<scenario>)")
    run.add_argument("--seed", type=int, help="override the scenario's seed")
    run.add_argument("--brain", default="auto", choices=("auto", "core", "double"),
                     help="what decides: the real core, or the simulator's test double (auto: core if it loads)")
    run.add_argument("--realtime", action="store_true", help="pace the run at wall-clock speed")
    run.add_argument("--speed", type=float, default=1.0, help="with --realtime: simulated seconds per second")
    run.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    run.set_defaults(func=_run)
    study = inner.add_parser("study", help="run a scenario over several seeds (and fleet sizes) and report the spread")
    study.add_argument("scenario", help="a bundled scenario name (see `fleet sim list`) or a scenario file")
    study.add_argument("--seeds", type=int, default=5, help="how many seeds per fleet size (default 5)")
    study.add_argument("--first-seed", type=int, help="the first seed (default: the scenario's); then +1, +2, ...")
    study.add_argument("--agvs", help="fleet sizes to compare, comma-separated, e.g. 20,30,40 (default: as written)")
    study.add_argument("--hours", type=float, help="simulated hours per run (default: the scenario's duration)")
    study.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                       help="runs at once, one process each (default: the number of cores)")
    study.add_argument("--brain", default="auto", choices=("auto", "core", "double"),
                       help="what decides: the real core, or the simulator's test double (auto: core if it loads)")
    study.add_argument("--out", type=Path, help="study directory (default: sim-out/<scenario>-study)")
    study.set_defaults(func=_study)
    check = inner.add_parser("check", help="validate a scenario file and print what it contains")
    check.add_argument("scenario")
    check.set_defaults(func=_check)
    lst = inner.add_parser("list", help="list the bundled scenarios")
    lst.set_defaults(func=_list)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _load(name: str):  # type: ignore[no-untyped-def]
    from sim.scenario import load_scenario, resolve_scenario

    return load_scenario(resolve_scenario(name))


def _run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from sim.brains import make_brain
    from sim.report import write_report
    from sim.runner import Pacer, run_shift

    try:
        scenario = _load(args.scenario)
    except FleetError as exc:
        print(f"fleet sim: {exc}", file=sys.stderr)
        return 2
    if args.hours is not None:
        if args.hours <= 0:
            print("fleet sim: --hours must be positive", file=sys.stderr)
            return 2
        scenario = scenario.with_duration(args.hours * 3600.0)
    if args.seed is not None:
        scenario = replace(scenario, seed=args.seed)
    brain, brain_name = make_brain(args.brain, scenario)
    out = args.out or Path("sim-out") / scenario.name
    pacer = Pacer(args.speed) if args.realtime else None
    total = scenario.duration_s
    if args.no_progress:
        result = run_shift(scenario, brain, pacer=pacer)
    else:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                      TimeElapsedColumn(), TimeRemainingColumn()) as bar:
            task = bar.add_task(f"{scenario.name} ({brain_name})", total=total, info="")
            last = [0.0]

            def progress(sim_s: float, counts: dict[str, int]) -> None:
                if sim_s - last[0] >= 60.0 or sim_s >= total:
                    last[0] = sim_s
                    bar.update(task, completed=sim_s,
                               info=f"{sim_s / 3600:.2f} h, {counts['done']}/{counts['submitted']} orders done")

            result = run_shift(scenario, brain, pacer=pacer, progress=progress)
            bar.update(task, completed=total)
    result.kpis["brain"] = brain_name
    files = write_report(result, out)
    k = result.kpis
    print(f"{scenario.name}: {k['orders_done']} orders done ({k['throughput_per_h']}/h), "
          f"lead time p50 {k['lead_time_p50_s']} s, {k['collisions']} collisions, {k['near_misses']} near misses, "
          f"{k['deadlocks']} deadlocks, {k['lost_orders']} lost orders; report in {files['summary']}")
    return 0


def _study(args: argparse.Namespace) -> int:
    from sim.study import study_runs, timed_study

    try:
        scenario = _load(args.scenario)
        sizes: list[int | None] = [int(a) for a in args.agvs.split(",")] if args.agvs else [None]
    except FleetError as exc:
        print(f"fleet sim: {exc}", file=sys.stderr)
        return 2
    except ValueError:
        print(f"fleet sim: --agvs wants whole numbers separated by commas, not {args.agvs!r}", file=sys.stderr)
        return 2
    for flag, value in (("--seeds", args.seeds), ("--jobs", args.jobs), ("--hours", args.hours),
                        *(("--agvs", n) for n in sizes if n is not None)):
        if value is not None and value <= 0:
            print(f"fleet sim: {flag} must be positive", file=sys.stderr)
            return 2
    for n in sizes:  # a fleet size the scenario cannot take fails here, not after the other runs
        if n is not None:
            try:
                scenario.with_fleet_size(n)
            except FleetError as exc:
                print(f"fleet sim: with --agvs {n}: {exc}", file=sys.stderr)
                return 2
    first = scenario.seed if args.first_seed is None else args.first_seed
    runs = study_runs(args.scenario, range(first, first + args.seeds), sizes, hours=args.hours, brain=args.brain)
    out = args.out or Path("sim-out") / f"{scenario.name}-study"
    print(f"{scenario.name}: {len(runs)} runs ({args.seeds} seeds x {len(sizes)} fleet sizes) "
          f"on {min(args.jobs, len(runs))} processes; reports in {out}", flush=True)

    def on_done(k: int, n: int, r: dict) -> None:  # type: ignore[type-arg]
        what = f"{r['agvs']} AGVs, seed {r['seed']}" if r.get("agvs") else f"seed {r['seed']}"
        if "error" in r:
            print(f"[{k}/{n}] {what}: failed: {r['error']}", flush=True)
        else:
            print(f"[{k}/{n}] {what}: {r['orders_done']} orders done ({r['throughput_per_h']}/h), "
                  f"{r['collisions']} collisions, {r['deadlocks']} deadlocks, {r['lost_orders']} lost; "
                  f"{r['wall_s']} s", flush=True)

    study = timed_study(runs, out, scenario=scenario.name, hours=args.hours, jobs=args.jobs, on_done=on_done)
    for g in study["groups"]:
        t = g["kpis"].get("throughput_per_h")
        spread = f"{t['mean']:.1f}/h (sd {t['sd']:.1f}, {t['min']}-{t['max']})" if t else "n/a"
        s = g["safety_totals"]
        print(f"{g['agvs']} AGVs: throughput {spread} over {g['runs']} seeds; {s['collisions']} collisions, "
              f"{s['deadlocks']} deadlocks, {s['lost_orders']} lost orders in all")
    print(f"study in {out / 'study.md'}")
    return 1 if study["runs_failed"] else 0


def _check(args: argparse.Namespace) -> int:
    try:
        sc = _load(args.scenario)
    except FleetError as exc:
        print(f"fleet sim: {exc}", file=sys.stderr)
        return 2
    orders = sc.orders()
    print(json.dumps({
        "scenario": sc.name, "site": sc.site.name, "seed": sc.seed, "duration_h": sc.duration_s / 3600,
        "agvs": len(sc.agvs), "cranes": list(sc.cranes), "orders": len(orders),
        "streams": [s.id for s in sc.streams], "faults": len(sc.faults()),
        "outages": len(sc.link.outages),
    }, indent=2))
    return 0


def _list(args: argparse.Namespace) -> int:
    from sim.scenario import bundled_scenarios

    for name, path in bundled_scenarios().items():
        print(f"{name}\t{path}")
    return 0
