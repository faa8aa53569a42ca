"""What a handler needs, as named `Annotated` aliases (one word each in a signature)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fleet.api.problems import CoreBusy, RateLimited
from fleet.config import Settings
from fleet.core import Actor, FleetCore
from fleet.metrics import FleetMetrics
from fleet.security import (
    Accounts,
    Forbidden,
    Permission,
    Principal,
    RateLimiter,
    Unauthorized,
    allows,
)

T = TypeVar("T")

COMMAND_TIMEOUT_S = 10.0


@dataclass
class AppContext:
    core: FleetCore
    settings: Settings
    accounts: Accounts
    limiter: RateLimiter
    metrics: FleetMetrics
    leader_url: Any = None  # callable () -> str | None, set by the service (followers forward)
    extras: dict[str, Any] = field(default_factory=dict)

    def store_tx(self) -> Any:
        return self.core.store.transaction()

    async def command(self, fut: concurrent.futures.Future[T]) -> T:
        """Await a core command without holding a worker thread."""
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), COMMAND_TIMEOUT_S)
        except TimeoutError:
            raise CoreBusy(f"the core did not answer within {COMMAND_TIMEOUT_S:.0f} s") from None


async def get_ctx(request: Request) -> AppContext:
    # async on purpose: a sync dependency costs a worker-thread hop on every request
    return request.app.state.ctx


CtxDep = Annotated[AppContext, Depends(get_ctx)]

_bearer = HTTPBearer(auto_error=False, description="an API token (`fleet token create`) or a login token")


def _audit_refusal(ctx: AppContext, request: Request, who: str, role: str | None, token_id: str | None,
                   outcome: str) -> None:
    if request.method == "GET":
        return
    try:
        with ctx.store_tx() as tx:
            tx.add_audit(time.time(), who, role, token_id, f"{request.method} {request.url.path}", None,
                         request.client.host if request.client else None, outcome)
    except Exception:  # auditing a refusal must not turn it into a 500
        pass


def require(permission: Permission) -> Any:
    """A dependency: the caller's principal, if its token is valid, in time and allowed."""

    async def check(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
        # async: no worker-thread hop; the token lookup is an in-memory cache hit almost always
        ctx: AppContext = request.app.state.ctx
        token = creds.credentials if creds else None
        if token is None and request.method == "GET":
            token = request.query_params.get("access_token")  # EventSource cannot set headers
        principal = ctx.accounts.resolve(token) if token else None
        if principal is None:
            _audit_refusal(ctx, request, "anonymous", None, None, "unauthorized")
            raise Unauthorized("a valid bearer token is required")
        wait = ctx.limiter.allow(principal.token_id)
        if wait > 0:
            ctx.metrics.rate_limited.inc()
            raise RateLimited(wait)
        if not allows(principal.role, permission):
            _audit_refusal(ctx, request, principal.name, principal.role, principal.token_id, "forbidden")
            raise Forbidden(f"role {principal.role!r} may not {permission.value} ({request.method} {request.url.path})")
        request.state.principal = principal
        return principal

    return check


Reader = Annotated[Principal, Depends(require(Permission.READ))]
OrderWriter = Annotated[Principal, Depends(require(Permission.ORDERS))]
MachineController = Annotated[Principal, Depends(require(Permission.MACHINES))]
ZoneController = Annotated[Principal, Depends(require(Permission.ZONES))]
AlarmAcker = Annotated[Principal, Depends(require(Permission.ALARMS))]
WebhookManager = Annotated[Principal, Depends(require(Permission.WEBHOOKS))]
AccountManager = Annotated[Principal, Depends(require(Permission.ACCOUNTS))]
AuditReader = Annotated[Principal, Depends(require(Permission.AUDIT))]


def actor(principal: Principal, request: Request) -> Actor:
    forwarded = request.headers.get("x-fleet-forwarded-for")
    source = forwarded or (request.client.host if request.client else None)
    return Actor(principal.name, principal.role, principal.token_id, source)
