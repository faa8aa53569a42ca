"""LaCAM*: solves, is deterministic, refuses bad input, proves unsolvable, honours blocks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maps.graph import GraphArrays
from planners.errors import PlanInputError
from planners.lacam import solve
from planners.problem import Blocks
from planners.validate import violations
from tests.planners.planner_graphs import conflict_sets, grid, lane_graph, spread, undirected

OPEN = grid(["......", "......", "......", "......"])
ROOMS = grid([
    "........",
    ".@@.@@@.",
    ".@....@.",
    ".@.@@.@.",
    "...@@...",
    ".@....@.",
    ".@@.@@@.",
    "........",
])


def _check(graph: GraphArrays, starts, goals, **kw):
    res = solve(graph, np.asarray(starts, np.int32), np.asarray(goals, np.int32), 5.0, **kw)
    assert res.status == "solved", res.reason
    blocks = kw.get("blocks")
    found = violations(graph, res.plan, starts, goals,
                       blocked=None if blocks is None else blocks.mask,
                       windows=None if blocks is None else blocks.windows)
    assert found == []
    assert res.plan.dtype == np.int32 and res.plan.shape == (res.makespan + 1, len(starts))
    assert res.soc >= res.lower_bound_soc and res.makespan >= res.lower_bound_makespan
    return res


def test_solves_and_swaps_in_open_grid() -> None:
    starts = [0, 5, 18, 23]
    goals = [23, 18, 5, 0]
    res = _check(OPEN, starts, goals)
    assert [p[0] for p in res.paths()] == starts and [p[-1] for p in res.paths()] == goals


def test_corridors_need_swaps() -> None:
    rng = np.random.default_rng(3)
    cells = rng.permutation(ROOMS.n_nodes)
    _check(ROOMS, cells[:12], cells[12:24])


def test_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(1)
    cells = rng.permutation(OPEN.n_nodes)
    a = solve(OPEN, cells[:12], cells[12:], 5.0, seed=7)
    b = solve(OPEN, cells[:12], cells[12:], 5.0, seed=7)
    assert a.solved and np.array_equal(a.plan, b.plan)


def test_agents_already_home() -> None:
    res = _check(OPEN, [3, 4], [3, 4])
    assert res.soc == 0 and res.makespan == 0


@pytest.mark.parametrize(("starts", "goals", "match"), [
    ([0, 0], [1, 2], "share start node 0"),
    ([0, 1], [2, 2], "share goal node 2"),
    ([0, 99], [1, 2], "not a node"),
    ([0, 1], [2], "2 starts but 1 goals"),
])
def test_bad_input_is_an_error(starts, goals, match) -> None:
    with pytest.raises(PlanInputError, match=match):
        solve(OPEN, np.array(starts), np.array(goals), 1.0)


def test_goal_on_blocked_node_is_an_error() -> None:
    mask = np.zeros(OPEN.n_nodes, dtype=bool)
    mask[5] = True
    with pytest.raises(PlanInputError, match="agent 0: goal node 5 is blocked"):
        solve(OPEN, np.array([0]), np.array([5]), 1.0, blocks=Blocks(mask=mask))


def test_unreachable_goal_is_unsolvable() -> None:
    split = grid(["..@..", "..@.."])
    res = solve(split, np.array([0, 4]), np.array([2, 1]), 2.0)
    assert res.status == "unsolvable" and "agent 0 cannot reach" in res.reason


def test_impossible_swap_is_proven_unsolvable() -> None:
    line = grid(["..."])
    res = solve(line, np.array([0, 1]), np.array([1, 0]), 5.0)
    assert res.status == "unsolvable" and "explored" in res.reason


def test_time_limit_is_honoured() -> None:
    big = grid(["." * 40] * 40)
    rng = np.random.default_rng(0)
    cells = rng.permutation(big.n_nodes)
    res = solve(big, cells[:600], cells[600:1200], 0.0)
    assert res.status == "timeout" and res.plan is None


def test_iteration_cap_ends_the_search_the_same_way_each_time() -> None:
    # a proof of unsolvability needs every configuration: a cap of 3 iterations stops it first
    line = grid(["....."])
    capped = [solve(line, np.array([0, 1]), np.array([1, 0]), 5.0, max_iterations=3) for _ in range(2)]
    assert [r.status for r in capped] == ["memory", "memory"]
    assert "cap of 3 iterations" in capped[0].reason and capped[0].stats == capped[1].stats
    assert capped[0].stats["iterations"] == 4
    assert solve(line, np.array([0, 1]), np.array([1, 0]), 5.0).status == "unsolvable"


def test_one_way_ring() -> None:
    ring = lane_graph(6, [(i, (i + 1) % 6) for i in range(6)])
    _check(ring, [0, 2, 4], [3, 5, 1])


def test_footprints_keep_agents_apart() -> None:
    # a corridor whose neighbouring nodes are too close to be occupied together
    n = 7
    g = lane_graph(n, undirected([(i, i + 1) for i in range(n - 1)]),
                   conflicts=[(i, i + 1) for i in range(n - 1)])
    res = _check(g, [0, 2], [4, 6])
    assert np.all(np.abs(res.plan[:, 0] - res.plan[:, 1]) >= 2)


def test_start_footprint_clash_is_an_error() -> None:
    g = lane_graph(3, undirected([(0, 1), (1, 2)]), conflicts=[(0, 1)])
    with pytest.raises(PlanInputError, match="too close"):
        solve(g, np.array([0, 1]), np.array([1, 2]), 1.0)


def test_blocked_mask_forces_a_detour() -> None:
    mask = np.zeros(OPEN.n_nodes, dtype=bool)
    mask[[1, 7, 13]] = True  # column 1, rows 0-2
    res = _check(OPEN, [0], [2], blocks=Blocks(mask=mask))
    assert res.makespan == 8


def test_block_window_makes_agents_wait() -> None:
    line = grid(["....."])
    windows = np.array([[2, 0, 6]])  # node 2 closed for steps 0..5
    res = _check(line, [0], [4], blocks=Blocks(windows=windows))
    assert res.makespan >= 8


def test_refinement_never_worsens() -> None:
    rng = np.random.default_rng(5)
    cells = rng.permutation(ROOMS.n_nodes)
    first = _check(ROOMS, cells[:20], cells[20:40])
    better = _check(ROOMS, cells[:20], cells[20:40], refine=True, refine_iterations=200)
    assert better.soc <= first.soc and better.first_soc == first.soc


@st.composite
def instances(draw):
    h = draw(st.integers(3, 8))
    w = draw(st.integers(3, 8))
    cells = draw(st.lists(st.booleans(), min_size=h * w, max_size=h * w))
    rows = ["".join("@" if c and draw(st.integers(0, 4)) == 0 else "." for c in cells[r * w:(r + 1) * w])
            for r in range(h)]
    g = grid(rows)
    if g.n_nodes < 2:
        rows[0] = ".." + rows[0][2:]
        g = grid(rows)
    n = draw(st.integers(1, max(1, g.n_nodes // 2)))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    return g, rng.permutation(g.n_nodes)[:n], rng.permutation(g.n_nodes)[:n], seed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_random_grids_give_valid_plans_or_clear_answers(inst) -> None:
    g, starts, goals, seed = inst
    res = solve(g, starts, goals, 1.0, seed=seed)
    assert res.status in {"solved", "unsolvable", "timeout"}
    if res.solved:
        assert violations(g, res.plan, starts, goals) == []
    else:
        assert res.reason and res.plan is None


@st.composite
def footprint_instances(draw):
    g0 = grid(["....."] * 4)
    n = g0.n_nodes
    pairs = []
    for v in range(n):
        for u in g0.neighbours(v):
            if v < u and draw(st.integers(0, 3)) == 0:
                pairs.append((v, int(u)))
    edges = [(v, int(u)) for v in range(n) for u in g0.neighbours(v)]
    g = lane_graph(n, edges, pairs)
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    conf = conflict_sets(n, pairs)

    k = draw(st.integers(1, 5))
    s = spread(rng.permutation(n), k, conf)
    gl = spread(rng.permutation(n), len(s), conf)
    s = s[: len(gl)]
    return g, np.array(s), np.array(gl), seed


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(footprint_instances())
def test_footprint_plans_are_valid(inst) -> None:
    g, starts, goals, seed = inst
    res = solve(g, starts, goals, 1.0, seed=seed)
    if res.solved:
        assert violations(g, res.plan, starts, goals) == []
    else:
        assert res.reason


def test_no_rotation_plans_have_no_rings() -> None:
    rng = np.random.default_rng(11)
    cells = rng.permutation(OPEN.n_nodes)
    res = solve(OPEN, cells[:10], cells[10:20], 5.0, no_rotation=True)
    assert res.solved
    assert violations(OPEN, res.plan, cells[:10], cells[10:20], no_rotation=True) == []
