"""The service the browser tests drive, and the server-side view they check against.

`sim` (the default): the demo's own stack. The service (`fleet.api.service.Service`:
store, core, inventory, API, page) on the bundled warehouse, with the simulator as a
gateway on the in-process vehicle bus (`fleet.plant.Plant`, transport `inproc`, real
traffic and planners, the simulated tally cameras), machines at `SPEED` times real time,
and the demo's WMS (`fleet.demo.Wms`) posting the scenario's orders fitted to the stock,
so machines drive and the inventory fills and empties while the tests run. The
scenario is the warehouse shift with `AGVS` AGVs, calm (no scheduled faults or link
losses: a test that needs an order done must not meet a breakdown on purpose).

`loopback`: the service with loopback vehicles (carry out orders point to point) and a
few AGVs driven round a loop by injected states; no simulator.

`standin`: the stand-in service of `fleet bench ui` (`bench._ui_service`), machines
driving the lanes at 10 Hz in memory.

Pick with FLEET_WEB_BACKEND=sim|loopback|standin. The tests only use `Service`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from maps.loader import load_site, resolve_site
from tests.web.serving import free_port, serve

SITE = "coil_yard"  # loopback and stand-in backends
ORDER_STATIONS = ("MILL1", "DOCK1")
ZONE_TO_CLOSE = "BAY-MAINT"
SIM_SITE = "warehouse"  # the sim backend: AGV-only orders, a dock to the next in seconds
SIM_ORDER_STATIONS = ("IN4", "OUT4")
SIM_ZONE_TO_CLOSE = "MAINT-A"
SPEED = 20.0  # simulated seconds per wall second
AGVS = 8
WMS_ORDERS_PER_H = 60.0  # per simulated hour: at SPEED most AGVs busy, some free for the tests' own orders


class Service:
    """What a test may ask the server side."""

    url: str
    site_name: str
    order_stations = ORDER_STATIONS
    zone_to_close = ZONE_TO_CLOSE
    passwords: dict[str, str]
    machine_count: int

    def password(self, user: str) -> str:
        return self.passwords[user]

    def order(self, order_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def machine(self, machine_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def resume(self, machine_id: str) -> None:
        raise NotImplementedError

    def moving_agv(self) -> str:
        raise NotImplementedError

    def pause_all(self) -> None:
        """Hold every machine (so a new order waits in the queue)."""
        raise NotImplementedError

    def resume_all(self) -> None:
        raise NotImplementedError

    def modes(self) -> dict[str, str]:
        raise NotImplementedError

    def zone_closed(self, zone_id: str) -> bool:
        raise NotImplementedError

    # --- the simulator-backed service only (the inventory and the tally need it)
    has_sim = False

    def submit(self, source: str, destination: str, **extra: Any) -> str:
        raise NotImplementedError

    def order_machine(self, order_id: str) -> str | None:
        raise NotImplementedError

    def swap_label(self, machine_id: str, on: bool) -> None:
        raise NotImplementedError

    def truth(self, machine_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def slot(self, slot_id: str) -> dict[str, Any]:
        raise NotImplementedError

    def slot_map(self) -> dict[str, Any]:
        raise NotImplementedError

    def tally_alarms(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def free_slot(self, near: str, farthest: bool = False) -> str:
        raise NotImplementedError

    def tally_records(self, leg_id: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def diagnosis(self) -> str:
        return ""

    def cancel(self, order_id: str) -> None:
        raise NotImplementedError


class StandInService(Service):
    def __init__(self, url: str, stand_in: Any, site_name: str) -> None:
        from bench._ui_service import USERS

        self.url, self.stand_in, self.site_name = url, stand_in, site_name
        self.passwords = {u: p for u, (p, _) in USERS.items()}
        self.machine_count = len(stand_in.machines)

    def order(self, order_id: str) -> dict[str, Any]:
        with self.stand_in.lock:
            return dict(self.stand_in.orders[order_id])

    def machine(self, machine_id: str) -> dict[str, Any]:
        with self.stand_in.lock:
            return dict(self.stand_in.machines[machine_id])

    def resume(self, machine_id: str) -> None:
        with self.stand_in.lock:
            self.stand_in.machines[machine_id]["mode"] = "auto"

    def moving_agv(self) -> str:
        with self.stand_in.lock:
            return next(m["machine_id"] for m in self.stand_in.machines.values()
                        if m["kind"] == "agv" and m["mode"] == "auto" and not m["order_id"])

    def zone_closed(self, zone_id: str) -> bool:
        return zone_id in self.stand_in.closed

    def pause_all(self) -> None:
        with self.stand_in.lock:
            for m in self.stand_in.machines.values():
                m["mode"] = "paused"

    def resume_all(self) -> None:
        with self.stand_in.lock:
            for m in self.stand_in.machines.values():
                m["mode"] = "auto"

    def modes(self) -> dict[str, str]:
        with self.stand_in.lock:
            return {k: m["mode"] for k, m in self.stand_in.machines.items()}


class LoopDriver:
    """Drives AGVs round a closed loop of site points by injecting their states at `hz`."""

    def __init__(self, core: Any, machine_ids: list[str], loop: list[tuple[float, float]], hz: float = 10.0,
                 speed_mps: float = 6.0) -> None:
        self.core, self.ids, self.loop, self.hz, self.speed = core, machine_ids, loop, hz, speed_mps
        self.length = sum(math.dist(a, b) for a, b in zip(loop, loop[1:] + loop[:1], strict=True))
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="loop-driver", daemon=True)

    def at(self, s: float) -> tuple[float, float, float]:
        s %= self.length
        for a, b in zip(self.loop, self.loop[1:] + self.loop[:1], strict=True):
            d = math.dist(a, b)
            if s <= d:
                f = s / d if d else 0.0
                return (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, math.atan2(b[1] - a[1], b[0] - a[0]))
            s -= d
        return (*self.loop[0], 0.0)

    def _run(self) -> None:
        from fleet.domain.commands import MachineState

        travelled = {mid: i * self.length / len(self.ids) for i, mid in enumerate(self.ids)}
        period = 1.0 / self.hz
        while not self.stop_event.wait(period):
            now = time.time()
            known = {m.id: m for m in self.core.machines()}
            for mid in self.ids:
                m = known.get(mid)
                if m is None or m.mode.value == "auto":  # a held machine stands still, as a real one would
                    travelled[mid] += self.speed * period
                x, y, th = self.at(travelled[mid])
                self.core.on_state(MachineState(machine_id=mid, stamp_s=now, x=x, y=y, theta=th, battery=0.8,
                                                received_s=now + 0.012))

    def start(self) -> LoopDriver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=2)


class RealService(Service):
    def __init__(self, url: str, svc: Any, driver: LoopDriver, site_name: str) -> None:
        from fleet.security.accounts import DEMO_USERS

        self.url, self.svc, self.driver, self.site_name = url, svc, driver, site_name
        self.passwords = {name: password for name, _, password in DEMO_USERS}
        self.machine_count = len(svc.core.machines())

    @property
    def core(self) -> Any:
        return self.svc.core

    def order(self, order_id: str) -> dict[str, Any]:
        o = self.core.store.get_order(order_id) if hasattr(self.core.store, "get_order") else None
        if o is None:
            o = next(x for x in self.core.active_orders() if x.id == order_id)
        return {"id": o.id, "client_id": o.client_id, "state": o.state.value, "priority": o.priority}

    def machine(self, machine_id: str) -> dict[str, Any]:
        return self.core.machine_public(self.core.machine(machine_id))

    def resume(self, machine_id: str) -> None:
        from fleet.core import MachineAction

        self.core.machine_action(machine_id, MachineAction.RESUME).result(timeout=5)

    def moving_agv(self) -> str:
        return next(mid for mid in self.driver.ids if self.core.machine(mid).mode.value == "auto")

    def zone_closed(self, zone_id: str) -> bool:
        return zone_id in self.core.closed_zones()

    def _all(self, action: str) -> None:
        from fleet.core import MachineAction

        futures = [self.core.machine_action(m.id, MachineAction(action)) for m in self.core.machines()]
        for f in futures:
            f.result(timeout=5)

    def pause_all(self) -> None:
        self._all("pause")

    def resume_all(self) -> None:
        self._all("resume")

    def modes(self) -> dict[str, str]:
        return {m.id: m.mode.value for m in self.core.machines()}


@contextlib.contextmanager
def _standin() -> Iterator[Service]:
    from bench._ui_service import StandInSite, build_app

    site = load_site(resolve_site(SITE))
    stand_in = StandInSite(site, agvs=12, hz=10.0, seed=3, speed_mps=8.0).start()
    try:
        with serve(build_app(stand_in)) as url:
            yield StandInService(url, stand_in, site.name)
    finally:
        stand_in.stop()


@contextlib.contextmanager
def _real() -> Iterator[Service]:
    from fleet.api.service import Service as FleetService
    from fleet.config import Settings
    from fleet.core.loopback import LoopbackMachines, LoopbackTraffic
    from fleet.domain import Capabilities, Vehicle, VehicleId
    from fleet.security import ensure_demo_users
    from fleet.web import mount_web

    site = load_site(resolve_site(SITE))
    with tempfile.TemporaryDirectory(prefix="fleet-web-") as tmp:
        settings = Settings(db_url=f"sqlite:///{Path(tmp) / 'fleet.db'}", host="127.0.0.1", port=free_port(),
                            site=SITE, log_json=False, log_level="WARNING", dispatch_period_s=0.5, rate_limit_per_s=0)
        # carriers: coil AGVs the loopback machines answer for (they carry out orders point to point);
        # driven: pallet AGVs (no coil order goes to them) driven round a loop by injected states
        carriers = [f"agv-{i:03d}" for i in range(1, 4)]
        driven = [f"agv-drv-{i}" for i in range(1, 4)]
        coil_agv = Capabilities(payload_kg=30000.0, load_types=("coil",))
        parked = [site.node_by_id[st.node] for st in site.stations if st.kind.value == "charger"]
        machines = [Vehicle(id=VehicleId(m), capabilities=coil_agv, node=n.id, x=n.x, y=n.y)
                    for m, n in zip(carriers, parked, strict=False)]
        machines += [Vehicle(id=VehicleId(m)) for m in driven]
        svc = FleetService(settings, site=site, machines=machines, traffic=LoopbackTraffic(site))
        start = {m: (n.id, n.x, n.y) for m, n in zip(carriers, parked, strict=False)}
        svc.loopback = LoopbackMachines(svc.core.on_state, carriers, start=start)
        svc.core.link = svc.loopback
        if not any(getattr(r, "path", None) == "/" for r in svc.app.routes):
            mount_web(svc.app)  # until the API app mounts the page itself
        ensure_demo_users(svc.accounts)
        svc.start()
        deadline = time.time() + 10
        while not svc.core.leader and time.time() < deadline:
            time.sleep(0.05)
        # a loop of lanes along the coil yard's road
        loop = [(10.0, -15.0), (110.0, -15.0), (110.0, -8.0), (10.0, -8.0)]
        driver = LoopDriver(svc.core, driven, loop).start()
        svc.serve_in_thread()
        try:
            yield RealService(f"http://127.0.0.1:{settings.port}", svc, driver, site.name)
        finally:
            driver.stop()
            svc.shutdown_server()
            svc.stop()


class SimService(RealService):
    """The demo's stack: the simulator behind the vehicle bus, the WMS posting orders."""

    has_sim = True
    order_stations = SIM_ORDER_STATIONS
    zone_to_close = SIM_ZONE_TO_CLOSE

    def __init__(self, url: str, svc: Any, plant: Any, wms: Any, token: str, site_name: str) -> None:
        from fleet.security.accounts import DEMO_USERS

        self.url, self.svc, self.plant, self.wms, self.site_name = url, svc, plant, wms, site_name
        self.passwords = {name: password for name, _, password in DEMO_USERS}
        self.machine_count = len(svc.core.machines())
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0)

    def moving_agv(self) -> str:
        """An AGV driving a leg now (waits a little for one: the WMS keeps them busy)."""
        deadline = time.time() + 20
        while True:
            busy = [m for m in self.core.machines() if getattr(m, "kind", "agv") == "agv"
                    and m.mode.value == "auto" and self.machine(m.id).get("leg_id")]
            if busy or time.time() > deadline:
                break
            time.sleep(0.1)
        if not busy:
            raise AssertionError("no AGV is driving a leg after 20 s: is the WMS posting orders?")
        return busy[0].id

    def submit(self, source: str, destination: str, **extra: Any) -> str:
        body = {"client_id": f"TEST-{time.time_ns() % 10**12}", "source": source, "destination": destination,
                "load_type": "pallet", "weight_kg": 400.0, "priority": 8, **extra}
        r = self.http.post("/api/v1/orders", json=body)
        r.raise_for_status()
        return str(r.json()["id"])

    def order_machine(self, order_id: str) -> str | None:
        for m in self.core.machines():
            if self.machine(m.id).get("order_id") == order_id:
                return m.id
        return None

    def swap_label(self, machine_id: str, on: bool) -> None:
        """Switch the sim's `swap_label` fault of one machine on or off now.

        The fault log is what the simulated tally cameras read (`sim.sensing.ActiveFaults`);
        a scheduled fault is written there by the world at its time, this writes it at once.
        """
        world = self.plant.world
        world.fault_log.append((world.now, "swap_label", machine_id, on))

    def truth(self, machine_id: str) -> dict[str, Any]:
        """What the simulated machine really does (not what the core believes)."""
        agvs = self.plant.world.agvs
        i = agvs.index[machine_id]
        return {"estop": bool(agvs.estop[i]), "speed_mps": float(agvs.v[i])}

    def slot(self, slot_id: str) -> dict[str, Any]:
        return self.svc.inventory.by_slot(slot_id)

    def slot_map(self) -> dict[str, Any]:
        return self.svc.inventory.slot_map()

    def tally_alarms(self) -> list[dict[str, Any]]:
        return self.svc.inventory.alarms()

    def free_slot(self, near: str, farthest: bool = False) -> str:
        """The rack slot with a free level nearest to station `near` (a short order), or farthest."""
        site = self.svc.core.site
        node = site.node_by_id[next(st.node for st in site.stations if st.id == near)]
        m = self.slot_map()
        free = [(math.dist((x, y), (node.x, node.y)), s)
                for s, ld, x, y in zip(m["slots"], m["load_id"], m["x"], m["y"], strict=True) if ld is None]
        return (max if farthest else min)(free)[1]

    def tally_records(self, leg_id: str) -> list[dict[str, Any]]:
        return self.svc.inventory.tally_records(leg_id=leg_id)

    def diagnosis(self) -> str:
        """Where the fleet stands, for a failure message: modes, legs, positions, the sim's refusals."""
        w = self.plant.world
        rows = []
        for mid in self.modes():
            d = self.machine(mid)
            errors = sorted(w.agvs.errors[w.agvs.index[mid]]) if mid in w.agvs.index else []
            rows.append(f"{mid} {d['mode']} leg={d['leg_id']} at ({d['x']:.1f}, {d['y']:.1f}) errors={errors}")
        return "; ".join(rows) + f"; sim refused: {list(w.refused)[-5:]}"

    def cancel(self, order_id: str) -> None:
        self.http.post(f"/api/v1/orders/{order_id}/cancel", json={})


@contextlib.contextmanager
def _sim() -> Iterator[Service]:
    from fleet.api.service import Service as FleetService
    from fleet.config import load_settings
    from fleet.core.stock import seed_stock
    from fleet.demo import Wms, demo_stream, vehicles_of
    from fleet.plant import Plant, PlantOptions
    from fleet.security.accounts import ensure_demo_users
    from fleet.web import mount_web
    from sim.scenario import load_scenario, resolve_scenario
    from sim.sensing import SimCameras
    from sim.stock import StockedOrders

    scenario = load_scenario(resolve_scenario(SIM_SITE))
    scenario = dataclasses.replace(scenario, agvs=scenario.agvs[:AGVS])
    with tempfile.TemporaryDirectory(prefix="fleet-web-sim-") as tmp:
        endpoint = f"inproc://fleet-web-{os.getpid()}-{free_port()}"
        settings = load_settings(
            db_url=f"sqlite:///{Path(tmp) / 'fleet.db'}", site=str(scenario.site.file), host="127.0.0.1",
            port=free_port(), bus_endpoint=endpoint, demo_users=True, log_json=False, log_level="WARNING",
            vehicles=[a.id for a in scenario.agvs], rate_limit_per_s=0.0,
            # as the demo: the core plans as often in simulated time as at 1x
            tick_period_s=max(0.05, 0.25 / SPEED), dispatch_period_s=max(0.2, 5.0 / SPEED),
            link_timeout_s=max(5.0, 3 * scenario.idle_state_period_s / SPEED),
        )
        svc = FleetService(settings, site=scenario.site, machines=vehicles_of(scenario))
        if not any(getattr(r, "path", None) == "/" for r in svc.app.routes):
            mount_web(svc.app)
        logins = ensure_demo_users(svc.accounts)
        seed_stock(svc.inventory)
        stocked = StockedOrders(svc.inventory, hold_s=1800.0 / SPEED)
        svc.start()
        deadline = time.time() + 15
        while not svc.core.leader and time.time() < deadline:
            time.sleep(0.05)
        svc.serve_in_thread()
        plant = Plant(scenario, PlantOptions(transport="inproc", speed=SPEED, endpoint=endpoint, calm=True,
                                             workdir=Path(tmp) / "plant"))
        wms = None
        try:
            plant.start()
            svc.core.stock.frames = SimCameras(plant.world, seed=scenario.seed)
            orders, loop_s = demo_stream(plant.scenario, WMS_ORDERS_PER_H)
            wms = Wms(svc.url, logins["wms_token"], orders, speed=SPEED, prefix=f"wms-{int(time.time())}",
                      loop_s=loop_s, shape=stocked.shape).start()
            yield SimService(svc.url, svc, plant, wms, logins["wms_token"], scenario.site.name)
        finally:
            if wms is not None:
                wms.stop()
            plant.stop()
            svc.shutdown_server()
            svc.stop()


@contextlib.contextmanager
def start_service() -> Iterator[Service]:
    backend = os.environ.get("FLEET_WEB_BACKEND", "sim")
    chosen = {"standin": _standin, "loopback": _real, "real": _real}.get(backend, _sim)
    with chosen() as svc:
        yield svc
