"""One vehicle contract for every machine (AGV, AMR, crane), whatever the transport.

The core holds one `VehicleAdapter` per machine. `BaseVehicleAdapter` does the
bookkeeping (what is in flight, the latest state, the state stream) so a concrete
adapter writes only `_open`, `_close` and `_transmit`. `BusVehicleAdapter`
(adapters/bus/adapter.py) is the one the core uses: every gateway, the simulator's
included, sits behind the bus, so the core never knows what is on the other side.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from fleet.domain.commands import Command, MachineState

StateCallback = Callable[[MachineState], None]


@runtime_checkable
class VehicleAdapter(Protocol):
    machine_id: str

    def connect(self) -> None:
        """Start talking to the machine; may be called again after `disconnect`."""
        ...

    def disconnect(self) -> None: ...

    def send(self, cmd: Command) -> None:
        """Queue `cmd`; never blocks. Raises `LinkLostError` for new steps on a lost link."""
        ...

    def can_accept(self) -> bool:
        """True when a new movement/crane command would be taken now."""
        ...

    def subscribe(self, callback: StateCallback) -> None:
        """`callback(state)` for each state (transport thread; must not block)."""
        ...

    def poll_states(self) -> list[MachineState]:
        """States received since the last call, oldest first (the pull-style stream)."""
        ...


class VehicleAdapterFactory(Protocol):
    def supports(self, machine_id: str) -> bool: ...

    def create(self, machine_id: str) -> VehicleAdapter: ...


class BaseVehicleAdapter:
    """Queue bookkeeping shared by concrete adapters (in-flight commands, state stream)."""

    max_in_flight = 4  # movement updates not yet acknowledged before can_accept says no
    max_buffered_states = 1000

    def __init__(self, machine_id: str) -> None:
        self.machine_id = machine_id
        self.connected = False
        self.latest: MachineState | None = None
        self._in_flight: collections.OrderedDict[str, Command] = collections.OrderedDict()
        self._states: collections.deque[MachineState] = collections.deque(
            maxlen=self.max_buffered_states)
        self._callbacks: list[StateCallback] = []
        self._lock = threading.Lock()

    # subclasses
    def _open(self) -> None: ...

    def _close(self) -> None: ...

    def _transmit(self, cmd: Command) -> None:
        raise NotImplementedError

    def _link_ok(self) -> bool:
        return True

    # the contract
    def connect(self) -> None:
        self._open()
        self.connected = True

    def disconnect(self) -> None:
        self._close()
        self.connected = False

    def send(self, cmd: Command) -> None:
        self._transmit(cmd)
        with self._lock:
            self._in_flight[cmd.command_id] = cmd

    def can_accept(self) -> bool:
        with self._lock:
            return self.connected and self._link_ok() and len(self._in_flight) < self.max_in_flight

    def subscribe(self, callback: StateCallback) -> None:
        self._callbacks.append(callback)

    def poll_states(self) -> list[MachineState]:
        with self._lock:
            out = list(self._states)
            self._states.clear()
        return out

    @property
    def in_flight(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._in_flight)

    # for subclasses / transports
    def _settled(self, command_id: str) -> None:
        with self._lock:
            self._in_flight.pop(command_id, None)

    def _deliver(self, state: MachineState) -> None:
        with self._lock:
            self.latest = state
            self._states.append(state)
        for cb in list(self._callbacks):
            cb(state)
