"""The dispatch contract the core leans on, and the values it passes.

The default implementation lives in `fleet/dispatch/` (OR-Tools); `GreedyDispatcher`
in `fleet/core/greedy.py` is the fallback and the one tests use.

Threading: `split` runs on the core's command thread (it must be quick: it only checks
and cuts an order into legs); `assign` runs on a dispatch worker thread over a frozen
snapshot and may take a while; the core applies its answer later on the command
thread, dropping any assignment whose leg or machine changed meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from fleet.domain import Crane, Leg, Order, Vehicle

if TYPE_CHECKING:
    from maps.site import Site

Machine = Vehicle | Crane


@dataclass(frozen=True)
class Assignment:
    leg_id: str
    machine_id: str
    cost: float = 0.0


@dataclass(frozen=True)
class DispatchSnapshot:
    """What a dispatch round sees: frozen values, safe to read from another thread."""

    now_s: float
    legs: tuple[Leg, ...]  # legs in state OPEN
    machines: tuple[Machine, ...]  # every machine; `available` says who may take a leg
    closed_zones: frozenset[str]
    site: Site | None
    all_legs: tuple[Leg, ...] = ()  # every active leg (pending, open, under way)


@dataclass(frozen=True)
class Decisions:
    """A round's answer beyond plain assignments (what `fleet.dispatch.dispatch_round` decides).

    The core applies them in this order: `reopened` (legs taken back from machines that
    cannot go on), `released` (pending legs opened early, e.g. an AGV sent to a handoff
    before the crane sets the load down), `charges` (new CHARGE legs, already bound to
    their vehicle), then `assignments`. Anything stale by then is skipped.
    """

    assignments: tuple[Assignment, ...] = ()
    released: tuple[str, ...] = ()
    reopened: tuple[str, ...] = ()
    charges: tuple[Leg, ...] = ()
    notes: tuple[str, ...] = ()


class Dispatcher(Protocol):
    def split(self, order: Order, site: Site | None, machines: Sequence[Machine],
              closed_zones: frozenset[str]) -> list[Leg]:
        """The legs of `order` (first OPEN, later PENDING); raises OrderRejected."""
        ...

    def assign(self, snapshot: DispatchSnapshot) -> list[Assignment] | Decisions:
        """Which open leg each available machine should take now (may be none)."""
        ...
