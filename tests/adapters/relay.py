"""A fault-injecting TCP relay: latency, jitter, loss and a cut link between two sockets.

This kernel has no `tc netem`, so faults are made here, in user space, on the path.
TCP hides packet loss as delay (the segment is re-sent after a timeout), so `loss`
holds a chunk back by `rto_s` with that probability, which is what an application
on a lossy radio link sees. `cut()` resets every connection (SO_LINGER 0, so the
peers see a broken link, not a clean close: the broker then sends the last will)
and refuses new ones until `restore()`.

Run standalone (e.g. inside a network namespace):
    python -m tests.adapters.relay LISTEN_HOST LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT
"""

from __future__ import annotations

import heapq
import random
import socket
import struct
import sys
import threading
import time


class Relay:
    def __init__(self, listen: tuple[str, int], upstream: tuple[str, int], *,
                 latency_s: float = 0.0, jitter_s: float = 0.0, loss: float = 0.0,
                 rto_s: float = 0.2, seed: int = 5050) -> None:
        self.upstream = upstream
        self.latency_s, self.jitter_s, self.loss, self.rto_s = latency_s, jitter_s, loss, rto_s
        self._rng = random.Random(seed)
        self._server = socket.create_server(listen, reuse_port=False)
        self.address = self._server.getsockname()[:2]
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._cut = threading.Event()
        self._stop = threading.Event()
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True, name="relay-accept").start()

    @property
    def port(self) -> int:
        return int(self.address[1])

    def set_faults(self, *, latency_s: float | None = None, jitter_s: float | None = None,
                   loss: float | None = None) -> None:
        if latency_s is not None:
            self.latency_s = latency_s
        if jitter_s is not None:
            self.jitter_s = jitter_s
        if loss is not None:
            self.loss = loss

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            _reset(s)

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._stop.set()
        self.cut()
        self._server.close()

    def _delay(self) -> float:
        d = self.latency_s + (self._rng.uniform(-self.jitter_s, self.jitter_s) if self.jitter_s else 0)
        if self.loss and self._rng.random() < self.loss:
            d += self.rto_s
        return max(0.0, d)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self._cut.is_set():
                _reset(client)
                continue
            try:
                up = socket.create_connection(self.upstream, timeout=2)
            except OSError:
                _reset(client)
                continue
            for s in (client, up):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.settimeout(None)
            with self._lock:
                self._conns += [client, up]
            self.connections += 1
            for a, b in ((client, up), (up, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        queue: list[tuple[float, int, bytes]] = []
        cond = threading.Condition()
        done = threading.Event()
        order = 0

        def sender() -> None:
            last_t = 0.0
            while True:
                with cond:
                    while not queue and not done.is_set():
                        cond.wait(0.5)
                    if not queue and done.is_set():
                        break
                    t, _, chunk = heapq.heappop(queue)
                wait = t - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                last_t = max(last_t, t)
                try:
                    dst.sendall(chunk)
                except OSError:
                    break
            _reset(dst)

        threading.Thread(target=sender, daemon=True).start()
        last = 0.0
        while True:
            try:
                chunk = src.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            t = max(last, time.monotonic() + self._delay())  # TCP keeps the order
            last = t
            with cond:
                order += 1
                heapq.heappush(queue, (t, order, chunk))
                cond.notify()
        done.set()
        with cond:
            cond.notify()


def _reset(s: socket.socket) -> None:
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


if __name__ == "__main__":
    lh, lp, uh, up = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    relay = Relay((lh, lp), (uh, up))
    print(f"relay {relay.address} -> {uh}:{up}", flush=True)
    threading.Event().wait()
