"""`fleet bench dispatch`: one AGV dispatch round, OR-Tools vs greedy nearest-idle.

Instances: a generated large site (a grid of aisles with pickup, drop and charger
stations; 2,000 open legs, 500 vehicles scattered over it) and, when it is bundled,
the warehouse site (its vehicles and a proportional number of legs). Both
dispatchers see the same legs, vehicles and distance tables; the round time is
measured after the site's distance tables are built (a once-per-site cost, reported
as `tables_s`).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

from shapely.geometry import Point

from fleet.dispatch import chargers_of, dispatch_round
from fleet.dispatch.assignment import Availability, GreedyDispatcher, OrToolsDispatcher
from fleet.dispatch.distances import SiteDistances
from fleet.dispatch.validate import validate_assignments
from fleet.domain import Capabilities, Leg, LegId, LegKind, OrderId, Vehicle, VehicleId
from maps.loader import site_from_dict
from maps.site import Site, StationKind, ZoneKind

DESCRIPTION = "AGV dispatch round: OR-Tools min-cost flow vs greedy nearest-idle (2,000 legs x 500 vehicles)"
FLOOR_ROUND_S = 1.0
FLOOR_SAVING = 0.15


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--legs", type=int, default=2000)
    parser.add_argument("--vehicles", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3, help="timed repetitions (median reported)")


def generated_site(cols: int = 60, rows: int = 60, spacing_m: float = 5.0, stations: int = 400, chargers: int = 40, seed: int = 1) -> Site:
    """A grid of aisles (every third one one-way) joined by cross aisles; deterministic."""
    rnd = random.Random(seed)
    nodes = [{"id": f"n{c}_{r}", "x": c * spacing_m, "y": r * spacing_m} for r in range(rows) for c in range(cols)]
    lanes: list[dict[str, Any]] = []
    for r in range(rows):
        for c in range(cols - 1):
            a, b = f"n{c}_{r}", f"n{c + 1}_{r}"
            if r % 3 != 1:
                lanes.append({"from": a, "to": b, "two_way": True})
            elif (r // 3) % 2 == 0:
                lanes.append({"from": a, "to": b})  # one-way aisle, eastbound
            else:
                lanes.append({"from": b, "to": a})  # westbound
    for c in range(cols):
        if c % 2 == 0 or c == cols - 1:
            for r in range(rows - 1):
                lanes.append({"from": f"n{c}_{r}", "to": f"n{c}_{r + 1}", "two_way": True})
    picks = rnd.sample([n["id"] for n in nodes], stations + chargers)
    st = []
    for i, node in enumerate(picks[:stations]):
        st.append({"id": f"s{i}", "kind": "pickup" if i % 2 == 0 else "drop", "node": node})
    for i, node in enumerate(picks[stations:]):
        st.append({"id": f"ch{i}", "kind": "charger", "node": node})
    return site_from_dict(
        {"format": "fleet5g-site", "version": 1, "name": f"grid{cols}x{rows}", "nodes": nodes, "lanes": lanes, "stations": st},
        "<generated>",
    )


def instance(site: Site, n_legs: int, n_vehicles: int, seed: int) -> tuple[list[Leg], list[Availability]]:
    rnd = random.Random(seed)
    places = [s.id for s in site.stations if s.kind in (StationKind.PICKUP, StationKind.DROP)]
    places += [r.id for r in site.racks]
    legs = []
    for i in range(n_legs):
        a, b = rnd.sample(places, 2)
        legs.append(
            Leg(LegId(f"L{i}"), OrderId(f"O{i}"), LegKind.AGV, a, b, priority=rnd.choice((3, 5, 5, 5, 7)),
                created_s=rnd.uniform(-600, 0), weight_kg=rnd.uniform(50, 800))
        )
    # vehicles start outside hazardous and no-go areas; one in ten is hazardous-rated
    fenced = [z.polygon for z in site.zones if z.kind in (ZoneKind.HAZARDOUS, ZoneKind.NO_GO)]
    node_ids = [n.id for n in site.nodes if not any(p.covers(Point(n.x, n.y)) for p in fenced)]
    avail = []
    for i in range(n_vehicles):
        caps = Capabilities(payload_kg=1000.0, load_types=(), hazardous_rated=i % 10 == 0)
        v = Vehicle(VehicleId(f"V{i}"), caps, node=rnd.choice(node_ids), battery=rnd.uniform(0.3, 1.0))
        avail.append(Availability(v, v.node or "", 0.0, v.battery))
    return legs, avail


def measure(site: Site, n_legs: int, n_vehicles: int, seed: int, rounds: int) -> dict[str, Any]:
    legs, avail = instance(site, n_legs, n_vehicles, seed)
    dist = SiteDistances(site)
    t0 = time.perf_counter()
    greedy = GreedyDispatcher(site, distances=dist)
    greedy.table(legs, avail, 0.0)  # builds the distance tables for every station used
    tables_s = time.perf_counter() - t0
    ortools = OrToolsDispatcher(site, distances=dist)
    times, g_times = [], []
    result = base = []
    for _ in range(max(1, rounds)):
        t = time.perf_counter()
        result = ortools.assign(legs, avail, 0.0)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
        base = greedy.assign(legs, avail, 0.0)
        g_times.append(time.perf_counter() - t)
    # the whole round the core calls (lost-machine sweep, charging, assignment, validation)
    vehicles = [a.vehicle for a in avail]
    t = time.perf_counter()
    full = dispatch_round(site, legs, vehicles, [], chargers_of(site), 0.0, distances=dist)
    full_s = time.perf_counter() - t
    empty = sum(a.empty_travel_m for a in result)
    g_empty = sum(a.empty_travel_m for a in base)
    violations = validate_assignments(result, legs, [a.vehicle for a in avail])
    return {
        "nodes": len(site.nodes),
        "legs": n_legs,
        "vehicles": n_vehicles,
        "tables_s": round(tables_s, 3),
        "round_s": round(statistics.median(times), 4),
        "greedy_round_s": round(statistics.median(g_times), 4),
        "assigned": len(result),
        "greedy_assigned": len(base),
        "empty_travel_m": round(empty, 1),
        "greedy_empty_travel_m": round(g_empty, 1),
        "saving": round(1 - empty / g_empty, 4) if g_empty > 0 else 0.0,
        "method": ortools.last_method,
        "violations": len(violations) + len(full.violations),
        "full_round_s": round(full_s, 4),
        "full_round_assigned": len(full.assignments),
        "full_round_charge_legs": len(full.charge_legs),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = bool(getattr(args, "quick", False))
    n_legs = 400 if quick else args.legs
    n_veh = 100 if quick else args.vehicles
    site = generated_site(30, 30, stations=120, chargers=12) if quick else generated_site()
    large = measure(site, n_legs, n_veh, args.seed, 1 if quick else args.rounds)
    out: dict[str, Any] = {f"large_{k}": v for k, v in large.items()}
    try:
        from maps.loader import load_site, resolve_site

        wh = load_site(resolve_site("warehouse"))
        n_wh = 30
        ware = measure(wh, 4 * n_wh, n_wh, args.seed, 1 if quick else args.rounds)
        out.update({f"warehouse_{k}": v for k, v in ware.items()})
    except Exception as exc:  # the bundled site may not exist yet
        out["warehouse_skipped"] = str(exc)[:200]
    ok = large["violations"] == 0 and (
        quick or (max(large["round_s"], large["full_round_s"]) < FLOOR_ROUND_S and large["saving"] >= FLOOR_SAVING)
    )
    out["ok"] = ok
    out["floor_round_s"] = FLOOR_ROUND_S
    out["floor_saving"] = FLOOR_SAVING
    out["summary"] = (
        f"dispatch: {n_legs} legs x {n_veh} vehicles on {large['nodes']} nodes: assignment {large['round_s'] * 1000:.0f} ms, "
        f"full round {large['full_round_s'] * 1000:.0f} ms "
        f"(floor {FLOOR_ROUND_S * 1000:.0f} ms), empty travel {large['empty_travel_m']:.0f} m vs greedy "
        f"{large['greedy_empty_travel_m']:.0f} m ({large['saving'] * 100:.1f}% less, floor {FLOOR_SAVING * 100:.0f}%)"
        + (f"; warehouse {out['warehouse_saving'] * 100:.1f}% less" if "warehouse_saving" in out else "")
    )
    return out
