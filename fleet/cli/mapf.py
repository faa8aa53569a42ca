"""`fleet mapf solve`: solve one MovingAI instance and write the plan as JSON."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from fleet.errors import FleetError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("mapf", help="multi-agent path finding on MovingAI instances")
    inner = parser.add_subparsers(dest="mapf_command", metavar="ACTION")
    solve = inner.add_parser(
        "solve", help="plan the first N agents of a scenario (LaCAM*) and write JSON",
        description="Writes solved, status, runtime_s, soc, makespan and paths (per agent, in "
        "scenario order, [x, y] per step; trailing waits at the goal trimmed).")
    solve.add_argument("--map", required=True, type=Path, help="MovingAI .map file")
    solve.add_argument("--scen", required=True, type=Path, help="MovingAI .scen file")
    solve.add_argument("--agents", required=True, type=int, help="use the first N agents")
    solve.add_argument("--time-limit", type=float, default=10.0, help="seconds (default 10)")
    solve.add_argument("--out", type=Path, help="JSON file to write (default: stdout)")
    solve.add_argument("--seed", type=int, default=0)
    solve.add_argument("--refine", action="store_true",
                       help="keep improving the sum of costs until the time limit")
    solve.set_defaults(func=_solve)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _cells(graph, nodes: list[int]) -> list[list[int]]:
    xy = graph.xy[np.asarray(nodes, dtype=np.int64)].astype(np.int64)
    return xy.tolist()


def instance(map_path: Path, scen_path: Path, agents: int):
    """(graph, starts, goals, optimal distances) of a MovingAI instance; errors name the agent."""
    from maps.movingai import grid_graph, read_map, read_scenario
    from planners.errors import PlanInputError

    if agents < 1:
        raise PlanInputError(f"--agents must be at least 1, got {agents}")
    grid = read_map(map_path)
    scen = read_scenario(scen_path, agents)
    graph = grid_graph(grid)
    starts = np.empty(agents, dtype=np.int32)
    goals = np.empty(agents, dtype=np.int32)
    for a, ag in enumerate(scen):
        for what, (x, y), out in (("start", ag.start, starts), ("goal", ag.goal, goals)):
            node = graph.node_of_cell(x, y)
            if node < 0:
                inside = 0 <= x < grid.width and 0 <= y < grid.height
                where = "a blocked cell" if inside else f"outside the {grid.width}x{grid.height} map"
                raise PlanInputError(f"{scen_path}: agent {a}: {what} ({x}, {y}) is {where}", a)
            out[a] = node
    return graph, starts, goals, np.array([ag.optimal for ag in scen])


def _solve(args: argparse.Namespace) -> int:
    from planners.lacam import compile_kernels, solve
    from planners.validate import violations

    compile_s = compile_kernels()
    t0 = time.perf_counter()
    try:
        graph, starts, goals, _ = instance(args.map, args.scen, args.agents)
        remaining = max(0.0, args.time_limit - (time.perf_counter() - t0))
        result = solve(graph, starts, goals, remaining, seed=args.seed, refine=args.refine)
    except FleetError as exc:
        print(f"fleet mapf solve: {exc}", file=sys.stderr)
        return 2
    out: dict = {
        "map": str(args.map), "scen": str(args.scen), "agents": args.agents,
        "solved": result.solved, "status": result.status, "reason": result.reason,
        "runtime_s": round(result.runtime_s, 4), "wall_s": round(time.perf_counter() - t0, 4),
        "compile_s": round(compile_s, 3), "soc": result.soc,
        "makespan": result.makespan, "lower_bound_soc": result.lower_bound_soc,
        "lower_bound_makespan": result.lower_bound_makespan, "seed": args.seed,
    }
    if result.solved:
        lb = max(1, result.lower_bound_soc)
        out.update({"first_soc": result.first_soc, "first_solution_s": round(result.first_solution_s, 4),
                    "first_soc_over_lb": round(result.first_soc / lb, 4),
                    "soc_over_lb": round(result.soc / lb, 4)})
        if args.refine:
            out.update({"refine_iterations": result.refine_iterations,
                        "refine_accepted": result.refine_accepted})
    if result.plan is not None:
        problems = violations(graph, result.plan, starts, goals)
        out["valid"] = not problems
        if problems:
            out["violations"] = problems
        out["paths"] = [_cells(graph, p.tolist()) for p in result.paths()]
    else:
        out["paths"] = []
    text = json.dumps(out, separators=(",", ":"))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    line = (f"mapf: {result.status} {args.agents} agents in {result.runtime_s:.3f} s, soc {result.soc} "
            f"(lb {result.lower_bound_soc}), makespan {result.makespan}")
    if result.solved and args.refine:
        line += (f"; first solution at {result.first_solution_s:.3f} s soc/lb "
                 f"{out['first_soc_over_lb']:.3f}, refined soc/lb {out['soc_over_lb']:.3f} "
                 f"({result.refine_iterations} LNS iterations)")
    print(line, file=sys.stderr)
    return 0 if result.solved and out.get("valid", False) else 1
