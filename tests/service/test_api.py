"""The WMS API: idempotent orders, filters, problem+json, roles, limits, login, audit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from fleet.api.service import Service
from fleet.config import load_settings


@dataclass
class Api:
    service: Service
    client: TestClient
    tokens: dict[str, str]

    def h(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def api(store_url: str) -> Iterator[Api]:
    settings = load_settings(None, env={}, db_url=store_url, loopback_vehicles=3, log_json=False,
                             rate_limit_per_s=0, dispatch_period_s=0.5)
    service = Service(settings).start()
    tokens = {role: service.accounts.create_token(role)[1] for role in ("viewer", "dispatcher", "wms", "admin")}
    with TestClient(service.app) as client:
        yield Api(service, client, tokens)
    service.stop()


def wait_for(fn, timeout_s: float = 10.0):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_create_is_idempotent_on_the_client_id(api: Api) -> None:
    body = {"client_id": "WMS-1", "source": "P", "destination": "D", "priority": 7}
    first = api.client.post("/api/v1/orders", json=body, headers=api.h("wms"))
    assert first.status_code == 201, first.text
    assert first.headers["location"] == f"/api/v1/orders/{first.json()['id']}"
    again = api.client.post("/api/v1/orders", json=body, headers=api.h("wms"))
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replay"] == "true"
    clash = api.client.post("/api/v1/orders", json={**body, "priority": 2}, headers=api.h("wms"))
    assert clash.status_code == 409
    assert clash.headers["content-type"].startswith("application/problem+json")
    assert api.client.get("/api/v1/orders", headers=api.h("viewer")).json()["total"] == 1


def test_order_lifecycle_over_http(api: Api) -> None:
    r = api.client.post("/api/v1/orders", json={"source": "P", "destination": "D"}, headers=api.h("dispatcher"))
    oid = r.json()["id"]
    done = wait_for(lambda: api.client.get(f"/api/v1/orders/{oid}", headers=api.h("viewer")).json()["state"] == "done")
    assert done
    detail = api.client.get(f"/api/v1/orders/{oid}", headers=api.h("viewer")).json()
    assert detail["leg_details"][0]["state"] == "done"
    timeline = api.client.get(f"/api/v1/orders/{oid}/timeline", headers=api.h("viewer")).json()
    assert [t["state"] for t in timeline] == ["created", "queued", "assigned", "in_progress", "done"]
    assert timeline[-1]["machine_id"].startswith("agv-")
    kpis = api.client.get("/api/v1/kpis", headers=api.h("viewer")).json()
    assert kpis["done_in_window"] == 1 and kpis["lead_time_mean_s"] > 0


def test_list_filters_and_pagination(api: Api) -> None:
    for i in range(12):
        api.client.post("/api/v1/orders", headers=api.h("wms"),
                        json={"client_id": f"c{i}", "source": "P", "destination": "D" if i % 2 else "E",
                              "priority": i % 3})
    page = api.client.get("/api/v1/orders?limit=5&offset=0", headers=api.h("viewer")).json()
    page2 = api.client.get("/api/v1/orders?limit=5&offset=5", headers=api.h("viewer")).json()
    assert page["total"] == 12 and len(page["items"]) == 5
    assert not {o["id"] for o in page["items"]} & {o["id"] for o in page2["items"]}
    assert api.client.get("/api/v1/orders?priority=2", headers=api.h("viewer")).json()["total"] == 4
    assert api.client.get("/api/v1/orders?station=E", headers=api.h("viewer")).json()["total"] == 6
    assert api.client.get("/api/v1/orders?client_id=c3", headers=api.h("viewer")).json()["items"][0]["client_id"] == "c3"
    future = time.time() + 3600
    assert api.client.get(f"/api/v1/orders?created_from={future}", headers=api.h("viewer")).json()["total"] == 0
    both = api.client.get("/api/v1/orders?state=queued&state=assigned&state=in_progress&state=done",
                          headers=api.h("viewer")).json()
    assert both["total"] == 12


def test_problems_name_the_field(api: Api) -> None:
    r = api.client.post("/api/v1/orders", json={"source": "P", "destination": "D", "priority": 42},
                        headers=api.h("wms"))
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    p = r.json()
    assert p["field"] == "priority" and p["status"] == 422 and p["type"].endswith("invalid-request")
    r = api.client.post("/api/v1/orders", json={"source": "P"}, headers=api.h("wms"))
    assert r.json()["field"] == "destination"
    r = api.client.post("/api/v1/orders", json={"source": "P", "destination": "P"}, headers=api.h("wms"))
    assert r.status_code == 422 and r.json()["veto"] == "same-place" and r.json()["field"] == "destination"
    r = api.client.get("/api/v1/orders/ord-missing", headers=api.h("viewer"))
    assert r.status_code == 404 and r.json()["type"].endswith("not-found")
    r = api.client.post("/api/v1/vehicles/agv-001/fly", headers=api.h("dispatcher"))
    assert r.status_code == 422 and r.json()["field"] == "action"
    r = api.client.get("/api/v1/nothing-here", headers=api.h("viewer"))
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")


# (method, path, body, roles allowed)
MATRIX = [
    ("GET", "/api/v1/orders", None, {"viewer", "dispatcher", "wms", "admin"}),
    ("POST", "/api/v1/orders", {"source": "P", "destination": "D"}, {"dispatcher", "wms"}),
    ("POST", "/api/v1/vehicles/agv-001/pause", None, {"dispatcher"}),
    ("POST", "/api/v1/vehicles/agv-001/estop", None, {"dispatcher"}),
    ("POST", "/api/v1/estop", None, {"dispatcher"}),
    ("POST", "/api/v1/zones/Z1/close", None, {"dispatcher"}),
    ("POST", "/api/v1/alarms/al-none/ack", None, {"dispatcher"}),
    ("GET", "/api/v1/webhooks", None, {"wms", "admin"}),
    ("POST", "/api/v1/webhooks", {"url": "http://127.0.0.1:9/h", "secret": "0123456789abcdef"}, {"wms", "admin"}),
    ("GET", "/api/v1/users", None, {"admin"}),
    ("POST", "/api/v1/users", {"name": "u1", "role": "viewer", "password": "longenough"}, {"admin"}),
    ("POST", "/api/v1/tokens", {"role": "viewer"}, {"admin"}),
    ("GET", "/api/v1/audit", None, {"admin"}),
    ("GET", "/api/v1/vehicles", None, {"viewer", "dispatcher", "wms", "admin"}),
    ("GET", "/api/v1/site", None, {"viewer", "dispatcher", "wms", "admin"}),
]


@pytest.mark.parametrize(("method", "path", "body", "allowed"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
def test_each_role_is_refused_what_it_may_not_do(api: Api, method: str, path: str, body: dict | None,
                                                  allowed: set[str]) -> None:
    for role in ("viewer", "dispatcher", "wms", "admin"):
        r = api.client.request(method, path, json=body, headers=api.h(role))
        if role in allowed:
            assert r.status_code != 403, (role, r.text)
        else:
            assert r.status_code == 403, (role, r.status_code, r.text)
            assert r.json()["type"].endswith("forbidden")
    assert api.client.request(method, path, json=body).status_code == 401
    bad = api.client.request(method, path, json=body, headers={"Authorization": "Bearer f5g_nope_nope"})
    assert bad.status_code == 401


def test_refusals_and_commands_are_audited(api: Api) -> None:
    api.client.post("/api/v1/vehicles/agv-001/estop", headers=api.h("wms"))
    api.client.post("/api/v1/vehicles/agv-001/estop", headers=api.h("dispatcher"))
    rows = api.client.get("/api/v1/audit", headers=api.h("admin")).json()
    refused = [r for r in rows if r["outcome"] == "forbidden"]
    done = [r for r in rows if r["action"] == "machine.estop" and r["outcome"] == "ok"]
    assert refused and refused[0]["role"] == "wms" and refused[0]["source"]
    assert done and done[0]["role"] == "dispatcher" and done[0]["target"] == "agv-001"


def test_login_and_revoked_tokens(api: Api) -> None:
    api.service.accounts.add_user("alice", "dispatcher", "correct horse")
    bad = api.client.post("/api/v1/auth/login", json={"username": "alice", "password": "wrong"})
    assert bad.status_code == 401
    ok = api.client.post("/api/v1/auth/login", json={"username": "alice", "password": "correct horse"})
    token = ok.json()["token"]
    me = api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["name"] == "alice" and "machines:control" in me["permissions"]
    rows = api.service.store.query("SELECT token_hash FROM tokens")
    assert all(token not in r["token_hash"] for r in rows)  # only hashes are stored
    pw = api.service.store.one("SELECT password_hash FROM users WHERE name = 'alice'")["password_hash"]
    assert pw.startswith("scrypt$") and "correct horse" not in pw
    created = api.client.post("/api/v1/tokens", json={"role": "viewer"}, headers=api.h("admin")).json()
    hv = {"Authorization": f"Bearer {created['token']}"}
    assert api.client.get("/api/v1/orders", headers=hv).status_code == 200
    assert api.client.delete(f"/api/v1/tokens/{created['id']}", headers=api.h("admin")).status_code == 204
    assert api.client.get("/api/v1/orders", headers=hv).status_code == 401


def test_body_size_limit(api: Api) -> None:
    big = {"source": "P", "destination": "D", "load_id": "x" * 100, "pad": "y" * 70000}
    r = api.client.post("/api/v1/orders", json=big, headers=api.h("wms"))
    assert r.status_code == 413 and r.json()["type"].endswith("payload-too-large")


def test_rate_limit_per_token(tmp_path) -> None:
    settings = load_settings(None, env={}, db_url=f"sqlite:///{tmp_path}/r.db", rate_limit_per_s=1,
                             rate_limit_burst=3, log_json=False)
    service = Service(settings).start()
    _, a = service.accounts.create_token("viewer")
    _, b = service.accounts.create_token("viewer")
    with TestClient(service.app) as client:
        codes = [client.get("/api/v1/orders", headers={"Authorization": f"Bearer {a}"}).status_code for _ in range(6)]
        other = client.get("/api/v1/orders", headers={"Authorization": f"Bearer {b}"}).status_code
        limited = client.get("/api/v1/orders", headers={"Authorization": f"Bearer {a}"})
    service.stop()
    assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
    assert other == 200
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1


def test_cors_is_closed_by_default(api: Api) -> None:
    r = api.client.options("/api/v1/orders", headers={"Origin": "https://evil.example",
                                                      "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers


def test_machines_site_zones_alarms(api: Api) -> None:
    vehicles = wait_for(lambda: [v for v in api.client.get("/api/v1/vehicles", headers=api.h("viewer")).json()
                                 if v["link_ok"]])
    assert {v["machine_id"] for v in vehicles} == {"agv-001", "agv-002", "agv-003"}
    r = api.client.post("/api/v1/vehicles/agv-002/estop", headers=api.h("dispatcher"))
    assert r.json()["mode"] == "estopped" and r.json()["held"] == "estopped"
    assert api.client.get("/api/v1/cranes/agv-002", headers=api.h("viewer")).status_code == 404
    alarms = api.client.get("/api/v1/alarms?open_only=true", headers=api.h("viewer")).json()
    ack = api.client.post(f"/api/v1/alarms/{alarms[0]['id']}/ack", headers=api.h("dispatcher"))
    assert ack.status_code == 200 and ack.json()["acknowledged_by"].startswith("token:")
    assert api.client.post(f"/api/v1/alarms/{alarms[0]['id']}/ack", headers=api.h("dispatcher")).status_code == 409
    z = api.client.post("/api/v1/zones/Z9/close", headers=api.h("dispatcher")).json()
    assert z == {"zone_id": "Z9", "closed": True, "by": z["by"]}
    assert api.client.get("/api/v1/site", headers=api.h("viewer")).json()["closed_zones"] == ["Z9"]
    stop = api.client.post("/api/v1/estop", headers=api.h("dispatcher")).json()
    assert stop["estopped"] == ["agv-001", "agv-002", "agv-003"]
    text = api.client.get("/metrics", headers=api.h("viewer")).text
    assert "fleet_machines" in text and "fleet_command_batch_seconds" in text
    assert api.client.get("/metrics").status_code == 401
    assert api.client.get("/healthz").json()["leader"] is True
    assert api.client.get("/readyz").status_code == 200
