"""`fleet bench api`: sustained order submissions against the real service, and SSE latency.

The service runs in its own process, and the load comes from this process over loopback.
By default (`--machines sim`) that process is the service as the demo wires it, with
the simulator running N = 100 AGVs on the generated large site as a gateway on the
in-process vehicle bus (`bench/_api_service.py`): every accepted order is split,
dispatched, planned through the site's traffic and driven by simulated AGVs while the
load runs. `--machines loopback` is the older, lighter stand-in: `fleet serve` with N
loopback AGVs that carry out every leg at once.
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
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._procs import cpu_s, descendants
from fleet.plant import free_port

DESCRIPTION = "WMS API: sustained order submissions/s with p99 latency, SSE event latency"

FLOOR_RATE_PER_S = 500.0
FLOOR_P99_MS = 100.0
FLOOR_SSE_P99_MS = 100.0
REPO = Path(__file__).resolve().parents[1]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, default=FLOOR_RATE_PER_S, help="order submissions per second")
    parser.add_argument("--seconds", type=float, default=None, help="how long (default 60, quick 15)")
    parser.add_argument("--vehicles", type=int, default=None, help="AGVs (default 100, quick 30)")
    parser.add_argument("--machines", default="sim", choices=("sim", "loopback"),
                        help="simulated AGVs on the large site (default), or loopback stand-ins")
    parser.add_argument("--sse-types", default="", help="event type prefixes the SSE client takes (default: all)")
    parser.add_argument("--sim-process", action="store_true",
                        help="sim: the simulator as its own process on the tcp:// bus (as on an edge node)")
    parser.add_argument("--switch-interval-ms", type=float, default=None,
                        help="sim: the service's GIL switch interval (default: the service's own)")
    parser.add_argument("--trace", action="store_true", help="sim: time the core's steps and GC in the service")
    parser.add_argument("--profile", default=None, help="sim: cProfile the service's event loop into this file")
    parser.add_argument("--connections", type=int, default=48)
    parser.add_argument("--db-url", default=None, help="store to run against (default: SQLite in a temp dir)")
    parser.add_argument("--postgres", action="store_true",
                        help="start a private PostgreSQL server (fsync on) on loopback and run against it")
    parser.add_argument("--pg-fsync-off", action="store_true", help="with --postgres: fsync=off (not durable)")


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


async def _worker(host: str, port: int, token: str, queue: asyncio.Queue, lat: list[tuple[float, float]],
                  errors: list[int]) -> None:
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
            status = 0
            for _attempt in (1, 2):  # the server closes a keep-alive connection idle for 5 s: reopen, resend
                try:
                    writer.write(req)
                    status = await _read_response(reader)
                    break
                except (asyncio.IncompleteReadError, ConnectionError):
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    status = -1
            lat.append((due, time.perf_counter() - due))
            if status not in (200, 201):
                errors.append(status)
    finally:
        writer.close()


async def _sse(host: str, port: int, token: str, types: str, lat: list[tuple[str, float]], stop: asyncio.Event,
               ready: asyncio.Event) -> None:
    """One SSE subscriber: (type, receive time - the event's `at_s`) for every event."""
    reader, writer = await asyncio.open_connection(host, port)
    query = f"?types={types}" if types else ""
    writer.write(f"GET /api/v1/events{query} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
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
                lat.append((str(ev.get("type", "")).split(".", 1)[0], now - ev["at_s"]))
    writer.close()


async def _drive(host: str, port: int, token: str, rate: float, seconds: float, connections: int,
                 stations: tuple[list[str], list[str]], sse_types: str) -> dict[str, Any]:
    queue: asyncio.Queue = asyncio.Queue()
    lat: list[tuple[float, float]] = []  # (due, latency)
    errors: list[int] = []
    sse_lat: list[tuple[str, float]] = []
    stop, ready = asyncio.Event(), asyncio.Event()
    sse = asyncio.create_task(_sse(host, port, token, sse_types, sse_lat, stop, ready))
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
        sources, drops = stations
        body = json.dumps({"client_id": f"b{run}-{i}", "source": sources[i % len(sources)],
                           "destination": drops[(i * 7) % len(drops)], "priority": i % 10}).encode()
        queue.put_nowait((due, body))
    sent_s = time.perf_counter() - t0
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - t0
    await asyncio.sleep(1.0)
    stop.set()
    await sse
    return {"n": n, "lat": lat, "errors": errors, "sse": sse_lat, "elapsed": elapsed, "sent_s": sent_s, "t0": t0}


def _start_service(args: argparse.Namespace, db_url: str, port: int, vehicles: int, tmp: Path,
                   ) -> tuple[subprocess.Popen, list[str]]:
    """The service process; returns it once it is ready, and the lines it printed (JSON)."""
    import threading

    import httpx

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if args.machines == "sim":
        cmd = [sys.executable, "-m", "bench._api_service", "--db-url", db_url, "--port", str(port),
               "--agvs", str(vehicles), "--workdir", str(tmp)]
        if args.profile:
            cmd += ["--profile", str(Path(args.profile).resolve())]
        if args.trace:
            cmd.append("--trace")
        if args.switch_interval_ms is not None:
            cmd += ["--switch-interval-ms", str(args.switch_interval_ms)]
        if args.sim_process:
            cmd.append("--sim-process")
    else:
        cmd = [sys.executable, "-m", "fleet", "serve"]
        env.update({"FLEET_DB_URL": db_url, "FLEET_PORT": str(port), "FLEET_LOG_LEVEL": "WARNING",
                    "FLEET_LOOPBACK_VEHICLES": str(vehicles), "FLEET_RATE_LIMIT_PER_S": "0"})
    log = open(tmp / "serve.log", "wb")  # noqa: SIM115 - the child writes it
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=log)
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.append(raw.decode(errors="replace").strip())

    threading.Thread(target=read, daemon=True).start()
    deadline = time.time() + 120
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200 and (
                    args.machines != "sim" or any(x.startswith('{"ready"') for x in lines)):
                return proc, lines
        except httpx.HTTPError:
            pass
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("service did not start: " + (tmp / "serve.log").read_text()[-2000:])
        time.sleep(0.2)


def _stations(machines: str) -> tuple[list[str], list[str]]:
    if machines != "sim":
        return ["P"], ["D"]
    from bench._api_service import order_stations
    from maps.loader import site_from_dict
    from maps.sitegen import large_site

    return order_stations(site_from_dict(large_site(), "<large site>"))


def run(args: argparse.Namespace) -> dict[str, Any]:
    seconds = args.seconds or (15.0 if args.quick else 60.0)
    vehicles = args.vehicles or (30 if args.quick else 100)
    tmp = Path(tempfile.mkdtemp(prefix="fleet-bench-api-"))
    pg = None
    if getattr(args, "postgres", False):
        from bench._pg_server import BenchPostgres

        pg = BenchPostgres(fsync=not args.pg_fsync_off).start()
    try:
        return _run(args, seconds, vehicles, tmp, pg)
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)  # a 60 s run leaves about 2 GB of store behind


def _run(args: argparse.Namespace, seconds: float, vehicles: int, tmp: Path, pg: Any) -> dict[str, Any]:
    import httpx

    from fleet.security import Accounts
    from fleet.store import Store

    db_url = pg.url if pg is not None else args.db_url or f"sqlite:///{tmp}/bench.db"
    store = Store(db_url)
    token = Accounts(store).create_token("wms", label="bench")[1]
    store.close()
    port = free_port()
    stations = _stations(args.machines)
    proc, lines = _start_service(args, db_url, port, vehicles, tmp)
    try:
        pg_cpu0 = sum(cpu_s(p) for p in pg.pids()) if pg is not None else 0.0
        kids = descendants(proc.pid)
        kid_cpu0 = sum(cpu_s(p) for p in kids)
        cpu0, w0 = cpu_s(proc.pid), time.perf_counter()
        out = asyncio.run(_drive("127.0.0.1", port, token, args.rate, seconds, args.connections, stations,
                                 args.sse_types))
        cpu1, w1 = cpu_s(proc.pid), time.perf_counter()
        kid_cpu1 = sum(cpu_s(p) for p in kids)
        pg_cpu1 = sum(cpu_s(p) for p in pg.pids()) if pg is not None else 0.0
        auth = {"Authorization": f"Bearer {token}"}
        metrics = httpx.get(f"http://127.0.0.1:{port}/api/v1/kpis", headers=auth, timeout=10).json()
        moving = httpx.get(f"http://127.0.0.1:{port}/api/v1/vehicles", headers=auth, timeout=10).json()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    tail = [json.loads(x) for x in lines if x.startswith('{"core"')]
    core = tail[-1]["core"] if tail else {}
    items = moving.get("items", moving) if isinstance(moving, dict) else moving
    busy = sum(1 for v in items if isinstance(v, dict) and v.get("leg_id"))
    lat_ms = [x * 1000 for _, x in out["lat"]]
    worst: dict[int, float] = {}  # second of the run -> its slowest submission (where the tail comes from)
    for due, x in out["lat"]:
        sec = int(due - out["t0"])
        worst[sec] = max(worst.get(sec, 0.0), x * 1000)
    slow = sorted((sec, round(ms, 1)) for sec, ms in worst.items() if ms >= FLOOR_P99_MS)
    sse_ms = [x * 1000 for _, x in out["sse"]]
    sse_by_kind = {kind: [x * 1000 for k, x in out["sse"] if k == kind] for kind in ("order", "leg", "machine")}
    ok = len(lat_ms) - len(out["errors"])
    achieved = ok / out["elapsed"] if out["elapsed"] > 0 else 0.0
    p99 = _q(lat_ms, 0.99)
    sse_p99 = _q(sse_ms, 0.99)
    passed = achieved >= 0.98 * args.rate and p99 < FLOOR_P99_MS and sse_p99 < FLOOR_SSE_P99_MS
    store_name = "postgres" if db_url.startswith("postgres") else "sqlite"
    by_state = metrics.get("orders_by_state", {})
    return {
        "instance": {"rate_per_s": args.rate, "seconds": seconds, "machines": args.machines, "agvs": vehicles,
                     "sim_process": bool(args.machines == "sim" and args.sim_process),
                     "site": "large_site (generated)" if args.machines == "sim" else None,
                     "connections": args.connections, "store": store_name},
        "submitted": out["n"],
        "accepted": ok,
        "errors": len(out["errors"]),
        "achieved_per_s": round(achieved, 1),
        "submit_p50_ms": round(_q(lat_ms, 0.5), 2),
        "submit_p99_ms": round(p99, 2),
        "submit_max_ms": round(max(lat_ms), 2) if lat_ms else None,
        "seconds_with_submit_over_floor": len(slow),
        "sse_events": len(sse_ms),
        "sse_p50_ms": round(_q(sse_ms, 0.5), 2),
        "sse_p99_ms": round(sse_p99, 2),
        "sse_max_ms": round(max(sse_ms), 2) if sse_ms else None,
        **{f"sse_{kind}_events": len(v) for kind, v in sse_by_kind.items()},
        **{f"sse_{kind}_p99_ms": round(_q(v, 0.99), 2) for kind, v in sse_by_kind.items()},
        "service_cpu_per_order_ms": round(1000 * (cpu1 - cpu0) / max(ok, 1), 3),
        "service_cpu_cores": round((cpu1 - cpu0) / (w1 - w0), 2),
        **({"sim_process_cpu_cores": round((kid_cpu1 - kid_cpu0) / (w1 - w0), 2)} if kids else {}),
        **({"postgres_cpu_cores": round((pg_cpu1 - pg_cpu0) / (w1 - w0), 2),
            "postgres_fsync": not args.pg_fsync_off} if pg is not None else {}),
        "core_batches": core.get("batches"),
        "core_commands": core.get("commands"),
        "core_dispatch_rounds": core.get("dispatch_rounds"),
        "core_ticks": core.get("ticks"),
        "agvs_busy_at_end": busy,
        "orders_done_during_run": by_state.get("done", 0),
        "orders_active_at_end": sum(v for k, v in by_state.items() if k not in ("done", "cancelled", "failed")),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "floor_rate_per_s": FLOOR_RATE_PER_S,
        "floor_submit_p99_ms": FLOOR_P99_MS,
        "floor_sse_p99_ms": FLOOR_SSE_P99_MS,
        "ok": bool(passed),
        "slow_seconds": slow[:30],  # [second of the run, slowest submission ms]
        **({"core_trace": tail[-1].get("trace")} if tail and tail[-1].get("trace") else {}),
        "run_started_unix_s": round(time.time() - (time.perf_counter() - out["t0"]), 3),
        "summary": (f"api ({store_name}, {vehicles} {'simulated' if args.machines == 'sim' else 'loopback'} AGVs): "
                    f"{achieved:.0f} orders/s for {seconds:.0f} s, submit p99 {p99:.1f} ms "
                    f"(floor {FLOOR_P99_MS:.0f}), SSE p99 {sse_p99:.1f} ms (floor {FLOOR_SSE_P99_MS:.0f}), "
                    f"{len(out['errors'])} errors -> {'ok' if passed else 'BELOW FLOOR'}"),
    }
