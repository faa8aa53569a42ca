"""The demo: the whole product on one machine, as a site would run it.

One process: the service on its embedded default (SQLite file, in-process vehicle
bus), the simulator as a gateway on that bus (the core cannot tell it from real
machines), a WMS that submits a steady order stream over the REST API with its own
token, and the web UI. Ctrl-C stops it cleanly; started again on the same data
directory it resumes every open order where it was (the store is durable before it
acknowledges; machines are re-synchronised from what they report).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fleet.config import load_settings
from fleet.domain import Capabilities, Vehicle, VehicleId

log = logging.getLogger(__name__)


@dataclass
class DemoOptions:
    site: str = "coil_yard"
    port: int = 8080
    host: str = "127.0.0.1"
    data_dir: Path = Path("var/demo")
    speed: float = 1.0
    orders_per_hour: float | None = None  # None: the scenario's streams
    transport: str = "inproc"
    duration_s: float | None = None  # None: until stopped
    quiet: bool = False
    fresh: bool = False


def vehicles_of(scenario: Any) -> list[Vehicle]:
    """The scenario's AGVs as the core's vehicle records."""
    site = scenario.site
    out = []
    for a in scenario.agvs:
        node = site.node_by_id[a.start_node]
        out.append(Vehicle(
            id=VehicleId(a.id),
            capabilities=Capabilities(payload_kg=a.payload_kg, load_types=a.load_types, hazardous_rated=a.hazardous_rated),
            node=a.start_node, x=node.x, y=node.y, battery=a.battery, speed_mps=a.max_speed_mps,
            drain_per_m=a.drain_per_m, drain_per_lift=a.drain_per_lift,
        ))
    return out


class Wms:
    """A warehouse management system: posts the scenario's orders over the REST API."""

    def __init__(self, base_url: str, token: str, orders: list[tuple[float, Any]], *, speed: float,
                 prefix: str, loop_s: float | None, shape: Any = None) -> None:
        self.base_url = base_url
        self.shape = shape  # order -> order fitted to the stock (sim.stock.StockedOrders.shape)
        self.token = token
        self.orders = orders
        self.speed = speed
        self.prefix = prefix
        self.loop_s = loop_s
        self.sent = 0
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wms", daemon=True)

    def start(self) -> Wms:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        start = time.monotonic()
        cycle = 0
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=10.0) as client:
            while not self._stop.is_set():
                for at_s, order in self.orders:
                    due = start + (cycle * (self.loop_s or 0) + at_s) / self.speed
                    while not self._stop.is_set() and time.monotonic() < due:
                        self._stop.wait(min(0.5, due - time.monotonic()))
                    if self._stop.is_set():
                        return
                    body = _order_body(self.shape(order) if self.shape else order, f"{self.prefix}-{cycle}-{self.sent}")
                    try:
                        r = client.post("/api/v1/orders", json=body)
                    except httpx.HTTPError as exc:
                        log.warning("WMS could not reach the service: %s", exc)
                        continue
                    if r.status_code in (200, 201):
                        self.sent += 1
                    else:
                        self.refused += 1
                        log.info("WMS order refused (%s): %s", r.status_code, r.text[:200])
                if not self.loop_s:
                    return
                cycle += 1


def _order_body(order: Any, client_id: str) -> dict[str, Any]:
    get = order.get if isinstance(order, dict) else lambda k, d=None: getattr(order, k, d)
    body = {
        "client_id": client_id,
        "source": get("source"),
        "destination": get("destination"),
        "load_type": get("load_type", "pallet"),
        "weight_kg": float(get("weight_kg", 0.0) or 0.0),
        "priority": int(get("priority", 5) or 5),
        "hazardous": bool(get("hazardous", False)),
    }
    if get("load_id"):
        body["load_id"] = str(get("load_id"))
    return body


def demo_stream(scenario: Any, orders_per_hour: float | None) -> tuple[list[tuple[float, Any]], float]:
    """The scenario's order streams, compressed to a steady demo rate (default: six
    orders an hour per AGV), repeating for as long as the demo runs."""
    orders = scenario.orders()
    if not orders:
        return [], 0.0
    rate = orders_per_hour or 6.0 * max(1, len(scenario.agvs))
    natural = len(orders) / (scenario.duration_s / 3600.0)
    squeeze = max(1.0, rate / natural)
    lead_in = max(0.0, orders[0][0] / squeeze - 2.0)  # the first order a moment after start, not minutes
    return [(t / squeeze - lead_in, o) for t, o in orders], scenario.duration_s / squeeze


def bus_endpoint(transport: str, site: str, host: str = "127.0.0.1") -> str:
    """Where the core's hub listens: in-process, or tcp:// for a gateway in another process."""
    if transport == "tcp":
        from fleet.plant import free_port

        return f"tcp://{host}:{free_port(host)}"
    return f"inproc://fleet-demo-{site}"


def run_demo(opts: DemoOptions) -> int:
    from fleet.api.service import Service, configure_logging
    from fleet.plant import Plant, PlantError, PlantOptions
    from fleet.security.accounts import ensure_demo_users
    from sim.scenario import load_scenario, resolve_scenario

    scenario = load_scenario(resolve_scenario(opts.site))
    site = scenario.site
    opts.data_dir.mkdir(parents=True, exist_ok=True)
    db = opts.data_dir / f"{opts.site}.db"
    if opts.fresh and db.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
    endpoint = bus_endpoint(opts.transport, opts.site)
    settings = load_settings(
        db_url=f"sqlite:///{db}", site=str(site.file), host=opts.host, port=opts.port,
        bus_endpoint=endpoint, demo_users=True, log_json=False, log_level="WARNING" if opts.quiet else "INFO",
        vehicles=[a.id for a in scenario.agvs],
        rate_limit_per_s=0.0,
        # the core ticks in wall time; a faster simulator needs it to plan as often in simulated time
        tick_period_s=max(0.05, 0.25 / max(opts.speed, 1.0)),
        link_timeout_s=max(5.0, 3 * scenario.idle_state_period_s / max(opts.speed, 1.0)),
    )
    configure_logging(settings)
    print("fleet5g demo: loading the planners (the first run after an install compiles them: "
          "about a minute) ...", flush=True)
    service = Service(settings, site=site, machines=vehicles_of(scenario))
    try:
        from fleet.web import mount_web

        if not any(getattr(r, "path", None) == "/" for r in service.app.routes):
            mount_web(service.app)
    except ImportError:
        log.warning("web UI not available")
    logins = ensure_demo_users(service.accounts)
    stocked = None
    if service.inventory is not None:  # coils in the yard, pallets in the racks; the WMS orders what is there
        from fleet.core.stock import seed_stock
        from sim.stock import StockedOrders

        seed_stock(service.inventory)
        stocked = StockedOrders(service.inventory, hold_s=1800.0 / max(opts.speed, 1.0))
    service.start()
    deadline = time.time() + 15
    while not service.core.leader and time.time() < deadline:
        time.sleep(0.05)
    service.serve_in_thread()
    # a restart: the simulated machines stand where the store last saw them, loads on board
    resume = tuple(m for m, _held in service.core.store.machines())
    plant = Plant(scenario, PlantOptions(transport=opts.transport, speed=opts.speed, endpoint=endpoint,
                                         workdir=opts.data_dir / f"plant-{opts.transport}", resume=resume))
    try:
        plant.start()
    except PlantError as exc:
        print(f"fleet demo: {exc}", flush=True)
        plant.stop()
        service.shutdown_server()
        service.stop()
        return 2
    if service.core.stock is not None:  # the tally reads the frames the simulated cameras take
        from sim.sensing import SimCameras

        service.core.stock.frames = SimCameras(plant.world, seed=scenario.seed)
    orders, loop_s = demo_stream(scenario, opts.orders_per_hour)
    wms = Wms(service.url, logins["wms_token"], orders, speed=opts.speed, prefix=f"demo-{int(time.time())}",
              loop_s=loop_s, shape=stocked.shape if stocked else None).start()
    dispatcher = next((x for x in logins["logins"] if x["role"] == "dispatcher"), logins["logins"][0])
    print(f"fleet5g demo: {site.name} ({len(scenario.agvs)} AGVs, "
          f"{sum(len(b.cranes) for b in site.crane_bays)} cranes), machines at {opts.speed:g}x real time")
    print(f"  machines: {plant.describe()}")
    print(f"  web UI:   {service.url}/   login {dispatcher['user']} / {dispatcher['password']}")
    print(f"  API docs: {service.url}/docs    WMS token: {logins['wms_token']}")
    print(f"  data:     {db}   (Ctrl-C stops; start again to resume)", flush=True)
    stop = threading.Event()
    with contextlib.suppress(ValueError):  # not the main thread (tests)
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    started = time.time()
    try:
        while not stop.is_set():
            if opts.duration_s is not None and time.time() - started >= opts.duration_s:
                break
            stop.wait(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping ...", flush=True)
        wms.stop()
        plant.stop()
        service.shutdown_server()
        service.stop()
        print(f"stopped: {wms.sent} orders submitted by the WMS this run; state kept in {db}")
    return 0


__all__ = ["DemoOptions", "Wms", "bus_endpoint", "demo_stream", "run_demo", "vehicles_of"]
