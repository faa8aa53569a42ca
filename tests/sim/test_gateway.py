"""The simulator on the vehicle bus: the hub sees it as it would any gateway."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import pytest
import zmq

from adapters.bus import BusHub
from adapters.bus.gateway import CommandRefused
from fleet.domain.commands import ActionStatus, MachineState
from sim.agv import AgvSpec
from sim.gateway import SimGateway
from sim.world import World
from tests.sim.builders import drop, line_site, route

_names = itertools.count(1)


def _wait(pred: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return bool(pred())


def _setup(realtime: bool, speed: float = 1.0):
    ctx = zmq.Context()
    endpoint = f"inproc://sim-gw-{next(_names)}"
    hub = BusHub(endpoint, context=ctx, heartbeat_s=0.05, resend_after_s=0.2)
    hub.start()
    site = line_site()
    world = World(site, [AgvSpec("a1", "N0"), AgvSpec("a2", "N3")])
    gw = SimGateway(world, endpoint, context=ctx, heartbeat_s=0.05, realtime=realtime, speed=speed, dt_s=0.1)
    states: list[MachineState] = []
    hub.subscribe(on_state=states.append)
    gw.start()
    return ctx, hub, gw, site, states


def _teardown(ctx, hub, gw) -> None:
    gw.stop()
    hub.stop()
    ctx.term()


def test_commands_in_states_out_stepped_by_hand() -> None:
    ctx, hub, gw, site, states = _setup(realtime=False)
    try:
        assert _wait(lambda: hub.gateway_of("a1") == "gw-sim" and hub.gateway_of("K1") == "gw-sim")
        hub.send(route(site, "a1", ["N0", "N1", "N2"], actions={"N2": [drop("d9")]}))
        assert _wait(lambda: hub.pending("a1") == 0)
        for _ in range(300):
            gw.advance(0.5)
        assert gw.world.agvs.last_node[0] == "N2"

        def dropped() -> bool:
            return any(s.machine_id == "a1" and any(a.action_id == "d9" and a.status == ActionStatus.FINISHED
                                                    for a in s.action_states) for s in list(states))

        assert _wait(dropped)
        assert all(s.received_s is not None for s in states)
    finally:
        _teardown(ctx, hub, gw)


def test_commands_for_unknown_machines_are_refused() -> None:
    ctx, hub, gw, site, _states = _setup(realtime=False)
    try:
        assert _wait(lambda: hub.gateway_of("a1") == "gw-sim")
        with pytest.raises(CommandRefused, match="ghost"):  # raising refuses it (the hub is told)
            gw.on_command(route(site, "ghost", ["N0", "N1"]))
        assert gw.world.pending_commands() == 0
    finally:
        _teardown(ctx, hub, gw)


def test_realtime_gateway_moves_machines_by_itself() -> None:
    ctx, hub, gw, site, states = _setup(realtime=True, speed=20.0)
    try:
        assert _wait(lambda: hub.gateway_of("a2") == "gw-sim")
        hub.send(route(site, "a2", ["N3", "N4"]))
        assert _wait(lambda: gw.world.agvs.last_node[1] == "N4", timeout_s=15)
        assert _wait(lambda: any(s.machine_id == "a2" and s.last_node_id == "N4" for s in list(states)))
    finally:
        _teardown(ctx, hub, gw)
