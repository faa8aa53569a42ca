"""The 5G link to each machine: quality figures and the rules that keep an outage safe.

Every message a machine sends (a state, a heartbeat echo) is an observation: when it
was sent (the machine's clock), when it arrived, and, when the protocol numbers its
messages (VDA 5050 `headerId`), its counter. From those the monitor keeps per machine
a latency (smoothed), a jitter (RFC 3550-style mean deviation of transit time, valid
even when the clocks are offset), a loss estimate (counter gaps, or missed periods
when there is no counter) and the time of the last message.

The rules (see docs/adapters.md, "Timing rules"):
- a machine is LOST when nothing arrived for `rules.lost_after_s`
  (= `missed` x the longer of heartbeat and state period); it then gets no new steps
  (`admits_new_steps` is False) and the core marks it offline;
- every released base is bounded (`bound_base`): at most `max_base_nodes` nodes and
  `max_base_m` metres beyond the node the machine is at, so a machine that loses its
  link stops at the end of its base (a node the execution graph already released)
  on its own, within a known distance;
- an outage longer than `redispatch_after_s` lets the core re-dispatch its order;
- on reconnect the bus re-synchronises the commands (no loss, no double) and the
  machine's first state tells the core where it stopped.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from dataclasses import dataclass
from enum import StrEnum

from fleet.domain.commands import MovementCommand


class LinkStatus(StrEnum):
    UNKNOWN = "unknown"  # never heard
    ONLINE = "online"
    DEGRADED = "degraded"  # heard, but latency or loss beyond the rule's thresholds
    LOST = "lost"


@dataclass(frozen=True)
class LinkRules:
    heartbeat_s: float = 0.5
    state_period_s: float = 1.0  # machines report at least this often
    missed: int = 3
    max_base_nodes: int = 4
    max_base_m: float = 25.0
    degraded_latency_ms: float = 100.0
    degraded_loss: float = 0.05
    redispatch_after_s: float = 30.0

    @property
    def lost_after_s(self) -> float:
        return self.missed * max(self.heartbeat_s, self.state_period_s)


@dataclass(frozen=True)
class LinkQuality:
    machine_id: str
    status: LinkStatus
    latency_ms: float | None
    jitter_ms: float | None
    loss: float  # 0..1, smoothed
    last_message_s: float | None
    messages: int
    silent_s: float | None


@dataclass
class _Track:
    latency_ms: float | None = None
    jitter_ms: float | None = None
    last_transit_ms: float | None = None
    loss: float = 0.0
    last_message_s: float | None = None
    last_counter: int | None = None
    messages: int = 0
    lost: bool = False  # told so by the transport, until the next message


class LinkMonitor:
    """Per-machine link figures; thread-safe (the bus thread writes, the core reads)."""

    def __init__(self, rules: LinkRules | None = None) -> None:
        self.rules = rules or LinkRules()
        self._tracks: dict[str, _Track] = {}
        self._lock = threading.Lock()

    def observe(self, machine_id: str, sent_s: float | None, received_s: float,
                counter: int | None = None, rtt_s: float | None = None) -> None:
        """One message from `machine_id`.

        With `rtt_s` (an echoed round trip through the gateway) only latency and jitter
        are updated: it proves the gateway is there, not the machine.
        """
        with self._lock:
            t = self._tracks.setdefault(machine_id, _Track())
            if rtt_s is not None:
                self._transit(t, max(0.0, rtt_s * 500.0))  # one way = half the round trip
                return
            if sent_s is not None:
                self._transit(t, max(0.0, (received_s - sent_s) * 1000.0))
            lost_now = 0.0
            if counter is not None and t.last_counter is not None and counter > t.last_counter:
                missing = counter - t.last_counter - 1
                lost_now = missing / (missing + 1)
            elif counter is None and t.last_message_s is not None:
                gap = received_s - t.last_message_s
                expected = gap / self.rules.state_period_s
                missing = max(0, math.floor(expected + 0.25) - 1)
                lost_now = missing / (missing + 1)
            if t.messages:
                t.loss += (lost_now - t.loss) / 8.0
            if counter is not None:
                t.last_counter = counter if t.last_counter is None else max(counter, t.last_counter)
            t.last_message_s = received_s if t.last_message_s is None else max(
                received_s, t.last_message_s)
            t.messages += 1
            t.lost = False

    def mark_lost(self, machine_id: str) -> None:
        """The transport says the link broke (e.g. a VDA 5050 last will): lost until heard."""
        with self._lock:
            t = self._tracks.setdefault(machine_id, _Track())
            t.lost = True

    @staticmethod
    def _transit(t: _Track, transit_ms: float) -> None:
        t.latency_ms = transit_ms if t.latency_ms is None else (
            t.latency_ms + (transit_ms - t.latency_ms) / 8.0)
        if t.last_transit_ms is not None:
            d = abs(transit_ms - t.last_transit_ms)
            t.jitter_ms = d if t.jitter_ms is None else t.jitter_ms + (d - t.jitter_ms) / 16.0
        t.last_transit_ms = transit_ms

    def forget(self, machine_id: str) -> None:
        with self._lock:
            self._tracks.pop(machine_id, None)

    def quality(self, machine_id: str, now_s: float) -> LinkQuality:
        with self._lock:
            t = self._tracks.get(machine_id)
            if t is None or (t.last_message_s is None and not t.lost):
                return LinkQuality(machine_id, LinkStatus.UNKNOWN, None, None, 0.0, None, 0, None)
            silent = max(0.0, now_s - t.last_message_s) if t.last_message_s is not None else 0.0
            if t.lost or silent > self.rules.lost_after_s:
                status = LinkStatus.LOST
            elif (t.latency_ms or 0.0) > self.rules.degraded_latency_ms or \
                    t.loss > self.rules.degraded_loss:
                status = LinkStatus.DEGRADED
            else:
                status = LinkStatus.ONLINE
            return LinkQuality(machine_id, status, t.latency_ms, t.jitter_ms, t.loss,
                               t.last_message_s, t.messages, silent)

    def admits_new_steps(self, machine_id: str, now_s: float) -> bool:
        """False while the link is lost or was never up: such a machine gets no new steps."""
        return self.quality(machine_id, now_s).status in (LinkStatus.ONLINE, LinkStatus.DEGRADED)

    def should_redispatch(self, machine_id: str, now_s: float) -> bool:
        q = self.quality(machine_id, now_s)
        return q.silent_s is not None and q.silent_s > self.rules.redispatch_after_s

    def machines(self) -> list[str]:
        with self._lock:
            return sorted(self._tracks)


def bound_base(cmd: MovementCommand, rules: LinkRules,
               from_sequence_id: int | None = None) -> MovementCommand:
    """`cmd` with its released base cut to the rule's reach; the rest becomes horizon.

    The reach is counted from the node with `from_sequence_id` (the node the machine
    last reached, when it is on this order) or else from the first node: at most
    `max_base_nodes` further released nodes and `max_base_m` metres of released edges
    (an edge without a length counts its straight line between the nodes). Nodes that
    were horizon stay horizon: this only ever shortens the base, never extends it.
    """
    nodes = sorted(cmd.nodes, key=lambda n: n.sequence_id)
    if from_sequence_id is not None and nodes and from_sequence_id > nodes[0].sequence_id:
        start = next((i for i, n in enumerate(nodes) if n.sequence_id >= from_sequence_id), 0)
    else:
        start = 0
    edges = {e.sequence_id: e for e in cmd.edges}
    by_id = {n.node_id: n for n in nodes}
    keep_seq = -1
    travelled = 0.0
    for i, node in enumerate(nodes):
        if not node.released:
            break
        if i > start:
            edge = edges.get(node.sequence_id - 1)
            if edge is None or not edge.released:
                break
            length = edge.length_m
            if length is None:
                a, b = by_id.get(edge.start_node_id), by_id.get(edge.end_node_id)
                length = math.hypot(b.x - a.x, b.y - a.y) if a and b else 0.0
            if i - start > rules.max_base_nodes or travelled + length > rules.max_base_m + 1e-9:
                break
            travelled += length
        keep_seq = node.sequence_id
    new_nodes = tuple(
        n if n.released == (n.sequence_id <= keep_seq) else dataclasses.replace(n, released=False)
        for n in cmd.nodes
    )
    new_edges = tuple(
        e if e.released == (e.sequence_id < keep_seq) else dataclasses.replace(e, released=False)
        for e in cmd.edges
    )
    if new_nodes == cmd.nodes and new_edges == cmd.edges:
        return cmd
    return dataclasses.replace(cmd, nodes=new_nodes, edges=new_edges)
