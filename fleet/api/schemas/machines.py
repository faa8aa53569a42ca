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
    # the core's view of the machine
    order_id: str | None = None
    link_quality: float | None = None  # 0..1 (0: link lost)
    pose_sigma_m: float | None = None  # 1-sigma position error of the fused pose, worst direction
    pose_quality: str | None = None  # ok | degraded (slowed) | lost (stopped); None: not fused
    pose_source: str | None = None  # fused | reported (the machine's own pose, before fusion has a track)
    localization: dict[str, dict[str, float | int | None]] | None = None  # per source: rate, rejections, fix age


class EstopResult(BaseModel):
    estopped: list[str]
