"""Re-dispatch on events: nothing lost, nothing done twice, loads never re-opened."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.dispatch import (
    conservation_errors,
    fail_held,
    on_machine_lost,
    on_order_cancelled,
    on_order_reprioritised,
    on_zone_closed,
)
from fleet.domain import Leg, LegId, LegKind, LegState, MachineId, OrderId
from tests.dispatch.site_builders import small_site, vehicle

SITE = small_site()


def leg(ident: str, state: LegState, machine: str | None = None, order: str = "O1", kind: LegKind = LegKind.AGV,
        src: str = "P1", dst: str = "D1", after: str | None = None) -> Leg:
    return Leg(LegId(ident), OrderId(order), kind, src, dst, state=state,
               machine_id=MachineId(machine) if machine else None, after=LegId(after) if after else None)


def test_vehicle_lost_before_pickup_reopens_the_leg() -> None:
    legs = [leg("a", LegState.TO_PICKUP, "v1"), leg("b", LegState.ASSIGNED, "v1", "O2"), leg("c", LegState.OPEN)]
    r = on_machine_lost(legs, "v1", 10.0)
    assert set(r.reopened) == {"a", "b"}
    assert all(x.state == LegState.OPEN and x.machine_id is None for x in r.legs[:2])
    assert conservation_errors(legs, r.legs) == []


def test_vehicle_lost_with_the_load_holds_the_leg() -> None:
    legs = [leg("a", LegState.LOADED, "v1"), leg("b", LegState.PENDING, after="a")]
    r = on_machine_lost(legs, "v1", 10.0)
    assert r.reopened == () and r.held == ("a",)
    assert r.legs[0].state == LegState.LOADED and r.legs[0].machine_id == "v1"
    assert r.legs[1].state == LegState.PENDING
    failed = fail_held(r.legs, "v1", 20.0)
    assert set(failed.failed) == {"a", "b"} and all(x.state == LegState.FAILED for x in failed.legs)


def test_lost_vehicle_charge_leg_is_cancelled() -> None:
    legs = [Leg(LegId("ch"), None, LegKind.CHARGE, "n0_0", "C1", state=LegState.ASSIGNED, machine_id=MachineId("v1"))]
    assert on_machine_lost(legs, "v1", 1.0).cancelled == ("ch",)


def test_cancellation_mid_leg() -> None:
    legs = [
        leg("c", LegState.LOADED, "crane1", kind=LegKind.CRANE, src="S1", dst="H1"),
        leg("a", LegState.PENDING, after="c", src="H1"),
        leg("x", LegState.TO_PICKUP, "v2", "O2"),
    ]
    r = on_order_cancelled(legs, "O1", 5.0)
    assert r.continuing == ("c",) and r.cancelled == ("a",)
    assert r.legs[0].state == LegState.LOADED and r.legs[2].state == LegState.TO_PICKUP
    r2 = on_order_cancelled(legs, "O2", 5.0)
    assert r2.cancelled == ("x",) and r2.stop == ("v2",)


def test_reprioritise_changes_only_unfinished_legs() -> None:
    legs = [leg("a", LegState.DONE), leg("b", LegState.OPEN), leg("c", LegState.OPEN, order="O2")]
    r = on_order_reprioritised(legs, "O1", 9, 3.0, deadline_s=100.0)
    assert [x.priority for x in r.legs] == [5, 9, 5] and r.legs[1].deadline_s == 100.0


def test_zone_closed_reopens_cut_off_legs_and_holds_loaded_ones() -> None:
    # P3 sits inside M1: a vehicle heading there is cut off; a loaded vehicle inside M1 cannot leave
    v_out = vehicle("out", "n0_0")
    v_in = vehicle("in", "n2_2")
    legs = [
        leg("a", LegState.TO_PICKUP, "out", src="P3"),
        leg("b", LegState.LOADED, "in", "O2", src="P3", dst="D1"),
        leg("c", LegState.TO_PICKUP, "out", "O3", src="P1", dst="D2"),
    ]
    r = on_zone_closed(SITE, legs, [v_out, v_in], frozenset({"M1"}), 1.0)
    assert r.reopened == ("a",) and r.held == ("b",)
    assert r.legs[2].state == LegState.TO_PICKUP


EVENTS = st.sampled_from(["lost", "cancel", "prio", "fail"])
STATES = st.sampled_from(list(LegState))


@settings(max_examples=200, deadline=None)
@given(
    states=st.lists(st.tuples(STATES, st.sampled_from(["v1", "v2", None]), st.sampled_from(["O1", "O2"])), min_size=1, max_size=12),
    events=st.lists(st.tuples(EVENTS, st.sampled_from(["v1", "v2", "O1", "O2"])), max_size=6),
)
def test_events_never_lose_or_duplicate_work(states, events) -> None:
    legs = [leg(f"l{i}", s, m if s not in (LegState.OPEN, LegState.PENDING) else None, o) for i, (s, m, o) in enumerate(states)]
    for kind, ident in events:
        if kind == "lost":
            r = on_machine_lost(legs, ident, 1.0)
        elif kind == "cancel":
            r = on_order_cancelled(legs, ident, 1.0)
        elif kind == "prio":
            r = on_order_reprioritised(legs, ident, 7, 1.0)
        else:
            r = fail_held(legs, ident, 1.0)
        assert conservation_errors(legs, r.legs) == []
        # each id is reported in at most one outcome
        buckets = [r.reopened, r.held, r.continuing, r.cancelled, r.failed]
        ids = [x for b in buckets for x in b]
        assert len(ids) == len(set(ids))
        legs = list(r.legs)
