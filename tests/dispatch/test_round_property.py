"""Random rounds on the small site: never a crash, never a violation, nothing lost."""

from __future__ import annotations

import dataclasses
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.dispatch import Charger, FleetView, chargers_of, dispatch_round, split_order
from fleet.dispatch.redispatch import conservation_errors
from fleet.domain import Capabilities, Crane, CraneId, Mode, Order, OrderId, OrderRejected
from tests.dispatch.site_builders import small_site, vehicle

SITE = small_site()
PLACES = sorted({s.id for s in SITE.stations} | set(SITE.slot_by_id))
NODES = [n.id for n in SITE.nodes]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), n_orders=st.integers(0, 12), closed=st.sets(st.sampled_from(["M1", "HAZ"])))
def test_random_rounds(seed, n_orders, closed) -> None:
    rnd = random.Random(seed)
    vs = []
    for i in range(rnd.randint(0, 6)):
        caps = rnd.choice([Capabilities(1000.0, ("pallet",)), Capabilities(1000.0, ("pallet",), True), Capabilities(40000.0, ("coil",))])
        vs.append(vehicle(f"v{i}", rnd.choice(NODES), capabilities=caps, battery=rnd.uniform(0, 1),
                          mode=rnd.choice([Mode.AUTO, Mode.AUTO, Mode.AUTO, Mode.FAULT, Mode.OFFLINE]),
                          charging=rnd.random() < 0.1))
    cranes = [Crane(CraneId("CA"), "BAY", bridge_m=8.0, mode=rnd.choice([Mode.AUTO, Mode.AUTO, Mode.FAULT])),
              Crane(CraneId("CB"), "BAY", bridge_m=52.0)]
    fleet = FleetView.of(vs, cranes)
    legs = []
    for i in range(n_orders):
        a, b = rnd.sample(PLACES, 2)
        o = Order(OrderId(f"o{i}"), a, b, load_type=rnd.choice(["pallet", "coil"]), weight_kg=rnd.uniform(0, 30000),
                  hazardous=rnd.random() < 0.2, priority=rnd.randint(0, 9), deadline_s=rnd.choice([None, 300.0]))
        try:
            legs += split_order(o, SITE, fleet, frozenset(closed))
        except OrderRejected:
            pass
    chargers = [dataclasses.replace(c, in_service=rnd.random() < 0.7) for c in chargers_of(SITE)]
    chargers.append(Charger("ghost", "n9_9", in_service=rnd.random() < 0.5))  # a charger off the site
    r = dispatch_round(SITE, legs, vs, cranes, chargers, 0.0, budget_s=0.2, closed_zones=frozenset(closed))
    assert r.violations == (), r.violations
    assert conservation_errors(legs, r.legs) == []
    assert len({a.vehicle_id for a in r.assignments} | {p.vehicle_id for p in r.charge_legs}) == len(r.assignments) + len(r.charge_legs)
