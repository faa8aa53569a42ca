"""The benchmarks run end to end (slow: run with -m slow; timing is the benchmarks' job)."""

from __future__ import annotations

import argparse

import pytest


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dispatch", "runway"])
def test_quick_benchmarks_run_clean(name) -> None:
    import importlib

    module = importlib.import_module(f"bench.{name}")
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    args = parser.parse_args([])
    args.quick = True
    out = module.run(args)
    assert out["ok"] and "summary" in out
    assert out.get("violations", out.get("large_violations")) == 0
