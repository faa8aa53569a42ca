"""`fleet bench api`: sustained order submissions against a real `fleet serve`, and SSE latency.

The service runs in its own process (SQLite, 100 loopback AGVs answering its commands
the way the simulator would), and the load comes from this process over loopback.
The load is open-loop: request i is due at t0 + i/rate, and its latency is counted
from that due time, so a stalled server cannot hide behind a slowed client (no
coordinated omission). A raw keep-alive HTTP/1.1 client over asyncio streams keeps
the generator's own cost small on a 2-core machine. An SSE client subscribed to
`order.` events measures how long after the state change (the event's `at_s`) each
event arrives.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

DESCRIPTION = "WMS API: sustained order submissions/s with p99 latency, SSE event latency"

FLOOR_RATE_PER_S = 500.0
FLOOR_P99_MS = 100.0
FLOOR_SSE_P99_MS = 100.0
REPO = Path(__file__).resolve().parents[1]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, default=FLOOR_RATE_PER_S, help="order submissions per second")
    parser.add_argument("--seconds", type=float, default=None, help="how long (default 60, quick 15)")
    parser.add_argument("--vehicles", type=int, default=100, help="loopback AGVs in the service")
    parser.add_argument("--connections", type=int, default=48)
    parser.add_argument("--db-url", default=None, help="store to run against (default: SQLite in a temp dir)")


def _q(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))]


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:].strip())
    if length:
        await reader.readexactly(length)
    return status


async def _worker(host: str, port: int, token: str, queue: asyncio.Queue, lat: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    auth = f"Authorization: Bearer {token}\r\n".encode()
    try:
        while True:
            item = await queue.get()
            if item is None:
                return
            due, body = item
            req = (b"POST /api/v1/orders HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n" + auth
                   + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            writer.write(req)
            try:
                status = await _read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                errors.append(-1)
                reader, writer = await asyncio.open_connection(host, port)
                continue
            lat.append(time.perf_counter() - due)
            if status not in (200, 201):
                errors.append(status)
    finally:
        writer.close()


async def _sse(host: str, port: int, token: str, lat: list[float], stop: asyncio.Event, ready: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET /api/v1/events?types=order. HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
                 "Accept: text/event-stream\r\n\r\n".encode())
    await reader.readuntil(b"\r\n\r\n")
    ready.set()
    buf = b""
    while not stop.is_set():
        try:
            chunk = await asyncio.wait_for(reader.read(65536), 0.5)
        except TimeoutError:
            continue
        if not chunk:
            break
        now = time.time()
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if line.startswith(b"data: "):
                try:
                    ev = json.loads(line[6:])
                except ValueError:
                    continue  # a chunk-size line of the chunked encoding split a frame: rare, skip it
                lat.append(now - ev["at_s"])
    writer.close()


async def _drive(host: str, port: int, token: str, rate: float, seconds: float, connections: int) -> dict[str, Any]:
    queue: asyncio.Queue = asyncio.Queue()
    lat: list[float] = []
    errors: list[int] = []
    sse_lat: list[float] = []
    stop, ready = asyncio.Event(), asyncio.Event()
    sse = asyncio.create_task(_sse(host, port, token, sse_lat, stop, ready))
    await asyncio.wait_for(ready.wait(), 10)
    workers = [asyncio.create_task(_worker(host, port, token, queue, lat, errors)) for _ in range(connections)]
    n = int(rate * seconds)
    run = os.getpid()
    t0 = time.perf_counter() + 0.2
    for i in range(n):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        body = json.dumps({"client_id": f"b{run}-{i}", "source": "P", "destination": "D",
                           "priority": i % 10}).encode()
        queue.put_nowait((due, body))
    sent_s = time.perf_counter() - t0
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - t0
    await asyncio.sleep(1.0)
    stop.set()
    await sse
    return {"n": n, "lat": lat, "errors": errors, "sse": sse_lat, "elapsed": elapsed, "sent_s": sent_s}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from fleet.security import Accounts
    from fleet.store import Store

    seconds = args.seconds or (15.0 if args.quick else 60.0)
    tmp = Path(tempfile.mkdtemp(prefix="fleet-bench-api-"))
    db_url = args.db_url or f"sqlite:///{tmp}/bench.db"
    store = Store(db_url)
    token = Accounts(store).create_token("wms", label="bench")[1]
    store.close()
    port = _free_port()
    env = {**os.environ, "FLEET_DB_URL": db_url, "FLEET_PORT": str(port), "FLEET_LOG_LEVEL": "WARNING",
           "FLEET_LOOPBACK_VEHICLES": str(args.vehicles), "FLEET_RATE_LIMIT_PER_S": "0",
           "PYTHONPATH": str(REPO)}
    log = open(tmp / "serve.log", "wb")  # noqa: SIM115 - the child writes it
    proc = subprocess.Popen([sys.executable, "-m", "fleet", "serve"], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("service did not start: " + (tmp / "serve.log").read_text()[-2000:])
            time.sleep(0.2)
        out = asyncio.run(_drive("127.0.0.1", port, token, args.rate, seconds, args.connections))
        metrics = httpx.get(f"http://127.0.0.1:{port}/api/v1/kpis", headers={"Authorization": f"Bearer {token}"},
                            timeout=10).json()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    lat_ms = [x * 1000 for x in out["lat"]]
    sse_ms = [x * 1000 for x in out["sse"]]
    ok = len(lat_ms) - len(out["errors"])
    achieved = ok / out["elapsed"] if out["elapsed"] > 0 else 0.0
    p99 = _q(lat_ms, 0.99)
    sse_p99 = _q(sse_ms, 0.99)
    passed = achieved >= 0.98 * args.rate and p99 < FLOOR_P99_MS and sse_p99 < FLOOR_SSE_P99_MS
    return {
        "instance": {"rate_per_s": args.rate, "seconds": seconds, "loopback_vehicles": args.vehicles,
                     "connections": args.connections, "store": "postgres" if db_url.startswith("postgres") else "sqlite"},
        "submitted": out["n"],
        "accepted": ok,
        "errors": len(out["errors"]),
        "achieved_per_s": round(achieved, 1),
        "submit_p50_ms": round(_q(lat_ms, 0.5), 2),
        "submit_p99_ms": round(p99, 2),
        "submit_max_ms": round(max(lat_ms), 2) if lat_ms else None,
        "sse_events": len(sse_ms),
        "sse_p50_ms": round(_q(sse_ms, 0.5), 2),
        "sse_p99_ms": round(sse_p99, 2),
        "orders_done_during_run": metrics.get("orders_by_state", {}).get("done", 0),
        "floor_rate_per_s": FLOOR_RATE_PER_S,
        "floor_submit_p99_ms": FLOOR_P99_MS,
        "floor_sse_p99_ms": FLOOR_SSE_P99_MS,
        "ok": bool(passed),
        "summary": (f"api: {achieved:.0f} orders/s for {seconds:.0f} s, submit p99 {p99:.1f} ms "
                    f"(floor {FLOOR_P99_MS:.0f}), SSE p99 {sse_p99:.1f} ms (floor {FLOOR_SSE_P99_MS:.0f}), "
                    f"{len(out['errors'])} errors -> {'ok' if passed else 'BELOW FLOOR'}"),
    }
