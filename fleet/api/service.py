"""One service instance put together: store, core, API, webhooks, leadership, HTTP server.

`fleet serve` builds one of these; the demo and the benchmarks build one in-process.
Every instance starts as a follower (reads only, commands forwarded); the one that
wins the leadership starts its core (recovering state from the store) and delivers
webhooks. On SQLite the single instance wins at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

from fleet.api.app import create_app
from fleet.clock import Clock
from fleet.config import Settings
from fleet.core import CoreSettings, Dispatcher, FleetCore, MachineLink
from fleet.core.dispatcher import Machine
from fleet.core.strategies import Traffic
from fleet.domain import Capabilities, Vehicle, VehicleId
from fleet.events.webhooks import Webhooks
from fleet.metrics import FleetMetrics
from fleet.security import Accounts
from fleet.store import Store
from fleet.store.leader import Leadership

log = logging.getLogger(__name__)

# The interpreter's GIL switch interval while a service runs. The core's command thread
# gives up the GIL at every store call (SQLite statement, PostgreSQL round trip) and must
# win it back from the HTTP loop and the bus (and, in the demo, the simulator), which are
# busy Python threads: at the default 5 ms each of those waits can take a whole interval,
# and a batch makes several. 1 ms cut a submission's p50 under two busy threads from
# 30-140 ms to 7-10 ms (see docs/benchmarks.md, service).
SWITCH_INTERVAL_S = 0.001


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (+ exception)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"t": round(record.created, 3), "level": record.levelname, "logger": record.name,
                               "msg": record.getMessage()}
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter() if settings.log_json else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())


def _start_places(site: Any, ids: list[str]) -> dict[str, tuple[str, float, float]]:
    """Where loopback machines stand at start: parking places, then chargers, then any node."""
    if site is None or not site.nodes:
        return {}
    from maps.site import StationKind

    nodes = [site.node_by_id[s.node] for kind in (StationKind.PARKING, StationKind.CHARGER)
             for s in site.stations_of(kind) if s.node in site.node_by_id]
    used = {n.id for n in nodes}
    nodes += [n for n in site.nodes if n.id not in used]
    return {mid: (nodes[i % len(nodes)].id, nodes[i % len(nodes)].x, nodes[i % len(nodes)].y)
            for i, mid in enumerate(ids)}


class Service:
    def __init__(self, settings: Settings, *, site: Any = None, machines: Iterable[Machine] = (),
                 traffic: Traffic | None = None, link: MachineLink | None = None,
                 dispatcher: Dispatcher | None = None, clock: Clock | None = None) -> None:
        self.settings = settings
        self.store = Store(settings.db_url, sqlite_sync=settings.sqlite_sync)
        self.metrics = FleetMetrics()
        if site is None and settings.site:
            from maps.loader import load_site, resolve_site

            site = load_site(resolve_site(settings.site))
        machines = list(machines)
        self.loopback: Any = None
        if settings.loopback_vehicles and link is None:
            from fleet.core.loopback import LoopbackTraffic

            any_load = Capabilities(payload_kg=40000.0, load_types=(), hazardous_rated=True)
            machines += [Vehicle(id=VehicleId(f"agv-{i + 1:03d}"), capabilities=any_load)
                         for i in range(settings.loopback_vehicles)]
            traffic = traffic or LoopbackTraffic(site)
        machines += [Vehicle(id=VehicleId(v)) for v in settings.vehicles if v not in {m.id for m in machines}]
        self.hub: Any = None
        if settings.bus_endpoint and link is None and not settings.loopback_vehicles:
            from adapters.bus.hub import BusHub

            self.hub = BusHub(settings.bus_endpoint, hub_id=settings.instance_id)
            link = self.hub
        if traffic is None and site is not None and not settings.loopback_vehicles:
            from fleet.traffic import FleetTraffic

            traffic = FleetTraffic(site)
        if dispatcher is None and site is not None:
            from fleet.core.site_dispatch import SiteDispatcher

            dispatcher = SiteDispatcher(site)
        # the inventory on the store's database; the core keeps it at every confirmed pick and drop
        self.inventory: Any = None
        stock: Any = None
        if site is not None and (site.racks or any(b.slots for b in site.crane_bays)):
            from fleet.core.stock import StockKeeper, build_inventory

            self.inventory = build_inventory(self.store, site, now=lambda: self.core.clock.now(),
                                             emit=lambda type_, payload: self.core.record_event(type_, payload))
            stock = StockKeeper(self.inventory)  # frames: set `stock.frames` (the demo: the sim's cameras)
        self.core = FleetCore(
            self.store, site, machines=machines, clock=clock, dispatcher=dispatcher, traffic=traffic, link=link,
            settings=CoreSettings(dispatch_period_s=settings.dispatch_period_s, tick_period_s=settings.tick_period_s,
                                  link_timeout_s=settings.link_timeout_s),
            metrics=self.metrics, stock=stock,
        )
        self.core.leader = False
        if settings.loopback_vehicles and link is None:
            from fleet.core.loopback import LoopbackMachines

            ids = [m.id for m in self.core.machines_configured()]
            self.loopback = LoopbackMachines(self.core.on_state, ids, start=_start_places(site, ids))
            self.core.link = self.loopback
        if self.hub is not None:
            self.hub.subscribe(self.core.on_state, on_measurements=self.core.on_measurements)
        self.accounts = Accounts(self.store)
        self.webhooks = Webhooks(self.store, timeout_s=settings.webhook_timeout_s,
                                 max_attempts=settings.webhook_max_attempts, backoff_s=settings.webhook_backoff_s,
                                 backoff_max_s=settings.webhook_backoff_max_s, metrics=self.metrics,
                                 is_leader=lambda: self.core.leader)
        scheme = "https" if settings.tls_cert else "http"
        self.url = settings.public_url or f"{scheme}://{settings.host}:{settings.port}"
        self.leadership = Leadership(self.store, settings.instance_id, self.url, on_elected=self._elected,
                                     on_lost=self._lost, retry_s=settings.leader_retry_s)
        self.app = create_app(self.core, settings, accounts=self.accounts, metrics=self.metrics,
                              webhooks=self.webhooks, leader_url=self.leadership.leader_url)
        if self.inventory is not None:
            from fleet.inventory.routes import router as inventory_router

            self.app.state.inventory = self.inventory
            self.app.include_router(inventory_router)
        self._server: Any = None
        self._lock = threading.Lock()

    def _elected(self) -> None:
        with self._lock:
            self.core.leader = True
            if self.hub is not None:
                self.hub.start()  # only the leader binds the bus
            self.core.start()
            log.info("core started on %s", self.settings.instance_id)

    def _lost(self) -> None:
        with self._lock:
            self.core.leader = False
            self.core.stop()
            if self.hub is not None:
                with contextlib.suppress(Exception):
                    self.hub.stop()

    def start(self) -> Service:
        """Start the background parts (not the HTTP server)."""
        if sys.getswitchinterval() > SWITCH_INTERVAL_S:
            sys.setswitchinterval(SWITCH_INTERVAL_S)
        if self.loopback is not None:
            self.loopback.start()
        self.webhooks.start()
        self.leadership.start()
        return self

    def stop(self) -> None:
        self.leadership.stop()
        self.webhooks.stop()
        if self.core.leader:
            self.core.stop()
        if self.loopback is not None:
            self.loopback.stop()
        if self.core.stock is not None:
            self.core.stock.close()
        self.store.close()

    def serve(self) -> None:
        """Run the HTTP(S) server in this thread until it is stopped (Ctrl-C, SIGTERM)."""
        import gc

        import uvicorn

        gc.collect()
        gc.freeze()  # the start-up heap (site, caches) is never collected again: shorter pauses
        gc.set_threshold(50_000, 20, 100)

        config = uvicorn.Config(self.app, host=self.settings.host, port=self.settings.port,
                                ssl_certfile=self.settings.tls_cert, ssl_keyfile=self.settings.tls_key,
                                log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=3)
        self._server = uvicorn.Server(config)
        try:
            self._server.run()
        finally:
            with contextlib.suppress(Exception):
                self.stop()

    def serve_in_thread(self) -> threading.Thread:
        """The HTTP server on a thread (tests, demo); returns once it listens."""
        import uvicorn

        config = uvicorn.Config(self.app, host=self.settings.host, port=self.settings.port,
                                ssl_certfile=self.settings.tls_cert, ssl_keyfile=self.settings.tls_key,
                                log_config=None, access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        thread = threading.Thread(target=self._server.run, name="http", daemon=True)
        thread.start()
        deadline = time.time() + 10
        while not self._server.started and time.time() < deadline:
            time.sleep(0.02)
        return thread

    def shutdown_server(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
