"""How the core reaches machines: one `send`, states come back through `core.on_state`.

The vehicle bus hub (`adapters/bus`) implements this in production; `NullLink` drops
everything (a core with no machines attached); `RecordingLink` keeps what was sent.
"""

from __future__ import annotations

import threading
from typing import Protocol

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
