"""Batteries and chargers: thresholds, opportunity charging, one vehicle per charger."""

from __future__ import annotations

import dataclasses

from fleet.dispatch import (
    Charger,
    ChargingPolicy,
    battery_after,
    chargers_of,
    plan_charging,
    validate_assignments,
)
from fleet.domain import LegKind, VehicleId
from tests.dispatch.site_builders import small_site, vehicle

SITE = small_site()


def test_low_battery_goes_to_the_nearest_free_charger() -> None:
    v = vehicle("v", "n4_0", battery=0.1)
    (plan,) = plan_charging(SITE, [v], chargers_of(SITE), 0.0)
    assert plan.charger_id == "C2" and plan.urgent and plan.travel_m == 10.0
    assert plan.leg.kind == LegKind.CHARGE and plan.leg.destination == "C2"


def test_chargers_are_scarce_lowest_battery_first() -> None:
    vs = [vehicle("a", "n4_0", battery=0.2), vehicle("b", "n4_0", battery=0.1), vehicle("c", "n0_0", battery=0.15)]
    chargers = [Charger("C2", "n4_1")]
    (plan,) = plan_charging(SITE, vs, chargers, 0.0)
    assert plan.vehicle_id == "b"


def test_out_of_order_and_taken_chargers_are_skipped() -> None:
    v = vehicle("v", "n4_0", battery=0.1)
    chargers = [Charger("C2", "n4_1", in_service=False), Charger("C1", "n1_1", occupant=VehicleId("x"))]
    assert plan_charging(SITE, [v], chargers, 0.0) == []
    chargers[1] = dataclasses.replace(chargers[1], occupant=None)
    (plan,) = plan_charging(SITE, [v], chargers, 0.0)
    assert plan.charger_id == "C1"


def test_opportunity_charging_only_when_idle_and_allowed() -> None:
    v = vehicle("v", "n0_0", battery=0.5)
    assert plan_charging(SITE, [v], chargers_of(SITE), 0.0, opportunity=False) == []
    (plan,) = plan_charging(SITE, [v], chargers_of(SITE), 0.0)
    assert not plan.urgent
    assert plan_charging(SITE, [v], chargers_of(SITE), 0.0, busy=[VehicleId("v")]) == []
    assert plan_charging(SITE, [dataclasses.replace(v, battery=0.9)], chargers_of(SITE), 0.0) == []
    assert plan_charging(SITE, [v], chargers_of(SITE), 0.0, ChargingPolicy(opportunity=0.3)) == []


def test_every_charger_gets_at_most_one_vehicle() -> None:
    vs = [vehicle(f"v{i}", "n2_1", battery=0.05 + i / 100) for i in range(6)]
    plans = plan_charging(SITE, vs, chargers_of(SITE), 0.0)
    assert len(plans) == 2 and len({p.charger_id for p in plans}) == 2
    assert validate_assignments([], [], vs, plans, chargers_of(SITE)) == []


def test_validator_catches_double_booking() -> None:
    vs = [vehicle("a", "n4_0", battery=0.1), vehicle("b", "n4_0", battery=0.1)]
    one = plan_charging(SITE, vs[:1], chargers_of(SITE), 0.0)[0]
    two = dataclasses.replace(plan_charging(SITE, vs[1:], chargers_of(SITE), 0.0)[0], charger_id=one.charger_id)
    found = validate_assignments([], [], vs, [one, two], chargers_of(SITE))
    assert any("booked twice" in f for f in found)
    broken = [dataclasses.replace(c, in_service=False) for c in chargers_of(SITE)]
    assert any("out of order" in f for f in validate_assignments([], [], vs, [one], broken))


def test_drain_per_metre_and_per_lift() -> None:
    v = vehicle("v", battery=0.5, drain_per_m=0.001, drain_per_lift=0.01)
    assert battery_after(v, 100.0, 2) == 0.5 - 0.1 - 0.02
    assert battery_after(v, 10_000.0) == 0.0
