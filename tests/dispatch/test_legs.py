"""Orders into legs, and impossible orders refused at submission."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.dispatch import FleetView, handoff_timing, split_order
from fleet.domain import LegKind, LegState, Order, OrderId, OrderRejected, Veto
from tests.dispatch.site_builders import small_fleet, small_site

SITE = small_site()


def order(src: str, dst: str, **kw) -> Order:
    return Order(OrderId(kw.pop("id", "O1")), src, dst, **kw)


def test_floor_order_is_one_open_agv_leg() -> None:
    legs = split_order(order("P1", "D1"), SITE, small_fleet())
    assert [(leg.kind, leg.source, leg.destination, leg.state) for leg in legs] == [
        (LegKind.AGV, "P1", "D1", LegState.OPEN)
    ]
    assert legs[0].extra["source_node"] == "n0_0"


def test_rack_slot_is_reached_at_its_node() -> None:
    legs = split_order(order("R1", "D1"), SITE, small_fleet())
    assert legs[0].kind == LegKind.AGV and legs[0].extra["source_node"] == "n3_1"


def test_slot_to_dock_is_crane_then_agv_with_handoff() -> None:
    legs = split_order(order("S1", "D1", load_type="coil", weight_kg=15000), SITE, small_fleet())
    assert [leg.kind for leg in legs] == [LegKind.CRANE, LegKind.AGV]
    crane, agv = legs
    assert crane.source == "S1" and crane.destination == agv.source == "H1"
    assert crane.state == LegState.OPEN and agv.state == LegState.PENDING
    assert agv.after == crane.id and agv.handoff == "H1" and crane.handoff == "H1"
    assert crane.extra["bay"] == "BAY"


def test_dock_to_slot_is_agv_then_crane() -> None:
    legs = split_order(order("P1", "S2", load_type="coil", weight_kg=15000), SITE, small_fleet())
    assert [leg.kind for leg in legs] == [LegKind.AGV, LegKind.CRANE]
    assert legs[1].after == legs[0].id and legs[0].destination == legs[1].source


def test_slot_to_slot_is_one_crane_leg() -> None:
    legs = split_order(order("S1", "S2", load_type="coil"), SITE, small_fleet())
    assert [leg.kind for leg in legs] == [LegKind.CRANE]


@pytest.mark.parametrize(
    ("src", "dst", "kw", "fleet", "veto", "field"),
    [
        ("P9", "D1", {}, None, Veto.UNKNOWN_STATION, "source"),
        ("P1", "nowhere", {}, None, Veto.UNKNOWN_STATION, "destination"),
        ("P1", "P1", {}, None, Veto.SAME_PLACE, "destination"),
        ("P1", "D1", {"weight_kg": 5000}, None, Veto.OVERWEIGHT, "weight_kg"),
        ("P1", "D1", {"priority": 12}, None, Veto.INVALID, "priority"),
        ("P1", "HZ", {"hazardous": True}, "no-hazard", Veto.HAZARDOUS, "hazardous"),
        ("P1", "S2", {"load_type": "pallet"}, None, Veto.LOAD_TYPE, "destination"),
        ("P1", "S2", {"load_type": "coil", "weight_kg": 25000}, None, Veto.OVERWEIGHT, "destination"),
        ("S1", "S3", {"load_type": "coil"}, None, Veto.UNREACHABLE, None),  # no crane reaches 10 m and 50 m
        ("S4", "D1", {"load_type": "coil"}, None, Veto.UNREACHABLE, None),  # beyond every crane
        ("P1", "D1", {"load_type": "drum"}, None, Veto.LOAD_TYPE, "load_type"),
        ("S1", "D1", {"load_type": "coil"}, "no-coil-agv", Veto.LOAD_TYPE, "load_type"),
    ],
)
def test_impossible_orders_are_refused(src, dst, kw, fleet, veto, field) -> None:
    view = small_fleet(hazardous=fleet != "no-hazard", coil_agv=fleet != "no-coil-agv")
    with pytest.raises(OrderRejected) as err:
        split_order(order(src, dst, **kw), SITE, view)
    assert err.value.veto == veto
    if field is not None:
        assert err.value.field == field
    assert err.value.status == 422


def test_hazardous_zone_needs_a_rated_vehicle() -> None:
    # a hazardous load goes to HZ with the rated V5
    assert split_order(order("P1", "HZ", hazardous=True), SITE, small_fleet())[0].hazardous
    # a normal load to HZ: only the rated vehicle may enter, and it may carry normal loads
    assert split_order(order("P1", "HZ"), SITE, small_fleet())
    # without a rated vehicle nobody can enter the hazardous corner
    with pytest.raises(OrderRejected) as err:
        split_order(order("P1", "HZ"), SITE, small_fleet(hazardous=False))
    assert err.value.veto == Veto.UNREACHABLE


def test_closed_zone_makes_a_station_unreachable() -> None:
    assert split_order(order("P3", "D1"), SITE, small_fleet())
    with pytest.raises(OrderRejected) as err:
        split_order(order("P3", "D1"), SITE, small_fleet(), frozenset({"M1"}))
    assert err.value.veto == Veto.UNREACHABLE


def test_no_vehicles_at_all() -> None:
    with pytest.raises(OrderRejected) as err:
        split_order(order("P1", "D1"), SITE, FleetView())
    assert err.value.veto == Veto.NO_CAPABLE_MACHINE


def test_handoff_timing_arrives_before_the_drop() -> None:
    t = handoff_timing(drop_s=500.0, travel_s=60.0, margin_s=10.0)
    assert t.arrive_s == 490.0 and t.send_s == 430.0


PLACES = sorted({s.id for s in SITE.stations} | set(SITE.slot_by_id) | {"X1"})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    src=st.sampled_from(PLACES),
    dst=st.sampled_from(PLACES),
    load=st.sampled_from(["pallet", "coil", "drum"]),
    weight=st.one_of(st.floats(min_value=-10, max_value=60000), st.just(float("nan")), st.just(float("inf"))),
    hazardous=st.booleans(),
    closed=st.sets(st.sampled_from(["M1", "HAZ", "nope"])),
)
def test_split_either_gives_a_chain_or_a_reason(src, dst, load, weight, hazardous, closed) -> None:
    o = order(src, dst, load_type=load, weight_kg=weight, hazardous=hazardous)
    try:
        legs = split_order(o, SITE, small_fleet(), frozenset(closed))
    except OrderRejected as err:
        assert isinstance(err.veto, Veto) and err.detail
        return
    assert legs[0].source == src and legs[-1].destination == dst
    assert [leg.state for leg in legs] == [LegState.OPEN] + [LegState.PENDING] * (len(legs) - 1)
    for a, b in itertools.pairwise(legs):
        assert b.after == a.id and a.destination == b.source == b.handoff
        assert {a.kind, b.kind} == {LegKind.AGV, LegKind.CRANE}
