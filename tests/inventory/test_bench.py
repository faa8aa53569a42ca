"""The two inventory benchmarks run end to end in their quick variants (slow: timing-free)."""

from __future__ import annotations

import argparse

import pytest

from bench import putaway, tally


@pytest.mark.slow
def test_putaway_quick_runs_and_is_valid() -> None:
    fig = putaway.run(argparse.Namespace(quick=True, seed=3))
    assert fig["checker_violations"] == 0 and fig["placed"] + fig["no_room"] == fig["loads_per_round"]
    assert fig["travel_saving_pct"] > 0


@pytest.mark.slow
def test_tally_quick_never_accepts_a_wrong_read() -> None:
    fig = tally.run(argparse.Namespace(quick=True, seed=2, swap_share=0.2))
    assert fig["wrong_reads_accepted"] == 0 and fig["swapped_frames"] > 0
