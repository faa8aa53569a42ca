"""Vehicle and crane views."""

from __future__ import annotations

from pydantic import BaseModel


class CapabilitiesPublic(BaseModel):
    payload_kg: float
    load_types: list[str]
    hazardous_rated: bool


class MachinePublic(BaseModel):
    machine_id: str
    kind: str
    mode: str
    held: str | None
    leg_id: str | None
    load_id: str | None
    link_ok: bool
    last_state_s: float
    capabilities: CapabilitiesPublic
    # vehicles
    node: str | None = None
    x: float | None = None
    y: float | None = None
    heading_rad: float | None = None
    battery: float | None = None
    charging: bool | None = None
    link_latency_ms: float | None = None
    # cranes
    bay: str | None = None
    bridge_m: float | None = None
    trolley_m: float | None = None
    hoist_m: float | None = None
    planned_path: list[str] = []


class EstopResult(BaseModel):
    estopped: list[str]
