"""The event stream behind SSE and WebSocket: backfill from the store, then live.

A client says where it stopped (`Last-Event-ID`); it first gets every stored event
after that id, then the live ones, with no gap and no repeat (subscribe first, read
the store, then drop live events already sent). On a follower instance there is no
local bus, so the stream polls the shared store instead.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from fleet.events.bus import Event, EventBus

PAGE = 500
KEEPALIVE_S = 15.0
POLL_S = 0.25


def event_json(event: Event) -> str:
    """The event as JSON (prebuilt by the store for live events)."""
    raw = event.get("_json")
    if raw is not None:
        return raw
    return json.dumps(event, separators=(",", ":"))


def sse_frame(event: Event) -> str:
    data = event_json(event)
    return f"id: {event['id']}\nevent: {event['type']}\ndata: {data}\n\n"


def wanted(types: list[str]) -> Callable[[Event], bool]:
    if not types:
        return lambda ev: True
    return lambda ev: any(ev["type"].startswith(t) for t in types)


async def events_since(store: Any, bus: EventBus | None, after: int, types: list[str],
                       keepalive_s: float = KEEPALIVE_S) -> AsyncIterator[list[Event]]:
    """Batches of events with id > `after`, forever; an empty batch now and then as a keep-alive."""
    keep = wanted(types)
    sub = bus.subscribe(asyncio.get_running_loop()) if bus is not None else None
    last = after
    try:
        while True:
            rows = await run_in_threadpool(store.events_after, last, PAGE)
            if rows:
                last = rows[-1]["id"]
                chosen = [ev for ev in rows if keep(ev)]
                if chosen:
                    yield chosen
            if len(rows) < PAGE:
                break
        while True:
            if sub is not None:
                batch = await sub.next_batch(keepalive_s)
                if sub.lagged:
                    return  # too slow: the client reconnects with its last id and reads the store
            else:
                await asyncio.sleep(POLL_S)
                batch = await run_in_threadpool(store.events_after, last, PAGE)
            if not batch:
                yield []
                continue
            fresh = [ev for ev in batch if ev["id"] > last]
            if fresh:
                last = fresh[-1]["id"]
                chosen = [ev for ev in fresh if keep(ev)]
                if chosen:
                    yield chosen
    finally:
        if sub is not None:
            sub.close()
