"""Faults a shift may meet: breakdowns, e-stops, flat batteries, hoist stalls, charger failures.

A scenario lists faults at fixed times and fault *rates* (per machine-hour); rates are
turned into a fixed schedule up front from the scenario's seeded generator, so two
runs with the same seed meet the same faults at the same moments. Every fault has a
duration after which it clears (repaired, released, battery swapped, charger fixed).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class FaultKind(StrEnum):
    BREAKDOWN = "breakdown"  # an AGV or crane stops with an error
    ESTOP = "estop"  # someone presses the emergency stop
    BATTERY_FLAT = "battery_flat"  # an AGV's battery dies
    HOIST_STALL = "hoist_stall"  # a crane's hoist will not move
    CHARGER_FAIL = "charger_fail"  # a charger station stops charging
    POSITIONING_LOSS = "positioning_loss"  # an AGV gets no UWB/RFID/BeiDou fix (sim/sensing.py)
    SWAP_LABEL = "swap_label"  # a machine's tally camera sees another load's label (sim/sensing.py)


AGV_KINDS = frozenset({FaultKind.BREAKDOWN, FaultKind.ESTOP, FaultKind.BATTERY_FLAT})
CRANE_KINDS = frozenset({FaultKind.BREAKDOWN, FaultKind.ESTOP, FaultKind.HOIST_STALL})


@dataclass(frozen=True, order=True)
class FaultEvent:
    at_s: float
    kind: FaultKind
    target: str  # machine id, or charger station id
    duration_s: float


@dataclass(frozen=True)
class FaultRate:
    kind: FaultKind
    per_machine_h: float  # expected faults per machine (or charger) per hour
    duration_s: float
    targets: tuple[str, ...] = ()  # empty: every machine (charger) the kind applies to


def schedule(
    fixed: list[FaultEvent],
    rates: list[FaultRate],
    *,
    agvs: list[str],
    cranes: list[str],
    chargers: list[str],
    duration_s: float,
    rng: np.random.Generator,
) -> list[FaultEvent]:
    """The shift's faults in time order: the fixed ones plus Poisson draws from the rates."""
    out = list(fixed)
    for rate in rates:
        if rate.targets:
            pool = list(rate.targets)
        elif rate.kind == FaultKind.CHARGER_FAIL:
            pool = chargers
        else:
            pool = ([*agvs] if rate.kind in AGV_KINDS else []) + ([*cranes] if rate.kind in CRANE_KINDS else [])
        lam = rate.per_machine_h / 3600.0
        # one generator per target: a longer shift adds faults at its end, it does not move the others
        seeds = rng.integers(0, 2**62, size=len(pool))
        for target, seed in zip(pool, seeds, strict=True):
            if lam <= 0:
                break
            own = np.random.default_rng(int(seed))
            t = float(own.exponential(1 / lam))
            while t < duration_s:
                out.append(FaultEvent(round(t, 3), rate.kind, target, rate.duration_s))
                t += rate.duration_s + float(own.exponential(1 / lam))
    return sorted(out)
