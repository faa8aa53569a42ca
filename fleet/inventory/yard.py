"""What lies where: the live occupancy of a Layout, changed only through checked moves.

One `Yard` per site, owned by one writer (the inventory service); every change goes
through `place`, `remove` or `move`, which refuse anything the rule checker rejects,
so the yard is valid after every call. Arrays of occupant sizes are kept beside the
dict so the putaway can work vectorised.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from fleet.inventory.errors import InventoryConflict, StackingRefused, UnknownLoad
from fleet.inventory.layout import LOWER, UPPER, Layout
from fleet.inventory.load import Load
from fleet.inventory.rules import Violation, blocking, check_placement, check_yard


class Yard:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.at: dict[int, Load] = {}
        self.where: dict[str, int] = {}
        n = layout.n
        self.occupied = np.zeros(n, dtype=bool)
        self.weight = np.full(n, np.nan)
        self.width = np.full(n, np.nan)
        self.diameter = np.full(n, np.nan)

    # ----- reading
    def __len__(self) -> int:
        return len(self.at)

    def __iter__(self) -> Iterator[tuple[str, Load]]:
        for p, load in sorted(self.at.items()):
            yield self.layout.ids[p], load

    def load_at(self, position: str) -> Load | None:
        return self.at.get(self.layout.index(position))

    def position_of(self, load_id: str) -> str | None:
        p = self.where.get(load_id)
        return None if p is None else self.layout.ids[p]

    def get(self, load_id: str) -> Load:
        p = self.where.get(load_id)
        if p is None:
            raise UnknownLoad(load_id)
        return self.at[p]

    def blockers(self, load_id: str) -> list[str]:
        """Position ids of the coils resting on this load (to move before lifting it)."""
        p = self.where.get(load_id)
        if p is None:
            raise UnknownLoad(load_id)
        return [self.layout.ids[q] for q in blocking(self.layout, self.at, p)]

    def check(self) -> list[Violation]:
        return check_yard(self.layout, self.at)

    def violations_for(self, load: Load, position: str) -> list[Violation]:
        return check_placement(self.layout, self.at, self.layout.index(position), load)

    # ----- changing (each call leaves the yard valid or raises and changes nothing)
    def place(self, load: Load, position: str | int, check: bool = True) -> None:
        p = position if isinstance(position, int) else self.layout.index(position)
        if load.id in self.where:
            raise InventoryConflict(f"load {load.id!r} already lies at {self.layout.ids[self.where[load.id]]}")
        if check:
            bad = check_placement(self.layout, self.at, p, load)
            if bad:
                raise StackingRefused(load.id, self.layout.ids[p], [str(v) for v in bad])
        elif p in self.at:
            raise InventoryConflict(f"position {self.layout.ids[p]!r} holds {self.at[p].id!r}")
        self._put(p, load)

    def remove(self, load_id: str) -> Load:
        """Lift a load out; refused while coils rest on it."""
        p = self.where.get(load_id)
        if p is None:
            raise UnknownLoad(load_id)
        above = blocking(self.layout, self.at, p)
        if above:
            raise StackingRefused(load_id, self.layout.ids[p],
                                  [f"blocked by {self.at[q].id} at {self.layout.ids[q]}" for q in above])
        return self._take(p)

    def move(self, load_id: str, destination: str | int) -> None:
        src = self.where.get(load_id)
        load = self.remove(load_id)
        assert src is not None
        try:
            self.place(load, destination)
        except Exception:
            self._put(src, load)
            raise

    def copy(self) -> Yard:
        other = Yard(self.layout)
        other.at = dict(self.at)
        other.where = dict(self.where)
        for name in ("occupied", "weight", "width", "diameter"):
            setattr(other, name, getattr(self, name).copy())
        return other

    def _put(self, p: int, load: Load) -> None:
        self.at[p] = load
        self.where[load.id] = p
        self.occupied[p] = True
        self.weight[p] = load.weight_kg
        self.width[p] = load.width_m
        self.diameter[p] = load.diameter_m

    def _take(self, p: int) -> Load:
        load = self.at.pop(p)
        del self.where[load.id]
        self.occupied[p] = False
        self.weight[p] = self.width[p] = self.diameter[p] = np.nan
        return load

    # ----- summaries
    def fill(self) -> dict[str, int]:
        k = self.layout.kind
        occ = self.occupied
        return {
            "positions": int(self.layout.n),
            "occupied": int(occ.sum()),
            "lower_occupied": int((occ & (k == LOWER)).sum()),
            "upper_occupied": int((occ & (k == UPPER)).sum()),
        }
