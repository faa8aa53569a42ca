"""Vehicles (AGVs/AMRs) and cranes: what they can do and the state they report."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from fleet.domain.ids import CraneId, LegId, VehicleId


class MachineKind(StrEnum):
    AGV = "agv"
    CRANE = "crane"


class Mode(StrEnum):
    AUTO = "auto"  # under the fleet's control
    MANUAL = "manual"  # driven by a person; the fleet plans around it
    FAULT = "fault"
    ESTOPPED = "estopped"
    OFFLINE = "offline"  # link lost
    PAUSED = "paused"  # held by a dispatcher
    OUT_OF_SERVICE = "out_of_service"  # taken out by a dispatcher


@dataclass(frozen=True)
class Capabilities:
    payload_kg: float = 1000.0
    load_types: tuple[str, ...] = ("pallet",)  # empty tuple: any type
    hazardous_rated: bool = False

    def can_carry(self, load_type: str, weight_kg: float, hazardous: bool) -> bool:
        if weight_kg > self.payload_kg:
            return False
        if self.load_types and load_type not in self.load_types:
            return False
        return not (hazardous and not self.hazardous_rated)


@dataclass(frozen=True)
class Vehicle:
    id: VehicleId
    capabilities: Capabilities = field(default_factory=Capabilities)
    mode: Mode = Mode.AUTO
    node: str | None = None  # last node reached (the planner's position)
    x: float = 0.0
    y: float = 0.0
    heading_rad: float = 0.0
    battery: float = 1.0  # state of charge, 0..1
    charging: bool = False
    load_id: str | None = None
    leg_id: LegId | None = None
    link_latency_ms: float | None = None
    link_ok: bool = True
    speed_mps: float = 1.5
    drain_per_m: float = 0.0002  # share of battery per metre driven
    drain_per_lift: float = 0.001
    last_state_s: float = 0.0

    @property
    def available(self) -> bool:
        """May receive a new leg now (auto, linked, not busy)."""
        return self.mode == Mode.AUTO and self.link_ok and self.leg_id is None


@dataclass(frozen=True)
class Crane:
    id: CraneId
    bay: str
    capabilities: Capabilities = field(default_factory=lambda: Capabilities(payload_kg=40000, load_types=("coil",)))
    mode: Mode = Mode.AUTO
    bridge_m: float = 0.0  # position along the runway
    trolley_m: float = 0.0  # position across
    hoist_m: float = 0.0  # hook height
    load_id: str | None = None
    leg_id: LegId | None = None
    link_ok: bool = True
    last_state_s: float = 0.0

    @property
    def available(self) -> bool:
        return self.mode == Mode.AUTO and self.link_ok and self.leg_id is None
