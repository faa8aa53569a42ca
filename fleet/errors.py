"""The root of every domain error, so one API handler can map them all.

Each area defines its own subclasses next to its main classes (maps.errors,
fleet.domain.errors, ...) and carries the ids involved as attributes.
"""

from __future__ import annotations


class FleetError(Exception):
    """Base of all fleet5g domain errors. `status` is the HTTP status the API maps it to."""

    status: int = 400
    kind: str = "fleet-error"


class NotFoundError(FleetError):
    status = 404
    kind = "not-found"

    def __init__(self, what: str, ident: str) -> None:
        self.what = what
        self.ident = ident
        super().__init__(f"{what} {ident!r} not found")


class ConflictError(FleetError):
    """A request that contradicts the current state (e.g. cancel a finished order)."""

    status = 409
    kind = "conflict"
