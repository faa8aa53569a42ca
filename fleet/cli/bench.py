"""`fleet bench NAME [--quick] --out FILE.json`: run one benchmark from `bench/`."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import time
from pathlib import Path

import bench
from bench.machine import machine_info


def _benchmarks() -> list[str]:
    return sorted(
        m.name for m in pkgutil.iter_modules(bench.__path__) if m.name not in {"machine"}
        and not m.name.startswith("_")
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="run a benchmark and write its figures as JSON")
    inner = parser.add_subparsers(dest="bench_name", metavar="NAME")
    for name in _benchmarks():
        module = importlib.import_module(f"bench.{name}")
        if not hasattr(module, "run"):
            continue
        sub = inner.add_parser(name, help=getattr(module, "DESCRIPTION", name))
        sub.add_argument("--quick", action="store_true", help="a small instance, under a minute")
        sub.add_argument("--out", type=Path, help="where to write the JSON figures")
        if hasattr(module, "add_arguments"):
            module.add_arguments(sub)
        sub.set_defaults(func=_run, bench_module=module)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _run(args: argparse.Namespace) -> int:
    started = time.time()
    figures = args.bench_module.run(args)
    summary = figures.pop("summary", None)
    result = {
        "benchmark": args.bench_name,
        "quick": bool(args.quick),
        "started_unix_s": round(started, 3),
        "wall_s": round(time.time() - started, 3),
        **figures,
        "machine": machine_info(),
    }
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, default=float) + "\n", encoding="utf-8")
    print(summary or f"{args.bench_name}: " + ", ".join(
        f"{k}={v}" for k, v in figures.items() if isinstance(v, int | float)
    ))
    return 0 if figures.get("ok", True) else 1
