"""Simulated cranes: axes, move timing, pick/drop, hoist stalls, and physical runways."""

from __future__ import annotations

import pytest

from fleet.domain.commands import ActionStatus, CraneCommand, CraneMove, CraneMoveKind
from sim.agv import AgvSpec
from sim.world import World
from tests.sim.builders import line_site


def _world() -> World:
    return World(line_site(), [AgvSpec("a1", "N0")])


def _crane_states(w: World, seconds: float, crane: str = "K1", dt: float = 0.5) -> list:
    out = []
    for _ in range(round(seconds / dt)):
        out += [s for s in w.step(dt) if s.machine_id == crane]
    return out


def _status(states, aid):
    for st in reversed(states):
        for a in st.action_states:
            if a.action_id == aid:
                return a.status
    return None


def test_bridge_accelerates_and_reaches_its_target() -> None:
    w = _world()
    c = w.cranes.cranes["K1"]
    w.apply(CraneCommand("c1", "K1", "o1", (CraneMove(CraneMoveKind.BRIDGE, 25.0),)))
    speeds = []
    for _ in range(100):
        w.step(0.5)
        speeds.append(abs(c.v_bridge))
    assert c.bridge_m == pytest.approx(25.0)
    assert max(speeds) <= c.spec.bridge_speed_mps + 1e-9
    assert speeds[0] <= c.spec.bridge_accel_mps2 * 0.5 + 1e-9


def test_moves_wait_for_not_before_and_pick_takes_its_time() -> None:
    w = _world()
    c = w.cranes.cranes["K1"]
    moves = (
        CraneMove(CraneMoveKind.TROLLEY, 8.0, not_before_s=20.0),
        CraneMove(CraneMoveKind.HOIST, 2.0),
        CraneMove(CraneMoveKind.PICK, load_id="coil-1"),
    )
    w.apply(CraneCommand("c1", "K1", "o1", moves))
    states = _crane_states(w, 19.5)
    assert c.trolley_m == pytest.approx(10.0)  # not yet released
    states += _crane_states(w, 20.0)
    assert c.trolley_m == pytest.approx(8.0) and c.hoist_m < 10.0
    states += _crane_states(w, 80.0)
    assert c.hoist_m == pytest.approx(2.0)
    assert c.load_id == "coil-1" and _status(states, "c1:2") == ActionStatus.FINISHED
    st = states[-1]
    assert st.bridge_m == pytest.approx(10.0) and st.trolley_m == pytest.approx(8.0) and st.hoist_m == pytest.approx(2.0)


def test_hoist_stall_holds_the_hook() -> None:
    w = _world()
    c = w.cranes.cranes["K1"]
    w.cranes.set_hoist_stall("K1", True)
    w.apply(CraneCommand("c1", "K1", "o1", (CraneMove(CraneMoveKind.HOIST, 0.0),)))
    states = _crane_states(w, 10)
    assert c.hoist_m == pytest.approx(10.0) and "hoistStall" in states[-1].errors
    w.cranes.set_hoist_stall("K1", False)
    _crane_states(w, 80)
    assert c.hoist_m == pytest.approx(0.0)


def test_a_crane_driven_into_its_neighbour_stops_and_reports_the_collision() -> None:
    w = _world()
    k1, k2 = w.cranes.cranes["K1"], w.cranes.cranes["K2"]
    w.apply(CraneCommand("c1", "K1", "o1", (CraneMove(CraneMoveKind.BRIDGE, 55.0),)))
    states = _crane_states(w, 120)
    assert k1.hi() <= k2.lo() + 1e-9  # touching at most, never through
    assert k1.bridge_m < k2.bridge_m
    assert "collision:K2" in states[-1].errors
    assert _status(states, "c1:0") == ActionStatus.FAILED
    assert w.cranes.collisions and w.cranes.collisions[0][1:] == ("K1", "K2")
    # a new command clears the error and the crane can move away
    w.apply(CraneCommand("c2", "K1", "o2", (CraneMove(CraneMoveKind.BRIDGE, 10.0),)))
    states = _crane_states(w, 120)
    assert k1.bridge_m == pytest.approx(10.0) and not states[-1].errors


def test_two_cranes_driven_at_each_other_both_stop() -> None:
    w = _world()
    k1, k2 = w.cranes.cranes["K1"], w.cranes.cranes["K2"]
    w.apply(CraneCommand("c1", "K1", "o1", (CraneMove(CraneMoveKind.BRIDGE, 50.0),)))
    w.apply(CraneCommand("c2", "K2", "o2", (CraneMove(CraneMoveKind.BRIDGE, 5.0),)))
    _crane_states(w, 120)
    assert k1.hi() <= k2.lo() + 1e-9 and k1.bridge_m < k2.bridge_m
    assert any(e.startswith("collision") for e in k1.errors)
    assert any(e.startswith("collision") for e in k2.errors)
