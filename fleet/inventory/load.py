"""A load as the inventory knows it: what it is, how heavy and big, how dangerous."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from fleet.inventory.errors import InvalidLoad

#: turnover class -> weight on travel cost (fast movers are pulled near the docks)
TURNOVER_WEIGHT: dict[str, float] = {"A": 3.0, "B": 2.0, "C": 1.0}


@dataclass(frozen=True)
class Load:
    """One load (coil, pallet, tote).

    `width_m` is a coil's width along its axis (or a pallet's width); `diameter_m` a
    coil's outer diameter (0 for loads that are not coils). `hazard_class` is the
    dangerous-goods class ("3", "5.1", ...) or None. `arrival_s` is on the core's
    clock and orders FIFO; `rfid_tag` is the tag's id when the load carries one.
    """

    id: str
    type: str = "coil"
    weight_kg: float = 0.0
    width_m: float = 0.0
    diameter_m: float = 0.0
    hazard_class: str | None = None
    arrival_s: float = 0.0
    turnover: str = "B"
    rfid_tag: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Load:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return validated(cls(**known))


def validated(load: Load) -> Load:
    """The load itself when its fields make sense; InvalidLoad naming the field if not."""
    if not isinstance(load.id, str) or not load.id or len(load.id) > 120:
        raise InvalidLoad("id", "a non-empty string of at most 120 characters")
    for name in ("weight_kg", "width_m", "diameter_m", "arrival_s"):
        v = getattr(load, name)
        if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
            raise InvalidLoad(name, f"load {load.id!r}: must be a finite number >= 0, got {v!r}")
    if load.turnover not in TURNOVER_WEIGHT:
        raise InvalidLoad("turnover", f"load {load.id!r}: one of {sorted(TURNOVER_WEIGHT)}")
    if not isinstance(load.type, str) or not load.type:
        raise InvalidLoad("type", f"load {load.id!r}: a non-empty string")
    return load
