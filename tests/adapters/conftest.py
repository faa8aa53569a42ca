"""Shared builders for the adapter tests: commands, a recording gateway, a bounded wait."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import pytest

from adapters.bus import Gateway
from fleet.domain.commands import (
    Action,
    ActionType,
    Command,
    InstantAction,
    MovementCommand,
    RouteEdge,
    RouteNode,
)

_ids = itertools.count(1)


def wait_until(pred: Callable[[], bool], timeout_s: float = 10.0, step_s: float = 0.01) -> bool:
    """Poll `pred` until true or the deadline passes (bounded; returns the last answer)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step_s)
    return bool(pred())


def movement(machine_id: str, order_id: str = "o1", update: int = 0, n: int = 3,
             released: int | None = None, command_id: str | None = None,
             spacing_m: float = 2.0) -> MovementCommand:
    """A straight order along x: nodes n0..n{n-1}; the first `released` nodes are base."""
    released = n if released is None else released
    nodes = tuple(
        RouteNode(f"n{i}", 2 * i, spacing_m * i, 0.0, released=i < released) for i in range(n)
    )
    edges = tuple(
        RouteEdge(f"e{i}", 2 * i + 1, f"n{i}", f"n{i + 1}", released=i + 1 < released,
                  max_speed_mps=1.0, length_m=spacing_m)
        for i in range(n - 1)
    )
    return MovementCommand(command_id or f"c{next(_ids)}", machine_id, order_id, update, nodes, edges)


def instant(machine_id: str, action: ActionType, command_id: str | None = None) -> InstantAction:
    cid = command_id or f"i{next(_ids)}"
    return InstantAction(cid, machine_id, (Action(f"a-{cid}", action),))


class RecordingGateway(Gateway):
    """Records every command it is given, in order (shared list across restarts)."""

    def __init__(self, *args, record: list[Command] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.record: list[Command] = record if record is not None else []
        self.lock = threading.Lock()

    def on_command(self, cmd: Command) -> None:
        with self.lock:
            self.record.append(cmd)


@pytest.fixture
def inproc_name(request: pytest.FixtureRequest) -> str:
    return f"inproc://bus-{request.node.name}-{next(_ids)}"


@pytest.fixture
def broker(tmp_path):  # type: ignore[no-untyped-def]
    from tests.adapters.broker import Broker, mosquitto_available

    if not mosquitto_available():
        pytest.skip("mosquitto is not installed (apt-get install mosquitto); MQTT tests skipped")
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()
