"""Gridlock: the dead set of a configuration and the guard that never makes one."""

from __future__ import annotations

import numpy as np

from planners.gridlock import GridlockGuard
from planners.lifelong import LifelongPlanner
from tests.planners.planner_graphs import lane_graph

RING = [(0, 1), (1, 2), (2, 3), (3, 0)]  # a one-way block of four nodes


def _cfg(*nodes: int) -> np.ndarray:
    return np.array(nodes, dtype=np.int32)


def test_a_full_one_way_ring_is_dead_and_one_with_a_gap_is_not() -> None:
    guard = GridlockGuard(lane_graph(4, RING))
    assert guard.dead_set(_cfg(0, 1, 2, 3)).all()
    assert not guard.dead_set(_cfg(0, 1, 2)).any()


def test_moving_within_its_own_footprint_frees_others_only_if_it_clears_their_way() -> None:
    # A stands on a spur node (1) next to a junction (0): it may back into the spur's end
    # (2), still inside its own footprint. Its way out (0) touches B just past the junction
    # (4), and B's only way on (5) touches A. When the spur's end touches 5 too, both are
    # stuck for ever though A still has a move (a one-step test would miss it: the port
    # yard's spurs); when it does not, A backs in and lets B by.
    edges = [(0, 4), (4, 5), (5, 6), (0, 1), (1, 0), (1, 2), (2, 1)]
    shut = lane_graph(7, edges, conflicts=[(0, 4), (5, 1), (1, 2), (5, 2)])
    assert GridlockGuard(shut).dead_set(_cfg(1, 4)).tolist() == [True, True]
    assert GridlockGuard(shut).dead_set(_cfg(1, 5)).tolist() == [False, False]  # B can drive on to 6
    room = lane_graph(7, edges, conflicts=[(0, 4), (5, 1), (1, 2)])
    assert not GridlockGuard(room).dead_set(_cfg(1, 4)).any()


def test_the_guard_holds_the_move_that_closes_the_ring_and_only_that() -> None:
    g = lane_graph(5, [*RING, (4, 0)])  # 4 enters the ring at 0
    guard = GridlockGuard(g)
    pos, nxt = _cfg(1, 2, 3, 4), _cfg(1, 2, 3, 0)
    assert guard.hold(pos, nxt) == 1 and nxt.tolist() == [1, 2, 3, 4]
    pos, nxt = _cfg(1, 2, 4), _cfg(1, 2, 0)  # a gap stays: fine
    assert guard.hold(pos, nxt) == 0 and nxt.tolist() == [1, 2, 0]


def test_machines_not_planned_count_and_whoever_runs_into_a_held_one_waits() -> None:
    # 5 -> 4 -> 0 enters the ring; a vehicle at its pick on 3 is not planned (standing).
    g = lane_graph(6, [*RING, (4, 0), (5, 4)])
    guard = GridlockGuard(g)
    pos, nxt = _cfg(1, 2, 4, 5), _cfg(1, 2, 0, 4)  # the third would fill the ring
    assert guard.hold(pos, nxt, standing=_cfg(3)) == 2
    assert nxt.tolist() == [1, 2, 4, 5]  # and the fourth, following it into 4, waits too
    pos, nxt = _cfg(1, 2, 4, 5), _cfg(1, 2, 0, 4)
    assert guard.hold(pos, nxt) == 0  # without the one standing on 3 there is room


def test_the_lifelong_planner_lets_a_vehicle_out_of_its_spur() -> None:
    # A leaves the spur 2 -> 1 -> 0 while B comes along the road 8 -> 3 -> 0 -> 4: the
    # junction 0 touches 1 and 3, yet A on 1 and B on 3 are no gridlock (A can back into
    # 2 and let B by). Guarded, both get through and no step is dead.
    edges = [(3, 0), (0, 4), (4, 5), (5, 6), (6, 7), (5, 9), (0, 1), (1, 0), (1, 2), (2, 1), (8, 3)]
    g = lane_graph(10, edges + [(v, v) for v in range(10)], conflicts=[(0, 4), (5, 1), (1, 2), (0, 1), (3, 0)])
    guard = GridlockGuard(g)
    for seed in range(4):
        planner = LifelongPlanner(g, seed=seed, no_rotation=True)
        pos, goals = _cfg(2, 8), _cfg(7, 9)
        for _ in range(30):
            pos = planner.step(pos, goals)
            assert not guard.dead_set(pos).any(), f"seed {seed}: dead at {pos.tolist()}"
        assert pos.tolist() == [7, 9]


def test_the_lifelong_planner_never_fills_a_one_way_ring() -> None:
    # four agents want the four nodes of a one-way ring (no turning back, no rotating all
    # at once): the fourth to come in would shut them all in for good, so it waits outside
    g = lane_graph(7, [*RING, (4, 0), (5, 4), (6, 5)] + [(v, v) for v in range(7)])
    planner = LifelongPlanner(g, seed=0, no_rotation=True)
    guard = GridlockGuard(g)
    pos, goals = _cfg(4, 5, 6, 3), _cfg(2, 1, 0, 3)
    for _ in range(40):
        pos = planner.step(pos, goals)
        assert not guard.dead_set(pos).any(), pos.tolist()
    assert sum(int(p) < 4 for p in pos) == 3 and planner.gridlock_holds > 0
