"""Dispatch rounds end to end with a tiny stand-in for the core (the real core is elsewhere).

The loop applies each round's decisions the way the core would: assigned legs
start, machines finish at the times the round planned, released legs open. Every
order must finish with every leg done exactly once and no round may report a
violation.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from fleet.dispatch import (
    FleetView,
    GreedyDispatcher,
    LegTimes,
    chargers_of,
    dispatch_round,
    split_order,
)
from fleet.dispatch.cranes import place_on_runway
from fleet.dispatch.legs import node_of
from fleet.dispatch.redispatch import conservation_errors
from fleet.dispatch.round import site_node
from fleet.domain import (
    Capabilities,
    Crane,
    CraneId,
    Leg,
    LegKind,
    LegState,
    MachineId,
    Mode,
    Order,
    OrderId,
    OrderRejected,
    Vehicle,
    VehicleId,
    transition_leg,
)
from maps.loader import load_site, resolve_site
from maps.site import Site, StationKind


class MiniCore:
    """Just enough of a core to run rounds: leg states, machine positions, completions."""

    def __init__(self, site: Site, vehicles: list[Vehicle], cranes: list[Crane]) -> None:
        self.site = site
        self.legs: dict[str, Leg] = {}
        self.vehicles = {v.id: v for v in vehicles}
        self.cranes = {c.id: c for c in cranes}
        self.finish: dict[str, float] = {}  # leg -> planned done time
        self.expected: dict[str, LegTimes] = {}
        self.crane_busy: dict[str, float] = {}
        self.done_count: dict[str, int] = {}
        self.previous: dict = {}
        self.rounds = 0

    def add(self, legs: list[Leg]) -> None:
        self.legs.update({leg.id: leg for leg in legs})

    def round(self, now: float, budget_s: float = 0.2, step_s: float = 30.0) -> None:
        self.rounds += 1
        before = list(self.legs.values())
        r = dispatch_round(
            self.site, before, list(self.vehicles.values()), list(self.cranes.values()), chargers_of(self.site), now,
            budget_s=budget_s, previous=self.previous, expected=self.expected, crane_busy_until=self.crane_busy,
        )
        assert r.violations == (), r.violations
        assert conservation_errors(before, r.legs) == []
        self.legs = {leg.id: leg for leg in r.legs}
        for lid in r.released:
            self.legs[lid] = transition_leg(self.legs[lid], LegState.OPEN, now)
        for a in r.assignments:
            self.legs[a.leg_id] = transition_leg(self.legs[a.leg_id], LegState.ASSIGNED, now, MachineId(a.vehicle_id))
            self.vehicles[a.vehicle_id] = dataclasses.replace(self.vehicles[a.vehicle_id], leg_id=a.leg_id)
            self.finish[a.leg_id] = max(a.done_s, now)
            self.expected[a.leg_id] = LegTimes(a.eta_s, a.done_s)
        for bay, b in r.crane_schedule.items():
            self.previous[bay] = b.schedule
            for jid, tm in b.schedule.timings.items():
                crane = b.runway.cranes[tm.crane].id
                if tm.depart_s <= now + step_s and self.cranes[crane].leg_id is None:
                    leg = self.legs[jid]
                    if leg.state == LegState.PENDING:  # its AGV partner is on the way: open it now
                        leg = transition_leg(leg, LegState.OPEN, now)
                    leg = transition_leg(leg, LegState.ASSIGNED, now, MachineId(crane))
                    self.legs[jid] = transition_leg(leg, LegState.TO_PICKUP, now)  # it departs now
                    self.cranes[crane] = dataclasses.replace(self.cranes[crane], leg_id=jid)
                    self.finish[jid] = tm.done_s
                    self.expected[jid] = LegTimes(tm.pick_s, tm.done_s)
                    self.crane_busy[crane] = tm.done_s

    def advance(self, now: float) -> None:
        for lid, t in sorted(self.finish.items(), key=lambda x: x[1]):
            if t > now:
                continue
            leg = self.legs[lid]
            del self.finish[lid]
            if leg.state not in (LegState.ASSIGNED, LegState.TO_PICKUP):
                continue
            steps = (LegState.TO_PICKUP, LegState.LOADED, LegState.DONE)
            for s in steps[steps.index(leg.state) + 1 if leg.state in steps else 0:]:
                leg = transition_leg(leg, s, t)
            self.legs[lid] = leg
            self.done_count[lid] = self.done_count.get(lid, 0) + 1
            mid = leg.machine_id
            if mid in self.vehicles:
                v = self.vehicles[mid]
                node = node_of(self.site, leg.destination) or v.node
                self.vehicles[mid] = dataclasses.replace(v, leg_id=None, node=node, battery=max(0.3, v.battery - 0.01))
            elif mid in self.cranes:
                pos = place_on_runway(self.site, leg.destination)
                self.cranes[mid] = dataclasses.replace(self.cranes[mid], leg_id=None, bridge_m=pos[0] if pos else 0.0)
                self.crane_busy.pop(mid, None)

    def run(self, until_s: float, step_s: float = 30.0, budget_s: float = 0.2) -> float:
        now = 0.0
        while now < until_s and not all(leg.terminal for leg in self.legs.values()):
            self.round(now, budget_s, step_s)
            now += step_s
            self.advance(now)
        return now


def coil_yard() -> tuple[Site, list[Vehicle], list[Crane]]:
    site = load_site(resolve_site("coil_yard"))
    bay = site.crane_bays[0]
    nodes = [s.node for s in site.stations if s.kind in (StationKind.PARKING, StationKind.CHARGER)]
    vs = [Vehicle(VehicleId(f"A{i}"), Capabilities(40000, ("coil",)), node=nodes[i % len(nodes)]) for i in range(4)]
    cranes = [Crane(CraneId(c.id), bay.id, bridge_m=c.home_m) for c in bay.cranes]
    return site, vs, cranes


def test_coil_yard_orders_flow_through_crane_and_agv() -> None:
    site, vs, cranes = coil_yard()
    core = MiniCore(site, vs, cranes)
    bay = site.crane_bays[0]
    docks = [s.id for s in site.stations_of(StationKind.DROP)]
    rnd = random.Random(3)
    fleet = FleetView.of(vs, cranes)
    slots = [s.id for s in bay.slots]
    for i in range(8):
        if i % 3 == 2:
            o = Order(OrderId(f"in{i}"), "MILL1", rnd.choice(slots), load_type="coil", weight_kg=20000)
        else:
            o = Order(OrderId(f"out{i}"), rnd.choice(slots), rnd.choice(docks), load_type="coil", weight_kg=20000)
        core.add(split_order(o, site, fleet))
    core.run(until_s=20_000)
    assert all(leg.state == LegState.DONE for leg in core.legs.values()), [
        (leg.id, leg.state.value) for leg in core.legs.values() if leg.state != LegState.DONE
    ]
    assert all(n == 1 for n in core.done_count.values())
    assert any(leg.kind == LegKind.CRANE for leg in core.legs.values())


def test_vehicle_lost_mid_leg_is_redispatched() -> None:
    site, vs, cranes = coil_yard()
    core = MiniCore(site, vs, cranes)
    fleet = FleetView.of(vs, cranes)
    core.add(split_order(Order(OrderId("o"), "MILL1", "DOCK4", load_type="coil"), site, fleet))
    core.round(0.0)
    (leg,) = core.legs.values()
    first = leg.machine_id
    assert leg.state == LegState.ASSIGNED and first is not None
    core.vehicles[first] = dataclasses.replace(core.vehicles[first], mode=Mode.OFFLINE)
    del core.finish[leg.id]
    core.round(5.0)
    (leg,) = core.legs.values()
    assert leg.state == LegState.ASSIGNED and leg.machine_id not in (None, first)


def test_lost_vehicle_with_load_is_held_not_reopened() -> None:
    site, vs, cranes = coil_yard()
    core = MiniCore(site, vs, cranes)
    fleet = FleetView.of(vs, cranes)
    core.add(split_order(Order(OrderId("o"), "MILL1", "DOCK4", load_type="coil"), site, fleet))
    core.round(0.0)
    (lid,) = core.legs
    leg = core.legs[lid]
    core.legs[lid] = transition_leg(transition_leg(leg, LegState.TO_PICKUP, 1.0), LegState.LOADED, 2.0)
    mid = core.legs[lid].machine_id
    core.vehicles[mid] = dataclasses.replace(core.vehicles[mid], mode=Mode.FAULT)
    before = list(core.legs.values())
    r = dispatch_round(site, before, list(core.vehicles.values()), cranes, chargers_of(site), 3.0, budget_s=0.1)
    assert r.assignments == () and r.reopened == ()
    assert r.legs[0].state == LegState.LOADED and any("held" in n for n in r.notes)


def test_low_battery_vehicle_charges_instead_of_working() -> None:
    site, vs, cranes = coil_yard()
    vs = [dataclasses.replace(v, battery=0.1) if i == 0 else dataclasses.replace(v, mode=Mode.MANUAL) for i, v in enumerate(vs)]
    fleet = FleetView.of(vs, cranes)
    legs = split_order(Order(OrderId("o"), "MILL1", "DOCK4", load_type="coil"), site, fleet)
    r = dispatch_round(site, legs, vs, cranes, chargers_of(site), 0.0, budget_s=0.1)
    assert r.assignments == () and len(r.charge_legs) == 1 and r.charge_legs[0].urgent


def test_a_vehicle_stopped_between_site_nodes_is_dispatched() -> None:
    """Traffic reports lane waypoints (`R-20>R-30#2`) as a vehicle's node; dispatch must
    still cost trips from there (it once left such vehicles idle for the rest of the shift)."""
    site, vs, cranes = coil_yard()
    vs = [dataclasses.replace(v, node="R-20>R-30#2") if i == 0 else dataclasses.replace(v, mode=Mode.MANUAL)
          for i, v in enumerate(vs)]
    fleet = FleetView.of(vs, cranes)
    legs = split_order(Order(OrderId("o"), "MILL2", "DOCK4", load_type="coil"), site, fleet)
    r = dispatch_round(site, legs, vs, cranes, chargers_of(site), 0.0, budget_s=0.1)
    assert [(a.leg_id, a.vehicle_id) for a in r.assignments] == [(legs[0].id, vs[0].id)]
    assert site_node(site, "R-20>R-30#2") == "R-30" and site_node(site, "R-30") == "R-30"
    assert site_node(site, "nowhere") is None and site_node(site, "R-20>NOPE#1") is None


def _warehouse() -> tuple[Site, list[Vehicle]]:
    site = load_site(resolve_site("warehouse"))
    rnd = random.Random(11)
    nodes = [n.id for n in site.nodes]
    vs = [
        Vehicle(VehicleId(f"W{i}"), Capabilities(1200.0, ("pallet",), hazardous_rated=i % 5 == 0), node=rnd.choice(nodes))
        for i in range(30)
    ]
    return site, vs


def test_burst_of_5000_orders() -> None:
    site, vs = _warehouse()
    fleet = FleetView.of(vs)
    rnd = random.Random(5)
    racks = [r.id for r in site.racks]
    ends = [s.id for s in site.stations if s.kind in (StationKind.PICKUP, StationKind.DROP)]
    legs: list[Leg] = []
    rejected = 0
    for i in range(5000):
        a, b = (rnd.choice(racks), rnd.choice(ends)) if i % 2 else (rnd.choice(ends), rnd.choice(racks))
        o = Order(OrderId(f"b{i}"), a, b, weight_kg=rnd.uniform(10, 1000), priority=rnd.randint(0, 9),
                  hazardous=rnd.random() < 0.05, created_s=0.0)
        try:
            legs += split_order(o, site, fleet)
        except OrderRejected:
            rejected += 1
    assert len(legs) + rejected >= 5000 and len(legs) > 4000
    core = MiniCore(site, vs, [])
    core.add(legs)
    # machines finish the moment a round ends: the test is about bookkeeping, not travel
    now = 0.0
    while not all(leg.terminal for leg in core.legs.values()):
        core.round(now, budget_s=0.1)
        assert core.rounds < 400, "dispatch stopped making progress"
        now += 1.0
        core.advance(float("inf"))
    assert len(core.done_count) == len(legs) and set(core.done_count.values()) == {1}


@pytest.mark.parametrize("closed", [frozenset(), frozenset({"MAINT-A"})])
def test_rounds_on_the_warehouse_are_valid(closed) -> None:
    site, vs = _warehouse()
    legs = []
    racks = [r.id for r in site.racks]
    for i in range(60):
        try:
            legs += split_order(Order(OrderId(f"w{i}"), racks[i], racks[-1 - i]), site, FleetView.of(vs), closed)
        except OrderRejected:
            pass
    r = dispatch_round(site, legs, vs, [], chargers_of(site), 0.0, closed_zones=closed)
    # racks in the hazmat aisles are for rated vehicles only, so not every vehicle has a leg;
    # the flow must serve at least as many as greedy does
    greedy = GreedyDispatcher(site, closed).assign(legs, vs, 0.0)
    assert r.violations == () and len(r.assignments) >= len(greedy) > 0


def test_cancellation_mid_leg_finishes_the_lift_and_drops_the_rest() -> None:
    from fleet.dispatch import on_order_cancelled

    site, vs, cranes = coil_yard()
    core = MiniCore(site, vs, cranes)
    fleet = FleetView.of(vs, cranes)
    bay = site.crane_bays[0]
    core.add(split_order(Order(OrderId("keep"), bay.slots[5].id, "DOCK1", load_type="coil"), site, fleet))
    core.add(split_order(Order(OrderId("drop"), bay.slots[40].id, "DOCK2", load_type="coil"), site, fleet))
    core.round(0.0)
    crane_leg = core.legs["drop.0"]
    assert crane_leg.state == LegState.TO_PICKUP
    core.legs["drop.0"] = transition_leg(crane_leg, LegState.LOADED, 2.0)
    r = on_order_cancelled(list(core.legs.values()), "drop", 3.0)
    assert r.continuing == ("drop.0",) and r.cancelled == ("drop.1",)
    core.legs = {leg.id: leg for leg in r.legs}
    # the core finishes the loaded lift (its crane has the commands); model that as done
    core.legs["drop.0"] = transition_leg(core.legs["drop.0"], LegState.DONE, 4.0)
    core.finish.pop("drop.0", None)
    core.cranes[crane_leg.machine_id] = dataclasses.replace(core.cranes[crane_leg.machine_id], leg_id=None)
    core.crane_busy.clear()
    core.run(until_s=20_000)
    assert core.legs["drop.1"].state == LegState.CANCELLED and "drop.1" not in core.done_count
    assert core.legs["keep.1"].state == LegState.DONE


def test_assigned_crane_legs_stay_in_the_plan() -> None:
    site, vs, cranes = coil_yard()
    fleet = FleetView.of(vs, cranes)
    bay = site.crane_bays[0]
    legs = []
    for i in range(4):
        legs += split_order(Order(OrderId(f"o{i}"), bay.slots[10 * i].id, "DOCK1", load_type="coil"), site, fleet)
    first = dispatch_round(site, legs, vs, cranes, chargers_of(site), 0.0, budget_s=0.3)
    crane_of = first.crane_schedule[bay.id].crane_of_leg
    # the core assigns every planned crane leg at once; next round they are re-timed, same cranes
    legs = [transition_leg(leg, LegState.ASSIGNED, 1.0, MachineId(crane_of[leg.id])) if leg.id in crane_of else leg for leg in legs]
    cranes = [dataclasses.replace(c, leg_id=next((lid for lid, k in crane_of.items() if k == c.id), None)) for c in cranes]
    second = dispatch_round(site, legs, vs, cranes, chargers_of(site), 5.0, budget_s=0.3)
    assert second.violations == ()
    assert second.crane_schedule[bay.id].crane_of_leg == crane_of
