"""Retrieval that digs: the crane moves needed before a buried coil can be lifted.

A floor coil k is buried by the upper coils k-1 and k that rest on it (see
`fleet.inventory.layout`). Each of them must move first, so the number of reshuffle
moves of one retrieval is fixed by the yard; what a planner can change is *where*
they go. A careless destination (on top of a coil that is wanted soon) costs a move
later. The `lookahead` policy therefore places each blocking coil where it buries
none of the next coils in the retrieval queue (nearest such position, by crane
time), then as far down the queue as possible; the `nearest` policy (the baseline)
takes the nearest free valid position. Both keep every stacking rule, both never put
a blocker back on the coil being dug out, and both stay in the crane's bay.

Moves are `CraneMove`s; `CraneMove.to_leg` turns one into a `fleet.domain.Leg` of
kind `CRANE` with slot ids as source and destination (the tiers in `extra`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fleet.domain import Leg, LegId, LegKind, OrderId
from fleet.inventory.errors import NoRoom, UnknownLoad
from fleet.inventory.load import Load
from fleet.inventory.rules import blocking, check_placement
from fleet.inventory.yard import Yard

POLICIES = ("lookahead", "nearest")


@dataclass(frozen=True)
class CraneMove:
    """Move one load from one position to another inside a crane bay."""

    load_id: str
    source: str  # position id, e.g. "S1-05/T2"
    destination: str
    bay: str
    purpose: str = "reshuffle"

    @property
    def source_slot(self) -> str:
        return self.source.rsplit("/", 1)[0]

    @property
    def destination_slot(self) -> str:
        return self.destination.rsplit("/", 1)[0]

    def to_leg(self, leg_id: str, order_id: str | None = None, now_s: float = 0.0,
               after: str | None = None, weight_kg: float = 0.0, load_type: str = "coil",
               hazardous: bool = False, priority: int = 5) -> Leg:
        """A crane leg the dispatcher can assign like any other (slot ids as ends)."""
        return Leg(
            id=LegId(leg_id),
            order_id=OrderId(order_id) if order_id else None,
            kind=LegKind.CRANE,
            source=self.source_slot,
            destination=self.destination_slot,
            after=LegId(after) if after else None,
            load_type=load_type,
            weight_kg=weight_kg,
            hazardous=hazardous,
            priority=priority,
            created_s=now_s,
            updated_s=now_s,
            extra={"purpose": self.purpose, "load_id": self.load_id, "bay": self.bay,
                   "source_position": self.source, "destination_position": self.destination},
        )


@dataclass
class RetrievalPlan:
    load_id: str
    position: str
    moves: list[CraneMove] = field(default_factory=list)

    @property
    def reshuffles(self) -> int:
        return len(self.moves)

    def legs(self, order_id: str | None, now_s: float = 0.0, prefix: str | None = None,
             yard: Yard | None = None) -> list[Leg]:
        """The reshuffle moves as a chain of crane legs (each after the one before)."""
        out: list[Leg] = []
        base = prefix or f"{order_id or 'dig'}-{self.load_id}"
        for k, m in enumerate(self.moves, start=1):
            ld = None
            if yard is not None:
                ld = yard.at.get(yard.layout.index(m.source)) or _find(yard, m.load_id)
            out.append(m.to_leg(f"{base}-R{k}", order_id, now_s, after=out[-1].id if out else None,
                                weight_kg=ld.weight_kg if ld else 0.0, load_type=ld.type if ld else "coil",
                                hazardous=bool(ld and ld.hazard_class)))
        return out


def _find(yard: Yard, load_id: str) -> Load | None:
    p = yard.where.get(load_id)
    return None if p is None else yard.at[p]


def plan_retrieval(yard: Yard, load_id: str, upcoming: Sequence[str] = (),
                   policy: str = "lookahead", horizon: int = 50) -> RetrievalPlan:
    """The reshuffles that free `load_id`, on a copy of the yard (the yard is not changed).

    `upcoming` lists the loads to be retrieved after this one, soonest first; the
    lookahead policy keeps the blocking coils off them. Raises UnknownLoad, or NoRoom
    when a blocking coil has nowhere valid to go.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown reshuffle policy {policy!r} (known: {', '.join(POLICIES)})")
    if load_id not in yard.where:
        raise UnknownLoad(load_id)
    work = yard.copy()
    moves = _dig(work, load_id, upcoming[:horizon], policy)
    return RetrievalPlan(load_id, yard.layout.ids[yard.where[load_id]], moves)


def _dig(work: Yard, load_id: str, upcoming: Sequence[str], policy: str) -> list[CraneMove]:
    lay = work.layout
    target = work.where[load_id]
    bay = lay.bay[target] or ""
    soon: dict[int, int] = {}
    for rank, lid in enumerate(upcoming):
        p = work.where.get(lid)
        if p is not None and p != target:
            soon.setdefault(p, rank)
    forbidden = {int(q) for q in lay.above[target] if q >= 0}
    soon_arr = np.zeros(lay.n)
    for p, rank in soon.items():
        soon_arr[p] = 1.0 / (1 + rank)
    moves: list[CraneMove] = []
    for q in blocking(lay, work.at, target):
        blocker = work.at[q]
        cand = ~work.occupied & (lay.bay_index == lay.bay_index[q])
        cand[list(forbidden)] = False
        idx = np.flatnonzero(cand)
        dist = np.maximum(np.abs(lay.runway_m[idx] - lay.runway_m[q]) / lay.rules.crane_bridge_mps,
                          np.abs(lay.cross_m[idx] - lay.cross_m[q]) / lay.rules.crane_trolley_mps)
        penalty = np.zeros(idx.size)
        if policy == "lookahead" and soon:
            for col in (0, 1):
                s = lay.support[idx, col]
                penalty = np.maximum(penalty, np.where(s >= 0, soon_arr[np.maximum(s, 0)], 0.0))
        order = np.lexsort((idx, dist, penalty))
        keys = [(float(penalty[k]), float(dist[k]), int(idx[k])) for k in order]
        best: tuple[float, float, int] | None = None
        del work.at[q]  # judge destinations as if the blocker were lifted
        try:
            for key in keys:
                if not check_placement(lay, work.at, key[2], blocker):
                    best = key
                    break
        finally:
            work.at[q] = blocker
        if best is None:
            raise NoRoom(blocker.id, f"nowhere valid in bay {bay!r} to move it off {load_id!r}")
        dest = best[2]
        work.move(blocker.id, dest)
        moves.append(CraneMove(blocker.id, lay.ids[q], lay.ids[dest], bay))
    return moves


def plan_retrievals(yard: Yard, load_ids: Sequence[str], policy: str = "lookahead") -> list[RetrievalPlan]:
    """Plan a queue of retrievals in order, on a copy: each dig, then the load leaves."""
    work = yard.copy()
    plans = []
    for k, lid in enumerate(load_ids):
        if lid not in work.where:
            raise UnknownLoad(lid)
        pos = work.layout.ids[work.where[lid]]
        moves = _dig(work, lid, load_ids[k + 1 : k + 51], policy)
        work.remove(lid)
        plans.append(RetrievalPlan(lid, pos, moves))
    return plans
