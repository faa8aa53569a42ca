"""HTTP routes of the inventory: `/api/v1/inventory/...` over `InventoryService`.

The lead mounts `router` (prefix included) and provides the facade either as
`app.state.ctx.extras["inventory"]`, as `app.state.inventory`, or by overriding the
`inventory_service` dependency. Roles come from `fleet.api.deps` when it is there
(read: Reader; putaway/stock/tally: OrderWriter or MachineController; alarms:
AlarmAcker); `make_router(...)` builds the same routes with other dependencies
(tests, or a service without accounts). Handlers only call the facade: domain
errors (FleetError) go to the API's problem+json handler.
"""

# no `from __future__ import annotations`: FastAPI must see the local Annotated aliases

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from fleet.errors import FleetError
from fleet.inventory.service import InventoryService

PREFIX = "/api/v1/inventory"


class InventoryUnavailable(FleetError):
    status = 503
    kind = "inventory-unavailable"


def inventory_service(request: Request) -> InventoryService:
    """The facade the app carries; 503 when the service runs without an inventory."""
    ctx = getattr(request.app.state, "ctx", None)
    svc = getattr(ctx, "extras", {}).get("inventory") if ctx is not None else None
    svc = svc or getattr(request.app.state, "inventory", None)
    if svc is None:
        raise InventoryUnavailable("this service runs without an inventory (no site slots configured)")
    return svc


class LoadIn(BaseModel):
    id: str = Field(min_length=1, max_length=120)
    type: str = Field("coil", min_length=1, max_length=40)
    weight_kg: float = Field(0.0, ge=0, le=1e6)
    width_m: float = Field(0.0, ge=0, le=100)
    diameter_m: float = Field(0.0, ge=0, le=100)
    hazard_class: str | None = Field(None, max_length=20)
    arrival_s: float = Field(0.0, ge=0)
    turnover: str = Field("B", pattern="^[ABC]$")
    rfid_tag: str | None = Field(None, max_length=120)


class PutawayIn(BaseModel):
    loads: list[LoadIn] = Field(min_length=1, max_length=5000)


class StockIn(BaseModel):
    load: LoadIn
    position: str = Field(min_length=1, max_length=200)


class TallyIn(BaseModel):
    """A tally read reported by a machine or gateway (the label already decoded)."""

    stage: str = Field(pattern="^(pickup|drop|audit)$")
    expected: str = Field(min_length=1, max_length=120)
    place: str | None = Field(None, max_length=200)
    texts: list[str] = Field(default_factory=list, max_length=20)  # decoded label texts
    image_id: str | None = Field(None, max_length=200)
    rfid_read: str | None = Field(None, max_length=120)
    attempt: int = Field(1, ge=1, le=100)
    leg_id: str | None = Field(None, max_length=200)
    machine_id: str | None = Field(None, max_length=200)


class AlarmAnswer(BaseModel):
    action: str = Field(pattern="^(accept|re-read|check-station)$")


def _noop() -> None:
    return None


def _default_deps() -> tuple[Any, Any, Any]:
    try:
        from fleet.api.deps import AlarmAcker, OrderWriter, Reader

        return Reader, OrderWriter, AlarmAcker
    except Exception:  # the API package is optional for the inventory
        noop = Annotated[None, Depends(_noop)]
        return noop, noop, noop


def _who(principal: Any) -> str:
    for attr in ("name", "subject", "user", "id"):
        v = getattr(principal, attr, None)
        if isinstance(v, str) and v:
            return v
    return "operator"


def make_router(service_dep: Callable[..., InventoryService] = inventory_service,
                read: Any = None, write: Any = None, ack: Any = None) -> APIRouter:
    """The inventory routes; `read`/`write`/`ack` are Annotated principal dependencies."""
    d_read, d_write, d_ack = _default_deps()
    Read, Write, Ack = read or d_read, write or d_write, ack or d_ack
    Svc = Annotated[InventoryService, Depends(service_dep)]
    router = APIRouter(prefix=PREFIX, tags=["inventory"])

    @router.get("/slots/{slot_id}")
    def get_slot(slot_id: str, principal: Read, svc: Svc) -> dict[str, Any]:
        """Every position of one slot (levels or tiers) and what lies there."""
        return svc.by_slot(slot_id)

    @router.get("/loads/{load_id}")
    def get_load(load_id: str, principal: Read, svc: Svc) -> dict[str, Any]:
        """Where a load lies, what rests on it, its last moves."""
        return svc.by_load(load_id)

    @router.get("/map")
    def get_map(principal: Read, svc: Svc, bay: Annotated[str | None, Query(max_length=100)] = None) -> dict[str, Any]:
        """The slot map for the web UI (parallel arrays, one entry per position)."""
        return svc.slot_map(bay)

    @router.get("/tally")
    def get_tally(principal: Read, svc: Svc, leg_id: str | None = None, place: str | None = None,
                  load_id: str | None = None, outcome: str | None = None,
                  after_id: Annotated[int, Query(ge=0)] = 0,
                  limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> list[dict[str, Any]]:
        """Tally records, oldest first, filtered; page with `after_id`."""
        return svc.tally_records(leg_id=leg_id, place=place, load_id=load_id, outcome=outcome,
                                 after_id=after_id, limit=limit)

    @router.get("/reconciliation")
    def get_reconciliation(principal: Read, svc: Svc) -> dict[str, Any]:
        """Expected versus read per position, with the discrepancies listed."""
        return svc.reconciliation()

    @router.get("/alarms")
    def get_alarms(principal: Read, svc: Svc, open_only: bool = False,
                   limit: Annotated[int, Query(ge=1, le=5000)] = 200) -> list[dict[str, Any]]:
        return svc.alarms(open_only=open_only, limit=limit)

    @router.post("/putaway")
    def post_putaway(body: PutawayIn, principal: Write, svc: Svc) -> dict[str, Any]:
        """Plan positions for incoming loads (stored only when each drop is confirmed)."""
        return svc.plan_putaway([ld.model_dump() for ld in body.loads])

    @router.post("/stock")
    def post_stock(body: StockIn, principal: Write, svc: Svc) -> dict[str, Any]:
        """Register a load at a position (stock take); checked against every rule."""
        return svc.store(body.load.model_dump(), body.position)

    @router.post("/loads/{load_id}/retrieval")
    def post_retrieval(load_id: str, principal: Read, svc: Svc,
                       upcoming: Annotated[list[str] | None, Query(max_length=200)] = None) -> dict[str, Any]:
        """The reshuffle moves a retrieval needs (a plan; nothing moves)."""
        return svc.plan_retrieval(load_id, upcoming or ())

    @router.post("/tally")
    def post_tally(body: TallyIn, principal: Write, svc: Svc) -> dict[str, Any]:
        """Record a decoded tally read and get the decision (confirm, retry or stop)."""
        from fleet.inventory.tally import LabelRead, load_id_of

        ids: list[str] = []
        for t in body.texts:
            lid = load_id_of(t)
            if lid is not None and lid not in ids:
                ids.append(lid)
        read = LabelRead(tuple(body.texts), (), tuple(ids))
        return svc.tally(body.stage, body.expected, place=body.place, read=read, image_id=body.image_id,
                         rfid_read=body.rfid_read, attempt=body.attempt, leg_id=body.leg_id,
                         machine_id=body.machine_id)

    @router.post("/alarms/{alarm_id}/resolve")
    def post_resolve(alarm_id: str, body: AlarmAnswer, principal: Ack, svc: Svc) -> dict[str, Any]:
        """Answer a tally alarm: accept (apply the drop), re-read, or send to a check station."""
        return svc.resolve_alarm(alarm_id, body.action, _who(principal))

    return router


router = make_router()
