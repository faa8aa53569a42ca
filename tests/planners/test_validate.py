"""The plan checker finds every kind of violation and accepts valid plans."""

from __future__ import annotations

import numpy as np
import pytest

from planners.errors import PlanViolation
from planners.validate import check_plan, violations
from tests.planners.planner_graphs import grid, lane_graph, undirected

LINE = grid(["...."])  # nodes 0-1-2-3


def test_valid_plan_has_no_violations() -> None:
    plan = np.array([[0, 3], [1, 3], [2, 3]], dtype=np.int32)
    assert violations(LINE, plan, starts=[0, 3], goals=[2, 3]) == []
    check_plan(LINE, plan, [0, 3], [2, 3])


def test_jump_without_edge() -> None:
    plan = np.array([[0], [2]], dtype=np.int32)
    found = violations(LINE, plan)
    assert len(found) == 1 and "without an edge" in found[0]


def test_vertex_conflict() -> None:
    plan = np.array([[0, 2], [1, 1]], dtype=np.int32)
    assert any("both on node 1" in v for v in violations(LINE, plan))


def test_swap_conflict() -> None:
    plan = np.array([[1, 2], [2, 1]], dtype=np.int32)
    assert any("swaps along 1<->2" in v for v in violations(LINE, plan))


def test_following_is_allowed() -> None:
    plan = np.array([[1, 2], [2, 3]], dtype=np.int32)
    assert violations(LINE, plan) == []


def test_wrong_start_and_goal() -> None:
    plan = np.array([[0], [1]], dtype=np.int32)
    found = violations(LINE, plan, starts=[1], goals=[2])
    assert any("not its start" in v for v in found)
    assert any("not its goal" in v for v in found)


def test_directed_edge_only_one_way() -> None:
    g = lane_graph(3, [(0, 1), (1, 2)])
    assert violations(g, np.array([[0], [1], [2]], dtype=np.int32)) == []
    assert any("without an edge" in v for v in violations(g, np.array([[1], [0]], dtype=np.int32)))


def test_footprint_conflict() -> None:
    g = lane_graph(4, undirected([(0, 1), (1, 2), (2, 3)]), conflicts=[(1, 2)])
    ok = np.array([[0, 3], [0, 2]], dtype=np.int32)
    assert violations(g, ok) == []
    bad = np.array([[0, 3], [1, 2]], dtype=np.int32)
    assert any("overlap (footprint)" in v for v in violations(g, bad))


def test_blocked_and_windows() -> None:
    plan = np.array([[0], [1], [2]], dtype=np.int32)
    blocked = np.array([False, True, False, False])
    assert any("blocked node 1" in v for v in violations(LINE, plan, blocked=blocked))
    assert any("block window" in v for v in violations(LINE, plan, windows=np.array([[2, 2, 5]])))
    assert violations(LINE, plan, windows=np.array([[2, 3, 5]])) == []


def test_malformed_plans() -> None:
    assert violations(LINE, np.zeros((0, 2), dtype=np.int32))
    assert "not a node" in violations(LINE, np.array([[7]], dtype=np.int32))[0]
    with pytest.raises(PlanViolation, match="invalid plan"):
        check_plan(LINE, np.array([[0, 0]], dtype=np.int32))


def test_rotation_is_reported_only_when_asked() -> None:
    square = grid(["..", ".."])  # 0 1 / 2 3
    ring = np.array([[0, 1, 3, 2], [1, 3, 2, 0]], dtype=np.int32)
    assert violations(square, ring) == []
    assert any("rotate" in v for v in violations(square, ring, no_rotation=True))
    chain = np.array([[0, 1], [1, 3]], dtype=np.int32)  # following without a ring is fine
    assert violations(square, chain, no_rotation=True) == []
