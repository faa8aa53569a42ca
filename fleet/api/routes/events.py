"""Event streams: SSE with Last-Event-ID resume, WebSocket, and the live pose channel."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from fleet.api.deps import CtxDep, Reader
from fleet.api.schemas.problem import COMMON
from fleet.events.stream import event_json, events_since, sse_frame
from fleet.security import Permission, allows

router = APIRouter(tags=["events"], responses=COMMON)

_STREAM = {200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                 "description": "a Server-Sent Events stream"}}


def _types(types: str | None) -> list[str]:
    return [t.strip() for t in (types or "").split(",") if t.strip()]


def _resume_id(header: str | None, query: int | None) -> int:
    if query is not None:
        return query
    if header and header.strip().isdigit():
        return int(header.strip())
    return -1  # no id: live events only


@router.get("/events", response_class=StreamingResponse, responses=_STREAM)
async def event_stream(
    request: Request, principal: Reader, ctx: CtxDep,
    last_event_id: Annotated[int | None, Query(ge=0, le=2**62, description="resume after this id")] = None,
    types: Annotated[str | None, Query(max_length=500, description="comma-separated type prefixes, e.g. order.,alarm.")] = None,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None,
    access_token: Annotated[str | None, Query(max_length=200, description="for EventSource, which cannot set headers")] = None,
) -> StreamingResponse:
    """Every state change of orders, legs, machines, zones and alarms. Without an id: from now."""
    after = _resume_id(last_event_id_header, last_event_id)
    if after < 0:
        after = ctx.core.bus.last_id if ctx.core.leader else ctx.core.store.last_event_id()
    bus = ctx.core.bus if ctx.core.leader else None

    async def body():
        ctx.metrics.sse_clients.inc()
        try:
            yield "retry: 1000\n\n"
            async for batch in events_since(ctx.core.store, bus, after, _types(types)):
                if not batch:
                    if await request.is_disconnected():
                        return
                    yield ": keep-alive\n\n"
                else:
                    yield "".join(sse_frame(ev) for ev in batch)
        finally:
            ctx.metrics.sse_clients.dec()

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.websocket("/events/ws")
async def event_socket(ws: WebSocket, last_event_id: int | None = None, types: str | None = None,
                       access_token: str | None = None) -> None:
    """The same stream over a WebSocket: one JSON text frame per event."""
    ctx = ws.app.state.ctx
    token = access_token
    auth = ws.headers.get("authorization", "")
    if not token and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    principal = ctx.accounts.resolve(token) if token else None
    if principal is None or not allows(principal.role, Permission.READ):
        await ws.close(code=1008, reason="a valid token with read permission is required")
        return
    await ws.accept()
    after = last_event_id if last_event_id is not None and last_event_id >= 0 else (
        ctx.core.bus.last_id if ctx.core.leader else ctx.core.store.last_event_id())
    bus = ctx.core.bus if ctx.core.leader else None
    ctx.metrics.sse_clients.inc()
    try:
        async for batch in events_since(ctx.core.store, bus, after, _types(types), keepalive_s=10.0):
            if not batch:
                await ws.send_text(json.dumps({"type": "keep-alive", "at_s": time.time()}))
            for ev in batch:
                await ws.send_text(event_json(ev))
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        ctx.metrics.sse_clients.dec()
        with contextlib.suppress(Exception):
            await ws.close()


@router.get("/live", response_class=StreamingResponse, responses=_STREAM)
async def live_poses(
    request: Request, principal: Reader, ctx: CtxDep,
    hz: Annotated[float, Query(gt=0, le=10)] = 10.0,
    access_token: Annotated[str | None, Query(max_length=200)] = None,
) -> StreamingResponse:
    """Machine poses (not stored), coalesced: at most `hz` frames a second, each with the
    machines that moved since the last frame. Frame: `event: poses`, data a JSON list; every
    entry carries the frame's `t` (Unix seconds) and, for fused poses, `sigma_m` and `quality`."""
    period = 1.0 / hz

    async def body():
        seen: dict[str, int] = {}
        idle = 0.0
        while True:
            poses = ctx.core.poses()
            fresh = [p for mid, p in poses.items() if seen.get(mid) != p["v"]]
            if fresh:
                t = round(time.time(), 3)  # when the frame left (the page's event-to-screen latency)
                for p in fresh:
                    seen[p["id"]] = p["v"]
                frame = [{**p, "t": t} for p in fresh]
                yield f"event: poses\ndata: {json.dumps(frame, separators=(',', ':'))}\n\n"
                idle = 0.0
            else:
                idle += period
                if idle >= 15.0:
                    idle = 0.0
                    if await request.is_disconnected():
                        return
                    yield ": keep-alive\n\n"
            await asyncio.sleep(period)

    return StreamingResponse(body(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
