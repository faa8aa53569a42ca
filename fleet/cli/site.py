"""`fleet site check FILE...`: load a site file, run the checks, print a summary or the errors."""

from __future__ import annotations

import argparse
import json

from maps.checks import check_site
from maps.errors import SiteModelError
from maps.loader import bundled_sites, load_site, resolve_site
from maps.movingai import grid_graph, read_map


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("site", help="inspect and check site files")
    inner = parser.add_subparsers(dest="site_command", metavar="ACTION")
    check = inner.add_parser("check", help="load and check site files (exit 1 on errors)")
    check.add_argument("files", nargs="*", help="site files or bundled site names (default: every bundled site)")
    check.add_argument("--json", action="store_true", help="print the summaries as JSON")
    check.set_defaults(func=_check)
    lst = inner.add_parser("list", help="list the bundled sites")
    lst.set_defaults(func=_list)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _list(args: argparse.Namespace) -> int:
    for name, path in bundled_sites().items():
        print(f"{name:12s} {path}")
    return 0


def _check(args: argparse.Namespace) -> int:
    targets = args.files or list(bundled_sites())
    failed = 0
    summaries = []
    for target in targets:
        try:
            if str(target).endswith(".map"):
                grid = read_map(target)
                g = grid_graph(grid)
                summary = {"name": grid.name, "grid": f"{grid.width}x{grid.height}", "free_cells": grid.free_cells, "nodes": g.n_nodes, "edges": g.n_edges}
                summaries.append(summary)
                if not args.json:
                    print(f"OK   {target}: MovingAI grid {grid.width}x{grid.height}, {grid.free_cells} free cells")
                continue
            site = load_site(resolve_site(target))
        except SiteModelError as exc:
            failed += 1
            print(f"FAIL {exc}")
            continue
        report = check_site(site)
        summaries.append(report.summary | {"problems": report.problems})
        if report.ok:
            if not args.json:
                s = report.summary
                print(
                    f"OK   {site.file}: {s['name']}: {s['nodes']} nodes, {s['lanes']} lanes "
                    f"({s['lane_length_m']} m), stations {s['stations']}, {s['zones']} zones, "
                    f"{s['cranes']} cranes in {s['crane_bays']} bays, {s['slots']} slots, "
                    f"{s['extent_m'][0]} x {s['extent_m'][1]} m, all stations connected"
                )
        else:
            failed += 1
            print(f"FAIL {site.file}:")
            for p in report.problems:
                print(f"     - {p}")
    if args.json:
        print(json.dumps(summaries, indent=2))
    return 1 if failed else 0
