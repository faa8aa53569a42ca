"""Inventory and tally in the loop: moves at confirmed drops, durable, mismatches alarmed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from fleet.api.service import Service
from fleet.config import load_settings
from fleet.core.stock import build_inventory, seed_stock
from fleet.plant import free_port
from fleet.security import Accounts
from fleet.store import Store
from maps.loader import load_site, resolve_site
from sim.sensing import SimCameras

REPO = Path(__file__).resolve().parents[2]


def wait_for(fn: Any, timeout_s: float = 20.0, what: str = "condition") -> Any:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout_s} s")


class _Swapped:
    """A stand-in world whose fault log has every loopback vehicle's label swapped."""

    def __init__(self, machines: list[str]) -> None:
        self.fault_log = [(0.0, "swap_label", m, True) for m in machines]


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[tuple[Service, TestClient, dict[str, str]]]:
    site = load_site(resolve_site("warehouse"))
    settings = load_settings(None, env={}, db_url=f"sqlite:///{tmp_path}/w.db", loopback_vehicles=2,
                             log_json=False, rate_limit_per_s=0, dispatch_period_s=0.3)
    service = Service(settings, site=site)
    assert service.inventory is not None
    seed_stock(service.inventory, share=0.3)
    service.start()
    tokens = {r: service.accounts.create_token(r)[1] for r in ("viewer", "wms", "dispatcher")}
    with TestClient(service.app) as client:
        yield service, client, tokens
    service.stop()


def _h(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def test_a_swapped_label_raises_the_alarm_the_page_lists(warehouse: tuple[Service, TestClient, dict[str, str]]) -> None:
    service, client, tokens = warehouse
    wait_for(lambda: service.core.leader and service.core.ready, what="leadership")
    service.core.stock.frames = SimCameras(_Swapped(["agv-001", "agv-002"]), seed=2)
    inv = service.inventory
    position, load = next(iter(sorted((inv.layout.ids[p], ld) for p, ld in inv.yard.at.items())))
    slot = inv.layout.slot_ids[inv.layout.index(position)]
    r = client.post("/api/v1/orders", headers=_h(tokens, "wms"), json={
        "client_id": "swap-1", "source": slot, "destination": "OUT1", "load_type": load.type,
        "weight_kg": load.weight_kg, "load_id": load.id})
    assert r.status_code == 201, r.text

    def tally_alarm() -> list[dict[str, Any]]:
        got = client.get("/api/v1/alarms", headers=_h(tokens, "viewer")).json()
        return [a for a in got if a["kind"] == "tally_mismatch"]

    alarms = wait_for(tally_alarm, what="a tally_mismatch alarm in GET /api/v1/alarms")
    assert load.id in alarms[0]["message"] and "mismatch" in alarms[0]["message"]
    records = client.get("/api/v1/inventory/tally", headers=_h(tokens, "viewer")).json()
    assert records and records[0]["expected"] == load.id and records[0]["outcome"] == "mismatch"
    assert records[0]["read_label"] not in (None, load.id) and records[0]["image_id"]
    # the machine that picked the wrong-labelled load is held for the dispatcher
    held = wait_for(lambda: [m for m in client.get("/api/v1/vehicles", headers=_h(tokens, "viewer")).json()
                             if m["held"] == "paused"], what="the machine paused")
    # (the loopback machines do not brake: on a busy machine one may finish its leg before the
    # tally's pause reaches it, so the order it names is this one or none, never another)
    assert held[0]["order_id"] in (None, r.json()["id"]) and 0.0 <= held[0]["link_quality"] <= 1.0
    # nothing moved in the inventory: the load is where it was
    assert client.get(f"/api/v1/inventory/loads/{load.id}", headers=_h(tokens, "viewer")).json()["position"] == position
    kpis = client.get("/api/v1/kpis", headers=_h(tokens, "viewer")).json()
    assert len(kpis["throughput_hourly"]) == 12 and {"hour_s", "done"} <= set(kpis["throughput_hourly"][0])


def test_clean_labels_move_the_load_only_at_the_confirmed_drop(
        warehouse: tuple[Service, TestClient, dict[str, str]]) -> None:
    service, client, tokens = warehouse
    wait_for(lambda: service.core.leader and service.core.ready, what="leadership")
    service.core.stock.frames = SimCameras(None, seed=3)
    inv = service.inventory
    free = next(inv.layout.slot_ids[p] for p in range(inv.layout.n)
                if p not in inv.yard.at and inv.layout.reachable[p] and inv.layout.tier[p] == 1)
    r = client.post("/api/v1/orders", headers=_h(tokens, "wms"), json={
        "client_id": "in-1", "source": "IN1", "destination": free, "load_type": "pallet", "weight_kg": 300.0,
        "load_id": "P-IN-1"})
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    wait_for(lambda: client.get(f"/api/v1/orders/{order_id}", headers=_h(tokens, "viewer")).json()["state"] == "done",
             what="the order done")
    view = wait_for(lambda: (v := client.get("/api/v1/inventory/loads/P-IN-1", headers=_h(tokens, "viewer"))).status_code
                    == 200 and v.json(), what="the load stored")
    assert view["slot"] == free
    timeline = client.get(f"/api/v1/orders/{order_id}/timeline", headers=_h(tokens, "viewer")).json()
    dropped = [e["at_s"] for e in (timeline if isinstance(timeline, list) else timeline["events"])
               if e.get("stage") == "dropped"]
    stored = [m["at_s"] for m in view["moves"] if m["kind"] == "store"]
    assert dropped and stored and stored[0] >= dropped[0]  # moved only once the machine confirmed the drop
    outcomes = [r["outcome"] for r in client.get("/api/v1/inventory/tally?load_id=P-IN-1",
                                                 headers=_h(tokens, "viewer")).json()]
    assert outcomes[-1] == "match" and "pickup" in {r["stage"] for r in inv.tally_records(load_id="P-IN-1")}


def test_a_drop_left_untallied_by_a_crash_is_applied_at_the_next_start(tmp_path: Path) -> None:
    """The job row written with the DROPPED progress re-runs when the core starts again."""
    from fleet.core.core import FleetCore
    from fleet.core.stock import StockKeeper
    from fleet.domain import Leg, LegId, LegKind, OrderId

    site = load_site(resolve_site("warehouse"))
    store = Store(f"sqlite:///{tmp_path}/r.db")
    inv = build_inventory(store, site)
    free = next(inv.layout.ids[p] for p in range(inv.layout.n) if inv.layout.reachable[p])
    slot = inv.layout.slot_ids[inv.layout.index(free)]
    leg = Leg(id=LegId("ord-x.0"), order_id=OrderId("ord-x"), kind=LegKind.AGV, source="IN1", destination=slot)
    keeper = StockKeeper(inv)  # no camera: the confirmed drop alone moves the load
    job = {"id": "ord-x.0:drop", "stage": "drop", "leg_id": leg.id, "order_id": "ord-x", "machine_id": "agv-1",
           "place": slot, "load": {"id": "P-CRASH", "type": "pallet", "weight_kg": 200.0}, "others": []}
    import json

    with store.transaction() as tx:
        tx.execute("INSERT INTO stock_jobs (id, body, created_s) VALUES (?, ?, ?)", (job["id"], json.dumps(job), 1.0))
    core = FleetCore(store, site, threaded=False, stock=keeper)
    core.start()
    try:
        wait_for(lambda: (core.run_once(), "P-CRASH" in inv.yard.where)[1], timeout_s=10, what="the job re-run")
        assert inv.yard.position_of("P-CRASH").startswith(slot)
        assert not store.query("SELECT id FROM stock_jobs")
        inv2 = build_inventory(store, site)  # what a restart reads back
        assert "P-CRASH" in inv2.yard.where
    finally:
        core.stop()
        keeper.close()
        store.close()


# ----------------------------------------------------------------------------- kill -9


class _Serve:
    def __init__(self, db_url: str, port: int, log: Path) -> None:
        self.url, self.db_url, self.port, self.log = f"http://127.0.0.1:{port}", db_url, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> _Serve:
        env = {**os.environ, "FLEET_DB_URL": self.db_url, "FLEET_PORT": str(self.port), "FLEET_LOG_LEVEL": "WARNING",
               "FLEET_LOOPBACK_VEHICLES": "2", "FLEET_RATE_LIMIT_PER_S": "0", "FLEET_DISPATCH_PERIOD_S": "0.3",
               "FLEET_SITE": "warehouse", "PYTHONPATH": str(REPO)}
        out = self.log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "fleet", "serve"], cwd=REPO, env=env, stdout=out,
                                     stderr=subprocess.STDOUT)
        out.close()
        wait_for(self._ready, timeout_s=240, what=f"fleet serve ready ({self.log})")  # cold cache: planners compile
        return self

    def _ready(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-2000:]
        try:
            r = httpx.get(f"{self.url}/readyz", timeout=1)
            return r.status_code == 200 and r.json().get("leader") is True
        except httpx.HTTPError:
            return False

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def test_confirmed_drops_survive_kill_9_of_the_service(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path}/k.db"
    site = load_site(resolve_site("warehouse"))
    store = Store(db_url)
    inv = build_inventory(store, site)
    seed_stock(inv, share=0.3)
    taken = next((inv.layout.ids[p], ld) for p, ld in sorted(inv.yard.at.items()))
    free = [inv.layout.slot_ids[p] for p in range(inv.layout.n)
            if p not in inv.yard.at and inv.layout.reachable[p] and inv.layout.tier[p] == 1][:3]
    token = Accounts(store).create_token("wms")[1]
    store.close()
    h = {"Authorization": f"Bearer {token}"}
    serve = _Serve(db_url, free_port(), tmp_path / "serve.log").start()
    try:
        orders = [{"client_id": f"k-{k}", "source": "IN1", "destination": slot, "load_type": "pallet",
                   "weight_kg": 250.0, "load_id": f"P-K{k}"} for k, slot in enumerate(free)]
        # first: the loopback reports a rack slot id as its node, from which the dispatcher finds no route
        orders.insert(0, {"client_id": "k-out", "source": inv.layout.slot_ids[inv.layout.index(taken[0])],
                       "destination": "OUT2", "load_type": "pallet", "weight_kg": taken[1].weight_kg,
                       "load_id": taken[1].id})
        ids = [httpx.post(f"{serve.url}/api/v1/orders", json=o, headers=h, timeout=10).json()["id"] for o in orders]

        def state(oid: str) -> str:
            return httpx.get(f"{serve.url}/api/v1/orders/{oid}", headers=h, timeout=5).json()["state"]

        wait_for(lambda: any(state(oid) == "done" for oid in ids[1:]), timeout_s=40, what="a first drop confirmed")
        done = [oid for oid in ids if state(oid) == "done"]
        serve.kill9()  # mid-shift: the other orders may be anywhere on their road
        serve = _Serve(db_url, serve.port, tmp_path / "serve2.log").start()
        wait_for(lambda: all(state(oid) == "done" for oid in ids), timeout_s=60, what="every order done after restart")
        for k, slot in enumerate(free):
            view = httpx.get(f"{serve.url}/api/v1/inventory/loads/P-K{k}", headers=h, timeout=5).json()
            assert view["slot"] == slot, view
            assert [m["kind"] for m in view["moves"]].count("store") == 1  # never twice, whatever the crash
        gone = httpx.get(f"{serve.url}/api/v1/inventory/loads/{taken[1].id}", headers=h, timeout=5)
        assert gone.status_code == 404  # it left for the outbound dock
        assert done, "at least one drop was confirmed before the kill"
    finally:
        serve.stop()
    check = Store(db_url)
    try:
        rows = check.query("SELECT load_id FROM inv_stock WHERE load_id LIKE 'P-K%'")
        assert sorted(r["load_id"] for r in rows) == [f"P-K{k}" for k in range(len(free))]
    finally:
        check.close()


# ----------------------------------------------------------------------------- the simulator's fault


def test_the_scenario_fault_swap_label_is_part_of_the_format() -> None:
    import yaml

    from sim.faults import FaultKind
    from sim.scenario import ScenarioFileError, resolve_scenario, scenario_from_dict

    path = resolve_scenario("coil_yard")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["faults"] = {"scheduled": [{"kind": "swap_label", "target": "CR1", "at_s": 5, "duration_s": 60},
                                    {"kind": "positioning_loss", "target": "cc-1", "at_s": 5, "duration_s": 60}]}
    sc = scenario_from_dict(data, str(path), path.parent)
    assert {f.kind for f in sc.fixed_faults} == {FaultKind.SWAP_LABEL, FaultKind.POSITIONING_LOSS}
    data["faults"]["scheduled"][0]["kind"] = "swap_labels"
    with pytest.raises(ScenarioFileError):
        scenario_from_dict(data, str(path), path.parent)


@pytest.mark.slow
def test_a_crane_whose_camera_sees_a_swapped_label_is_stopped_in_a_sim_run() -> None:
    from sim.stock import StockedOrders
    from tests.wiring.road import SimRoad, fault, with_stock

    road = SimRoad("coil_yard", faults=(fault("swap_label", "CR1", 0.0, 1e6), fault("swap_label", "CR2", 0.0, 1e6)),
                   sensing=False)
    try:
        inv = with_stock(road)
        shaped = StockedOrders(inv, clock=lambda: road.world.now)
        before = dict(inv.yard.where)
        for _, order in road.scenario.orders()[:6]:
            road.submit(shaped.shape(order))
        found: list[dict[str, Any]] = []
        while road.world.now < 1200 and not found:
            road.run(20.0)
            found = [a for a in road.core.store.alarms() if a["kind"] == "tally_mismatch"]
        assert found and found[0]["machine_id"] in ("CR1", "CR2")
        rec = next(r for r in inv.tally_records() if r["outcome"] == "mismatch")
        assert rec["expected"] in before and inv.yard.where.get(rec["expected"]) == before[rec["expected"]]
        assert road.core.machine(found[0]["machine_id"]).mode.value == "paused"
    finally:
        road.close()
