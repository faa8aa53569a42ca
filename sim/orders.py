"""WMS-like order streams: Poisson arrivals, shift profiles, inbound/outbound waves, coil moves.

Each stream is turned into a list of `(time_s, order)` up front from the scenario's
seeded generator, so a shift's demand is fixed before it starts. An order is a dict
shaped like the WMS API body::

    {"client_id": "wh-in-17", "source": "IN2", "destination": "R-03-07", "load_type": "pallet",
     "weight_kg": 420.0, "priority": 5, "deadline_s": 5400.0, "hazardous": False}

Places are station or slot ids of the site, or selectors: `kind:pickup` (every
station of that kind), `racks` (AGV-served rack slots), `slots` (every crane-bay
slot), `bay:BAY1` (the slots of one bay).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from maps.site import Site, StationKind

Order = dict[str, Any]


class PlaceError(ValueError):
    """A selector or id that names no place of the site."""


def resolve_places(site: Site, spec: str | list[str]) -> list[str]:
    """Station/slot ids for a selector or a list of ids and selectors (site order, no repeats)."""
    items = [spec] if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for item in items:
        if item.startswith("kind:"):
            kind = item[5:]
            if kind not in {k.value for k in StationKind}:
                raise PlaceError(f"{item!r}: no station kind {kind!r} (kinds: {', '.join(k.value for k in StationKind)})")
            found = [s.id for s in site.stations if s.kind == kind]
        elif item == "racks":
            found = [r.id for r in site.racks]
        elif item == "slots":
            found = [s.id for b in site.crane_bays for s in b.slots]
        elif item.startswith("bay:"):
            bay = site.bay_by_id.get(item[4:])
            if bay is None:
                raise PlaceError(f"{item!r}: no crane bay {item[4:]!r}")
            found = [s.id for s in bay.slots]
        elif item in site.station_by_id or item in site.slot_by_id:
            found = [item]
        else:
            raise PlaceError(f"{item!r} is neither a station, a slot nor a selector")
        if not found:
            raise PlaceError(f"{item!r} selects no place on site {site.name!r}")
        out += [f for f in found if f not in out]
    return out


@dataclass(frozen=True)
class OrderStream:
    """One stream of a scenario (see the scenario schema for the fields)."""

    id: str
    kind: str  # poisson | shift | wave | coil
    sources: tuple[str, ...]
    destinations: tuple[str, ...]
    rate_per_h: float = 0.0
    profile: tuple[tuple[float, float], ...] = ()  # (from_hour, rate_per_h)
    at_s: tuple[float, ...] = ()
    count: int = 1
    spread_s: float = 600.0
    load_type: str = "pallet"
    weight_kg: tuple[float, float] = (100.0, 800.0)
    priority: int = 5
    deadline_s: float | None = None
    hazardous_share: float = 0.0
    start_s: float = 0.0
    end_s: float | None = None

    def arrivals(self, duration_s: float, rng: np.random.Generator) -> np.ndarray:
        """Arrival times within [start_s, min(end_s, duration_s))."""
        end = min(self.end_s if self.end_s is not None else duration_s, duration_s)
        if self.kind == "wave":
            times = [t + rng.uniform(0, self.spread_s) for t in self.at_s for _ in range(self.count)]
            return np.sort(np.array([t for t in times if self.start_s <= t < end]))
        segments = self.profile if self.kind == "shift" and self.profile else ((0.0, self.rate_per_h),)
        out: list[float] = []
        bounds = [*(h * 3600.0 for h, _ in segments), np.inf]
        for (_, rate), lo, hi in zip(segments, bounds, bounds[1:], strict=False):
            lo, hi = max(lo, self.start_s), min(hi, end)
            if rate <= 0 or hi <= lo:
                continue
            n = int(rng.poisson(rate * (hi - lo) / 3600.0))
            out += list(rng.uniform(lo, hi, n))
        return np.sort(np.array(out))

    def generate(self, duration_s: float, rng: np.random.Generator, prefix: str) -> list[tuple[float, Order]]:
        times = self.arrivals(duration_s, rng)
        n = times.shape[0]
        src = rng.integers(0, len(self.sources), n)
        dst = rng.integers(0, len(self.destinations), n)
        lo, hi = self.weight_kg
        weights = rng.uniform(lo, hi, n) if hi > lo else np.full(n, lo)
        hazardous = rng.random(n) < self.hazardous_share
        out = []
        for k in range(n):
            s, d = self.sources[src[k]], self.destinations[dst[k]]
            if s == d:  # a WMS never asks to move a load onto itself
                d = self.destinations[(dst[k] + 1) % len(self.destinations)]
                if s == d:
                    continue
            t = float(round(times[k], 3))
            out.append((t, {
                "client_id": f"{prefix}-{self.id}-{k + 1}",
                "source": s,
                "destination": d,
                "load_type": self.load_type,
                "weight_kg": round(float(weights[k]), 1),
                "priority": self.priority,
                "deadline_s": round(t + self.deadline_s, 3) if self.deadline_s else None,
                "hazardous": bool(hazardous[k]),
            }))
        return out


def demand(streams: list[OrderStream], duration_s: float, rng: np.random.Generator,
           prefix: str) -> list[tuple[float, Order]]:
    """Every stream's orders merged in time order (ties by client id, so it is stable)."""
    out: list[tuple[float, Order]] = []
    for stream in streams:
        out += stream.generate(duration_s, rng, prefix)
    out.sort(key=lambda p: (p[0], p[1]["client_id"]))
    return out
