"""How the core reaches machines: one `send`, states come back through `core.on_state`.

The vehicle bus hub (`adapters/bus`) implements this in production; `NullLink` drops
everything (a core with no machines attached); `RecordingLink` keeps what was sent.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from fleet.domain.commands import Command


class MachineLink(Protocol):
    def send(self, command: Command) -> None:
        """Queue `command` for its machine. Called on the core's command thread; must not block."""
        ...


class NullLink:
    def send(self, command: Command) -> None:
        return None


class RecordingLink:
    """Keeps every command sent (tests, dry runs)."""

    def __init__(self) -> None:
        self.sent: list[Command] = []
        self._lock = threading.Lock()

    def send(self, command: Command) -> None:
        with self._lock:
            self.sent.append(command)

    def take(self) -> list[Command]:
        with self._lock:
            out, self.sent = self.sent, []
        return out


def link_score(link: Any, machine: Any) -> float:
    """Link quality 0..1 for the page: 0 when lost; else (1 - loss) scaled down by latency
    above 50 ms (0 at 1 s). Uses the bus hub's link monitor when the link has one."""
    if not getattr(machine, "link_ok", True):
        return 0.0
    loss, latency = 0.0, getattr(machine, "link_latency_ms", None)
    quality = getattr(link, "link", None)
    if callable(quality):
        try:
            q = quality(machine.id)
            loss = float(q.loss or 0.0)
            latency = q.latency_ms if q.latency_ms is not None else latency
            if str(getattr(q.status, "value", q.status)) == "lost":
                return 0.0
        except Exception:
            pass
    lat = max(0.0, min(1.0, 1.0 - (float(latency) - 50.0) / 950.0)) if latency is not None else 1.0
    return round(max(0.0, min(1.0, (1.0 - loss) * lat)), 3)
