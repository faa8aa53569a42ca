"""kill -9 of a real `fleet serve` mid-shift, restart: no order lost, none doubled, all finish."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fleet.plant import free_port
from fleet.security import Accounts
from fleet.store import Store

REPO = Path(__file__).resolve().parents[2]


class Instance:
    """One `fleet serve` subprocess."""

    def __init__(self, db_url: str, port: int, tmp: Path, name: str, extra_env: dict[str, str] | None = None) -> None:
        self.db_url, self.port, self.tmp, self.name = db_url, port, tmp, name
        self.url = f"http://127.0.0.1:{port}"
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Instance:
        env = {**os.environ, "FLEET_DB_URL": self.db_url, "FLEET_PORT": str(self.port), "FLEET_LOG_LEVEL": "WARNING",
               "FLEET_LOOPBACK_VEHICLES": "4", "FLEET_RATE_LIMIT_PER_S": "0", "FLEET_DISPATCH_PERIOD_S": "0.5",
               "FLEET_INSTANCE_ID": self.name, "PYTHONPATH": str(REPO), **self.extra_env}
        log = open(self.tmp / f"{self.name}.log", "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen([sys.executable, "-m", "fleet", "serve"], cwd=REPO, env=env,
                                     stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout_s: float = 30.0, leader: bool | None = None) -> None:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            assert self.proc is not None and self.proc.poll() is None, (self.tmp / f"{self.name}.log").read_text()[-3000:]
            try:
                r = httpx.get(f"{self.url}/readyz", timeout=1)
                if r.status_code == 200 and (leader is None or r.json()["leader"] == leader):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not ready: " + (self.tmp / f"{self.name}.log").read_text()[-3000:])

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


@pytest.fixture
def instances() -> Iterator[list[Instance]]:
    made: list[Instance] = []
    yield made
    for inst in made:
        inst.stop()


def wms_token(db_url: str) -> str:
    store = Store(db_url)
    try:
        return Accounts(store).create_token("wms")[1]
    finally:
        store.close()


def submit_all(url: str, token: str, ids: list[str], acked: dict[str, str], stop: threading.Event) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=2) as c:
        for cid in ids:
            if stop.is_set():
                return
            try:
                r = c.post("/api/v1/orders", json={"client_id": cid, "source": "P", "destination": "D"})
            except httpx.HTTPError:
                continue  # the answer is lost: the order may or may not be stored
            if r.status_code in (200, 201):
                acked[cid] = r.json()["id"]


def check_shift(store: Store, client_ids: list[str], acked: dict[str, str]) -> None:
    orders, total = store.list_orders(limit=500)
    by_client = {o.client_id: o for o in orders}
    assert total == len(client_ids) == len(by_client)  # none lost, none doubled
    for cid, oid in acked.items():
        assert by_client[cid].id == oid  # what was acknowledged is what is stored
    for o in orders:
        timeline = [row["state"] for row in store.timeline(o.id)]
        assert timeline.count("done") == 1 and timeline.count("created") == 1, (o.id, timeline)
        legs = store.legs_of(o.id)
        assert [g.state.value for g in legs] == ["done"]


def run_shift(first: Instance, second_start: callable, db_url: str, n: int) -> tuple[dict[str, str], list[str]]:  # type: ignore[valid-type]
    token = wms_token(db_url)
    client_ids = [f"wms-{i:04d}" for i in range(n)]
    acked: dict[str, str] = {}
    stop = threading.Event()
    feeder = threading.Thread(target=submit_all, args=(first.url, token, client_ids, acked, stop))
    feeder.start()
    deadline = time.time() + 20
    while len(acked) < n // 3 and time.time() < deadline:
        time.sleep(0.02)
    first.kill9()  # mid-shift: orders queued, assigned, loaded and done
    stop.set()
    feeder.join()
    before = dict(acked)
    peek = Store(db_url)
    counts = peek.order_counts()
    peek.close()
    active = sum(v for k, v in counts.items() if k not in ("done", "failed", "cancelled"))
    assert active > 0, counts  # the kill really came mid-shift
    target = second_start()
    submit_all(target.url, token, client_ids, acked, threading.Event())  # the WMS retries everything
    assert all(acked[c] == before[c] for c in before)
    return acked, client_ids


def wait_all_done(store: Store, n: int, timeout_s: float = 60.0) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if store.order_counts().get("done", 0) == n:
            return
        time.sleep(0.2)
    raise AssertionError(f"not all done: {store.order_counts()}")


def test_kill9_mid_shift_and_restart_loses_and_doubles_nothing(tmp_path: Path, instances: list[Instance]) -> None:
    db_url = f"sqlite:///{tmp_path}/shift.db"
    port = free_port()
    first = Instance(db_url, port, tmp_path, "a").start()
    instances.append(first)
    first.wait_ready()

    def restart() -> Instance:
        second = Instance(db_url, port, tmp_path, "b").start()
        instances.append(second)
        second.wait_ready()
        return second

    acked, client_ids = run_shift(first, restart, db_url, 60)
    store = Store(db_url)
    wait_all_done(store, len(client_ids))
    check_shift(store, client_ids, acked)
    store.close()


@pytest.mark.postgres
def test_failover_kills_the_leader_and_a_follower_takes_over(pg_server, tmp_path: Path,
                                                              instances: list[Instance]) -> None:
    db_url = pg_server.new_database()
    Store(db_url).close()  # migrate once before both start
    a = Instance(db_url, free_port(), tmp_path, "a").start()
    instances.append(a)
    a.wait_ready(leader=True)
    b = Instance(db_url, free_port(), tmp_path, "b").start()
    instances.append(b)
    b.wait_ready(leader=False)
    token = wms_token(db_url)
    # a follower serves reads and forwards commands to the leader
    r = httpx.post(f"{b.url}/api/v1/orders", json={"client_id": "via-b", "source": "P", "destination": "D"},
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201 and r.headers["x-fleet-forwarded-to"] == a.url
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{b.url}/api/v1/orders/{r.json()['id']}", headers=auth).status_code == 200
    deadline = time.time() + 10
    while time.time() < deadline:  # the follower shows the leader's machines from the store
        seen = httpx.get(f"{b.url}/api/v1/vehicles", headers=auth).json()
        if len(seen) == 4 and all(v["mode"] == "auto" for v in seen):
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"follower does not show the machines: {seen}")

    took_over: list[float] = []

    def takeover() -> Instance:
        killed = time.time()
        b.wait_ready(timeout_s=30, leader=True)
        took_over.append(time.time() - killed)
        return b

    acked, client_ids = run_shift(a, takeover, db_url, 60)
    assert took_over[0] < 10.0, f"takeover took {took_over[0]:.1f} s"
    store = Store(db_url)
    wait_all_done(store, len(client_ids) + 1)
    check_shift(store, [*client_ids, "via-b"], {**acked, "via-b": r.json()["id"]})
    store.close()
