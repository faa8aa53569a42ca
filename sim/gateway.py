"""The simulator as a gateway on the vehicle bus, like any real adapter.

`SimGateway` subclasses `adapters.bus.gateway.Gateway`: commands arrive through
`on_command` (bus thread; queued, never blocking) and every state the simulated
machines report leaves through `publish_state`. The core cannot tell these machines
from real ones by their interface.

Two ways to drive it:
- `start()` with `realtime=True` runs a stepping thread that keeps simulated time in
  step with the wall clock (times `speed`), for the demo and the web UI;
- `advance(dt)` steps by hand (tests, as-fast-as-possible studies), from one thread.

In real time the world's clock starts at the wall-clock time when the gateway is built
(`World(start_s=...)`), so stamps read like a real machine's synchronised clock; after
that the simulation only counts its own steps.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Any

from adapters.bus.gateway import CommandRefused, Gateway
from fleet.domain.commands import Command, MachineState
from sim.runner import Pacer, build_world
from sim.scenario import Scenario
from sim.world import World

log = logging.getLogger(__name__)


class SimGateway(Gateway):
    def __init__(
        self,
        world: World,
        endpoint: str,
        *,
        gateway_id: str = "gw-sim",
        dt_s: float = 0.1,
        realtime: bool = True,
        speed: float = 1.0,
        sensing: Any = None,
        **kw: Any,
    ) -> None:
        super().__init__(gateway_id, world.machine_ids, endpoint, **kw)
        self.world = world
        self.sensing = sensing  # a sim.sensing.WorldSensing: raw positioning readings to the core
        self.dt_s = dt_s
        self.realtime = realtime
        self.speed = speed
        self._inbox: collections.deque[Command] = collections.deque()
        self._known = set(world.machine_ids)
        self._stop_evt = threading.Event()
        self._thread: threading.Thread | None = None
        self._step_lock = threading.Lock()

    @classmethod
    def from_scenario(cls, scenario: Scenario, endpoint: str, *, realtime: bool = True, **kw: Any) -> SimGateway:
        """A gateway over a fresh world of `scenario` (its clock at wall time if realtime)."""
        world = build_world(scenario)
        if realtime:
            world.now = time.time()  # the machines' clock starts in sync with the core's
        return cls(world, endpoint, realtime=realtime, **kw)

    # --- bus side ------------------------------------------------------------------

    def on_command(self, cmd: Command) -> None:
        if cmd.machine_id not in self._known:
            raise CommandRefused(f"{self.gateway_id} has no machine {cmd.machine_id!r}")
        self._inbox.append(cmd)

    def on_start(self) -> None:
        if self.realtime:
            self._stop_evt.clear()
            self._thread = threading.Thread(target=self._run, name=f"sim-{self.gateway_id}", daemon=True)
            self._thread.start()

    def on_stop(self) -> None:
        self._stop_evt.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # --- time ----------------------------------------------------------------------

    def advance(self, dt_s: float | None = None) -> list[MachineState]:
        """Apply the commands received so far, step the world, publish its states."""
        with self._step_lock:
            while self._inbox:
                self.world.apply(self._inbox.popleft())
            states = self.world.step(dt_s or self.dt_s)
            batches = []
            if self.sensing is not None:
                self.sensing.sample()
                batches = self.sensing.due()
        for st in states:
            self.publish_state(st)
        for batch in batches:
            self.publish_measurements(batch)
        return states

    def _run(self) -> None:
        pacer = Pacer(self.speed)
        start = self.world.now
        for st in self.world.snapshot():  # announce where everybody is
            self.publish_state(st)
        while not self._stop_evt.is_set():
            try:
                self.advance()
            except Exception:  # one bad step must not stop the plant
                log.exception("simulation step failed")
            pacer.wait_until(self.world.now, start)
