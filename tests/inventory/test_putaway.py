"""Putaway: every placement valid by the checker, near the docks, 'no room' explained."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.inventory import (
    Load,
    PutawayOptions,
    Yard,
    apply_putaway,
    build_layout,
    check_yard,
    first_free_putaway,
    plan_putaway,
)
from tests.inventory.yards import coil, coil_site, random_coils, small_coil_layout, warehouse_site

LAY = small_coil_layout()


def _pallets(rng: np.random.Generator, n: int, start: int = 0, hazard_share: float = 0.1) -> list[Load]:
    return [Load(f"P{i}", "pallet", float(rng.uniform(100, 1150)), 1.2, 0.0,
                 str(rng.choice(["3", "8"])) if rng.random() < hazard_share else None, float(i),
                 str(rng.choice(list("ABC")))) for i in range(start, start + n)]


def test_warehouse_putaway_is_valid_and_beats_first_free() -> None:
    lay = build_layout(warehouse_site())
    y = Yard(lay)
    rng = np.random.default_rng(5)
    for r in range(3):
        loads = _pallets(rng, 150, start=r * 1000, hazard_share=0.04)
        base = first_free_putaway(y, loads)
        res = plan_putaway(y, loads)
        # the small HAZMAT zone fills up: only hazardous loads may find no room, and say why
        for lid, reason in res.no_room.items():
            hz = next(ld for ld in loads if ld.id == lid).hazard_class
            assert hz and ("hazard-zone" in reason or "segregation" in reason)
        assert len(res.placements) + len(res.no_room) == 150
        assert res.weighted_travel_s < base.weighted_travel_s
        apply_putaway(y, loads, res)
        assert not y.check()
    hz = [ld for _, ld in y if ld.hazard_class]
    assert hz and all(lay.in_hazard_zone[y.where[ld.id]] for ld in hz)


def test_fast_movers_sit_nearer_the_docks() -> None:
    lay = build_layout(warehouse_site())
    y = Yard(lay)
    loads = [Load(f"A{i}", "pallet", 500, 1.2, turnover="A") for i in range(40)]
    loads += [Load(f"C{i}", "pallet", 500, 1.2, turnover="C") for i in range(40)]
    res = plan_putaway(y, loads)
    t = {lid: lay.travel_s[lay.index(p)] for lid, p in res.placements.items()}
    assert max(t[f"A{i}"] for i in range(40)) <= min(t[f"C{i}"] for i in range(40)) + 1e-9


def test_coil_yard_fills_floor_then_saddles_and_stays_valid() -> None:
    lay = build_layout(coil_site())
    y = Yard(lay)
    rng = np.random.default_rng(1)
    for r in range(4):
        loads = random_coils(rng, 60, start=r * 1000, hazard_share=0.05)
        res = plan_putaway(y, loads)
        apply_putaway(y, loads, res)
        assert not y.check()
        for lid, reason in res.no_room.items():
            assert lid in reason or "free positions" in reason or "full" in reason
    assert y.fill()["upper_occupied"] > 0


def test_no_room_is_a_clear_reason() -> None:
    y = Yard(LAY)
    res = plan_putaway(y, [coil("BIG", weight=40000)])
    assert res.placements == {} and "weight" in res.no_room["BIG"] and "85 free positions" in res.no_room["BIG"]
    res = plan_putaway(y, [Load("PAL", "pallet", 10, 1)])
    assert "type" in res.no_room["PAL"]


def test_batch_duplicates_and_stored_ids_are_refused() -> None:
    y = Yard(LAY)
    y.place(coil(1), "S1-01/T1")
    res = plan_putaway(y, [coil(1), coil(2), coil(2)])
    assert set(res.placements) == {"C0002"}
    assert "already stored" in res.no_room["C0001"] and "twice" in res.no_room["C0002"]


def test_hazard_classes_kept_apart_within_one_batch() -> None:
    y = Yard(LAY)
    loads = [coil(i, hazard=("3" if i % 2 else "8"), arrival=i) for i in range(6)]
    res = plan_putaway(y, loads)
    apply_putaway(y, loads, res)
    assert not y.check()
    assert res.method and set(res.method.values()) <= {"cp-sat", "greedy"}


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 70), st.booleans())
def test_random_batches_always_give_a_valid_yard(seed: int, n: int, solver: bool) -> None:
    rng = np.random.default_rng(seed)
    y = Yard(LAY)
    first = random_coils(rng, 40, hazard_share=0.1)
    apply_putaway(y, first, plan_putaway(y, first))
    loads = random_coils(rng, n, start=500, hazard_share=0.2)
    res = plan_putaway(y, loads, PutawayOptions(use_solver=solver))
    assert set(res.placements) | set(res.no_room) == {ld.id for ld in loads}
    assert len(set(res.placements.values())) == len(res.placements)
    apply_putaway(y, loads, res)
    assert not check_yard(LAY, y.at)
