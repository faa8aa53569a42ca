"""Crane moves are released only when schedule, handoff and the crane's state allow."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.crane import CraneSequencer
from fleet.domain.commands import CraneCommand, CraneMove, CraneMoveKind, MachineState

K = CraneMoveKind


def _cmd(*moves: CraneMove) -> CraneCommand:
    return CraneCommand("cc1", "crane-1", "o1", moves)


def _state(**kw) -> MachineState:  # type: ignore[no-untyped-def]
    return MachineState("crane-1", 0.0, bridge_m=0.0, trolley_m=0.0, hoist_m=5.0, **kw)


def test_moves_wait_for_the_schedule_and_for_confirmation() -> None:
    seq = CraneSequencer("crane-1")
    seq.load(_cmd(CraneMove(K.BRIDGE, 10.0, not_before_s=100.0), CraneMove(K.HOIST, 1.0),
                  CraneMove(K.PICK, load_id="coil-7"), CraneMove(K.HOIST, 5.0),
                  CraneMove(K.DROP)))
    s = _state()
    assert seq.step(s, 99.0) is None  # the runway schedule says not yet
    assert seq.step(s, 100.0).kind is K.BRIDGE
    assert seq.step(s, 101.0) is None  # released, not confirmed: nothing more
    s = replace(s, bridge_m=9.0)
    assert seq.step(s, 102.0) is None  # not there yet
    s = replace(s, bridge_m=9.97)
    assert seq.step(s, 103.0).kind is K.HOIST
    s = replace(s, hoist_m=1.0)
    assert seq.step(s, 104.0).kind is K.PICK
    assert seq.step(s, 105.0) is None  # the hook is still empty
    s = replace(s, load_id="coil-7")
    assert seq.step(s, 106.0).kind is K.HOIST
    s = replace(s, hoist_m=5.0)
    assert seq.step(s, 107.0).kind is K.DROP
    assert not seq.done
    s = replace(s, load_id=None)
    assert seq.step(s, 108.0) is None and seq.done
    assert len(seq.confirmed) == 5


def test_handoff_gate_and_wrong_load() -> None:
    clear = {"ok": False}
    seq = CraneSequencer("crane-1", handoff_clear=lambda m: clear["ok"] or m.kind is not K.DROP)
    seq.load(_cmd(CraneMove(K.PICK, load_id="A"), CraneMove(K.DROP)))
    s = _state()
    assert seq.step(s, 0).kind is K.PICK
    assert seq.step(replace(s, load_id="B"), 1) is None
    assert seq.failed and "expected 'A'" in seq.failed
    assert seq.step(replace(s, load_id="A"), 2) is None  # nothing after a failure

    seq.load(_cmd(CraneMove(K.PICK, load_id="A"), CraneMove(K.DROP)))
    assert seq.step(s, 0).kind is K.PICK
    assert seq.step(replace(s, load_id="A"), 1) is None  # the AGV is not under the hook yet
    clear["ok"] = True
    assert seq.step(replace(s, load_id="A"), 2).kind is K.DROP


def test_bad_commands_are_refused() -> None:
    seq = CraneSequencer("crane-1")
    with pytest.raises(ValueError, match="no target"):
        seq.load(_cmd(CraneMove(K.BRIDGE)))
    with pytest.raises(ValueError, match="given to"):
        seq.load(CraneCommand("x", "crane-2", "o", ()))


@given(st.lists(st.floats(0, 200), min_size=1, max_size=6), st.floats(0, 300))
def test_never_released_before_its_time(times: list[float], now: float) -> None:
    seq = CraneSequencer("crane-1")
    seq.load(_cmd(*[CraneMove(K.BRIDGE, float(i), not_before_s=t) for i, t in enumerate(times)]))
    released = []
    for step in range(len(times) * 2 + 2):
        t = now + step
        idx = seq.index
        move = seq.step(MachineState("crane-1", t, bridge_m=float(idx)), t)
        if move is not None:
            assert move.not_before_s is None or move.not_before_s <= t
            released.append(move)
    assert len(released) == len({id(m) for m in released})  # each at most once


def test_commands_queue_and_report_each_move_as_an_action_state() -> None:
    seq = CraneSequencer("crane-1")
    seq.load(CraneCommand("a", "crane-1", "o1", (CraneMove(K.BRIDGE, 1.0), CraneMove(K.DROP))))
    seq.load(CraneCommand("b", "crane-1", "o2", (CraneMove(K.BRIDGE, 2.0),)))
    s = _state(load_id="x")
    assert seq.step(s, 0).target_m == 1.0
    st = {a.action_id: a.status.value for a in seq.action_states()}
    assert st == {"a:0": "RUNNING", "a:1": "WAITING"}
    s = replace(s, bridge_m=1.0)
    assert seq.step(s, 1).kind is K.DROP
    s = replace(s, load_id=None)
    assert seq.step(s, 2).target_m == 2.0  # a is done: b starts
    st = {a.action_id: a.status.value for a in seq.action_states()}
    assert st == {"a:0": "FINISHED", "a:1": "FINISHED", "b:0": "RUNNING"}
    seq.cancel()
    st = {a.action_id: a.status.value for a in seq.action_states()}
    assert st["b:0"] == "FAILED" and seq.command is None
