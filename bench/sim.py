"""Simulator shifts: the bundled warehouse (30 AGVs, 8 h) and a generated large site
(500 AGVs, 6 cranes, 1 h), with the brain in the loop; plus the machines alone.

Floors (issue 7, this 2-core machine): warehouse 8 h under 120 s; large site 1 h under
300 s. `--quick` runs 30 simulated minutes of the warehouse and 5 of a 100-AGV large site.
`--brain core` (default: auto) runs the real core (dispatch, planners, traffic);
`--brain double` the simulator's test double; the `machines_only` figures step the
500-AGV world with scripted routes and no brain at all (the simulator's own cost).
"""

from __future__ import annotations

import argparse
import itertools
import time
from typing import Any

import numpy as np

from maps.loader import site_from_dict
from maps.sitegen import large_site
from sim.agv import AgvSpec
from sim.brains import make_brain
from sim.runner import run_shift
from sim.scenario import Scenario, load_scenario, resolve_scenario, scenario_from_dict
from sim.world import World

DESCRIPTION = "simulated shifts: warehouse 30 AGVs x 8 h and a 500-AGV, 6-crane site x 1 h"
WAREHOUSE_FLOOR_S = 120.0
LARGE_FLOOR_S = 300.0

_SHORT = {"orders_done", "throughput_per_h", "lead_time_p50_s", "collisions", "near_misses", "deadlocks",
          "lost_orders", "vehicle_utilisation", "speedup"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--brain", default="auto", choices=("auto", "core", "double"))
    parser.add_argument("--skip-large", action="store_true", help="only the warehouse shift")


def large_scenario(agvs: int = 500, hours: float = 1.0, seed: int = 1) -> Scenario:
    site = site_from_dict(large_site(), "<large site>")
    data: dict[str, Any] = {
        "format": "fleet5g-scenario", "version": 1, "name": f"large-{agvs}", "site": "<generated>",
        "seed": seed, "duration_h": hours, "dt_s": 0.5, "state_period_s": 1.0, "idle_state_period_s": 10.0,
        "fleet": {"agvs": [{"prefix": "agv", "count": agvs, "load_types": ["pallet", "tote", "coil"],
                            "payload_kg": 30000, "battery": 0.95}]},
        "orders": [
            {"id": "in", "kind": "poisson", "rate_per_h": agvs * 2.0, "sources": "kind:pickup",
             "destinations": "racks"},
            {"id": "out", "kind": "poisson", "rate_per_h": agvs * 1.5, "sources": "racks",
             "destinations": "kind:drop"},
            {"id": "coil", "kind": "coil", "rate_per_h": 30, "sources": "slots", "destinations": "kind:drop"},
        ],
        "network": {"latency_ms": 12, "jitter_ms": 6, "state_loss": 0.01, "command_loss": 0.005},
        "faults": {"random": [{"kind": "breakdown", "per_machine_h": 0.01, "duration_s": 300}]},
    }
    return scenario_from_dict(data, "<large scenario>", site=site)


def _shift(scenario: Scenario, brain_name: str) -> tuple[dict[str, Any], str]:
    brain, name = make_brain(brain_name, scenario)
    t0 = time.perf_counter()
    result = run_shift(scenario, brain)
    wall = time.perf_counter() - t0
    close = getattr(brain, "close", None)
    if close:
        close()
    k = result.kpis
    return {"wall_s": round(wall, 2), **{key: k[key] for key in _SHORT}}, name


def _walk(site: Any, adj: dict[str, list[str]], start: str, steps: int, rng: np.random.Generator) -> list[str]:
    path = [start]
    for _ in range(steps):
        nxt = adj.get(path[-1])
        if not nxt:
            break
        path.append(nxt[int(rng.integers(len(nxt)))])
    return path


def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = bool(getattr(args, "quick", False))
    brain = getattr(args, "brain", "auto")
    out: dict[str, Any] = {}
    wh = load_scenario(resolve_scenario("warehouse"))
    wh_hours = 0.5 if quick else 8.0
    figures, used = _shift(wh.with_duration(wh_hours * 3600), brain)
    out["brain"] = used
    out["warehouse_hours"] = wh_hours
    out.update({f"warehouse_{k}": v for k, v in figures.items()})
    out["warehouse_floor_s"] = WAREHOUSE_FLOOR_S
    ok = figures["wall_s"] < WAREHOUSE_FLOOR_S * (wh_hours / 8.0)
    if not getattr(args, "skip_large", False):
        agvs, hours = (100, 5 / 60) if quick else (500, 1.0)
        figures, _ = _shift(large_scenario(agvs, hours), brain)
        out["large_agvs"] = agvs
        out["large_cranes"] = 6
        out["large_hours"] = round(hours, 3)
        out.update({f"large_{k}": v for k, v in figures.items()})
        out["large_floor_s"] = LARGE_FLOOR_S
        ok = ok and figures["wall_s"] < LARGE_FLOOR_S * hours
    m_agvs, m_hours = (500, 0.1) if quick else (500, 1.0)
    m = _machines_only(m_agvs, m_hours)
    out.update({f"machines_only_{k}": v for k, v in m.items()})
    out["ok"] = bool(ok)
    out["summary"] = (
        f"sim ({used}): warehouse {wh_hours:g} h in {out['warehouse_wall_s']} s "
        f"(floor {WAREHOUSE_FLOOR_S * wh_hours / 8:.0f} s)"
        + (f", large {out['large_agvs']} AGVs {out['large_hours']:g} h in {out['large_wall_s']} s "
           f"(floor {LARGE_FLOOR_S * out['large_hours']:.0f} s)" if "large_wall_s" in out else "")
        + f"; machines only: {m_agvs} AGVs x {m_hours:g} h in {m['wall_s']} s"
    )
    return out


def _machines_only(agvs: int, hours: float, seed: int = 1) -> dict[str, float]:
    site = site_from_dict(large_site(), "<large site>")
    sc = large_scenario(agvs, hours, seed)
    world = World(site, [AgvSpec(a.id, a.start_node) for a in sc.agvs], seed=seed)
    rng = np.random.default_rng(seed)
    adj: dict[str, list[str]] = {}
    for lane in site.lanes:
        adj.setdefault(lane.start, []).append(lane.end)
        if lane.two_way:
            adj.setdefault(lane.end, []).append(lane.start)
    from fleet.domain.commands import MovementCommand, RouteEdge, RouteNode

    nodes = site.node_by_id
    n_orders = 0

    def send(i: int) -> None:
        nonlocal n_orders
        vid = world.agvs.ids[i]
        path = _walk(site, adj, world.agvs.last_node[i], 12, rng)
        if len(path) < 2:
            return
        n_orders += 1
        oid = f"walk-{n_orders}"
        rn = tuple(RouteNode(nid, 2 * k, nodes[nid].x, nodes[nid].y, True) for k, nid in enumerate(path))
        re = tuple(RouteEdge(f"{a}-{b}", 2 * k + 1, a, b, True) for k, (a, b) in enumerate(itertools.pairwise(path)))
        world.apply(MovementCommand(f"c-{oid}", vid, oid, 0, rn, re))

    t0 = time.perf_counter()
    steps = int(hours * 3600 / 0.5)
    states = 0
    for k in range(steps):
        if k % 20 == 0:
            for i in range(len(world.agvs.ids)):
                if world.agvs._route_done(i):
                    send(i)
        states += len(world.step(0.5))
    wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 2), "agvs": agvs, "hours": hours, "states": states,
            "distance_km": round(float(world.agvs.dist_m.sum()) / 1000, 1),
            "step_ms": round(wall / steps * 1000, 3)}
