"""The service under load for `fleet bench api --machines sim`: one process, as the demo runs it.

The real service (store, core with the site's dispatcher and traffic, the WMS API) and
the simulator as a gateway on the vehicle bus, with N AGVs on the generated large site
(`maps.sitegen.large_site`): in this process on the in-process bus, as the demo runs it,
or (`--sim-process`) as its own process over tcp://, as an edge node runs it. The core cannot tell the simulator from real
machines; the benchmark's load generator talks to this process over loopback only.

    python -m bench._api_service --db-url URL --port P --agvs 100 [--profile FILE]

It prints `ready <port>` once the core leads, the simulator runs and the HTTP server
listens, and stops cleanly on SIGTERM. Orders the load generator may send are the site's
pickup stations to its drop stations (`order_stations`), which every AGV can serve.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def scenario_data(agvs: int, site_ref: str = "<generated>", seed: int = 1) -> dict[str, Any]:
    """The bench scenario as scenario-file data: `agvs` AGVs on the large generated site. Its
    own order streams go unused (the load generator is the WMS); faults are left out."""
    return {
        "format": "fleet5g-scenario", "version": 1, "name": f"bench-api-{agvs}", "site": site_ref,
        "seed": seed, "duration_h": 1.0, "dt_s": 0.5, "state_period_s": 1.0, "idle_state_period_s": 10.0,
        "fleet": {"agvs": [{"prefix": "agv", "count": agvs, "load_types": ["pallet", "tote", "coil"],
                            "payload_kg": 30000, "battery": 0.95}]},
        "orders": [{"id": "in", "kind": "poisson", "rate_per_h": 1.0, "sources": "kind:pickup",
                    "destinations": "kind:drop"}],
        "network": {"latency_ms": 12, "jitter_ms": 6},
    }


def bench_scenario(agvs: int, workdir: Path | None = None) -> Any:
    """The scenario in memory, or (with `workdir`) written there as files for an edge process."""
    from maps.loader import site_from_dict
    from maps.sitegen import large_site
    from sim.scenario import load_scenario, scenario_from_dict

    site_data = large_site()
    if workdir is None:
        return scenario_from_dict(scenario_data(agvs), "<bench scenario>", site=site_from_dict(site_data, "<large>"))
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "large_site.json").write_text(json.dumps(site_data), encoding="utf-8")
    path = workdir / "bench_scenario.json"
    path.write_text(json.dumps(scenario_data(agvs, "large_site.json")), encoding="utf-8")
    return load_scenario(path)


def order_stations(site: Any) -> tuple[list[str], list[str]]:
    """(sources, destinations) for bench orders: pickups to AGV drops (not crane-bay drops)."""
    from maps.site import StationKind

    sources = [s.id for s in site.stations_of(StationKind.PICKUP)]
    return sources, [s.id for s in site.stations_of(StationKind.DROP)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench._api_service", description=__doc__)
    ap.add_argument("--db-url", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--agvs", type=int, default=100)
    ap.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second")
    ap.add_argument("--workdir", type=Path, default=Path("var/bench-api"))
    ap.add_argument("--profile", type=Path, default=None, help="cProfile the event loop's thread into this file")
    ap.add_argument("--sim-process", action="store_true",
                    help="the simulator as its own process on the tcp:// vehicle bus (as on an edge node)")
    ap.add_argument("--switch-interval-ms", type=float, default=None, help="the interpreter's GIL switch interval")
    ap.add_argument("--trace", action="store_true",
                    help="time the core thread's steps and the garbage collector; print the slow ones at exit")
    args = ap.parse_args(argv)

    from fleet.api.service import Service, configure_logging
    from fleet.config import load_settings
    from fleet.demo import bus_endpoint, vehicles_of
    from fleet.plant import Plant, PlantOptions

    args.workdir.mkdir(parents=True, exist_ok=True)
    transport = "tcp" if args.sim_process else "inproc"
    scenario = bench_scenario(args.agvs, args.workdir / "scenario" if args.sim_process else None)
    endpoint = bus_endpoint(transport, "bench-api")
    settings = load_settings(
        db_url=args.db_url, port=args.port, bus_endpoint=endpoint, vehicles=[a.id for a in scenario.agvs],
        rate_limit_per_s=0.0, log_level="WARNING", log_json=False,
        link_timeout_s=max(5.0, 3 * scenario.idle_state_period_s / max(args.speed, 1.0)),
    )
    configure_logging(settings)
    service = Service(settings, site=scenario.site, machines=vehicles_of(scenario))
    service.start()
    if args.switch_interval_ms is not None:  # after start(), which sets the service's own
        sys.setswitchinterval(args.switch_interval_ms / 1000.0)
    deadline = time.time() + 30
    while not service.core.leader and time.time() < deadline:
        time.sleep(0.05)
    plant = Plant(scenario, PlantOptions(transport=transport, speed=args.speed, endpoint=endpoint,
                                         workdir=args.workdir / "plant", sensing=False, calm=True))
    plant.start()
    trace = CoreTrace(service.core) if args.trace else None
    profiler = None
    if args.profile is not None:
        import cProfile  # the event loop's thread (HTTP, auth, JSON); the core thread has its own

        profiler = cProfile.Profile()
        profiler.enable()

    def announce() -> None:
        while service._server is None or not service._server.started:
            time.sleep(0.05)
        print(json.dumps({"ready": args.port, "agvs": len(scenario.agvs), "plant": plant.describe()}), flush=True)

    threading.Thread(target=announce, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: service.shutdown_server())
    try:
        service.serve()  # returns on SIGTERM; stops the service
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(args.profile))
        plant.stop()
        sent = service.core.stats
        print(json.dumps({"core": sent, "hub": _hub_counts(service),
                          "trace": trace.summary() if trace is not None else None}), flush=True)
    return 0


class CoreTrace:
    """Wall time of the core thread's steps (batches, rounds, ticks) and of GC passes, to find
    where a submission's tail latency comes from without touching the core's code."""

    STEPS = ("_apply_batch", "_snapshot", "_tick", "_fuse_poses", "_check_links", "_flush_machines", "_rounds")

    def __init__(self, core: Any, slow_ms: float = 30.0) -> None:
        import gc

        self.slow_ms = slow_ms
        self.stats: dict[str, list[float]] = {}  # name -> [count, total ms, max ms, slow count]
        self.slow: list[tuple[float, str, float]] = []
        for name in self.STEPS:
            fn = getattr(core, name, None)
            if fn is not None:
                setattr(core, name, self._timed(name, fn))
        self._gc_t0 = 0.0
        gc.callbacks.append(self._gc)

    def _note(self, name: str, t0: float, ms: float) -> None:
        st = self.stats.setdefault(name, [0, 0.0, 0.0, 0])
        st[0] += 1
        st[1] += ms
        st[2] = max(st[2], ms)
        if ms >= self.slow_ms:
            st[3] += 1
            if len(self.slow) < 200:
                self.slow.append((round(t0, 3), name, round(ms, 1)))

    def _timed(self, name: str, fn: Any) -> Any:
        def timed(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self._note(name, time.time(), (time.perf_counter() - t0) * 1000)

        return timed

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_t0 = time.perf_counter()
        else:
            self._note(f"gc{info.get('generation')}", time.time(), (time.perf_counter() - self._gc_t0) * 1000)

    def summary(self) -> dict[str, Any]:
        return {"steps": {k: {"n": int(v[0]), "total_ms": round(v[1]), "max_ms": round(v[2], 1),
                              f"over_{self.slow_ms:g}_ms": int(v[3])} for k, v in self.stats.items()},
                "slow": self.slow}


def _hub_counts(service: Any) -> dict[str, int]:
    hub = getattr(service, "hub", None)
    c = getattr(hub, "counters", None)
    if c is None:
        return {}
    return {k: int(v) for k, v in vars(c).items() if isinstance(v, int | float)}


if __name__ == "__main__":
    sys.exit(main())
