"""Typed identities, so an order id is never passed where a vehicle id belongs."""

from typing import NewType

OrderId = NewType("OrderId", str)
LegId = NewType("LegId", str)
VehicleId = NewType("VehicleId", str)
CraneId = NewType("CraneId", str)
MachineId = NewType("MachineId", str)  # a vehicle or a crane
