"""The safety monitor: footprints, cranes, lane directions, deadlocks, vanished orders."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.agv import AgvSpec
from sim.safety import SafetyMonitor, close_pairs, obb_overlap
from sim.world import World
from tests.sim.builders import line_site, route


def _world(n: int = 2) -> tuple[World, SafetyMonitor]:
    site = line_site()
    w = World(site, [AgvSpec(f"a{k}", f"N{k}") for k in range(n)])
    return w, SafetyMonitor(site, w.agvs, w.cranes, deadlock_s=30.0)


def test_footprint_overlap_is_a_collision_and_margin_overlap_a_near_miss() -> None:
    w, mon = _world()
    a = w.agvs
    a.x[:] = [0.0, 10.0]
    mon.check(1.0)
    assert mon.counts["collisions"] == 0 and mon.counts["near_misses"] == 0
    a.x[1] = 1.7  # 1.4 m long + 2 x 0.25 m margin: closer than 1.9 m along the lane
    mon.check(2.0)
    mon.check(3.0)  # still close: the same episode
    assert mon.counts["near_misses"] == 1 and mon.counts["collisions"] == 0
    a.x[1] = 1.2
    mon.check(4.0)
    assert mon.counts["collisions"] == 1
    a.x[1], a.y[1], a.theta[1] = 0.0, 1.2, 0.0  # side by side, 0.9 m wide: 0.3 m apart
    mon.check(5.0)
    a.x[1], a.y[1] = 10.0, 0.0
    mon.check(6.0)
    a.x[1] = 1.7
    mon.check(7.0)
    assert mon.counts["near_misses"] == 2  # a new episode after they parted
    assert {e.kind for e in mon.events} >= {"near_miss", "collision"}


def test_wrong_way_and_off_lane_traversals_are_flagged() -> None:
    _w, mon = _world()
    mon.on_traversals(1.0, [("a0", "N4", "N5"), ("a0", "S", "N5"), ("a0", "N0", "N3"), ("a1", "N1", "N0")])
    assert mon.counts["wrong_way"] == 1  # S -> N5 against the one-way spur
    assert mon.counts["off_lane"] == 1  # N0 -> N3 is no lane


def test_crane_gap_violations_and_contact() -> None:
    w, mon = _world()
    k1, k2 = w.cranes.cranes["K1"], w.cranes.cranes["K2"]
    mon.check(1.0)
    assert mon.counts["crane_gap_violations"] == 0
    k1.bridge_m = k2.bridge_m - k2.spec.width_m - 1.0  # 1 m clear < 2 m gap
    mon.check(2.0)
    assert mon.counts["crane_gap_violations"] == 1
    k1.bridge_m = k2.bridge_m - k2.spec.width_m
    mon.check(3.0)
    assert mon.counts["crane_collisions"] == 1


def test_two_vehicles_waiting_on_each_other_are_a_deadlock_after_the_timeout() -> None:
    w, mon = _world(2)
    site = w.site
    w.agvs.x[1], w.agvs.last_node[1] = 1.8, "N1"  # parked nose to nose (a test placement)
    # each one's next node is where the other stands, and neither step is released
    a0 = route(site, "a0", ["N0", "N1"], order="x", released=1)
    a1 = route(site, "a1", ["N1", "N0"], order="y", released=1)
    a0 = replace(a0, nodes=(a0.nodes[0], replace(a0.nodes[1], x=1.8)))
    a1 = replace(a1, nodes=(replace(a1.nodes[0], x=1.8), a1.nodes[1]))
    w.apply(a0)
    w.apply(a1)
    for _ in range(50):
        w.step(0.5)
        mon.check_deadlocks(w.now)
    assert mon.counts["deadlocks"] == 0  # not yet: 25 s < deadlock_s
    for _ in range(20):
        w.step(0.5)
        mon.check_deadlocks(w.now)
    assert mon.counts["deadlocks"] == 1 and mon.counts["stalls"] == 2
    for _ in range(20):
        w.step(0.5)
        mon.check_deadlocks(w.now)
    assert mon.counts["deadlocks"] == 1  # one episode


def test_a_vehicle_waiting_alone_is_a_stall_not_a_deadlock() -> None:
    w, mon = _world(2)
    w.apply(route(w.site, "a0", ["N0", "N1", "N2"], released=1))
    for _ in range(100):
        w.step(0.5)
        mon.check_deadlocks(w.now)
    assert mon.counts["stalls"] == 1 and mon.counts["deadlocks"] == 0


def test_vanished_orders_are_counted_once() -> None:
    _, mon = _world()
    mon.check_orders(1.0, {"o1", "o2"}, {"o1", "o2"})
    mon.check_orders(2.0, {"o1", "o2"}, {"o1"})
    mon.check_orders(3.0, {"o1", "o2"}, {"o1"})
    assert mon.counts["vanished_orders"] == 1


@settings(max_examples=60, deadline=None)
@given(pts=st.lists(st.tuples(st.floats(-20, 20), st.floats(-20, 20)), min_size=0, max_size=40),
       r=st.floats(0.1, 5))
def test_close_pairs_finds_exactly_the_pairs_in_the_box(pts, r) -> None:
    x = np.array([p[0] for p in pts], float)
    y = np.array([p[1] for p in pts], float)
    i, j = close_pairs(x, y, r)
    got = set(zip(i.tolist(), j.tolist(), strict=True))
    want = {(p, q) for p in range(len(pts)) for q in range(p + 1, len(pts))
            if abs(x[p] - x[q]) < r and abs(y[p] - y[q]) < r}
    assert got == want


@given(d=st.floats(0, 5), ang=st.floats(-math.pi, math.pi), ta=st.floats(-3, 3), tb=st.floats(-3, 3))
def test_overlap_is_symmetric_and_far_apart_never_overlaps(d, ang, ta, tb) -> None:
    dx, dy = np.array([d * math.cos(ang)]), np.array([d * math.sin(ang)])
    ab = obb_overlap(dx, dy, np.array([ta]), np.array([tb]), 0.7, 0.45)[0]
    ba = obb_overlap(-dx, -dy, np.array([tb]), np.array([ta]), 0.7, 0.45)[0]
    assert ab == ba
    if d > 2 * math.hypot(0.7, 0.45):
        assert not ab
    if d < 2 * 0.45 - 0.01:
        assert ab
