"""Small sites, layouts and loads for the inventory tests."""

from __future__ import annotations

from functools import cache

import numpy as np

from fleet.inventory import Layout, Load, StackingRules, Yard, build_layout
from maps.loader import load_site, resolve_site, site_from_dict
from maps.site import Site
from maps.sitegen import coil_yard_site


@cache
def small_coil_site() -> Site:
    """A 40 m coil bay: 5 rows of 9 two-tier slots (45 lower, 40 upper positions)."""
    return site_from_dict(coil_yard_site(runway_m=40.0, cranes=1, name="small coil yard"))


@cache
def small_coil_layout(segregation_m: float = 10.0) -> Layout:
    return build_layout(small_coil_site(), StackingRules(segregation_m=segregation_m))


@cache
def warehouse_site() -> Site:
    return load_site(resolve_site("warehouse"))


@cache
def coil_site() -> Site:
    return load_site(resolve_site("coil_yard"))


def coil(i: int | str, weight: float = 15000.0, width: float = 1.5, diameter: float = 1.8,
         hazard: str | None = None, arrival: float = 0.0, turnover: str = "B", tag: str | None = None) -> Load:
    return Load(str(i) if isinstance(i, str) else f"C{i:04d}", "coil", weight, width, diameter, hazard,
                arrival, turnover, tag)


def random_coils(rng: np.random.Generator, n: int, start: int = 0, hazard_share: float = 0.0) -> list[Load]:
    out = []
    for i in range(start, start + n):
        hz = str(rng.choice(["3", "4.1", "8"])) if rng.random() < hazard_share else None
        out.append(coil(i, float(rng.uniform(5000, 28000)), float(rng.uniform(1.2, 1.8)),
                        float(rng.uniform(1.6, 2.1)), hz, float(i), str(rng.choice(list("ABC")))))
    return out


def filled_yard(layout: Layout, seed: int = 0, rounds: int = 2, per_round: int = 30) -> Yard:
    """A valid yard filled through the putaway (so floors first, then saddles)."""
    from fleet.inventory import apply_putaway, plan_putaway

    rng = np.random.default_rng(seed)
    y = Yard(layout)
    for r in range(rounds):
        loads = random_coils(rng, per_round, start=r * 1000)
        apply_putaway(y, loads, plan_putaway(y, loads))
    return y
