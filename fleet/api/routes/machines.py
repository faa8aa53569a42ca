"""Vehicles and cranes: state, and the dispatcher's commands to them."""

from __future__ import annotations

from fastapi import APIRouter, Request

from fleet.api.deps import CtxDep, MachineController, Reader, actor
from fleet.api.schemas.machines import EstopResult, MachinePublic
from fleet.api.schemas.problem import COMMON, problems
from fleet.core import MachineAction
from fleet.domain import Crane
from fleet.errors import NotFoundError

router = APIRouter(tags=["machines"], responses=COMMON)


def _public(ctx: CtxDep, m: object) -> MachinePublic:
    out = ctx.core.machine_public(m)  # type: ignore[arg-type]
    return MachinePublic(**out, planned_path=ctx.core.planned_path(out["machine_id"]))


def _one(ctx: CtxDep, machine_id: str, crane: bool) -> object:
    m = ctx.core.machines_by_id().get(machine_id)
    if m is None or isinstance(m, Crane) != crane:
        raise NotFoundError("crane" if crane else "vehicle", machine_id)
    return m


def _routes(kind: str, crane: bool) -> None:
    @router.get(f"/{kind}", response_model=list[MachinePublic], name=f"list_{kind}")
    def list_machines(principal: Reader, ctx: CtxDep) -> list[MachinePublic]:
        return [_public(ctx, m) for m in sorted(ctx.core.machines(), key=lambda m: m.id)
                if isinstance(m, Crane) == crane]

    @router.get(f"/{kind}/{{machine_id}}", response_model=MachinePublic, responses=problems(404), name=f"get_{kind}")
    def get_machine(machine_id: str, principal: Reader, ctx: CtxDep) -> MachinePublic:
        return _public(ctx, _one(ctx, machine_id, crane))

    @router.post(f"/{kind}/{{machine_id}}/{{action}}", response_model=MachinePublic, responses=problems(404, 409),
                 name=f"command_{kind}")
    async def command_machine(machine_id: str, action: MachineAction, principal: MachineController,
                              ctx: CtxDep, request: Request) -> MachinePublic:
        """pause | resume | estop | charge | out_of_service (resume also releases an e-stop)."""
        _one(ctx, machine_id, crane)
        out = await ctx.command(ctx.core.machine_action(machine_id, action, actor(principal, request)))
        return MachinePublic(**out, planned_path=ctx.core.planned_path(machine_id))


_routes("vehicles", crane=False)
_routes("cranes", crane=True)


@router.post("/estop", response_model=EstopResult)
async def estop_all(principal: MachineController, ctx: CtxDep, request: Request) -> EstopResult:
    """E-stop every machine (a software stop; the plant's hard-wired e-stop stays the first line)."""
    ids = await ctx.command(ctx.core.estop_all(actor(principal, request)))
    return EstopResult(estopped=ids)
