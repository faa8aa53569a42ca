"""The domain model: orders and legs with their lifecycles, vehicles and cranes.

Frozen values with typed ids, changed with `dataclasses.replace` through the
transition functions here, so an illegal move is refused in one place.
"""

from fleet.domain.errors import IllegalTransition, OrderRejected, Veto
from fleet.domain.ids import CraneId, LegId, MachineId, OrderId, VehicleId
from fleet.domain.machine import (
    Capabilities,
    Crane,
    MachineKind,
    Mode,
    Vehicle,
)
from fleet.domain.order import (
    Leg,
    LegKind,
    LegState,
    Order,
    OrderState,
    transition_leg,
    transition_order,
)

__all__ = [
    "Capabilities",
    "Crane",
    "CraneId",
    "IllegalTransition",
    "Leg",
    "LegId",
    "LegKind",
    "LegState",
    "MachineId",
    "MachineKind",
    "Mode",
    "Order",
    "OrderId",
    "OrderRejected",
    "OrderState",
    "Vehicle",
    "VehicleId",
    "Veto",
    "transition_leg",
    "transition_order",
]
