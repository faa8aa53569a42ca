"""The bus codec: every command and state round-trips; bad frames fail with a named field."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.bus import codec
from adapters.errors import BusMessageError
from fleet.domain.commands import (
    Action,
    ActionStatus,
    ActionType,
    BlockingType,
    CraneCommand,
    CraneMove,
    CraneMoveKind,
    InstantAction,
    MachineState,
    MovementCommand,
    RouteEdge,
    RouteNode,
)

text = st.text(min_size=1, max_size=12)
num = st.floats(-1e6, 1e6, allow_nan=False)
actions = st.builds(Action, text, st.sampled_from(ActionType), st.sampled_from(BlockingType),
                    st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5),
                                    max_size=2))
nodes = st.builds(RouteNode, text, st.integers(0, 1000), num, num, st.booleans(),
                  st.none() | num, st.tuples(actions) | st.just(()))
edges = st.builds(RouteEdge, text, st.integers(0, 1000), text, text, st.booleans(),
                  st.none() | num, st.none() | num, st.just(()))
commands = st.one_of(
    st.builds(MovementCommand, text, text, text, st.integers(0, 10**6),
              st.lists(nodes, max_size=5).map(tuple), st.lists(edges, max_size=4).map(tuple), num),
    st.builds(InstantAction, text, text, st.lists(actions, max_size=3).map(tuple), num),
    st.builds(CraneCommand, text, text, text,
              st.lists(st.builds(CraneMove, st.sampled_from(CraneMoveKind), st.none() | num,
                                 st.none() | num, st.none() | text), max_size=4).map(tuple), num),
)


@given(commands, st.integers(1, 10**9))
def test_commands_round_trip(cmd, seq: int) -> None:  # type: ignore[no-untyped-def]
    frame = codec.encode("command", 1, "core", 0.0, codec.command_body(cmd, seq))
    env = codec.decode(frame)
    got_seq, got = codec.read_command(env.body)
    assert (got_seq, got) == (seq, cmd)
    assert got.__class__ is cmd.__class__


@given(st.builds(MachineState, text, num, x=st.none() | num, battery=st.none() | st.floats(0, 1),
                 errors=st.lists(text, max_size=3).map(tuple),
                 action_states=st.lists(st.builds(
                     __import__("fleet.domain.commands", fromlist=["ActionState"]).ActionState,
                     text, text, st.sampled_from(ActionStatus)), max_size=2).map(tuple)))
def test_states_round_trip(state: MachineState) -> None:
    env = codec.decode(codec.encode("state", 3, "gw", 1.0, codec.to_plain(state)))
    assert codec.read_state(env.body) == state


@pytest.mark.parametrize(("frame", "reason", "where"), [
    (b"{", "json", ""),
    (b"[]", "envelope", ""),
    (json.dumps({"fleet5g_bus": 2}).encode(), "version", "fleet5g_bus"),
    (json.dumps({"fleet5g_bus": 1, "type": "nope", "seq": 1, "sender": "a", "ts": 0,
                 "body": {}}).encode(), "envelope", "type"),
    (json.dumps({"fleet5g_bus": 1, "type": "state", "seq": -1, "sender": "a", "ts": 0,
                 "body": {}}).encode(), "envelope", "seq"),
])
def test_bad_envelopes(frame: bytes, reason: str, where: str) -> None:
    with pytest.raises(BusMessageError) as exc:
        codec.decode(frame)
    assert exc.value.reason == reason and exc.value.where == where


def test_bad_bodies_name_the_field() -> None:
    good = codec.command_body(MovementCommand("c", "m", "o", 0, (), ()), 1)
    bad = json.loads(json.dumps(good))
    bad["command"]["order_update_id"] = "7"
    with pytest.raises(BusMessageError, match=r"order_update_id.*integer"):
        codec.read_command(bad)
    bad = json.loads(json.dumps(good))
    bad["command"]["surprise"] = 1
    with pytest.raises(BusMessageError, match="unknown field"):
        codec.read_command(bad)
    bad = json.loads(json.dumps(good))
    del bad["command"]["order_id"]
    with pytest.raises(BusMessageError, match="order_id"):
        codec.read_command(bad)
    with pytest.raises(BusMessageError, match="stamp_s"):
        codec.read_state({"machine_id": "m", "stamp_s": float("nan")})
    with pytest.raises(BusMessageError, match="oversized"):
        codec.decode(b" " * (codec.MAX_MESSAGE_BYTES + 1))
