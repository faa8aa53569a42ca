"""In-process fan-out of committed events to live subscribers (SSE, WebSocket, webhooks).

The store is the record (ids increase with every commit); the bus only wakes whoever
is listening right now. A subscriber that cannot keep up is dropped (`lagged`) rather
than slowing the core: it reconnects with its last event id and reads the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from typing import Any

Event = dict[str, Any]


class Subscription:
    def __init__(self, bus: EventBus, loop: asyncio.AbstractEventLoop | None, maxsize: int) -> None:
        self._bus = bus
        self._loop = loop
        self._maxsize = maxsize
        self.lagged = False
        self.closed = False
        if loop is not None:
            self._aq: asyncio.Queue[list[Event]] = asyncio.Queue()
        else:
            self._q: queue.Queue[list[Event]] = queue.Queue()
        self._pending = 0
        self._lock = threading.Lock()

    def _deliver(self, events: list[Event]) -> None:
        with self._lock:
            if self.lagged or self.closed:
                return
            self._pending += len(events)
            if self._pending > self._maxsize:
                self.lagged = True
                events = []  # wake the reader so it sees `lagged`
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # loop closed: the client is gone
                self._loop.call_soon_threadsafe(self._aq.put_nowait, events)
        else:
            self._q.put(events)

    def _taken(self, n: int) -> None:
        with self._lock:
            self._pending -= n

    async def next_batch(self, timeout_s: float) -> list[Event]:
        """The next batch of events (empty after `timeout_s` or when lagged)."""
        try:
            batch = await asyncio.wait_for(self._aq.get(), timeout_s)
        except TimeoutError:
            return []
        self._taken(len(batch))
        return batch

    def get(self, timeout_s: float) -> list[Event]:
        try:
            batch = self._q.get(timeout=timeout_s)
        except queue.Empty:
            return []
        self._taken(len(batch))
        return batch

    def close(self) -> None:
        self.closed = True
        self._bus._unsubscribe(self)


class EventBus:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self.last_id = 0

    def subscribe(self, loop: asyncio.AbstractEventLoop | None = None, maxsize: int = 20000) -> Subscription:
        sub = Subscription(self, loop, maxsize)
        with self._lock:
            self._subs.add(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    def publish(self, events: list[Event]) -> None:
        """Hand committed events to every subscriber; never blocks."""
        if not events:
            return
        self.last_id = max(self.last_id, events[-1]["id"])
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub._deliver(events)

    @property
    def subscribers(self) -> int:
        return len(self._subs)
