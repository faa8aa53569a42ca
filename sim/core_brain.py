"""The real core as the runner's brain: `FleetCore` stepped on a `SimClock`.

The core runs unthreaded (`threaded=False`): each planning period the runner sets the
simulated clock and calls `run_once()` (commands, a dispatch round, a traffic tick),
and the commands the core sent through its link go to the simulated world. Machine
states go to `core.on_state` as they arrive over the simulated link. Nothing here
knows about planning: dispatch is the core's (its default, or `dispatcher=`), traffic is
`fleet.traffic.FleetTraffic` unless `traffic=` is given. The core plans by work caps, not
wall seconds (`CoreSettings.work_limited`), so a run is deterministic for its seed.

Orders are keyed by their WMS client id (the core assigns its own id when the
submission is applied, one planning period later); a refusal surfaces then as the
state `refused`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import tempfile
from pathlib import Path
from typing import Any

from fleet.clock import SimClock
from fleet.core import CoreSettings, FleetCore
from fleet.core.link import RecordingLink
from fleet.core.requests import OrderRequest
from fleet.domain import Capabilities, Vehicle, VehicleId
from fleet.domain.commands import Command, MachineState
from fleet.events.bus import EventBus
from fleet.store import Store
from sim.scenario import Scenario

log = logging.getLogger(__name__)

TERMINAL = {"done", "failed", "cancelled"}


DISPATCH_PERIOD_S = 5.0  # simulated seconds between dispatch rounds, as in a real shift
DISPATCH_MIN_GAP_S = 1.0  # and this soon after an event that wants one (a vehicle free: it must not block an aisle)


class CoreBrain:
    """Implements `sim.runner.Brain` over a FleetCore with the production strategies."""

    def __init__(self, scenario: Scenario, *, store_dir: str | None = None, dispatcher: Any = None,
                 traffic: Any = None) -> None:
        site = scenario.site
        self.clock = SimClock()
        self.link = RecordingLink()
        self.bus = EventBus()
        self.sub = self.bus.subscribe(maxsize=10**9)
        shm = Path("/dev/shm")
        self._tmp = tempfile.TemporaryDirectory(prefix="fleet-sim-", dir=store_dir or (shm if shm.is_dir() else None))
        self.store = Store(f"sqlite:///{self._tmp.name}/sim.db")
        machines = []
        for a in scenario.agvs:
            node = site.node_by_id[a.start_node]
            machines.append(Vehicle(
                id=VehicleId(a.id),
                capabilities=Capabilities(payload_kg=a.payload_kg, load_types=a.load_types,
                                          hazardous_rated=a.hazardous_rated),
                node=a.start_node, x=node.x, y=node.y, battery=a.battery, speed_mps=a.max_speed_mps,
                drain_per_m=a.drain_per_m, drain_per_lift=a.drain_per_lift,
            ))
        if traffic is None:
            from fleet.traffic import FleetTraffic

            traffic = FleetTraffic(site, seed=scenario.seed)
        self.core = FleetCore(
            self.store, site, machines=machines, clock=self.clock, dispatcher=dispatcher, traffic=traffic,
            link=self.link, bus=self.bus, threaded=False,
            settings=CoreSettings(tick_period_s=scenario.plan_period_s,
                                  link_timeout_s=max(5.0, 3 * scenario.idle_state_period_s),
                                  work_limited=True,  # the same shift for a seed, however busy the machine
                                  id_seed=scenario.seed),  # and the same ids (ties break on them)
        )
        self.core.start()
        self._pending: dict[str, concurrent.futures.Future[Any]] = {}
        self._by_core_id: dict[str, str] = {}
        self._states: dict[str, str] = {}
        self._updates: list[tuple[str, str, float]] = []
        self._n = 0

    def submit(self, order: dict[str, Any], now_s: float) -> str | None:
        self.clock.set(max(now_s, self.clock.now()))
        self._n += 1
        client = str(order.get("client_id") or f"sim-{self._n}")
        try:
            req = OrderRequest(
                source=str(order["source"]), destination=str(order["destination"]),
                load_type=str(order.get("load_type", "pallet")), weight_kg=float(order.get("weight_kg", 0.0)),
                priority=int(order.get("priority", 5)), deadline_s=order.get("deadline_s"),
                hazardous=bool(order.get("hazardous", False)), client_id=client,
            )
            fut = self.core.submit_order(req)
        except Exception as exc:
            log.info("order %s refused at once: %s", client, exc)
            return None
        self._pending[client] = fut
        self._states[client] = "created"
        return client

    def on_state(self, state: MachineState) -> None:
        self.core.on_state(state)

    def tick(self, now_s: float) -> list[Command]:
        self.clock.set(max(now_s, self.clock.now()))
        self.core.run_once(dispatch=self.core.dispatch_due(DISPATCH_PERIOD_S, DISPATCH_MIN_GAP_S))
        self._settle(now_s)
        self._read_events()
        return self.link.take()

    def _settle(self, now_s: float) -> None:
        for client, fut in list(self._pending.items()):
            if not fut.done():
                continue
            del self._pending[client]
            exc = fut.exception()
            if exc is not None:
                self._states[client] = "refused"
                self._updates.append((client, "refused", now_s))
                continue
            order, _ = fut.result()
            self._by_core_id[order.id] = client

    def _read_events(self) -> None:
        while True:
            batch = self.sub.get(0.0)
            if not batch:
                break
            for ev in batch:
                if ev.get("type") != "order.state":
                    continue
                p = ev.get("payload", {})
                client = p.get("client_id") or self._by_core_id.get(p.get("order_id", ""))
                if client is None:
                    continue
                state = str(p.get("state"))
                self._states[client] = state
                self._updates.append((client, state, float(ev.get("at_s", self.clock.now()))))

    def order_updates(self) -> list[tuple[str, str, float]]:
        self._read_events()
        out, self._updates = self._updates, []
        return out

    def known_orders(self) -> set[str]:
        """Client ids the core still has: active, finished, or not yet applied."""
        known = set(self._pending)
        active = {o.client_id for o in self.core.active_orders() if o.client_id}
        known |= active
        for client, state in self._states.items():
            if state in TERMINAL or state == "refused" or (client not in known and self.store.order_by_client(client) is not None):
                known.add(client)
        return known

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.core.stop()
        with contextlib.suppress(Exception):
            self.store.close()
        self._tmp.cleanup()
