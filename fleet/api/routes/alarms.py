"""Alarms (list, acknowledge) and KPIs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from fleet.api.deps import AlarmAcker, CtxDep, Reader, actor
from fleet.api.schemas.misc import Alarm, Kpis
from fleet.api.schemas.problem import COMMON, problems
from fleet.core.kpis import kpis

router = APIRouter(tags=["alarms", "kpis"], responses=COMMON)


@router.get("/alarms", response_model=list[Alarm])
def list_alarms(principal: Reader, ctx: CtxDep, open_only: bool = False,
                limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[Alarm]:
    """Newest first; `open_only` leaves out acknowledged ones."""
    return [Alarm(**a) for a in ctx.core.store.alarms(open_only=open_only, limit=limit)]


@router.post("/alarms/{alarm_id}/ack", response_model=Alarm, responses=problems(404, 409))
async def ack_alarm(alarm_id: str, principal: AlarmAcker, ctx: CtxDep, request: Request) -> Alarm:
    return Alarm(**await ctx.command(ctx.core.ack_alarm(alarm_id, actor(principal, request))))


@router.get("/kpis", response_model=Kpis)
def get_kpis(principal: Reader, ctx: CtxDep,
             window_s: Annotated[float, Query(gt=0, le=7 * 86400)] = 3600.0) -> Kpis:
    """Throughput per hour, waiting orders, lead times and utilisation over the window."""
    return Kpis(**kpis(ctx.core, window_s))
