"""The part of the fleet dispatch reads: machines by id, as the core last saw them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from fleet.domain import Crane, CraneId, Mode, Vehicle, VehicleId


@dataclass(frozen=True)
class FleetView:
    """A read-only snapshot of the machines; the core builds one per round."""

    vehicles: Mapping[VehicleId, Vehicle] = field(default_factory=dict)
    cranes: Mapping[CraneId, Crane] = field(default_factory=dict)

    @classmethod
    def of(cls, vehicles: Iterable[Vehicle] = (), cranes: Iterable[Crane] = ()) -> FleetView:
        return cls({v.id: v for v in vehicles}, {c.id: c for c in cranes})

    def in_service_vehicles(self) -> list[Vehicle]:
        """Vehicles that may ever take a leg (faulted or offline ones may recover)."""
        return [v for v in self.vehicles.values() if v.mode != Mode.OUT_OF_SERVICE]

    def cranes_of(self, bay: str) -> list[Crane]:
        return [c for c in self.cranes.values() if c.bay == bay and c.mode != Mode.OUT_OF_SERVICE]
