"""Login, who am I, users, tokens, the audit log, and webhook registration."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from fleet.api.deps import AccountManager, AuditReader, CtxDep, Reader, WebhookManager
from fleet.api.schemas.misc import (
    AuditEntry,
    Login,
    LoginResult,
    Me,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    UserCreate,
    UserPublic,
    WebhookCreate,
    WebhookPublic,
)
from fleet.api.schemas.problem import COMMON, problems
from fleet.security import GRANTS, Role

router = APIRouter(responses=COMMON)


@router.post("/auth/login", response_model=LoginResult, tags=["auth"], responses=problems(401))
def login(body: Login, ctx: CtxDep, request: Request) -> LoginResult:
    """User name and password -> a bearer token for the web UI (expires)."""
    wait = ctx.limiter.allow(f"login:{request.client.host if request.client else '?'}")
    if wait > 0:
        from fleet.api.problems import RateLimited

        raise RateLimited(wait)
    token, role, expires = ctx.accounts.login(body.username, body.password, ctx.settings.login_ttl_s)
    return LoginResult(token=token, role=role, expires_s=expires)


@router.get("/auth/me", response_model=Me, tags=["auth"])
def me(principal: Reader, ctx: CtxDep) -> Me:
    perms = sorted(p.value for p in GRANTS[Role(principal.role)])
    return Me(name=principal.name, role=principal.role, token_id=principal.token_id, permissions=perms)


@router.get("/users", response_model=list[UserPublic], tags=["accounts"])
def list_users(principal: AccountManager, ctx: CtxDep) -> list[UserPublic]:
    return [UserPublic(**u) for u in ctx.accounts.users()]


@router.post("/users", status_code=201, response_model=UserPublic, tags=["accounts"], responses=problems(409))
def add_user(body: UserCreate, principal: AccountManager, ctx: CtxDep) -> UserPublic:
    ctx.accounts.add_user(body.name, body.role, body.password, actor=principal.name)
    return next(UserPublic(**u) for u in ctx.accounts.users() if u["name"] == body.name)


@router.get("/tokens", response_model=list[TokenPublic], tags=["accounts"])
def list_tokens(principal: AccountManager, ctx: CtxDep) -> list[TokenPublic]:
    return [TokenPublic(**t) for t in ctx.accounts.tokens()]


@router.post("/tokens", status_code=201, response_model=TokenCreated, tags=["accounts"])
def create_token(body: TokenCreate, principal: AccountManager, ctx: CtxDep) -> TokenCreated:
    """A new API token; the token itself is shown only in this answer."""
    token_id, token = ctx.accounts.create_token(body.role, label=body.label, ttl_s=body.ttl_s, actor=principal.name)
    return TokenCreated(id=token_id, token=token, role=body.role)


@router.delete("/tokens/{token_id}", status_code=204, tags=["accounts"], responses=problems(404))
def revoke_token(token_id: str, principal: AccountManager, ctx: CtxDep) -> Response:
    ctx.accounts.revoke(token_id, actor=principal.name)
    return Response(status_code=204)


@router.get("/audit", response_model=list[AuditEntry], tags=["accounts"])
def audit_log(principal: AuditReader, ctx: CtxDep,
              after_id: Annotated[int, Query(ge=0, le=2**62)] = 0,
              limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[AuditEntry]:
    """Every command: who, what, when, from where, and how it ended (append-only)."""
    return [AuditEntry(**row) for row in ctx.core.store.audit(after_id=after_id, limit=limit)]


@router.get("/webhooks", response_model=list[WebhookPublic], tags=["webhooks"])
def list_webhooks(principal: WebhookManager, ctx: CtxDep) -> list[WebhookPublic]:
    return [WebhookPublic(**w) for w in ctx.extras["webhooks"].list()]


@router.post("/webhooks", status_code=201, response_model=WebhookPublic, tags=["webhooks"])
def register_webhook(body: WebhookCreate, principal: WebhookManager, ctx: CtxDep) -> WebhookPublic:
    """Deliver events from now on (types are prefixes) to `url`, signed with `secret`."""
    return WebhookPublic(**ctx.extras["webhooks"].register(body.url, body.secret, body.event_types, principal.name))


@router.delete("/webhooks/{webhook_id}", status_code=204, tags=["webhooks"], responses=problems(404))
def delete_webhook(webhook_id: str, principal: WebhookManager, ctx: CtxDep) -> Response:
    ctx.extras["webhooks"].delete(webhook_id, principal.name)
    return Response(status_code=204)
