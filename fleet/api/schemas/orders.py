"""Order schemas: create, public view, page, timeline."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from fleet.core.requests import OrderRequest
from fleet.domain import Leg, Order, OrderState

_ID = r"^[A-Za-z0-9_.:\-]{1,128}$"


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: str | None = Field(None, pattern=_ID, description="the WMS's own id; a retry with the same id and body returns the same order")
    source: str = Field(..., pattern=_ID, description="station or slot id to pick up at")
    destination: str = Field(..., pattern=_ID, description="station or slot id to drop at")
    load_type: str = Field("pallet", pattern=_ID)
    weight_kg: float = Field(0.0, ge=0, le=1_000_000)
    priority: int = Field(5, ge=0, le=9, description="0 lowest, 9 highest")
    deadline_s: float | None = Field(None, ge=0, le=1e11, description="Unix seconds")
    hazardous: bool = False
    load_id: str | None = Field(None, pattern=_ID)

    def to_request(self) -> OrderRequest:
        return OrderRequest(**self.model_dump())


class PriorityUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    priority: int = Field(..., ge=0, le=9)


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("cancelled by request", max_length=500)


class LegPublic(BaseModel):
    id: str
    kind: str
    state: str
    seq: int
    source: str
    destination: str
    machine_id: str | None
    after: str | None
    handoff: str | None
    updated_s: float


class OrderPublic(BaseModel):
    id: str
    client_id: str | None
    source: str
    destination: str
    load_type: str
    weight_kg: float
    priority: int
    deadline_s: float | None
    hazardous: bool
    load_id: str | None
    state: OrderState
    created_s: float
    updated_s: float
    reason: str | None
    legs: list[str]


class OrderDetail(OrderPublic):
    leg_details: list[LegPublic]


class OrderPage(BaseModel):
    items: list[OrderPublic]
    total: int
    limit: int
    offset: int


class TimelineEntry(BaseModel):
    at_s: float
    state: str
    stage: str | None
    leg_id: str | None
    machine_id: str | None
    detail: str | None


def order_public(o: Order) -> OrderPublic:
    return OrderPublic(
        id=o.id, client_id=o.client_id, source=o.source, destination=o.destination, load_type=o.load_type,
        weight_kg=o.weight_kg, priority=o.priority, deadline_s=o.deadline_s, hazardous=o.hazardous,
        load_id=o.load_id, state=o.state, created_s=o.created_s, updated_s=o.updated_s, reason=o.reason,
        legs=list(o.legs),
    )


def leg_public(g: Leg) -> LegPublic:
    return LegPublic(id=g.id, kind=g.kind.value, state=g.state.value, seq=g.seq, source=g.source,
                     destination=g.destination, machine_id=g.machine_id, after=g.after, handoff=g.handoff,
                     updated_s=g.updated_s)
