"""The plant's 5G link between the core and each machine, message by message.

Every message gets a latency (base plus an exponential jitter tail, as radio links
have), may be lost, and is held or dropped during outages of one machine or of an
area of the site. Messages to and from one machine stay in order, as over the MQTT or
bus connection they travel on.

Commands travel as MQTT QoS 1 would: a lost transmission is retried after
`retransmit_ms`, and during an outage they wait for the link to come back. States
travel as QoS 0: a lost or blacked-out state is gone (the next one supersedes it).
All randomness comes from the scenario's seeded generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Outage:
    """The link is down for `machines` (or every machine in `area`, or everyone)."""

    start_s: float
    end_s: float
    machines: tuple[str, ...] = ()
    area: tuple[float, float, float, float] | None = None  # (min_x, min_y, max_x, max_y)

    def covers(self, machine_id: str, x: float | None, y: float | None, t: float) -> bool:
        if not (self.start_s <= t < self.end_s):
            return False
        if self.machines and machine_id not in self.machines:
            return False
        if self.area is not None:
            if x is None or y is None:
                return False
            x0, y0, x1, y1 = self.area
            return x0 <= x <= x1 and y0 <= y <= y1
        return True


@dataclass(frozen=True)
class LinkProfile:
    latency_ms: float = 8.0
    jitter_ms: float = 3.0
    state_loss: float = 0.0  # share of states lost (QoS 0)
    command_loss: float = 0.0  # share of command transmissions lost (retried, QoS 1)
    retransmit_ms: float = 300.0
    outages: tuple[Outage, ...] = ()

    @classmethod
    def perfect(cls) -> LinkProfile:
        return cls(latency_ms=0.0, jitter_ms=0.0)


class Link:
    """Decides when (or whether) each message arrives; pure, apart from its generator."""

    BLOCK = 4096

    def __init__(self, profile: LinkProfile, rng: np.random.Generator) -> None:
        self.profile = profile
        self.rng = rng
        self._u = np.empty(0)
        self._e = np.empty(0)
        self._k = 0
        self._last_down: dict[str, float] = {}
        self._last_up: dict[str, float] = {}
        self.sent_states = 0
        self.lost_states = 0
        self.sent_commands = 0
        self.retransmits = 0
        self.held_commands = 0

    def _draw(self) -> tuple[float, float]:
        if self._k >= self._u.shape[0]:
            self._u = self.rng.random(self.BLOCK)
            self._e = self.rng.exponential(1.0, self.BLOCK)
            self._k = 0
        k = self._k
        self._k += 1
        return float(self._u[k]), float(self._e[k])

    def _delay_s(self) -> float:
        p = self.profile
        if p.latency_ms <= 0 and p.jitter_ms <= 0:
            return 0.0
        _, e = self._draw()
        return (p.latency_ms + p.jitter_ms * e) / 1000.0

    def _outage_end(self, machine_id: str, x: float | None, y: float | None, t: float) -> float | None:
        for o in self.profile.outages:
            if o.covers(machine_id, x, y, t):
                return o.end_s
        return None

    def down(self, machine_id: str, t: float, x: float | None = None, y: float | None = None) -> float:
        """When a command sent at t reaches the machine (always, eventually: QoS 1)."""
        self.sent_commands += 1
        p = self.profile
        send = t
        for _ in range(64):  # an outage can follow another
            end = self._outage_end(machine_id, x, y, send)
            if end is None:
                break
            self.held_commands += 1
            send = end
        if p.command_loss > 0:
            while self._draw()[0] < p.command_loss:
                self.retransmits += 1
                send += p.retransmit_ms / 1000.0
        arrive = max(send + self._delay_s(), self._last_down.get(machine_id, -math.inf))
        self._last_down[machine_id] = arrive
        return arrive

    def up(self, machine_id: str, t: float, x: float | None, y: float | None) -> float | None:
        """When a state sent at t reaches the core, or None when it is lost (QoS 0)."""
        self.sent_states += 1
        if self.profile.outages and self._outage_end(machine_id, x, y, t) is not None:
            self.lost_states += 1
            return None
        if self.profile.state_loss > 0 and self._draw()[0] < self.profile.state_loss:
            self.lost_states += 1
            return None
        arrive = max(t + self._delay_s(), self._last_up.get(machine_id, -math.inf))
        self._last_up[machine_id] = arrive
        return arrive

    def link_ok(self, machine_id: str, t: float, x: float | None, y: float | None) -> bool:
        return self._outage_end(machine_id, x, y, t) is None
