"""One thread that owns one ZeroMQ socket: the shared engine of the hub and the gateway.

ZeroMQ sockets are not thread-safe, so every socket lives on its own I/O thread.
Other threads hand frames to `post()` (a deque plus a wake-up pipe the poller
watches), so a send from any thread costs no lock on the socket and no poll delay.
The owner gets `on_frames(frames)` for each received multipart message and
`on_tick(now)` at least every `tick_s`; both run on the I/O thread and must not block.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable

import zmq

log = logging.getLogger(__name__)


class SocketLoop:
    def __init__(
        self,
        socket: zmq.Socket,
        on_frames: Callable[[list[bytes]], None],
        on_tick: Callable[[float], None],
        *,
        tick_s: float = 0.05,
        name: str = "bus",
    ) -> None:
        self._socket = socket
        self._on_frames = on_frames
        self._on_tick = on_tick
        self._tick_s = tick_s
        self._outbox: collections.deque[list[bytes]] = collections.deque()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.dropped_sends = 0  # frames the socket refused (peer gone, high-water mark)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        self._wake()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def post(self, frames: list[bytes]) -> None:
        """Queue a multipart message for sending (any thread, never blocks)."""
        self._outbox.append(frames)
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):  # full: the loop is awake anyway
            os.write(self._wake_w, b"x")

    def _flush(self) -> None:
        while self._outbox:
            frames = self._outbox.popleft()
            try:
                self._socket.send_multipart(frames, flags=zmq.NOBLOCK)
            except zmq.Again:
                self.dropped_sends += 1
            except zmq.ZMQError as exc:  # e.g. unroutable with ROUTER_MANDATORY
                self.dropped_sends += 1
                log.debug("send dropped: %s", exc)

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        next_tick = time.monotonic()
        try:
            while not self._stop.is_set():
                timeout_ms = max(0.0, (next_tick - time.monotonic()) * 1000.0)
                events = dict(poller.poll(timeout_ms))
                if self._wake_r in events:
                    try:
                        while os.read(self._wake_r, 4096):
                            pass
                    except BlockingIOError:
                        pass
                if self._socket in events:
                    for _ in range(1000):  # bounded burst, then let ticks and sends run
                        try:
                            frames = self._socket.recv_multipart(flags=zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        try:
                            self._on_frames(frames)
                        except Exception:  # a bad frame must never kill the loop
                            log.exception("bus frame handler failed")
                now = time.monotonic()
                if now >= next_tick:
                    try:
                        self._on_tick(time.time())
                    except Exception:
                        log.exception("bus tick failed")
                    next_tick = now + self._tick_s
                self._flush()
            self._flush()
        finally:
            self._socket.close(linger=100)
            os.close(self._wake_r)
            os.close(self._wake_w)
