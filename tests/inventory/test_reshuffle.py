"""Retrieval that digs: blocking coils move first, to valid places, as crane legs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.domain import LegKind
from fleet.inventory import UPPER, NoRoom, Yard, plan_retrieval, plan_retrievals
from tests.inventory.yards import coil, filled_yard, small_coil_layout

LAY = small_coil_layout()


def _dug_yard(seed: int) -> Yard:
    """Filled, then thinned out so there is room to reshuffle."""
    rng = np.random.default_rng(seed)
    y = filled_yard(LAY, seed=seed, rounds=3, per_round=25)
    for lid in [str(v) for v in rng.permutation([ld.id for _, ld in y])][:20]:
        if not y.blockers(lid) and y.fill()["lower_occupied"] > 36:
            y.remove(lid)
    return y


def test_buried_coil_needs_its_blockers_moved_first() -> None:
    y = Yard(LAY)
    for k in (1, 2, 3):
        y.place(coil(k, weight=20000), f"S1-0{k}/T1")
    y.place(coil(10, weight=9000), "S1-01/T2")
    y.place(coil(11, weight=9000), "S1-02/T2")
    assert sorted(y.blockers("C0002")) == ["S1-01/T2", "S1-02/T2"]
    plan = plan_retrieval(y, "C0002")
    assert plan.reshuffles == 2 and {m.load_id for m in plan.moves} == {"C0010", "C0011"}
    assert all(m.destination not in ("S1-01/T2", "S1-02/T2") for m in plan.moves)
    assert y.position_of("C0010") == "S1-01/T2"  # planning does not change the yard
    legs = plan.legs("O-7", yard=y)
    assert [leg.kind for leg in legs] == [LegKind.CRANE, LegKind.CRANE]
    assert legs[0].source == "S1-01" and legs[0].extra["source_position"] == "S1-01/T2"
    assert legs[1].after == legs[0].id and legs[0].weight_kg == 9000
    assert plan_retrieval(y, "C0010").reshuffles == 0  # an upper coil is never buried


def test_no_valid_place_for_a_blocker_is_no_room() -> None:
    y = Yard(LAY)
    lowers = [p for p in range(LAY.n) if LAY.kind[p] != UPPER]
    for i, p in enumerate(lowers):
        y.place(coil(i, weight=20000), LAY.ids[p])
    y.place(coil(999, weight=20000), "S1-01/T2")  # as heavy as its supports: nowhere else fits...
    for p in range(LAY.n):
        if LAY.kind[p] == UPPER and p not in y.at:
            y.place(coil(f"U{p}", weight=1000), LAY.ids[p])  # ...every other saddle is taken
    with pytest.raises(NoRoom, match="C0999"):
        plan_retrieval(y, y.at[LAY.index("S1-01/T1")].id)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["lookahead", "nearest"]))
def test_each_plan_keeps_the_yard_valid_and_frees_the_target(seed: int, policy: str) -> None:
    y = _dug_yard(seed % 50)
    rng = np.random.default_rng(seed)
    ids = [ld.id for _, ld in y]
    queue = [str(v) for v in rng.choice(ids, size=min(12, len(ids)), replace=False)]
    work = y.copy()
    try:
        plans = plan_retrievals(y, queue, policy)
    except NoRoom:
        return
    for plan in plans:
        assert plan.reshuffles == len(work.blockers(plan.load_id))
        for m in plan.moves:
            work.move(m.load_id, m.destination)  # refuses anything against the rules
        work.remove(plan.load_id)
        assert not work.check()


def test_lookahead_needs_no_more_moves_than_nearest_on_average() -> None:
    totals = {"lookahead": 0, "nearest": 0}
    for seed in range(6):
        y = _dug_yard(seed)
        rng = np.random.default_rng(100 + seed)
        queue = [str(v) for v in rng.choice([ld.id for _, ld in y], size=25, replace=False)]
        for policy in totals:
            totals[policy] += sum(p.reshuffles for p in plan_retrievals(y, queue, policy))
    assert totals["lookahead"] <= totals["nearest"]
    assert totals["nearest"] > 0
