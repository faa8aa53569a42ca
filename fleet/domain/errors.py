"""Errors of the order and machine model."""

from __future__ import annotations

from enum import StrEnum

from fleet.errors import FleetError


class IllegalTransition(FleetError):
    """A lifecycle move the state machine does not allow (e.g. done -> queued)."""

    status = 409
    kind = "illegal-transition"

    def __init__(self, what: str, ident: str, current: str, target: str) -> None:
        self.what = what
        self.ident = ident
        self.current = current
        self.target = target
        super().__init__(f"{what} {ident!r} cannot go from {current!r} to {target!r}")


class Veto(StrEnum):
    """Why an order is refused at submission (openTCS calls these assignment vetoes)."""

    UNKNOWN_STATION = "unknown-station"
    UNREACHABLE = "unreachable"
    NO_CAPABLE_MACHINE = "no-capable-machine"
    OVERWEIGHT = "overweight"
    LOAD_TYPE = "load-type-not-accepted"
    HAZARDOUS = "hazardous-not-allowed"
    SAME_PLACE = "same-place"
    DEADLINE_PASSED = "deadline-passed"
    INVALID = "invalid"


class OrderRejected(FleetError):
    """An order that can never be carried out; refused instead of queued forever."""

    status = 422
    kind = "order-rejected"

    def __init__(self, veto: Veto, detail: str, field: str | None = None) -> None:
        self.veto = veto
        self.detail = detail
        self.field = field
        super().__init__(f"order refused ({veto.value}): {detail}")
