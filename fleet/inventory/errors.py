"""Errors of the inventory: unknown places and loads, broken stacking rules, no room."""

from __future__ import annotations

from fleet.errors import ConflictError, FleetError, NotFoundError


class InventoryError(FleetError):
    """Base of the inventory's errors."""

    status = 400
    kind = "inventory-error"


class UnknownPosition(NotFoundError):
    def __init__(self, position: str) -> None:
        super().__init__("storage position", position)


class UnknownLoad(NotFoundError):
    def __init__(self, load_id: str) -> None:
        super().__init__("load", load_id)


class StackingRefused(InventoryError):
    """A placement or move that would break a stacking rule; names rule and place."""

    status = 409
    kind = "stacking-refused"

    def __init__(self, load_id: str, position: str, reasons: list[str]) -> None:
        self.load_id = load_id
        self.position = position
        self.reasons = reasons
        super().__init__(f"load {load_id!r} may not go to {position!r}: {'; '.join(reasons)}")


class NoRoom(InventoryError):
    """No free position takes this load; `reason` counts what ruled each one out."""

    status = 409
    kind = "no-room"

    def __init__(self, load_id: str, reason: str) -> None:
        self.load_id = load_id
        self.reason = reason
        super().__init__(f"no room for load {load_id!r}: {reason}")


class InventoryConflict(ConflictError):
    kind = "inventory-conflict"


class InvalidLoad(InventoryError):
    status = 422
    kind = "invalid-load"

    def __init__(self, field: str, detail: str) -> None:
        self.field = field
        self.detail = detail
        super().__init__(f"invalid load ({field}): {detail}")
