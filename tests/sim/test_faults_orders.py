"""Fault schedules and order streams: seeded, within the shift, on real places."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maps.loader import load_site, resolve_site
from sim.faults import FaultEvent, FaultKind, FaultRate, schedule
from sim.orders import OrderStream, PlaceError, resolve_places


@pytest.fixture(scope="module")
def warehouse():
    return load_site(resolve_site("warehouse"))


def _sched(seed: int, rates: list[FaultRate]) -> list[FaultEvent]:
    return schedule([FaultEvent(100.0, FaultKind.ESTOP, "a1", 30.0)], rates, agvs=["a1", "a2", "a3"],
                    cranes=["k1"], chargers=["c1"], duration_s=8 * 3600, rng=np.random.default_rng(seed))


def test_fault_schedule_is_seeded_sorted_and_inside_the_shift() -> None:
    rates = [FaultRate(FaultKind.BREAKDOWN, 0.5, 300.0), FaultRate(FaultKind.HOIST_STALL, 0.5, 60.0),
             FaultRate(FaultKind.CHARGER_FAIL, 0.2, 600.0)]
    a, b, c = _sched(1, rates), _sched(1, rates), _sched(2, rates)
    assert a == b and a != c
    assert a == sorted(a) and all(0 <= f.at_s < 8 * 3600 for f in a)
    assert {f.target for f in a if f.kind == FaultKind.HOIST_STALL} <= {"k1"}
    assert {f.target for f in a if f.kind == FaultKind.CHARGER_FAIL} <= {"c1"}
    assert FaultEvent(100.0, FaultKind.ESTOP, "a1", 30.0) in a
    # about 0.5 per machine-hour on 4 machines for breakdowns
    n = sum(f.kind == FaultKind.BREAKDOWN for f in a)
    assert 5 <= n <= 30


def test_places_resolve_selectors_and_refuse_unknown_ones(warehouse) -> None:
    pickups = [s.id for s in warehouse.stations if s.kind == "pickup"]
    assert pickups and resolve_places(warehouse, "kind:pickup") == pickups
    assert len(resolve_places(warehouse, "racks")) == len(warehouse.racks)
    last_drop = [s.id for s in warehouse.stations if s.kind == "drop"][-1]
    both = resolve_places(warehouse, [last_drop, "kind:drop"])
    assert both[0] == last_drop and len(both) == len(set(both))
    for bad in ("kind:teleporter", "bay:NOPE", "R99-99", "slots"):
        with pytest.raises(PlaceError):
            resolve_places(warehouse, bad)


def test_poisson_shift_and_wave_streams(warehouse) -> None:
    src, dst = tuple(resolve_places(warehouse, "kind:pickup")), tuple(resolve_places(warehouse, "racks"))
    poisson = OrderStream("p", "poisson", src, dst, rate_per_h=100.0, deadline_s=600.0)
    orders = poisson.generate(8 * 3600, np.random.default_rng(3), "t")
    assert 700 <= len(orders) <= 900
    t, o = orders[0]
    assert set(o) == {"client_id", "source", "destination", "load_type", "weight_kg", "priority", "deadline_s",
                      "hazardous"}
    assert o["source"] in src and o["destination"] in dst and o["deadline_s"] == pytest.approx(t + 600.0)
    assert len({o["client_id"] for _, o in orders}) == len(orders)
    shift = OrderStream("s", "shift", src, dst, profile=((0.0, 0.0), (1.0, 200.0), (2.0, 0.0)))
    times = [t for t, _ in shift.generate(4 * 3600, np.random.default_rng(3), "t")]
    assert times and all(3600 <= t < 7200 for t in times)
    wave = OrderStream("w", "wave", src, dst, at_s=(1000.0, 5000.0), count=10, spread_s=100.0)
    times = [t for t, _ in wave.generate(8 * 3600, np.random.default_rng(3), "t")]
    assert len(times) == 20 and all(1000 <= t <= 1100 or 5000 <= t <= 5100 for t in times)


@settings(max_examples=40, deadline=None)
@given(rate=st.floats(0, 500), hours=st.floats(0.01, 3), seed=st.integers(0, 2**32 - 1),
       start=st.floats(0, 3600))
def test_any_stream_stays_inside_its_window(warehouse, rate: float, hours: float, seed: int, start: float) -> None:
    src, dst = ("IN1", "IN2"), ("OUT1",)
    s = OrderStream("x", "poisson", src, dst, rate_per_h=rate, start_s=start)
    out = s.generate(hours * 3600, np.random.default_rng(seed), "h")
    assert all(start <= t < hours * 3600 for t, _ in out)
    assert all(o["source"] != o["destination"] for _, o in out)
    assert [t for t, _ in out] == sorted(t for t, _ in out)


def test_a_longer_shift_keeps_the_earlier_faults() -> None:
    rates = [FaultRate(FaultKind.BREAKDOWN, 0.5, 300.0)]
    short = schedule([], rates, agvs=["a1", "a2"], cranes=[], chargers=[], duration_s=3600,
                     rng=np.random.default_rng(9))
    long = schedule([], rates, agvs=["a1", "a2"], cranes=[], chargers=[], duration_s=8 * 3600,
                    rng=np.random.default_rng(9))
    assert short == [f for f in long if f.at_s < 3600]
