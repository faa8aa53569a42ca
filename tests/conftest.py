"""Shared fixtures: where the public benchmark instances are, small sites."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def find_bench_dir() -> Path | None:
    env = os.environ.get("FLEET_BENCH_DIR")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "bench", REPO / "bench" / "instances", Path("/work/shared/bench")]:
        if (cand / "maps").is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def bench_dir() -> Path:
    found = find_bench_dir()
    if found is None:
        pytest.skip("MovingAI benchmark instances not found (set FLEET_BENCH_DIR)")
    return found
