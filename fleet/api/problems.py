"""One place that turns every error into RFC 9457 problem+json naming the wrong field."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from fleet.errors import FleetError

log = logging.getLogger(__name__)

MEDIA = "application/problem+json"


class RateLimited(FleetError):
    status = 429
    kind = "rate-limited"

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(f"too many requests for this token; retry in {retry_after_s:.2f} s")


class CoreBusy(FleetError):
    status = 503
    kind = "core-busy"


def problem(status: int, kind: str, title: str, detail: str | None, instance: str | None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": f"urn:fleet5g:problem:{kind}", "title": title, "status": status,
                            "detail": detail, "instance": instance}
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=MEDIA, headers=headers)


def _title(kind: str) -> str:
    return kind.replace("-", " ").capitalize()


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(FleetError)
    async def fleet_error(request: Request, exc: FleetError) -> JSONResponse:
        headers = None
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(max(1, round(exc.retry_after_s + 0.5)))}
        if exc.status >= 500:
            log.warning("service error on %s: %s", request.url.path, exc)
        extra: dict[str, Any] = {"field": getattr(exc, "field", None)}
        veto = getattr(exc, "veto", None)
        if veto is not None:
            extra["veto"] = str(veto.value)
        return problem(exc.status, exc.kind, _title(exc.kind), str(exc), request.url.path, headers, **extra)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(e.get("loc", ())), "message": str(e.get("msg", "invalid"))} for e in exc.errors()]
        first = errors[0] if errors else {"field": "body", "message": "invalid request"}
        return problem(422, "invalid-request", "Invalid request", f"{first['field']}: {first['message']}",
                       request.url.path, field=first["field"], errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {400: "bad-request", 404: "not-found", 405: "method-not-allowed", 413: "payload-too-large"}.get(exc.status_code, "http-error")
        return problem(exc.status_code, kind, _title(kind), str(exc.detail), request.url.path,
                       headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "internal-error", "Internal error", "the service failed; see its log", request.url.path)
