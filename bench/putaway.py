"""Putaway of 1,000 incoming coils into a 10,000-slot coil yard, and digging retrievals.

Yard: `maps.sitegen.coil_yard_site` stretched to a 3 km runway with 10 rows of
1,000 two-tier slots (10,000 slots, 19,990 positions), 12 cranes and a handoff
every 100 m; half the floor and a fifth of the saddles start occupied at random
(valid by the rule checker). Each round 1,000 coils arrive (1 % hazardous); the
timed part is `plan_putaway`; the result is applied and the whole yard is checked
by the independent rule checker. The baseline puts each coil, in arrival order,
into the first free valid position in site order.

Retrievals: queues of 40 random coils from the bundled coil yard (175 slots, 90 % of
the floor and 50 % of the saddles occupied at random); reshuffle moves of the
lookahead policy against the nearest-free-valid-position baseline.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

from fleet.inventory import (
    LOWER,
    UPPER,
    Load,
    NoRoom,
    Yard,
    apply_putaway,
    build_layout,
    check_placement,
    first_free_putaway,
    plan_putaway,
    plan_retrievals,
)
from maps.loader import load_site, resolve_site, site_from_dict
from maps.sitegen import coil_yard_site

DESCRIPTION = "putaway of 1,000 coils into 10,000 slots vs first-free; reshuffles vs nearest-free"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--slots", type=int, default=10_000, help="coil-yard slots (10 rows)")
    parser.add_argument("--loads", type=int, default=1_000, help="incoming coils per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)


def big_yard(slots: int, rows: int = 10) -> dict[str, Any]:
    per_row = max(2, slots // rows)
    runway = float(40 * int(np.ceil((10 + 3 * per_row + 10) / 40)))
    d = coil_yard_site(runway_m=runway, cranes=max(2, int(runway // 250)), name=f"Coil yard {per_row * rows} slots")
    d["crane_bays"][0]["slots"] = [
        {"id": f"S{r + 1:02d}-{k + 1:04d}", "runway_m": float(10 + 3 * k), "cross_m": round(3.0 + 2.6 * r, 2),
         "tiers": 2, "max_weight_kg": 30000}
        for r in range(rows) for k in range(per_row)
    ]
    nodes = {n["id"] for n in d["nodes"]}
    stations = {s["id"] for s in d["stations"]}
    for k, x in enumerate(range(50, int(runway), 100), start=1):
        sid, nid = f"HX{k}", f"B-{x}"
        if nid in nodes and sid not in stations:
            d["stations"].append({"id": sid, "kind": "handoff", "node": nid, "bay": "BAY1", "runway_m": float(x),
                                  "cross_m": 2.0, "load_types": ["coil"]})
    return d


def coils(rng: np.random.Generator, n: int, start: int, t0: float, hazard_share: float = 0.01) -> list[Load]:
    out = []
    for i in range(start, start + n):
        hz = str(rng.choice(["3", "4.1", "8"])) if rng.random() < hazard_share else None
        out.append(Load(f"C{i:06d}", "coil", float(rng.uniform(5000, 28000)), float(rng.uniform(1.2, 1.8)),
                        float(rng.uniform(1.6, 2.1)), hz, t0 + i, str(rng.choice(list("ABC"), p=[0.2, 0.3, 0.5]))))
    return out


def random_fill(yard: Yard, rng: np.random.Generator, floor: float, saddle: float) -> int:
    """Occupy a share of the floor and of the saddles at random, keeping every rule."""
    lay = yard.layout
    n = 0
    for kind, share in ((LOWER, floor), (UPPER, saddle)):
        for p in np.flatnonzero(lay.kind == kind):
            if rng.random() >= share:
                continue
            for _ in range(4):
                ld = coils(rng, 1, 900_000 + n, 0.0, 0.0)[0]
                if kind == UPPER:
                    a, b = (int(v) for v in lay.support[p])
                    if a not in yard.at or b not in yard.at:
                        break
                    lo = min(yard.at[a].weight_kg, yard.at[b].weight_kg)
                    ld = Load(ld.id, "coil", float(rng.uniform(3000, max(3001.0, lo))), 1.2,
                              float(rng.uniform(1.6, 2.1)))
                if not check_placement(lay, yard.at, int(p), ld):
                    yard.place(ld, int(p), check=False)
                    n += 1
                    break
    return n


def _retrievals(quick: bool, seed: int) -> dict[str, float]:
    lay = build_layout(load_site(resolve_site("coil_yard")))
    moves = {"lookahead": 0, "nearest": 0}
    n_ret = 0
    seeds = 4 if quick else 12
    for s in range(seeds):
        rng = np.random.default_rng(seed * 100 + s)
        y = Yard(lay)
        random_fill(y, rng, floor=0.9, saddle=0.5)
        queue = [str(v) for v in rng.choice([ld.id for _, ld in y], size=40, replace=False)]
        try:
            got = {pol: sum(p.reshuffles for p in plan_retrievals(y, queue, pol)) for pol in moves}
        except NoRoom:
            continue
        for pol, m in got.items():
            moves[pol] += m
        n_ret += len(queue)
    n_ret = max(n_ret, 1)
    return {
        "retrievals": n_ret,
        "reshuffles_ours": moves["lookahead"],
        "reshuffles_baseline": moves["nearest"],
        "reshuffles_per_retrieval_ours": round(moves["lookahead"] / n_ret, 4),
        "reshuffles_per_retrieval_baseline": round(moves["nearest"] / n_ret, 4),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = bool(getattr(args, "quick", False))
    slots = 2_000 if quick else int(getattr(args, "slots", 10_000))
    n_loads = 200 if quick else int(getattr(args, "loads", 1_000))
    rounds = 1 if quick else int(getattr(args, "rounds", 3))
    seed = int(getattr(args, "seed", 7))
    rng = np.random.default_rng(seed)
    t = time.perf_counter()
    site = site_from_dict(big_yard(slots))
    lay = build_layout(site)
    yard = Yard(lay)
    prefilled = random_fill(yard, rng, floor=0.5, saddle=0.2)
    setup_s = time.perf_counter() - t
    round_s, ratios, violations, placed, no_room, fallback = [], [], 0, 0, 0, 0
    for r in range(rounds):
        loads = coils(rng, n_loads, 10_000 * (r + 1), 1e6 * (r + 1))
        base = first_free_putaway(yard, loads)
        res = plan_putaway(yard, loads)
        round_s.append(res.elapsed_s)
        ratios.append(res.travel_s / base.travel_s if base.travel_s else 1.0)
        apply_putaway(yard, loads, res)
        violations += len(yard.check())
        placed += len(res.placements)
        no_room += len(res.no_room)
        fallback += res.counts().get("greedy", 0)
    ret = _retrievals(quick, seed)
    travel_saving = 1.0 - statistics.mean(ratios)
    ok = (violations == 0 and max(round_s) < 2.0 and travel_saving >= 0.10
          and ret["reshuffles_ours"] < ret["reshuffles_baseline"])
    fig = {
        "slots": len({lay.slot_ids[p] for p in range(lay.n)}),
        "positions": lay.n,
        "prefilled": prefilled,
        "loads_per_round": n_loads,
        "rounds": rounds,
        "setup_s": round(setup_s, 3),
        "max_round_s": round(max(round_s), 4),
        "median_round_s": round(statistics.median(round_s), 4),
        "placed": placed,
        "no_room": no_room,
        "greedy_fallback": fallback,
        "checker_violations": violations,
        "travel_vs_first_free": round(statistics.mean(ratios), 4),
        "travel_saving_pct": round(100 * travel_saving, 2),
        **ret,
        "ok": ok,
    }
    fig["summary"] = (f"putaway: {n_loads} coils into {fig['slots']} slots in {fig['max_round_s']:.3f} s max/round, "
                      f"{violations} violations, travel {fig['travel_saving_pct']:.1f}% below first-free; "
                      f"reshuffles/retrieval {ret['reshuffles_per_retrieval_ours']:.3f} vs "
                      f"{ret['reshuffles_per_retrieval_baseline']:.3f} (nearest-free)")
    fig["instance"] = {"site": site.name, "seed": seed, "hazard_share": 0.01, "prefill_floor": 0.5,
                       "prefill_saddle": 0.2}
    return fig
