"""The HTTP service: `create_app(core, settings)` mounts every router under /api/v1.

Middleware is plain ASGI (cheap on the hot path): a request size limit, command
forwarding from followers to the leader, and request timing for /metrics. CORS is
closed unless `cors_origins` lists origins.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from fastapi import FastAPI

from fleet import __version__
from fleet.api import problems
from fleet.api.deps import AppContext
from fleet.api.routes import accounts as accounts_routes
from fleet.api.routes import alarms, events, health, machines, orders, site
from fleet.config import Settings
from fleet.core import FleetCore
from fleet.events.webhooks import Webhooks
from fleet.metrics import FleetMetrics
from fleet.security import Accounts, RateLimiter

PREFIX = "/api/v1"
# Paths whose writes are core commands: a follower forwards them to the leader.
FORWARDED = tuple(f"{PREFIX}/{p}" for p in ("orders", "vehicles", "cranes", "estop", "zones", "alarms"))


def _problem_bytes(status: int, kind: str, detail: str, path: str) -> bytes:
    return json.dumps({"type": f"urn:fleet5g:problem:{kind}", "title": kind.replace("-", " ").capitalize(),
                       "status": status, "detail": detail, "instance": path}).encode()


class ServiceMiddleware:
    """Size limit, follower forwarding and timing, in one pass over the ASGI scope."""

    def __init__(self, app: Any, ctx: AppContext) -> None:
        self.app = app
        self.ctx = ctx
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        path = scope["path"]
        limit = self.ctx.settings.max_body_bytes
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > limit:
                await self._send_problem(send, 413, "payload-too-large", f"body over {limit} bytes", path)
                return
            body, more = b"", True
            while more:
                msg = await receive()
                if msg["type"] == "http.disconnect":
                    return
                body += msg.get("body", b"")
                more = msg.get("more_body", False)
                if len(body) > limit:
                    await self._send_problem(send, 413, "payload-too-large", f"body over {limit} bytes", path)
                    return
            if not self.ctx.core.leader and path.startswith(FORWARDED):
                await self._forward(scope, body, send)
                return
            sent = False

            async def replay() -> dict[str, Any]:
                nonlocal sent
                if sent:
                    return await receive()
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            receive = replay
        t0 = time.perf_counter()
        status = [500]

        async def timed_send(msg: dict[str, Any]) -> None:
            if msg["type"] == "http.response.start":
                status[0] = msg["status"]
            await send(msg)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", "other")
            self.ctx.metrics.http_seconds.labels(method, name, str(status[0])).observe(time.perf_counter() - t0)

    async def _send_problem(self, send: Any, status: int, kind: str, detail: str, path: str) -> None:
        body = _problem_bytes(status, kind, detail, path)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/problem+json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _forward(self, scope: dict[str, Any], body: bytes, send: Any) -> None:
        """Hand a command to the leader and pass its answer back unchanged."""
        url = self.ctx.leader_url() if self.ctx.leader_url else None
        if not url:
            await self._send_problem(send, 503, "not-leader", "no leader is known right now; retry shortly", scope["path"])
            return
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=15.0)
        headers = [(k.decode(), v.decode()) for k, v in scope.get("headers") or [] if k not in (b"host", b"content-length")]
        client = scope.get("client")
        headers.append(("x-fleet-forwarded-for", client[0] if client else "?"))
        query = scope.get("query_string", b"").decode()
        target = url.rstrip("/") + scope["path"] + (f"?{query}" if query else "")
        try:
            resp = await self._client.request(scope["method"], target, content=body, headers=headers)
        except httpx.HTTPError as exc:
            await self._send_problem(send, 503, "not-leader", f"the leader at {url} did not answer: {exc}", scope["path"])
            return
        out = [(k.encode(), v.encode()) for k, v in resp.headers.items()
               if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding")]
        out.append((b"content-length", str(len(resp.content)).encode()))
        out.append((b"x-fleet-forwarded-to", url.encode()))
        await send({"type": "http.response.start", "status": resp.status_code, "headers": out})
        await send({"type": "http.response.body", "body": resp.content})


def create_app(core: FleetCore, settings: Settings, *, accounts: Accounts | None = None,
               metrics: FleetMetrics | None = None, webhooks: Webhooks | None = None,
               leader_url: Any = None) -> FastAPI:
    metrics = metrics or core.metrics or FleetMetrics()
    if core.metrics is None:
        core.metrics = metrics
    ctx = AppContext(
        core=core, settings=settings, accounts=accounts or Accounts(core.store),
        limiter=RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst), metrics=metrics,
        leader_url=leader_url,
    )
    ctx.extras["webhooks"] = webhooks or Webhooks(core.store, metrics=metrics)
    app = FastAPI(
        title="fleet5g",
        version=__version__,
        description="Orchestration of AGV fleets and overhead cranes: the WMS and dispatcher API. "
                    "Every request needs a bearer token; errors are RFC 9457 problem+json.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    problems.install(app)
    for module in (orders, machines, site, alarms, events, accounts_routes):
        app.include_router(module.router, prefix=PREFIX)
    app.include_router(health.router)
    from fleet.web import mount_web  # the dispatcher's page, served by the service itself

    mount_web(app)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type",
                                                                                    "Last-Event-ID"])
    app.add_middleware(ServiceMiddleware, ctx=ctx)
    return app
