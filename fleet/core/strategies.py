"""The strategy contracts the core leans on; the core imports only these Protocols.

Threading: the core calls every method from its own single command thread (never
from an API request thread), so implementations need no locks of their own. Methods
must not block on I/O; planning work is bounded by the budgets passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from fleet.domain import Leg
from fleet.domain.commands import Command, MachineState


class Stage(StrEnum):
    """How far a machine has got with a leg, as traffic learns it from machine states."""

    STARTED = "started"  # machine moving towards the pickup
    AT_PICKUP = "at_pickup"
    PICKED = "picked"  # load confirmed on the machine
    AT_DROP = "at_drop"
    DROPPED = "dropped"  # load confirmed set down: the leg is done
    CHARGING = "charging"
    FAILED = "failed"  # the machine cannot finish the leg (fault, blocked)


@dataclass(frozen=True)
class LegProgress:
    leg_id: str
    machine_id: str
    stage: Stage
    at_s: float
    node: str | None = None
    detail: str | None = None


class Traffic(Protocol):
    """Moves the machines: turns assigned legs into released steps and back.

    `assign` hands a leg to a machine; `tick` (every planning period) returns the
    commands to send now (movement commands extended as the execution graph allows,
    crane commands when the runway schedule allows); `on_state` digests a machine's
    report and returns the progress it shows. `withdraw` takes a leg back (cancel,
    re-dispatch); the machine stops at the next safe node.
    """

    def assign(self, leg: Leg, machine_id: str, now_s: float) -> None: ...

    def withdraw(self, leg_id: str, now_s: float) -> None: ...

    def on_state(self, state: MachineState) -> list[LegProgress]: ...

    def tick(self, now_s: float, budget_s: float) -> list[Command]: ...

    def set_blocked_zones(self, zone_ids: frozenset[str]) -> None: ...

    def planned_path(self, machine_id: str) -> list[str]: ...

    def machine_stopped(self, machine_id: str, stopped: bool) -> None:
        """A machine stopped (fault, link lost, e-stop, out of service) or is back:
        traffic holds it where it stands and plans the others around it."""
        ...
