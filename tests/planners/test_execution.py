"""The execution graph keeps real, randomly delayed vehicles apart and moving."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maps.compile import compile_site
from maps.loader import bundled_sites, load_site
from maps.movingai import Grid, grid_graph
from planners.execution import (
    ExecutionError,
    ExecutionGraph,
    from_paths,
    hold_rotations,
    waiting_cycle,
)


def random_plan(g, n_agents, steps, rng):
    """A valid, executable random multi-agent plan (random walks, rotations held)."""
    starts = rng.choice(g.n_nodes, size=n_agents * 4, replace=False)
    config: list[int] = []
    for v in starts.tolist():
        around = {v, *g.conflicts(v).tolist()}
        if not any(u in around or v in set(g.conflicts(u).tolist()) for u in config):
            config.append(v)
        if len(config) == n_agents:
            break
    plan = [list(config)]
    for _ in range(steps):
        prev = plan[-1]
        nxt = list(prev)
        for i in rng.permutation(len(prev)).tolist():
            options = g.neighbours(prev[i]).tolist()
            if not options or rng.random() < 0.3:
                continue
            v = int(rng.choice(options))
            around = {v, *g.conflicts(v).tolist()}
            if any(j != i and (nxt[j] in around or (prev[j] in around and nxt[j] == prev[j])) for j in range(len(prev))):
                continue
            if any(j != i and nxt[j] == prev[i] and nxt[i] == prev[j] for j in range(len(prev))):
                continue
            nxt[i] = v
        # a mover must not enter a node still held by an agent that stays
        changed = True
        while changed:
            changed = False
            stay = {u for j in range(len(prev)) if nxt[j] == prev[j] for u in (prev[j], *g.conflicts(prev[j]).tolist())}
            for i in range(len(prev)):
                if nxt[i] != prev[i] and nxt[i] in stay:
                    nxt[i] = prev[i]
                    changed = True
        nxt, _ = hold_rotations(prev, nxt, g.conflict_indptr, g.conflict_indices)
        plan.append(nxt)
    return np.array(plan, dtype=np.int32)


def execute_with_delays(g, plan, rng, lookahead=3, max_ticks=200_000):
    """Vehicles take random time per move; check occupancy at every tick."""
    ex = from_paths(plan, g.conflict_indptr, g.conflict_indices)
    n = plan.shape[1]
    moving_to = [-1] * n  # entry index the vehicle is driving to
    remaining = [0] * n
    for tick in range(max_ticks):
        if all(ex.reached(i) == ex.last(i) for i in range(n)):
            return tick
        for i in range(n):
            ex.release(i, lookahead)
            if moving_to[i] < 0 and ex.reached(i) < ex.released(i):
                moving_to[i] = ex.reached(i) + 1
                remaining[i] = int(rng.integers(1, 6)) if rng.random() < 0.8 else int(rng.integers(5, 30))
        occupied: dict[int, int] = {}
        for i in range(n):
            nodes = [ex.node_at(i, ex.reached(i))]
            if moving_to[i] >= 0:
                nodes.append(ex.node_at(i, moving_to[i]))
            for v in nodes:
                for u in (v, *g.conflicts(v).tolist()):
                    if u in occupied and occupied[u] != i:
                        raise AssertionError(f"tick {tick}: agents {i} and {occupied[u]} collide at {u}")
                occupied[v] = i
        for i in range(n):
            if moving_to[i] >= 0:
                remaining[i] -= 1
                if remaining[i] <= 0:
                    ex.mark_reached(i, moving_to[i])
                    moving_to[i] = -1
    raise AssertionError("deadlock: the fleet stopped moving")


def _grid(w, h, rng, density=0.15):
    free = rng.random((h, w)) > density
    return grid_graph(Grid("rand", free))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_random_delays_never_collide_or_deadlock_on_grids(seed):
    rng = np.random.default_rng(seed)
    g = _grid(10, 10, rng)
    plan = random_plan(g, n_agents=12, steps=40, rng=rng)
    execute_with_delays(g, plan, rng)


def test_random_delays_on_the_warehouse_with_footprints():
    g = compile_site(load_site(bundled_sites()["warehouse"]))
    assert g.conflict_indices.size
    for seed in range(3):
        rng = np.random.default_rng(seed)
        plan = random_plan(g, n_agents=30, steps=80, rng=rng)
        execute_with_delays(g, plan, rng)


def test_rotation_is_detected_and_held():
    # a 2x2 cycle: four agents rotating clockwise
    g = grid_graph(Grid("sq", np.ones((2, 2), dtype=bool)))
    prev = [g.node_of_cell(0, 0), g.node_of_cell(1, 0), g.node_of_cell(1, 1), g.node_of_cell(0, 1)]
    nxt = prev[1:] + prev[:1]
    assert sorted(waiting_cycle(prev, nxt, g.conflict_indptr, g.conflict_indices)) == [0, 1, 2, 3]
    ex = ExecutionGraph(prev, g.conflict_indptr, g.conflict_indices)
    with pytest.raises(ExecutionError, match="rotation"):
        ex.append(nxt)
    held, who = hold_rotations(prev, nxt, g.conflict_indptr, g.conflict_indices)
    assert held == prev and sorted(set(who)) == [0, 1, 2, 3]


def test_colliding_configuration_is_refused():
    g = grid_graph(Grid("line", np.ones((1, 3), dtype=bool)))
    ex = ExecutionGraph([0, 2], g.conflict_indptr, g.conflict_indices)
    with pytest.raises(ExecutionError, match="conflicting"):
        ex.append([1, 1])


def test_cut_to_released_gives_a_valid_start():
    rng = np.random.default_rng(7)
    g = _grid(8, 8, rng, density=0.0)
    plan = random_plan(g, 8, 30, rng)
    ex = from_paths(plan, g.conflict_indptr, g.conflict_indices)
    for i in range(8):
        ex.release(i, 2)
    starts = ex.cut_to_released()
    assert len(set(starts)) == 8
    fresh = ExecutionGraph(starts, g.conflict_indptr, g.conflict_indices)  # raises if colliding
    assert fresh.n_agents == 8


def test_lead_counts_virtual_steps_ahead_of_the_slowest_executing_vehicle():
    g = grid_graph(Grid("line", np.ones((1, 8), dtype=bool)))
    ex = ExecutionGraph([0, 7], g.conflict_indptr, g.conflict_indices)
    assert ex.lead() == 0
    for config in ([1, 7], [2, 7], [3, 7], [3, 7]):  # agent 1 waits at its plan's end
        ex.append(config)
    assert ex.lead() == 4  # agent 0 has reached nothing: its first move was planned at step 1
    ex.release(0, 8)
    ex.mark_reached(0, 2)  # it stands on node 2; its next entry (node 3) was planned for step 3
    assert ex.lead() == 2
    assert ex.lead(skip=frozenset({0})) == 0
    ex.mark_reached(0, 3)  # at its plan's end, like agent 1
    assert ex.lead() == 0
