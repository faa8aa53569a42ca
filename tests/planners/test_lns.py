"""Large-neighbourhood refinement: never an invalid plan, never a costlier one, bounded."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planners.distance import distance_tables, unreachable
from planners.lacam import arrivals, solve
from planners.lns import refine, symmetric_conflicts
from planners.problem import Blocks
from planners.validate import violations
from tests.planners.planner_graphs import conflict_sets, grid, lane_graph, spread, undirected

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


def _refine_direct(graph, plan, deadline, **kw):
    goals = plan[-1].astype(np.int32)
    blocked = np.zeros(graph.n_nodes, dtype=bool)
    dist = distance_tables(graph.indptr, graph.indices, goals, blocked)
    lb = dist[np.arange(plan.shape[1]), plan[0]].astype(np.int64)
    empty = np.zeros(0, np.int32)
    return refine(graph.indptr, graph.indices, graph.conflict_indptr, graph.conflict_indices,
                  dist, unreachable(dist.dtype), plan, lb, deadline, blocked,
                  np.zeros(graph.n_nodes + 1, np.int32), empty, empty, **kw)


def test_refinement_lowers_the_sum_of_costs() -> None:
    rng = np.random.default_rng(5)
    cells = rng.permutation(ROOMS.n_nodes)
    starts, goals = cells[:20], cells[20:40]
    res = solve(ROOMS, starts, goals, 10.0, refine=True, refine_iterations=400)
    assert res.solved and violations(ROOMS, res.plan, starts, goals) == []
    assert res.first_soc > res.lower_bound_soc  # the instance leaves room to improve
    assert res.soc < res.first_soc and res.soc >= res.lower_bound_soc
    assert res.refine_iterations > 0 and res.refine_accepted > 0


def test_refinement_is_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(2)
    cells = rng.permutation(ROOMS.n_nodes)
    a = solve(ROOMS, cells[:20], cells[20:40], 10.0, seed=3, refine=True, refine_iterations=150)
    b = solve(ROOMS, cells[:20], cells[20:40], 10.0, seed=3, refine=True, refine_iterations=150)
    assert np.array_equal(a.plan, b.plan) and a.refine_iterations == b.refine_iterations == 150


def test_a_passed_deadline_changes_nothing() -> None:
    rng = np.random.default_rng(4)
    cells = rng.permutation(ROOMS.n_nodes)
    first = solve(ROOMS, cells[:20], cells[20:40], 10.0)
    out = _refine_direct(ROOMS, first.plan, time.perf_counter() - 1.0)
    assert out.iterations == 0 and np.array_equal(out.plan, first.plan)


@pytest.mark.timeout(60)
def test_the_clock_alone_ends_an_unbounded_refinement() -> None:
    big = grid(["." * 30] * 30)
    rng = np.random.default_rng(0)
    cells = rng.permutation(big.n_nodes)
    res = solve(big, cells[:300], cells[300:600], 1.0, refine=True)
    assert res.solved and res.refine_iterations > 0
    assert violations(big, res.plan, cells[:300], cells[300:600]) == []
    assert res.soc <= res.first_soc


def test_a_plan_on_shortest_paths_is_left_alone() -> None:
    line = grid(["......"])
    plan = np.array([[0, 5], [1, 5], [2, 5]], dtype=np.int32)  # agent 1 is home already
    out = _refine_direct(line, plan, time.perf_counter() + 5.0, max_iterations=50)
    assert out.soc == out.initial_soc == 2 and np.array_equal(out.plan, plan)


def test_goal_rule_keeps_others_off_a_finished_agent() -> None:
    # a corridor 0-1-2-3-4 with a niche 5 below node 2. Agent 0 (2 -> 1) must dodge into
    # the niche while agent 1 (3 -> 0) passes over its goal; the plan below dawdles there.
    g = grid([".....", "@@.@@"])
    a0 = [2, 5, 5, 5, 5, 2, 1]
    a1 = [3, 2, 1, 0, 0, 0, 0]
    plan = np.array([a0, a1], dtype=np.int32).T.copy()
    starts, goals = plan[0], plan[-1]
    assert violations(g, plan, starts, goals) == []
    out = _refine_direct(g, plan, time.perf_counter() + 5.0, max_iterations=200)
    assert violations(g, out.plan, starts, goals) == []
    assert out.soc == 6 < out.initial_soc == 9  # 0 dodges and comes back at once


@st.composite
def instances(draw):
    h = draw(st.integers(3, 7))
    w = draw(st.integers(3, 7))
    rows = ["".join("@" if draw(st.integers(0, 5)) == 0 else "." for _ in range(w)) for _ in range(h)]
    g = grid(rows)
    if g.n_nodes < 3:
        rows[0] = "..." + rows[0][3:]
        g = grid(rows)
    n = draw(st.integers(2, max(2, (2 * g.n_nodes) // 3)))
    n = min(n, g.n_nodes)
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    return g, rng.permutation(g.n_nodes)[:n], rng.permutation(g.n_nodes)[:n], seed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_random_grids_refined_plans_are_valid_and_no_worse(inst) -> None:
    g, starts, goals, seed = inst
    first = solve(g, starts, goals, 2.0, seed=seed)
    if not first.solved:
        return
    res = solve(g, starts, goals, 5.0, seed=seed, refine=True, refine_iterations=60)
    assert res.solved
    assert violations(g, res.plan, starts, goals) == []
    assert res.first_soc == first.soc and res.soc <= first.soc
    assert res.soc == int(arrivals(res.plan).sum())


@st.composite
def blocked_instances(draw):
    g = grid(["......"] * 5)
    n = g.n_nodes
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    cells = rng.permutation(n)
    k = draw(st.integers(2, 10))
    starts, goals = cells[:k], rng.permutation(n)[:k]
    used = set(starts.tolist()) | set(goals.tolist())
    free = [c for c in cells.tolist() if c not in used]
    mask = np.zeros(n, dtype=bool)
    mask[free[: draw(st.integers(0, 4))]] = True
    # windows open from step 1 on (a start inside a window at step 0 is not a problem to solve)
    rows = [(int(v), int(rng.integers(1, 6))) for v in rng.choice(n, draw(st.integers(0, 4)))]
    windows = np.array([(v, a, a + int(rng.integers(1, 5))) for v, a in rows],
                       dtype=np.int64).reshape(-1, 3)
    return g, starts, goals, Blocks(mask=mask, windows=windows), seed


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocked_instances())
def test_refined_plans_respect_blocks(inst) -> None:
    g, starts, goals, blocks, seed = inst
    res = solve(g, starts, goals, 3.0, seed=seed, blocks=blocks, refine=True, refine_iterations=60)
    if not res.solved:
        return
    assert violations(g, res.plan, starts, goals, blocked=blocks.mask, windows=blocks.windows) == []
    assert res.soc <= res.first_soc


@st.composite
def footprint_instances(draw):
    g0 = grid(["....."] * 4)
    n = g0.n_nodes
    pairs = [(v, int(u)) for v in range(n) for u in g0.neighbours(v)
             if v < u and draw(st.integers(0, 3)) == 0]
    g = lane_graph(n, [(v, int(u)) for v in range(n) for u in g0.neighbours(v)], pairs)
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    conf = conflict_sets(n, pairs)

    s = spread(rng.permutation(n), draw(st.integers(2, 6)), conf)
    gl = spread(rng.permutation(n), len(s), conf)
    return g, np.array(s[: len(gl)]), np.array(gl), seed, draw(st.booleans())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(footprint_instances())
def test_refined_footprint_plans_are_valid(inst) -> None:
    g, starts, goals, seed, no_rotation = inst
    res = solve(g, starts, goals, 3.0, seed=seed, refine=True, refine_iterations=60,
                no_rotation=no_rotation)
    if res.solved:
        assert violations(g, res.plan, starts, goals, no_rotation=no_rotation) == []
        assert res.soc <= res.first_soc


def test_no_rotation_refinement_has_no_rings() -> None:
    ring = lane_graph(8, undirected([(i, (i + 1) % 8) for i in range(8)]))
    starts, goals = np.array([0, 2, 4, 6]), np.array([2, 4, 6, 0])
    res = solve(ring, starts, goals, 5.0, refine=True, refine_iterations=100, no_rotation=True)
    assert res.solved
    assert violations(ring, res.plan, starts, goals, no_rotation=True) == []


def test_conflict_sets_are_made_symmetric() -> None:
    cptr = np.array([0, 1, 1, 1], np.int32)
    cind = np.array([2], np.int32)  # 0 lists 2, 2 does not list 0
    ptr, ind = symmetric_conflicts(cptr, cind)
    assert ptr.tolist() == [0, 1, 1, 2] and ind.tolist() == [2, 0]


def test_cli_reports_first_and_refined_cost(tmp_path) -> None:
    import json

    from fleet.cli import main

    rows = ["." * 8] * 6
    (tmp_path / "t.map").write_text("type octile\nheight 6\nwidth 8\nmap\n" + "\n".join(rows) + "\n")
    rng = np.random.default_rng(9)
    cells = rng.permutation(48)
    lines = ["version 1"] + [
        f"0\tt.map\t8\t6\t{s % 8}\t{s // 8}\t{g % 8}\t{g // 8}\t0" for s, g in zip(cells[:20], cells[20:40], strict=True)
    ]
    (tmp_path / "t.scen").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.json"
    code = main(["mapf", "solve", "--map", str(tmp_path / "t.map"), "--scen", str(tmp_path / "t.scen"),
                 "--agents", "20", "--time-limit", "0.5", "--refine", "--out", str(out)])
    data = json.loads(out.read_text())
    assert code == 0 and data["valid"]
    assert data["soc"] <= data["first_soc"] and data["soc_over_lb"] <= data["first_soc_over_lb"]
    assert data["refine_iterations"] > 0


def test_refinement_stops_at_the_lower_bound() -> None:
    # two agents dawdling on parallel rows: the optimum is the lower bound, and once there
    # the search must end without waiting for its (long) deadline
    g = grid(["......", "......"])
    plan = np.array([[0, 0, 0, 1, 2, 3, 4, 5], [6, 6, 7, 8, 9, 10, 11, 11]], dtype=np.int32).T.copy()
    out = _refine_direct(g, plan, time.perf_counter() + 600.0)
    assert out.initial_soc == 13 and out.soc == 10
    assert violations(g, out.plan, plan[0], plan[-1]) == []
    assert out.iterations < 1000


def test_a_longer_refined_plan_does_not_rest_an_agent_into_its_goals_window() -> None:
    # found by the property above: agent 2 reaches its goal (node 1) at step 2 and the
    # input plan ends at step 4; node 1 is blocked over [5, 8). Refining made another
    # agent's path longer, so the plan ran to step 6 with agent 2 resting inside the window.
    g = grid(["......"] * 5)
    starts = np.array([15, 19, 8, 28, 13, 16, 14, 27])
    goals = np.array([14, 16, 1, 29, 0, 15, 11, 22])
    blocks = Blocks(mask=np.zeros(g.n_nodes, dtype=bool), windows=np.array([[9, 1, 2], [1, 5, 8]], dtype=np.int64))
    res = solve(g, starts, goals, 3.0, seed=8, blocks=blocks, refine=True, refine_iterations=60)
    assert res.solved
    assert violations(g, res.plan, starts, goals, blocked=blocks.mask, windows=blocks.windows) == []
    assert res.soc <= res.first_soc
