"""Events: SSE with resume, WebSocket, live poses, webhooks with retries and signatures."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import websockets

from fleet.api.service import Service
from fleet.config import load_settings
from fleet.events.webhooks import sign, verify
from fleet.plant import free_port


@pytest.fixture
def live(store_url: str) -> Iterator[tuple[Service, str, dict[str, str]]]:
    port = free_port()
    settings = load_settings(None, env={}, db_url=store_url, port=port, loopback_vehicles=2, log_json=False,
                             rate_limit_per_s=0, webhook_backoff_s=0.05, webhook_max_attempts=4)
    service = Service(settings).start()
    _, token = service.accounts.create_token("dispatcher")
    service.serve_in_thread()
    yield service, f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
    service.shutdown_server()
    service.stop()


def read_sse(url: str, headers: dict[str, str], n: int, timeout_s: float = 10.0) -> list[dict]:
    """The first `n` events of an SSE stream (with their ids from the `id:` lines)."""
    out: list[dict] = []
    with httpx.Client(timeout=timeout_s) as client, client.stream("GET", url, headers=headers) as resp:
        assert resp.status_code == 200, resp.read()
        assert resp.headers["content-type"].startswith("text/event-stream")
        frame: dict[str, str] = {}
        for line in resp.iter_lines():
            if line.startswith("id: "):
                frame["id"] = line[4:]
            elif line.startswith("data: "):
                frame["data"] = line[6:]
            elif line == "" and "data" in frame:
                ev = json.loads(frame["data"])
                assert str(ev["id"]) == frame["id"]
                out.append(ev)
                frame = {}
                if len(out) >= n:
                    break
    return out


def submit(base: str, headers: dict[str, str], n: int, tag: str) -> list[str]:
    with httpx.Client(base_url=base, headers=headers) as c:
        return [c.post("/api/v1/orders", json={"client_id": f"{tag}{i}", "source": "P", "destination": "D"}).json()["id"]
                for i in range(n)]


def test_sse_streams_and_resumes_without_gaps(live: tuple[Service, str, dict[str, str]]) -> None:
    service, base, headers = live
    got: list[dict] = []
    reader = threading.Thread(target=lambda: got.extend(
        read_sse(f"{base}/api/v1/events?types=order.", headers, 4)))
    reader.start()
    time.sleep(0.5)
    submit(base, headers, 2, "a")
    reader.join(15)
    assert [e["type"] for e in got] == ["order.state"] * 4
    assert [e["payload"]["state"] for e in got[:2]] == ["created", "queued"]
    # the client drops; more happens; it comes back with Last-Event-ID
    last = got[1]["id"]
    submit(base, headers, 3, "b")
    time.sleep(1.0)
    stored = [e for e in service.store.events_after(last, 10000) if e["type"].startswith("order.")]
    resumed = read_sse(f"{base}/api/v1/events?types=order.", {**headers, "Last-Event-ID": str(last)}, len(stored))
    assert [e["id"] for e in resumed] == [e["id"] for e in stored]  # every one, in order, none twice
    ids = [e["id"] for e in resumed]
    assert ids == sorted(set(ids)) and ids[0] > last


def test_sse_needs_a_token_and_takes_it_as_a_query(live: tuple[Service, str, dict[str, str]]) -> None:
    _, base, headers = live
    assert httpx.get(f"{base}/api/v1/events", timeout=5).status_code == 401
    token = headers["Authorization"].split()[1]
    submit(base, headers, 1, "q")
    events = read_sse(f"{base}/api/v1/events?last_event_id=0&access_token={token}", {}, 2)
    assert events[0]["id"] >= 1


def test_websocket_resume(live: tuple[Service, str, dict[str, str]]) -> None:
    service, base, headers = live
    submit(base, headers, 2, "w")
    token = headers["Authorization"].split()[1]
    stored = service.store.events_after(0, 10000)

    async def read(n: int) -> list[dict]:
        url = base.replace("http", "ws") + f"/api/v1/events/ws?last_event_id=0&access_token={token}"
        out = []
        async with websockets.connect(url) as ws:
            while len(out) < n:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if msg.get("type") != "keep-alive":
                    out.append(msg)
        return out

    got = asyncio.run(read(len(stored)))
    assert [e["id"] for e in got] == [e["id"] for e in stored]

    async def refused() -> None:
        url = base.replace("http", "ws") + "/api/v1/events/ws?access_token=bad"
        async with websockets.connect(url) as ws:
            await ws.recv()

    with pytest.raises((websockets.exceptions.InvalidStatus, websockets.exceptions.ConnectionClosed)):
        asyncio.run(refused())


def test_live_poses(live: tuple[Service, str, dict[str, str]]) -> None:
    _, base, headers = live
    with httpx.Client(timeout=10) as client, client.stream("GET", f"{base}/api/v1/live?hz=5", headers=headers) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                poses = json.loads(line[6:])
                break
    assert {p["id"] for p in poses} <= {"agv-001", "agv-002"} and poses


class _Receiver(BaseHTTPRequestHandler):
    fail_first = 2
    got: list[tuple[dict[str, str], bytes]] = []
    attempts: list[float] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).attempts.append(time.time())
        if len(type(self).attempts) <= type(self).fail_first:
            self.send_response(503)
        else:
            type(self).got.append((dict(self.headers), body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_webhooks_retry_with_backoff_and_sign(live: tuple[Service, str, dict[str, str]]) -> None:
    service, base, _ = live
    _Receiver.got, _Receiver.attempts = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _, wms = service.accounts.create_token("wms")
    h = {"Authorization": f"Bearer {wms}"}
    secret = "s3cret-s3cret-s3cret"
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    r = httpx.post(f"{base}/api/v1/webhooks", json={"url": url, "secret": secret, "event_types": ["order."]}, headers=h)
    assert r.status_code == 201, r.text
    hook = r.json()
    submit(base, h, 1, "wh")
    deadline = time.time() + 15
    while time.time() < deadline and len(_Receiver.got) < 4:
        time.sleep(0.05)
    server.shutdown()
    assert len(_Receiver.got) >= 4
    a = _Receiver.attempts
    assert len(a) >= 3 and a[1] - a[0] >= 0.045 and a[2] - a[1] >= 0.095  # backoff doubles: 0.05 s, 0.1 s
    ids = []
    for headers, body in _Receiver.got:
        lower = {k.lower(): v for k, v in headers.items()}
        assert verify(secret, lower["x-fleet-signature"], body)
        assert not verify("wrong-secret-wrong", lower["x-fleet-signature"], body)
        assert not verify(secret, lower["x-fleet-signature"], body + b" ")
        ev = json.loads(body)
        assert str(ev["id"]) == lower["x-fleet-event-id"] and ev["type"].startswith("order.")
        ids.append(ev["id"])
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # in order, the failed one not skipped
    stored_first = next(e["id"] for e in service.store.events_after(hook["cursor"], 100) if e["type"].startswith("order."))
    assert ids[0] == stored_first
    listed = httpx.get(f"{base}/api/v1/webhooks", headers=h).json()
    assert listed[0]["id"] == hook["id"] and "secret" not in listed[0]
    assert httpx.delete(f"{base}/api/v1/webhooks/{hook['id']}", headers=h).status_code == 204


def test_signature_rejects_stale_timestamps() -> None:
    body = b'{"id":1}'
    header = sign("k" * 16, 1000, body)
    assert verify("k" * 16, header, body, now=1100)
    assert not verify("k" * 16, header, body, now=5000)
    assert not verify("k" * 16, "garbage", body)


def test_tls_when_a_certificate_is_configured(tmp_path) -> None:
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    port = free_port()
    settings = load_settings(None, env={}, db_url=f"sqlite:///{tmp_path}/tls.db", port=port, log_json=False,
                             tls_cert=str(cert), tls_key=str(key))
    service = Service(settings).start()
    service.serve_in_thread()
    try:
        assert service.url.startswith("https://")
        r = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=str(cert), timeout=5)
        assert r.status_code == 200
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        service.shutdown_server()
        service.stop()
