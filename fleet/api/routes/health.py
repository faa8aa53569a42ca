"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from fleet.api.deps import CtxDep, require
from fleet.api.schemas.misc import Health
from fleet.api.schemas.problem import problems
from fleet.security import Permission

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def healthz(ctx: CtxDep) -> Health:
    """The process answers (no token needed: load balancers ask)."""
    return Health(status="ok", instance=ctx.settings.instance_id, leader=ctx.core.leader)


@router.get("/readyz", response_model=Health, responses=problems(503))
def readyz(ctx: CtxDep, response: Response) -> Health:
    """Ready to serve: the store answers; on the leader the core runs. Followers are ready for reads."""
    details: dict[str, object] = {"leader_url": ctx.leader_url() if ctx.leader_url else None}
    ok = True
    try:
        ctx.core.store.one("SELECT 1 AS one")
    except Exception as exc:  # any store failure means not ready
        ok, details["store"] = False, str(exc)
    if ctx.core.leader and not ctx.core.ready:
        ok, details["core"] = False, "not started"
    details["queue_depth"] = ctx.core.queue_depth()
    if not ok:
        response.status_code = 503
    return Health(status="ready" if ok else "not-ready", instance=ctx.settings.instance_id,
                  leader=ctx.core.leader, details=details)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus"},
                       **problems(401, 403, 429)})
async def metrics(request: Request, ctx: CtxDep) -> Response:
    """Prometheus text format: orders by state, dispatch and tick times, link quality, HTTP times."""
    if not ctx.settings.metrics_public:
        await require(Permission.READ)(request, _creds(request))
    return Response(ctx.metrics.render(ctx.core), media_type="text/plain; version=0.0.4")


def _creds(request: Request):
    from fastapi.security import HTTPAuthorizationCredentials

    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return HTTPAuthorizationCredentials(scheme="Bearer", credentials=token.strip())
