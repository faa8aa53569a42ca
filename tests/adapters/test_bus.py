"""The vehicle bus end to end: delivery, order, idempotency, restarts, bad frames."""

from __future__ import annotations

import json

import pytest
import zmq

from adapters.bus import BusAdapterFactory, BusHub, codec
from adapters.errors import LinkLostError
from fleet.domain.commands import ActionType, MachineState
from fleet.plant import free_port
from tests.adapters.conftest import (
    RecordingGateway,
    instant,
    movement,
    wait_until,
)

FAST = {"heartbeat_s": 0.05}


def _hub(endpoint: str, **kw) -> BusHub:
    hub = BusHub(endpoint, resend_after_s=0.2, **FAST, **kw)
    hub.start()
    return hub


@pytest.mark.parametrize("transport", ["inproc", "tcp"])
def test_commands_arrive_in_order_and_states_come_back(transport: str, inproc_name: str) -> None:
    endpoint = inproc_name if transport == "inproc" else f"tcp://127.0.0.1:{free_port()}"
    hub = _hub(endpoint)
    gw = RecordingGateway("gw1", ["agv-1", "agv-2"], endpoint, **FAST)
    states: list[MachineState] = []
    hub.subscribe(on_state=states.append)
    try:
        gw.start()
        sent = [movement("agv-1", update=i) for i in range(20)] + [movement("agv-2")]
        seqs = [hub.send(c) for c in sent]
        assert seqs[:20] == list(range(1, 21))
        assert wait_until(lambda: len(gw.record) == 21)
        assert [c.command_id for c in gw.record if c.machine_id == "agv-1"] == [
            c.command_id for c in sent[:20]]
        assert gw.record[0] == sent[0]  # the codec round trip keeps every field
        assert wait_until(lambda: hub.pending("agv-1") == 0 and hub.pending("agv-2") == 0)
        gw.publish_state(MachineState("agv-1", 1.0, order_id="o1", x=1.5))
        gw.publish_state(MachineState("agv-1", 2.0, order_id="o1", x=2.5))
        assert wait_until(lambda: len(states) == 2)
        assert states[1].x == 2.5 and states[1].received_s is not None
        assert hub.gateway_of("agv-2") == "gw1"
    finally:
        gw.stop()
        hub.stop()


def test_same_command_id_twice_is_applied_once(inproc_name: str) -> None:
    hub = _hub(inproc_name)
    gw = RecordingGateway("gw1", ["agv-1"], inproc_name, **FAST)
    try:
        gw.start()
        cmd = movement("agv-1", command_id="same")
        assert hub.send(cmd) == hub.send(cmd)
        hub.send(movement("agv-1", command_id="other"))
        assert wait_until(lambda: hub.pending("agv-1") == 0)
        assert [c.command_id for c in gw.record] == ["same", "other"]
        assert hub.counters.duplicate_commands == 1
    finally:
        gw.stop()
        hub.stop()


def test_commands_wait_for_a_gateway_that_is_not_there_yet(inproc_name: str) -> None:
    hub = _hub(inproc_name)
    for i in range(5):
        hub.send(movement("agv-9", update=i, command_id=f"w{i}"))
    gw = RecordingGateway("gw9", ["agv-9"], inproc_name, **FAST)
    try:
        gw.start()
        assert wait_until(lambda: len(gw.record) == 5)
        assert [c.command_id for c in gw.record] == [f"w{i}" for i in range(5)]
    finally:
        gw.stop()
        hub.stop()


def test_gateway_restart_loses_and_doubles_nothing() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    hub = _hub(endpoint)
    record: list = []
    gw = RecordingGateway("gw1", ["agv-1"], endpoint, record=record, **FAST)
    try:
        gw.start()
        for i in range(5):
            hub.send(movement("agv-1", command_id=f"a{i}"))
        assert wait_until(lambda: hub.pending("agv-1") == 0)
        gw.stop()
        for i in range(5):  # sent while the gateway is down
            hub.send(movement("agv-1", command_id=f"b{i}"))
        gw = RecordingGateway("gw1", ["agv-1"], endpoint, record=record, **FAST)
        gw.start()
        assert wait_until(lambda: hub.pending("agv-1") == 0 and len(record) >= 10)
        ids = [c.command_id for c in record]
        assert ids == [f"a{i}" for i in range(5)] + [f"b{i}" for i in range(5)]
        assert gw.last_applied("agv-1") == 10
    finally:
        gw.stop()
        hub.stop()


def test_hub_restart_continues_the_numbering_and_dedups_resends() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    hub = _hub(endpoint)
    gw = RecordingGateway("gw1", ["agv-1"], endpoint, **FAST)
    try:
        gw.start()
        first = [movement("agv-1", command_id=f"a{i}") for i in range(4)]
        for c in first:
            hub.send(c)
        assert wait_until(lambda: hub.pending("agv-1") == 0)
        hub.stop()
        hub = _hub(endpoint)  # a new core process: no memory of what was sent
        hub.send(first[-1])  # the core re-sends its last command from its store
        hub.send(movement("agv-1", command_id="after"))
        assert wait_until(lambda: hub.pending("agv-1") == 0, timeout_s=15)
        ids = [c.command_id for c in gw.record]
        assert ids == ["a0", "a1", "a2", "a3", "after"]
        assert hub.acked("agv-1") == 6  # continued from the gateway's 4
        assert gw.counters.duplicates >= 1
    finally:
        gw.stop()
        hub.stop()


def test_refused_command_is_reported_and_not_retried(inproc_name: str) -> None:
    class Refusing(RecordingGateway):
        def on_command(self, cmd):  # type: ignore[no-untyped-def]
            if cmd.command_id == "bad":
                raise ValueError("no such node")
            super().on_command(cmd)

    hub = _hub(inproc_name)
    acks = []
    hub.subscribe(on_ack=acks.append)
    gw = Refusing("gw1", ["agv-1"], inproc_name, **FAST)
    try:
        gw.start()
        hub.send(movement("agv-1", command_id="bad"))
        hub.send(movement("agv-1", command_id="good"))
        assert wait_until(lambda: hub.pending("agv-1") == 0)
        assert [c.command_id for c in gw.record] == ["good"]
        refused = [a for a in acks if a.status == "refused"]
        assert refused and "no such node" in refused[0].error
    finally:
        gw.stop()
        hub.stop()


def test_bad_frames_are_counted_and_ignored(inproc_name: str) -> None:
    hub = _hub(inproc_name)
    gw = RecordingGateway("gw1", ["agv-1"], inproc_name, **FAST)
    ctx = zmq.Context.instance()
    rogue = ctx.socket(zmq.DEALER)
    rogue.setsockopt(zmq.ROUTING_ID, b"gw1x")
    rogue.connect(inproc_name)
    states: list[MachineState] = []
    hub.subscribe(on_state=states.append)
    try:
        gw.start()
        assert wait_until(lambda: hub.gateway_of("agv-1") == "gw1")
        rogue.send(b"not json")
        rogue.send(b"[1,2]")
        rogue.send(json.dumps({"fleet5g_bus": 99, "type": "state"}).encode())
        rogue.send(b"x" * (codec.MAX_MESSAGE_BYTES + 10))
        rogue.send(codec.encode("state", 1, "gw1", 0.0, {"machine_id": "agv-1"}))  # spoofed
        rogue.send_multipart([b"a", b"b"])
        # from the real gateway: a state with a wrong type, then good, stale, duplicate
        gw._send("state", {"machine_id": "agv-1", "stamp_s": "yesterday"})
        gw.publish_state(MachineState("agv-1", 5.0))
        gw.publish_state(MachineState("agv-1", 4.0))
        gw.publish_state(MachineState("agv-1", 5.0))
        gw.publish_state(MachineState("agv-9", 6.0))  # not this gateway's machine
        assert wait_until(lambda: hub.counters.stale_states == 1
                          and hub.counters.duplicate_states == 1
                          and hub.counters.malformed >= 6)
        assert [s.stamp_s for s in states] == [5.0]
        assert hub.counters.malformed + hub.counters.oversized >= 7
        # and the bus still works
        hub.send(movement("agv-1", command_id="still"))
        assert wait_until(lambda: [c.command_id for c in gw.record] == ["still"])
    finally:
        rogue.close(linger=0)
        gw.stop()
        hub.stop()


def test_a_gap_waits_for_the_resend(inproc_name: str) -> None:
    hub = _hub(inproc_name)
    gw = RecordingGateway("gw1", ["agv-1"], inproc_name, **FAST)
    try:
        gw.start()
        hub.send(movement("agv-1", command_id="one"))
        assert wait_until(lambda: hub.pending("agv-1") == 0)
        # a frame from the future (seq 5 while 1 is the last applied) is held back
        body = codec.command_body(movement("agv-1", command_id="future"), 5)
        gw._on_command_frame(body)
        assert gw.counters.gaps >= 1 and [c.command_id for c in gw.record] == ["one"]
        dups = gw.counters.duplicates
        gw._on_command_frame(codec.command_body(movement("agv-1", command_id="one"), 1))
        assert gw.counters.duplicates == dups + 1 and len(gw.record) == 1
    finally:
        gw.stop()
        hub.stop()


def test_lost_link_gets_no_new_steps_but_instant_actions_go(inproc_name: str) -> None:
    hub = _hub(inproc_name)
    factory = BusAdapterFactory(hub)
    adapter = factory.create("agv-1")
    adapter.connect()
    gw = RecordingGateway("gw1", ["agv-1"], inproc_name, **FAST)
    try:
        gw.start()
        assert not adapter.can_accept()  # never heard from the machine
        with pytest.raises(LinkLostError):
            adapter.send(movement("agv-1"))
        import time

        gw.publish_state(MachineState("agv-1", time.time()))
        assert wait_until(adapter.can_accept)
        adapter.send(movement("agv-1", command_id="go"))
        assert wait_until(lambda: adapter.in_flight == ())
        assert wait_until(lambda: not adapter.can_accept(), timeout_s=10)  # silence: lost
        with pytest.raises(LinkLostError):
            adapter.send(movement("agv-1"))
        adapter.send(instant("agv-1", ActionType.START_PAUSE, command_id="pause"))
        assert wait_until(lambda: [c.command_id for c in gw.record] == ["go", "pause"])
        assert adapter.poll_states() and adapter.latest is not None
    finally:
        gw.stop()
        hub.stop()
