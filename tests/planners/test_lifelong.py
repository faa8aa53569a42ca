"""Lifelong PIBT: every step valid, no deadlock over long runs, stations queue, blocks avoided."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planners.errors import PlanInputError
from planners.lifelong import LifelongPlanner
from planners.validate import violations
from tests.planners.planner_graphs import grid, lane_graph, undirected

WAREHOUSE = grid([
    "............",
    ".@@.@@.@@.@.",
    "............",
    ".@@.@@.@@.@.",
    "............",
    ".@@.@@.@@.@.",
    "............",
])


def run(planner: LifelongPlanner, pos: np.ndarray, goals: np.ndarray, steps: int,
        rng: np.random.Generator, choices: np.ndarray, blocked=None):
    """Drive the planner, giving an agent a new goal when it arrives; returns history, reached."""
    history = [pos]
    reached = np.zeros(pos.shape[0], dtype=np.int64)
    last_arrival = np.zeros(pos.shape[0], dtype=np.int64)
    worst_wait = 0
    for t in range(steps):
        pos = planner.step(pos, goals, blocked=blocked)
        history.append(pos)
        done = pos == goals
        reached += done
        last_arrival[done] = t
        worst_wait = max(worst_wait, int((t - last_arrival).max()))
        if done.any():
            goals = goals.copy()
            goals[done] = rng.choice(choices, size=int(done.sum()))
    return np.stack(history), reached, worst_wait


PIBT_ONLY = {"window_max_agents": 0}  # force the one-step PIBT path used by large fleets


@pytest.mark.parametrize("mode", [PIBT_ONLY, {}], ids=["pibt", "window"])
def test_ten_thousand_steps_no_collision_no_deadlock(mode) -> None:
    rng = np.random.default_rng(0)
    n = 20
    cells = rng.permutation(WAREHOUSE.n_nodes)
    planner = LifelongPlanner(WAREHOUSE, seed=1, **mode)
    hist, reached, worst_wait = run(planner, cells[:n].astype(np.int32), cells[n:2 * n].astype(np.int32),
                                    10_000, rng, np.arange(WAREHOUSE.n_nodes))
    assert violations(WAREHOUSE, hist) == []
    assert reached.min() > 50  # every agent keeps finishing orders
    assert worst_wait < 1_000  # nobody is stuck for long


def test_station_queue_waits_near_the_station() -> None:
    rng = np.random.default_rng(2)
    n = 12
    cells = rng.permutation(WAREHOUSE.n_nodes)
    station = int(WAREHOUSE.node_of_cell(6, 4))
    cells = cells[cells != station]
    pos = cells[:n].astype(np.int32)
    goals = cells[n:2 * n].astype(np.int32)
    goals[:4] = station  # four agents want the same station and stay there (a long job)
    planner = LifelongPlanner(WAREHOUSE, seed=0)
    history = [pos]
    held = 0
    finished = np.zeros(n, dtype=np.int64)
    sx, sy = WAREHOUSE.xy[station]
    near = []
    for t in range(150):
        pos = planner.step(pos, goals)
        history.append(pos)
        if t >= 90:
            near.append(np.abs(WAREHOUSE.xy[pos[:4]] - [sx, sy]).sum(axis=1))
        held += int(np.isin(np.flatnonzero(pos == station), np.arange(4)).any())
        done = (pos == goals) & (np.arange(n) >= 4)
        finished += done
        goals = np.where(done, rng.choice(cells, size=n), goals).astype(np.int32)
    assert violations(WAREHOUSE, np.stack(history)) == []
    assert held > 50, "one of the agents that want the station holds it most of the time"
    assert finished[4:].min() > 0, "traffic around the queue keeps flowing"
    # queued agents wait near the station (traffic may push them aside for a moment)
    assert np.mean(near, axis=0).max() <= 4.0


def test_footprint_lane_graph() -> None:
    n = 10
    ring = undirected([(i, (i + 1) % n) for i in range(n)]) + undirected([(0, 5)])
    g = lane_graph(n, ring, conflicts=[(i, (i + 1) % n) for i in range(0, n, 2)])
    planner = LifelongPlanner(g, seed=0)
    rng = np.random.default_rng(0)
    hist, reached, _ = run(planner, np.array([0, 2, 4], np.int32), np.array([5, 7, 9], np.int32),
                           500, rng, np.arange(n))
    assert violations(g, hist) == []
    assert reached.min() > 0


def test_one_way_lanes() -> None:
    n = 8
    g = lane_graph(n, [(i, (i + 1) % n) for i in range(n)] + [(0, 4)])
    planner = LifelongPlanner(g, seed=0)
    rng = np.random.default_rng(1)
    hist, reached, _ = run(planner, np.array([0, 3, 6], np.int32), np.array([2, 5, 7], np.int32),
                           300, rng, np.arange(n))
    assert violations(g, hist) == []
    assert reached.min() > 0


def test_blocked_nodes_are_not_entered_and_closed_nodes_detoured() -> None:
    line = grid(["......", ".@@@@.", "......"])
    blocked = np.zeros(line.n_nodes, dtype=bool)
    blocked[line.node_of_cell(3, 0)] = True
    planner = LifelongPlanner(line, seed=0)
    start = np.array([line.node_of_cell(0, 0)], np.int32)
    goal = np.array([line.node_of_cell(5, 0)], np.int32)
    pos = start
    for _ in range(12):
        pos = planner.step(pos, goal, blocked=blocked)
        assert not blocked[pos[0]]
    planner.set_closed(blocked)
    pos = start
    for _ in range(14):
        pos = planner.step(pos, goal)
    assert pos[0] == goal[0]  # went round through row 2


def test_duplicate_positions_are_an_error() -> None:
    planner = LifelongPlanner(WAREHOUSE)
    with pytest.raises(PlanInputError, match="both on node 3"):
        planner.step(np.array([3, 3]), np.array([0, 1]))


@st.composite
def fleets(draw):
    h = draw(st.integers(3, 7))
    w = draw(st.integers(3, 7))
    rows = ["".join("@" if draw(st.integers(0, 5)) == 0 else "." for _ in range(w)) for _ in range(h)]
    g = grid(rows)
    if g.n_nodes < 2:
        g = grid(["...", "..."])
    n = draw(st.integers(1, max(1, (2 * g.n_nodes) // 3)))
    seed = draw(st.integers(0, 2**16))
    return g, n, seed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleets(), st.booleans(), st.booleans())
def test_random_fleets_every_step_valid(fleet, pibt_only, no_rotation) -> None:
    g, n, seed = fleet
    rng = np.random.default_rng(seed)
    cells = rng.permutation(g.n_nodes)
    planner = LifelongPlanner(g, seed=seed, no_rotation=no_rotation,
                              **(PIBT_ONLY if pibt_only else {}))
    hist, _, _ = run(planner, cells[:n].astype(np.int32), rng.choice(g.n_nodes, size=n).astype(np.int32),
                     200, rng, np.arange(g.n_nodes))
    assert violations(g, hist, no_rotation=no_rotation) == []


def test_bundled_warehouse_site_keeps_delivering() -> None:
    """30 AGVs on the site's lane graph (one-way lanes, footprints, dead-end stations)."""
    from maps.compile import compile_site
    from maps.loader import bundled_sites, load_site
    from planners.problem import footprint_clash

    site = load_site(bundled_sites()["warehouse"])
    g = compile_site(site)
    stations = np.unique([g.index(s.node) for s in site.stations])
    rng = np.random.default_rng(0)
    starts: list[int] = []
    for v in rng.permutation(np.setdiff1d(np.arange(g.n_nodes), stations)).tolist():
        if footprint_clash(g, np.array([*starts, v], dtype=np.int32)) is None:
            starts.append(v)
        if len(starts) == 30:
            break
    planner = LifelongPlanner(g, seed=0, no_rotation=True)
    pos = np.array(starts, dtype=np.int32)
    goals = rng.choice(stations, size=30).astype(np.int32)
    per_block = []
    history = [pos]
    for block in range(5):
        hist, reached, _ = run(planner, pos, goals, 1000, rng, stations)
        history.append(hist[1:])
        pos = hist[-1]
        goals = np.where(pos == goals, rng.choice(stations, size=30), goals).astype(np.int32)
        per_block.append(int(reached.sum()))
        assert violations(g, hist, no_rotation=True) == [], f"block {block}"
    assert min(per_block) > 100, per_block  # goals reached keep growing, block after block



def test_pibt_shakes_loose_a_fleet_the_bookings_box_in(monkeypatch) -> None:
    # prioritized booking is incomplete: stand in for a packed one-way block where every
    # agent is boxed in by the bookings of those before it (all fail, nobody moves)
    import planners.lifelong as lifelong

    def boxed_in(*args):
        pos, out, failed = args[7], args[14], args[15]
        out[:] = pos
        failed[:] = True
        return pos.shape[0]

    monkeypatch.setattr(lifelong, "plan_window", boxed_in)
    rng = np.random.default_rng(3)
    cells = rng.permutation(WAREHOUSE.n_nodes)
    planner = LifelongPlanner(WAREHOUSE, seed=1)
    hist, reached, _ = run(planner, cells[:10].astype(np.int32), cells[10:20].astype(np.int32),
                           200, rng, np.arange(WAREHOUSE.n_nodes))
    assert violations(WAREHOUSE, hist) == []
    assert reached.sum() > 20  # the PIBT steps keep the fleet going
    assert planner.window_plans == planner.stall_breaks > 5  # booking is tried again after each spell


@pytest.mark.parametrize("limit, shaken", [(10**9, False), (None, True)])
def test_pibt_breaks_a_livelock_where_one_agent_dodges_and_the_rest_stay_boxed_in(
        monkeypatch, limit, shaken) -> None:
    # stand in for the warehouse's livelock: one vehicle steps in and out of a side branch
    # every step (never nearer its goal), so somebody moves and no stall is seen, while the
    # bookings box every other agent in for good
    import planners.lifelong as lifelong

    def one_dodges(indptr, indices, cptr, cind, dist, slots, inf, pos, goals, order, horizon, blocked,
                   no_rotation, hold_steps, out, failed):
        out[:] = pos
        failed[:] = True
        failed[0] = False
        here = int(pos[0])
        free = [int(u) for u in indices[indptr[here]:indptr[here + 1]] if u not in pos]
        if free:  # sideways or away, never nearer
            out[1:, 0] = max(free, key=lambda u: dist[slots[0], u])
        return pos.shape[0] - 1

    monkeypatch.setattr(lifelong, "plan_window", one_dodges)
    if limit is not None:
        monkeypatch.setattr(lifelong, "NO_PROGRESS_STEPS", limit)
    rng = np.random.default_rng(5)
    cells = rng.permutation(WAREHOUSE.n_nodes)
    planner = LifelongPlanner(WAREHOUSE, seed=2)
    hist, reached, _ = run(planner, cells[:8].astype(np.int32), cells[8:16].astype(np.int32),
                           300, rng, np.arange(WAREHOUSE.n_nodes))
    assert violations(WAREHOUSE, hist) == []
    assert planner.stall_breaks == 0  # someone moves every step: no stall to see
    if shaken:
        assert planner.livelock_breaks >= 2 and reached[1:].sum() > 10
    else:
        assert planner.livelock_breaks == 0 and reached[1:].sum() == 0


@pytest.mark.parametrize("retries, passes", [(0, False), (4, True)])
def test_pibt_pushes_an_idle_agent_out_of_a_junction_block(retries, passes) -> None:
    # the warehouse's north corridor runs west; N-42 and N-45 are junctions 3 m apart whose
    # blocks share the waypoint between them: the follower's next node and the idle agent's
    # only way on are one block, so the two can never move in the same step. Pinned where it
    # was pushed, the idle agent would hold the follower for ever (the large site's frozen
    # corridors); left unplanned and asked to make way, it steps aside into the WC4 spur
    from maps.compile import compile_site
    from maps.loader import bundled_sites, load_site

    g = compile_site(load_site(bundled_sites()["warehouse"]))
    idle, follower, goal = g.index("N-42"), g.index("N-45"), g.index("N-30")
    p = LifelongPlanner(g, window_max_agents=0, push_retries=retries)
    pos = np.array([idle, follower], dtype=np.int32)
    for _ in range(40):
        pos = p.step(pos, np.array([pos[0], goal], dtype=np.int32))  # the idle agent's goal: where it is
        if pos[1] == goal:
            break
    assert bool(pos[1] == goal) == passes


def test_warm_up_runs_on_any_lane_graph_and_leaves_the_planner_alone() -> None:
    """A service calls it before planning; a dead-end first node or a tiny graph must not break it."""
    from planners.lifelong import warm_up

    one_way = lane_graph(4, [(1, 2), (2, 3), (3, 1)], conflicts=[(1, 2)])  # node 0 leads nowhere
    warm_up(one_way, no_rotation=True)
    warm_up(lane_graph(1, []))
    warm_up(grid(["...", "..."]))
    planner = LifelongPlanner(one_way, no_rotation=True)
    assert planner.step(np.array([1], np.int32), np.array([3], np.int32)).tolist() == [2]
