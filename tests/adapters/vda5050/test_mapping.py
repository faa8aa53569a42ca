"""Core commands <-> VDA 5050 messages, checked against the official schemas."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.errors import SchemaViolation
from adapters.link import LinkRules, bound_base
from adapters.vda5050 import mapping, validation
from adapters.vda5050.versions import profile
from fleet.domain.commands import Action, ActionType
from tests.adapters.conftest import instant, movement

REF = mapping.VehicleRef("agv-1", "acme", "S1")


@pytest.mark.parametrize("version", ["2.0.0", "2.1.0"])
@given(n=st.integers(1, 8), released=st.integers(1, 8), update=st.integers(0, 5))
@settings(max_examples=30, deadline=None)
def test_orders_pass_the_schema(version: str, n: int, released: int, update: int) -> None:
    cmd = movement("agv-1", n=n, released=min(n, released), update=update)
    node = dataclasses.replace(cmd.nodes[0], actions=(
        Action("p1", ActionType.PICK, params={"loadId": "L1", "height": 0.5}),))
    cmd = dataclasses.replace(cmd, nodes=(node, *cmd.nodes[1:]))
    msg = mapping.order_message(cmd, REF, profile(version), 7, 1_700_000_000.0)
    validation.validate(version, "order", msg)
    assert msg["orderUpdateId"] == update and msg["timestamp"].endswith("Z")
    assert [x["released"] for x in msg["nodes"]] == [x.released for x in cmd.nodes]


@pytest.mark.parametrize("kind", list(ActionType))
def test_instant_actions_pass_the_schema(kind: ActionType) -> None:
    for version in ("2.0.0", "2.1.0"):
        msg = mapping.instant_actions_message(instant("agv-1", kind), REF, profile(version), 1, 0.0)
        validation.validate(version, "instantActions", msg)
    e = mapping.action_message(Action("e", ActionType.EMERGENCY_STOP))
    assert e["actionType"] == "startPause" and e["blockingType"] == "HARD"


def test_invalid_messages_name_the_path() -> None:
    msg = mapping.order_message(movement("agv-1"), REF, profile("2.0.0"), 1, 0.0)
    msg["nodes"][0]["sequenceId"] = "zero"
    with pytest.raises(SchemaViolation) as exc:
        validation.validate("2.0.0", "order", msg)
    assert exc.value.where == "nodes/0/sequenceId"
    assert validation.problems("2.1.0", "connection", {"connectionState": "ON"})
    with pytest.raises(SchemaViolation):
        validation.schema_text("3.0.0", "order")


def test_stitching() -> None:
    first = movement("agv-1", order_id="o", n=6, released=3)
    update = movement("agv-1", order_id="o", update=1, n=6)
    stitched = mapping.stitch(first, update)
    assert [n.node_id for n in stitched.nodes] == ["n2", "n3", "n4", "n5"]  # from the base end
    assert [e.edge_id for e in stitched.edges] == ["e2", "e3", "e4"]
    with pytest.raises(ValueError, match="not after"):
        mapping.stitch(first, dataclasses.replace(update, order_update_id=0))
    wrong = dataclasses.replace(update, nodes=tuple(
        dataclasses.replace(n, node_id="x" + n.node_id) for n in update.nodes))
    with pytest.raises(ValueError, match="last base node"):
        mapping.stitch(first, wrong)
    assert mapping.stitch(first, movement("agv-1", order_id="new")).order_id == "new"


def test_update_beyond_a_cut_base_is_filled_from_the_horizon() -> None:
    core_view = movement("agv-1", order_id="o", n=8, released=5)  # core released n0..n4
    sent = bound_base(core_view, LinkRules(max_base_nodes=2))  # the link rule cut it to n2
    assert sent.base_end.node_id == "n2"
    update = movement("agv-1", order_id="o", update=1, n=8)
    update = dataclasses.replace(update, nodes=update.nodes[4:], edges=update.edges[4:])  # from n4
    stitched = mapping.stitch(sent, update)
    assert [n.node_id for n in stitched.nodes] == ["n2", "n3", "n4", "n5", "n6", "n7"]
    assert all(n.released for n in stitched.nodes)
    assert [e.edge_id for e in stitched.edges] == ["e2", "e3", "e4", "e5", "e6"]


def test_bound_base_from_the_machine_position() -> None:
    cmd = movement("agv-1", n=10)
    cut = bound_base(cmd, LinkRules(max_base_nodes=2, max_base_m=100), from_sequence_id=6)
    assert cut.base_end.node_id == "n5"  # two nodes beyond n3 (sequence 6)


def test_state_to_machine_state() -> None:
    from sim.vda5050_vehicle import SimVda5050Vehicle

    v = SimVda5050Vehicle("acme", "S1", "127.0.0.1", 1, start=("n0", 1.0, 2.0))
    msg = v._state()
    msg["errors"] = [{"errorType": "laser", "errorLevel": "FATAL"}]
    msg["loads"] = [{"loadId": "L9"}]
    validation.validate("2.0.0", "state", msg)
    s = mapping.machine_state(msg, REF, 5.0)
    assert (s.machine_id, s.x, s.y, s.last_node_id) == ("agv-1", 1.0, 2.0, "n0")
    assert s.mode == "fault" and s.errors == ("laser",) and s.load_id == "L9"
    assert 0 < s.battery <= 1 and s.received_s == 5.0
    assert mapping.machine_state(msg, REF, 5.0, estopped=True).mode == "estopped"
