"""Simulated AGVs: released base only, kinematics, actions, batteries, instant actions."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.domain.commands import Action, ActionStatus, ActionType, InstantAction
from sim.agv import AgvSpec
from sim.world import UnknownMachine, World
from tests.sim.builders import drop, line_site, pick, route

PATH = ["N0", "N1", "N2", "N3", "N4", "N5"]


def _world(**spec) -> tuple[World, object]:
    site = line_site()
    return World(site, [AgvSpec("a1", "N0", **spec)]), site


def _run(w: World, seconds: float, dt: float = 0.5) -> list:
    """Step the world; the states of a1 that arrived meanwhile."""
    out = []
    for _ in range(round(seconds / dt)):
        out += [s for s in w.step(dt) if s.machine_id == "a1"]
    return out


def _action(states, aid):
    for state in reversed(states):
        for a in state.action_states:
            if a.action_id == aid:
                return a.status
    return None


def test_drives_the_released_base_and_never_into_the_horizon() -> None:
    w, site = _world()
    w.apply(route(site, "a1", PATH, released=3))
    states = _run(w, 60)
    assert w.agvs.last_node[0] == "N2"
    assert w.agvs.x[0] == pytest.approx(10.0)
    assert states[-1].remaining_node_ids == ("N3", "N4", "N5")
    assert not states[-1].driving


def test_accelerates_to_the_lane_speed_and_brakes_to_stop_on_the_node() -> None:
    w, site = _world(max_speed_mps=3.0, accel_mps2=0.5)
    w.apply(route(site, "a1", PATH))
    speeds = []
    for _ in range(200):
        w.step(0.25)
        speeds.append(float(w.agvs.v[0]))
    assert max(speeds) == pytest.approx(1.5)  # the lane's limit, below the vehicle's 3.0
    assert speeds[0] <= 0.5 * 0.25 + 1e-9  # starts from rest
    assert all(b - a <= 0.5 * 0.25 + 1e-9 for a, b in itertools.pairwise(speeds))
    assert w.agvs.last_node[0] == "N5" and w.agvs.x[0] == pytest.approx(25.0) and speeds[-1] == 0.0


def test_edge_speed_limit_is_honoured() -> None:
    w, site = _world(max_speed_mps=3.0)
    cmd = route(site, "a1", ["N0", "N1", "N2"])
    from dataclasses import replace

    cmd = replace(cmd, edges=tuple(replace(e, max_speed_mps=0.5) for e in cmd.edges))
    w.apply(cmd)
    top = 0.0
    for _ in range(100):
        w.step(0.5)
        top = max(top, float(w.agvs.v[0]))
    assert top == pytest.approx(0.5)


def test_turning_a_corner_takes_time() -> None:
    site = line_site()
    # corner N4 -> N5 -> S turns 90 degrees; compare with the same distance straight
    w1, _ = _world(turn_s_per_90deg=4.0)
    w1.agvs.x[0], w1.agvs.last_node[0] = 20.0, "N4"
    w1.apply(route(site, "a1", ["N4", "N5", "S"]))
    t1 = _time_to(w1, "S")
    w2, _ = _world(turn_s_per_90deg=0.0)
    w2.agvs.x[0], w2.agvs.last_node[0] = 20.0, "N4"
    w2.apply(route(site, "a1", ["N4", "N5", "S"]))
    t2 = _time_to(w2, "S")
    assert t1 - t2 == pytest.approx(4.0, abs=0.6)
    assert w1.agvs.theta[0] == pytest.approx(math.pi / 2)


def test_a_bidirectional_vehicle_backs_out_instead_of_turning_round() -> None:
    """A port IGV leaving a dead end: no 180 degree turn in place (its sweep would hit neighbours)."""
    site = line_site()
    times, headings, odometry = {}, {}, {}
    for bidir in (False, True):
        w, _ = _world(turn_s_per_90deg=4.0, bidirectional=bidir)
        w.apply(route(site, "a1", ["N0", "N1", "N2"]))
        _time_to(w, "N2")
        w.apply(route(site, "a1", ["N2", "N1", "N0"], order="o2"))
        seen = []
        for _ in range(300):
            w.step(0.1)
            seen.append((float(w.agvs.theta[0]), float(w.agvs.signed_speed()[0])))
            if w.agvs.last_node[0] == "N0":
                break
        times[bidir] = len(seen) * 0.1
        headings[bidir] = {round(t, 6) for t, _ in seen}
        odometry[bidir] = min(v for _, v in seen)
    assert times[False] - times[True] == pytest.approx(8.0, abs=0.6)  # two quarter turns saved
    assert headings[True] == {0.0}  # never rotated: it drove its back end first
    assert odometry[True] < 0 <= odometry[False]  # the wheels turn backwards, as odometry reports
    assert w.agvs.x[0] == pytest.approx(0.0) and not w.agvs.turning[0]


def _time_to(w: World, node: str) -> float:
    for k in range(2000):
        w.step(0.1)
        if w.agvs.last_node[0] == node:
            return (k + 1) * 0.1
    raise AssertionError(f"never reached {node}")


def test_pick_and_drop_carry_the_load_and_finish() -> None:
    w, site = _world(pick_s=5, drop_s=5)
    w.apply(route(site, "a1", PATH, actions={"N0": [pick(load="coil-7")], "N5": [drop()]}))
    states = _run(w, 8)
    assert w.agvs.load_id[0] == "coil-7" and _action(states, "a-pick") == ActionStatus.FINISHED
    assert w.agvs.x[0] > 0  # left after the pick
    states += _run(w, 60)
    assert w.agvs.load_id[0] is None and _action(states, "a-drop") == ActionStatus.FINISHED
    assert w.agvs.dist_loaded_m[0] == pytest.approx(25.0)


def test_battery_drains_per_metre_and_per_lift() -> None:
    w, site = _world(drain_per_m=0.001, drain_per_lift=0.01, idle_drain_per_h=0.0, battery=1.0)
    w.apply(route(site, "a1", PATH, actions={"N0": [pick()], "N5": [drop()]}))
    _run(w, 80)
    # 25 m loaded (x1.3) and two lifts
    assert w.agvs.battery[0] == pytest.approx(1.0 - 25 * 0.001 * 1.3 - 2 * 0.01, abs=1e-6)


def test_charging_at_a_charger_and_a_failed_charger() -> None:
    w, site = _world(battery=0.5, charge_per_h=3.6, idle_drain_per_h=0.0)
    charge = Action("c1", ActionType.START_CHARGING)
    w.apply(route(site, "a1", ["N0", "N1"], actions={"N1": [charge]}))
    states = _run(w, 60)
    assert _action(states, "c1") == ActionStatus.FINISHED and w.agvs.charging[0]
    assert w.agvs.battery[0] > 0.5
    w.agvs.fail_charger("C1", True)
    assert not w.agvs.charging[0] and "chargerFault:C1" in w.agvs.errors[0]
    level = w.agvs.battery[0]
    _run(w, 20)
    assert w.agvs.battery[0] == pytest.approx(level)


def test_battery_running_flat_stops_the_vehicle_with_an_error() -> None:
    w, site = _world(battery=0.01, drain_per_m=0.002, flat_recover_s=50)
    w.apply(route(site, "a1", PATH))
    states = _run(w, 30)
    assert "batteryFlat" in states[-1].errors and states[-1].mode == "fault"
    x = w.agvs.x[0]
    _run(w, 10)
    assert w.agvs.x[0] == x
    _run(w, 60)  # swapped after flat_recover_s, drives on
    assert w.agvs.last_node[0] == "N5"


def test_pause_stop_pause_and_emergency_stop() -> None:
    w, site = _world()
    w.apply(route(site, "a1", PATH))
    _run(w, 6)
    w.apply(InstantAction("p1", "a1", (Action("p", ActionType.START_PAUSE),)))
    _run(w, 5)
    x = w.agvs.x[0]
    states = _run(w, 5)
    assert w.agvs.x[0] == x and states[-1].paused and not states[-1].driving
    w.apply(InstantAction("p2", "a1", (Action("r", ActionType.STOP_PAUSE),)))
    _run(w, 3)
    assert w.agvs.x[0] > x
    w.apply(InstantAction("e1", "a1", (Action("e", ActionType.EMERGENCY_STOP),)))
    states = _run(w, 1)
    x = w.agvs.x[0]
    states += _run(w, 5)
    assert w.agvs.x[0] == x and states[-1].mode == "estopped" and "emergencyStop" in states[-1].errors
    w.apply(InstantAction("e2", "a1", (Action("r2", ActionType.RELEASE_EMERGENCY_STOP),)))
    _run(w, 40)
    assert w.agvs.last_node[0] == "N5"


@pytest.mark.parametrize("halt, go", [(ActionType.START_PAUSE, ActionType.STOP_PAUSE),
                                      (ActionType.EMERGENCY_STOP, ActionType.RELEASE_EMERGENCY_STOP)])
def test_a_vehicle_halted_at_a_node_sets_off_again_when_released(halt: ActionType, go: ActionType) -> None:
    """Halted while it waits at the end of its base, then the update comes, then the halt ends:
    it must drive on (nothing else would wake it; a whole fleet once froze behind one)."""
    w, site = _world()
    w.apply(route(site, "a1", PATH, released=2))
    _run(w, 20)
    assert w.agvs.last_node[0] == "N1" and not w.agvs.moving[0]
    w.apply(InstantAction("h", "a1", (Action("h1", halt),)))
    _run(w, 2)
    w.apply(route(site, "a1", PATH, update=1))
    _run(w, 5)
    assert w.agvs.last_node[0] == "N1"
    w.apply(InstantAction("g", "a1", (Action("g1", go),)))
    _run(w, 40)
    assert w.agvs.last_node[0] == "N5"


def test_a_new_order_replaces_one_whose_base_is_done() -> None:
    """VDA 5050: only a base still being driven binds; at the end of it (horizon left) a new
    order from where the vehicle stands is taken, while driving the base it is refused."""
    w, site = _world()
    w.apply(route(site, "a1", PATH, released=2))
    states = _run(w, 1)
    w.apply(route(site, "a1", ["N0", "N1"], order="o2"))
    states = _run(w, 1)
    assert any("still on order" in e for e in states[-1].errors)
    _run(w, 20)
    assert w.agvs.last_node[0] == "N1"
    w.apply(route(site, "a1", PATH[1:], order="o3"))
    states = _run(w, 40)
    assert w.agvs.last_node[0] == "N5" and states[-1].order_id == "o3"


def test_cancel_order_stops_at_the_next_node() -> None:
    w, site = _world()
    w.apply(route(site, "a1", PATH, actions={"N5": [drop()]}))
    _run(w, 6)  # somewhere between N0 and N2
    nxt = w.agvs.next_node_index(0)
    w.apply(InstantAction("c", "a1", (Action("cx", ActionType.CANCEL_ORDER),)))
    states = _run(w, 30)
    assert w.agvs.last_node[0] == nxt
    assert _action(states, "cx") == ActionStatus.FINISHED
    assert _action(states, "a-drop") == ActionStatus.FAILED
    assert states[-1].remaining_node_ids == ()


def test_order_update_extends_the_base() -> None:
    w, site = _world()
    w.apply(route(site, "a1", PATH, released=2))
    _run(w, 20)
    assert w.agvs.last_node[0] == "N1"
    # update 1: base now up to N4 (starts at the old base end, sequence 2)
    w.apply(route(site, "a1", PATH[1:], update=1, released=4, first_seq=2))
    _run(w, 40)
    assert w.agvs.last_node[0] == "N4"


def test_stale_update_and_foreign_start_are_refused_with_an_error() -> None:
    w, site = _world()
    w.apply(route(site, "a1", ["N3", "N4"], order="far"))  # N3 is not where a1 stands
    states = _run(w, 2)
    assert any(e.startswith("orderError") for e in states[-1].errors)
    assert w.agvs.last_node[0] == "N0" and w.refused
    w.apply(route(site, "a1", PATH, order="o2", update=3))
    w.apply(route(site, "a1", PATH, order="o2", update=2, cid="old"))
    states = _run(w, 2)
    assert any("older" in e for e in states[-1].errors)


def test_same_command_id_twice_is_applied_once_and_unknown_machines_are_refused() -> None:
    w, site = _world()
    cmd = route(site, "a1", ["N0", "N1"], actions={"N1": [drop("d1")]})
    w.apply(cmd)
    w.apply(cmd)
    assert w.pending_commands() == 1
    with pytest.raises(UnknownMachine):
        w.apply(route(site, "ghost", ["N0", "N1"]))


def test_an_update_cannot_move_the_node_being_driven_to() -> None:
    site = line_site()
    w = World(site, [AgvSpec("a1", "N0")], strict_lanes=False)  # so only the stitching can refuse it
    w.apply(route(site, "a1", PATH, released=3))
    _run(w, 3)  # on the way to N1
    assert w.agvs.moving[0] and w.agvs.next_node_index(0) == "N1"
    w.apply(route(site, "a1", ["N0", "S"], update=1, cid="bad"))  # N0 -> S: no such step, and N1 dropped
    states = _run(w, 1)
    assert any("passed" in e for e in states[-1].errors)
    _run(w, 30)
    assert w.agvs.last_node[0] == "N2"


_steps = st.lists(st.tuples(st.integers(0, 5), st.integers(1, 6), st.integers(0, 6), st.integers(0, 3),
                            st.booleans(), st.floats(0.0, 6.0)), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(steps=_steps)
def test_any_sequence_of_orders_and_updates_never_crashes(steps) -> None:
    """Orders, stale or stitched updates, cut-off horizons: refused or taken, never a crash."""
    w, site = _world()
    for start, length, released, update, same_order, wait in steps:
        path = PATH[start:start + length] or ["N5"]
        cmd = route(site, "a1", path, order="o" if same_order else f"o{update}", update=update,
                    released=min(released, len(path)), first_seq=2 * start,
                    cid=f"c{len(w._seen)}")
        w.apply(cmd)
        _run(w, wait)
        assert 0.0 <= w.agvs.x[0] <= 25.0 and w.agvs.y[0] == 0.0
    assert not [r for r in w.refused if "internal error" in r[2]]


def test_an_update_from_the_base_end_while_driving_to_it_extends_the_route() -> None:
    w, site = _world()
    w.apply(route(site, "a1", PATH[:3]))  # all released, base end N2
    _run(w, 8)
    assert w.agvs.moving[0] and w.agvs.next_node_index(0) == "N2"
    w.apply(route(site, "a1", PATH[2:], update=1, first_seq=4))  # starts at N2, the base end
    states = _run(w, 40)
    assert not any(e.startswith("orderError") for s in states for e in s.errors)
    assert w.agvs.last_node[0] == "N5"
    assert not [r for r in w.refused if "internal error" in r[2]]


def test_an_update_from_the_base_end_may_change_the_horizon_while_driving() -> None:
    w, site = _world()
    w.apply(route(site, "a1", ["N0", "N1", "N2", "N3"], released=3))  # base N0..N2, horizon N3
    _run(w, 8)
    assert w.agvs.moving[0] and w.agvs.next_node_index(0) == "N2"
    w.apply(route(site, "a1", ["N2", "N1"], update=1, first_seq=4))  # from the base end, turn back
    states = _run(w, 40)
    assert not any(e.startswith("orderError") for s in states for e in s.errors)
    assert w.agvs.last_node[0] == "N1" and w.agvs.x[0] == pytest.approx(5.0)


def test_an_edge_that_is_no_lane_is_refused_like_a_real_vehicle_map_would() -> None:
    w, site = _world()
    w.apply(route(site, "a1", ["N0", "N2"]))  # skips N1: no lane joins N0 and N2
    states = _run(w, 5)
    assert any("is no lane" in e for e in states[-1].errors) and w.agvs.x[0] == 0.0
    loose = World(site, [AgvSpec("a1", "N0")], strict_lanes=False)
    loose.apply(route(site, "a1", ["N0", "N2"]))
    _run(loose, 30)
    assert loose.agvs.last_node[0] == "N2"


def test_waypoint_edges_know_their_lane_and_direction() -> None:
    from sim.agv import _lane_key

    assert _lane_key("N4", "N4>N5#1") == ("N4", "N5")
    assert _lane_key("N4>N5#2", "N4>N5#1") == ("N5", "N4")
    assert _lane_key("N4>N5#2", "N5") == ("N4", "N5")
    assert _lane_key("N4>N5#1", "N1>N2#2") is None
    w, _ = _world()
    assert w.agvs.lane_of("S>N5#1", "N5") is None or w.agvs.lane_of("N5", "N5>S#1")[1]
    assert w.agvs.lane_of("N5>S#1", "N5") == (w.agvs.lane_of("N5", "S")[0], False)  # against the one-way spur
