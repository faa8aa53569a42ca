"""Orders: create (idempotent on the client id), get, list, cancel, reprioritise, timeline."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response

from fleet.api.deps import CtxDep, OrderWriter, Reader, actor
from fleet.api.schemas.orders import (
    CancelRequest,
    OrderCreate,
    OrderDetail,
    OrderPage,
    OrderPublic,
    PriorityUpdate,
    TimelineEntry,
    leg_public,
    order_public,
)
from fleet.api.schemas.problem import COMMON, problems
from fleet.domain import OrderState
from fleet.errors import NotFoundError

router = APIRouter(prefix="/orders", tags=["orders"], responses=COMMON)

_ID = r"^[A-Za-z0-9_.:\-]{1,128}$"


@router.post("", status_code=201, response_model=OrderPublic,
             responses={200: {"model": OrderPublic, "description": "a retry of an order already stored"},
                        **problems(409)})
async def create_order(body: OrderCreate, principal: OrderWriter, ctx: CtxDep, request: Request,
                       response: Response) -> OrderPublic:
    """Store an order and queue it; 201 once it is durable. Same client id and body again: 200, same order."""
    store = ctx.core.store
    if body.client_id:
        store.expect_client(body.client_id)  # its idempotency lookup joins the batch's one query
    try:
        order, created = await ctx.command(ctx.core.submit_order(body.to_request(), actor(principal, request)))
    finally:
        if body.client_id:
            store.forget_client(body.client_id)
    if not created:
        response.status_code = 200
        response.headers["Idempotent-Replay"] = "true"
    response.headers["Location"] = f"/api/v1/orders/{order.id}"
    return order_public(order)


@router.get("", response_model=OrderPage)
def list_orders(
    principal: Reader, ctx: CtxDep,
    state: Annotated[list[OrderState], Query(description="any of these states")] = [],  # noqa: B006
    priority: Annotated[int | None, Query(ge=0, le=9)] = None,
    station: Annotated[str | None, Query(pattern=_ID, description="source or destination")] = None,
    created_from: Annotated[float | None, Query(ge=0, le=1e11)] = None,
    created_to: Annotated[float | None, Query(ge=0, le=1e11)] = None,
    client_id: Annotated[str | None, Query(pattern=_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> OrderPage:
    """Orders, newest first, filtered; `total` counts every match."""
    items, total = ctx.core.store.list_orders(
        states=[s.value for s in state], priority=priority, station=station, created_from=created_from,
        created_to=created_to, client_id=client_id, limit=limit, offset=offset)
    return OrderPage(items=[order_public(o) for o in items], total=total, limit=limit, offset=offset)


def _get(ctx: CtxDep, order_id: str):
    order = ctx.core.store.get_order(order_id)
    if order is None:
        raise NotFoundError("order", order_id)
    return order


@router.get("/{order_id}", response_model=OrderDetail, responses=problems(404))
def get_order(order_id: str, principal: Reader, ctx: CtxDep) -> OrderDetail:
    order = _get(ctx, order_id)
    legs = [leg_public(g) for g in ctx.core.store.legs_of(order_id)]
    return OrderDetail(**order_public(order).model_dump(), leg_details=legs)


@router.get("/{order_id}/timeline", response_model=list[TimelineEntry], responses=problems(404))
def order_timeline(order_id: str, principal: Reader, ctx: CtxDep) -> list[TimelineEntry]:
    """Every transition of the order with its time, stage and machine."""
    _get(ctx, order_id)
    return [TimelineEntry(**row) for row in ctx.core.store.timeline(order_id)]


@router.post("/{order_id}/cancel", response_model=OrderPublic, responses=problems(404, 409))
async def cancel_order(order_id: str, principal: OrderWriter, ctx: CtxDep, request: Request,
                       body: Annotated[CancelRequest | None, Body()] = None) -> OrderPublic:
    reason = body.reason if body else "cancelled by request"
    order = await ctx.command(ctx.core.cancel_order(order_id, reason, actor(principal, request)))
    return order_public(order)


@router.post("/{order_id}/priority", response_model=OrderPublic, responses=problems(404, 409))
async def reprioritise_order(order_id: str, body: PriorityUpdate, principal: OrderWriter, ctx: CtxDep,
                             request: Request) -> OrderPublic:
    order = await ctx.command(ctx.core.reprioritise(order_id, body.priority, actor(principal, request)))
    return order_public(order)
