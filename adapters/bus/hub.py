"""The core side of the vehicle bus: send commands to gateways, receive machine states.

`BusHub` binds one ZeroMQ ROUTER socket (`inproc://...` in the embedded default,
`tcp://0.0.0.0:PORT` for gateways on edge nodes); every gateway connects a DEALER
with its gateway id as routing id and announces its machines.

Delivery: each command gets the next sequence number of its machine and stays
"unacknowledged" until the gateway acks it (applied, duplicate or refused); the hub
re-sends unacknowledged commands in order every `resend_after_s` and at once when a
gateway (re)announces itself. Commands for a machine no gateway has announced yet wait.
The same `command_id` sent twice is kept once. On `hello` the hub and the gateway agree
on the last applied sequence per machine (`sync`), so a restart of either side neither
loses nor doubles a command (see adapters/bus/gateway.py for the gateway's half).

Threads: `send`, `subscribe`, `pending`, `link` may be called from any thread.
State callbacks run on the hub's bus thread: they must not block.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import zmq

from adapters.bus import codec
from adapters.bus.gateway import HEARTBEAT_S, MISSED_HEARTBEATS
from adapters.bus.socket_loop import SocketLoop
from adapters.errors import BusMessageError, LinkLostError
from adapters.link import LinkMonitor, LinkQuality, LinkRules
from fleet.domain.commands import Command, InstantAction, MachineState, Measurements

log = logging.getLogger(__name__)

StateCallback = Callable[[MachineState], None]
AckCallback = Callable[["Ack"], None]
MeasurementsCallback = Callable[[Measurements], None]


@dataclass(frozen=True)
class Ack:
    machine_id: str
    machine_seq: int
    command_id: str
    status: str  # applied | duplicate | refused
    error: str = ""


@dataclass
class _Pending:
    seq: int
    command: Command
    frame_body: dict[str, Any]
    sent_s: float = 0.0


@dataclass
class _MachineLine:
    next_seq: int = 1
    acked: int = 0
    synced: bool = False  # a gateway has told us its last applied sequence
    gateway: str | None = None
    pending: collections.OrderedDict[int, _Pending] = field(default_factory=collections.OrderedDict)
    last_state_stamp: float | None = None
    last_state: MachineState | None = None


@dataclass
class HubCounters:
    commands_sent: int = 0
    resends: int = 0
    acks: int = 0
    refused: int = 0
    duplicate_commands: int = 0  # same command_id given to send() again
    states: int = 0
    measurements: int = 0
    stale_states: int = 0  # older than the last state of that machine (out of order)
    duplicate_states: int = 0
    malformed: int = 0
    oversized: int = 0
    unknown_gateway: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


@dataclass
class _GatewayView:
    gateway_id: str
    session: str
    machines: tuple[str, ...]
    heard_s: float
    alive: bool = True


class BusHub:
    """See the module docstring. One per core process."""

    def __init__(
        self,
        endpoint: str,
        *,
        hub_id: str = "core",
        context: zmq.Context | None = None,
        heartbeat_s: float = HEARTBEAT_S,
        missed_heartbeats: int = MISSED_HEARTBEATS,
        resend_after_s: float = 1.0,
        link_rules: LinkRules | None = None,
        max_bytes: int = codec.MAX_MESSAGE_BYTES,
        remembered_command_ids: int = 65536,
    ) -> None:
        self.endpoint = endpoint
        self.hub_id = hub_id
        self.heartbeat_s = heartbeat_s
        self.missed_heartbeats = missed_heartbeats
        self.resend_after_s = resend_after_s
        self.max_bytes = max_bytes
        self.session = uuid.uuid4().hex[:12]
        self.counters = HubCounters()
        self.links = LinkMonitor(link_rules or LinkRules(heartbeat_s=heartbeat_s,
                                                         missed=missed_heartbeats))
        self._context = context or zmq.Context.instance()
        self._lines: dict[str, _MachineLine] = {}
        self._gateways: dict[str, _GatewayView] = {}
        self._known_ids: collections.OrderedDict[str, tuple[str, int]] = collections.OrderedDict()
        self._remembered = remembered_command_ids
        self._lock = threading.RLock()
        self._state_callbacks: list[StateCallback] = []
        self._ack_callbacks: list[AckCallback] = []
        self._measurement_callbacks: list[MeasurementsCallback] = []
        self._seq = 0
        self._last_heartbeat_s = 0.0
        self._loop: SocketLoop | None = None
        self.bound_endpoint = endpoint

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        sock = self._context.socket(zmq.ROUTER)
        sock.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a restarted gateway takes its id back
        sock.setsockopt(zmq.SNDHWM, 100000)
        sock.setsockopt(zmq.MAXMSGSIZE, self.max_bytes)
        for attempt in range(50):  # a previous hub's port may still be closing
            try:
                sock.bind(self.endpoint)
                break
            except zmq.ZMQError as exc:
                if exc.errno != zmq.EADDRINUSE or attempt == 49:
                    sock.close(linger=0)
                    raise
                time.sleep(0.05)
        self.bound_endpoint = sock.getsockopt(zmq.LAST_ENDPOINT).decode()
        self._loop = SocketLoop(sock, self._on_frames, self._on_tick,
                                tick_s=min(0.05, self.heartbeat_s / 4), name=f"hub-{self.hub_id}")
        self._loop.start()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.stop()
            self._loop = None

    def __enter__(self) -> BusHub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the core's calls ----------------------------------------------------------

    def subscribe(self, on_state: StateCallback | None = None,
                  on_ack: AckCallback | None = None,
                  on_measurements: MeasurementsCallback | None = None) -> None:
        """Register callbacks (bus thread; must not block)."""
        with self._lock:
            if on_state:
                self._state_callbacks.append(on_state)
            if on_ack:
                self._ack_callbacks.append(on_ack)
            if on_measurements:
                self._measurement_callbacks.append(on_measurements)

    def send(self, cmd: Command, *, require_link: bool = False) -> int:
        """Queue `cmd` for its machine and return its machine sequence number.

        Idempotent: the same `command_id` again returns the first number and sends
        nothing. With `require_link`, a movement/crane command for a machine whose
        link is lost raises `LinkLostError` (instant actions always go: they stop things).
        """
        if require_link and not isinstance(cmd, InstantAction):
            now = time.time()
            if not self.links.admits_new_steps(cmd.machine_id, now):
                q = self.links.quality(cmd.machine_id, now)
                raise LinkLostError(cmd.machine_id, q.silent_s or float("inf"))
        body_cmd = codec.to_plain(cmd)  # encode outside the lock; fails early if bad
        with self._lock:
            known = self._known_ids.get(cmd.command_id)
            if known is not None:
                self.counters.duplicate_commands += 1
                return known[1]
            line = self._lines.setdefault(cmd.machine_id, _MachineLine())
            seq = line.next_seq
            line.next_seq += 1
            kind = codec.KIND_OF_COMMAND[type(cmd)]
            pending = _Pending(seq, cmd, {"machine_seq": seq, "kind": kind, "command": body_cmd})
            line.pending[seq] = pending
            self._known_ids[cmd.command_id] = (cmd.machine_id, seq)
            while len(self._known_ids) > self._remembered:
                self._known_ids.popitem(last=False)
            if line.synced and line.gateway is not None:
                self._transmit(line.gateway, pending)
        return seq

    def pending(self, machine_id: str) -> int:
        """Commands sent to `machine_id` and not acknowledged yet."""
        with self._lock:
            line = self._lines.get(machine_id)
            return len(line.pending) if line else 0

    def acked(self, machine_id: str) -> int:
        with self._lock:
            line = self._lines.get(machine_id)
            return line.acked if line else 0

    def link(self, machine_id: str) -> LinkQuality:
        return self.links.quality(machine_id, time.time())

    def gateway_of(self, machine_id: str) -> str | None:
        with self._lock:
            line = self._lines.get(machine_id)
            return line.gateway if line else None

    def gateway_alive(self, gateway_id: str) -> bool:
        with self._lock:
            gw = self._gateways.get(gateway_id)
            return bool(gw and gw.alive)

    def machines(self) -> dict[str, str | None]:
        with self._lock:
            return {m: line.gateway for m, line in self._lines.items()}

    # --- wire ----------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _post(self, gateway_id: str, msg_type: str, body: dict[str, Any]) -> None:
        loop = self._loop
        if loop is None:
            return
        frame = codec.encode(msg_type, self._next_seq(), self.hub_id, time.time(), body)
        loop.post([gateway_id.encode(), frame])

    def _transmit(self, gateway_id: str, pending: _Pending) -> None:
        if pending.sent_s:
            self.counters.resends += 1
        else:
            self.counters.commands_sent += 1
        pending.sent_s = time.time()
        self._post(gateway_id, "command", pending.frame_body)

    def _on_tick(self, now: float) -> None:
        with self._lock:
            if now - self._last_heartbeat_s >= self.heartbeat_s:
                self._last_heartbeat_s = now
                for gw in self._gateways.values():
                    self._post(gw.gateway_id, "heartbeat", {"session": self.session})
            for gw in self._gateways.values():
                alive = now - gw.heard_s <= self.heartbeat_s * self.missed_heartbeats
                if gw.alive and not alive:
                    log.warning("hub: gateway %s lost", gw.gateway_id)
                gw.alive = alive
            for line in self._lines.values():
                if not (line.synced and line.gateway):
                    continue
                for pending in line.pending.values():
                    if now - pending.sent_s < self.resend_after_s:
                        break  # sent in sequence order: the rest are younger
                    self._transmit(line.gateway, pending)

    def _count(self, exc: BusMessageError) -> None:
        if exc.reason == "oversized":
            self.counters.oversized += 1
        else:
            self.counters.malformed += 1
        self.counters.by_reason[exc.reason] = self.counters.by_reason.get(exc.reason, 0) + 1
        log.warning("hub: dropped a frame: %s", exc)

    def _on_frames(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            self._count(BusMessageError("envelope", f"{len(frames)} frames, expected 1"))
            return
        identity = frames[0].decode(errors="replace")
        try:
            env = codec.decode(frames[1], self.max_bytes)
            now = time.time()
            if env.sender != identity:
                raise BusMessageError("envelope", f"sender {env.sender!r} on the connection of "
                                      f"{identity!r}", "sender")
            with self._lock:
                gw = self._gateways.get(identity)
                if gw is not None:
                    gw.heard_s = now
                if env.type in ("hello", "heartbeat"):
                    self._on_hello(identity, env, now, is_hello=env.type == "hello")
                elif gw is None:
                    self.counters.unknown_gateway += 1  # it will say hello with its heartbeat
                elif env.type == "ack":
                    self._on_ack(env.body)
                elif env.type == "state":
                    self._on_state(identity, env, now)
                elif env.type == "measurements":
                    self._on_measurements(identity, env)
                elif env.type == "bye":
                    gw.alive = False
                else:
                    raise BusMessageError("envelope", f"{env.type!r} is not for the hub", "type")
        except BusMessageError as exc:
            self._count(exc)

    def _on_hello(self, identity: str, env: codec.Envelope, now: float, is_hello: bool) -> None:
        body = env.body
        codec.require(body, {"gateway_id": str, "session": str, "machines": list,
                             "last_applied": dict}, env.type)
        machines = tuple(m for m in body["machines"] if isinstance(m, str))
        last_applied = codec.read_map_of_seq(body["last_applied"], f"body({env.type}).last_applied")
        gw = self._gateways.get(identity)
        echo = body.get("echo_ts")
        if gw is not None and not is_hello and gw.session == body["session"] \
                and set(gw.machines) == set(machines):
            if isinstance(echo, int | float) and not isinstance(echo, bool):
                for m in machines:
                    self.links.observe(m, None, now, rtt_s=max(0.0, now - float(echo)))
            return  # a plain heartbeat from a gateway we know
        self._gateways[identity] = _GatewayView(identity, body["session"], machines, now)
        acked: dict[str, int] = {}
        for m in machines:
            line = self._lines.setdefault(m, _MachineLine())
            if line.gateway not in (None, identity):
                log.warning("hub: machine %s moves from gateway %s to %s", m, line.gateway, identity)
            line.gateway = identity
            theirs = last_applied.get(m)
            if not line.synced and theirs is not None and theirs > line.acked:
                # We are new (the core restarted): continue their numbering, renumber ours.
                self._renumber(line, theirs)
            elif theirs is not None and theirs > line.acked:
                for seq in [s for s in line.pending if s <= theirs]:
                    del line.pending[seq]  # applied; the ack was lost
                line.acked = theirs
            line.synced = True
            acked[m] = line.acked
        self._post(identity, "sync", {"session": self.session, "acked": acked})
        for m in machines:
            line = self._lines[m]
            for pending in line.pending.values():
                self._transmit(identity, pending)

    def _renumber(self, line: _MachineLine, last: int) -> None:
        old = list(line.pending.values())
        line.pending.clear()
        line.acked = last
        line.next_seq = last + 1
        for p in old:
            seq = line.next_seq
            line.next_seq += 1
            p.seq = seq
            p.frame_body = {**p.frame_body, "machine_seq": seq}
            p.sent_s = 0.0
            line.pending[seq] = p
            self._known_ids[p.command.command_id] = (p.command.machine_id, seq)

    def _on_ack(self, body: dict[str, Any]) -> None:
        codec.require(body, {"machine_id": str, "machine_seq": int, "command_id": str,
                             "status": str}, "ack")
        line = self._lines.get(body["machine_id"])
        if line is None:
            return
        seq = body["machine_seq"]
        pending = line.pending.get(seq)
        if pending is None or pending.command.command_id != body["command_id"]:
            return  # an ack of something already settled
        # Acks arrive in order; an ack for seq means everything before it was applied too.
        while line.pending:
            first = next(iter(line.pending))
            if first > seq:
                break
            del line.pending[first]
        line.acked = max(line.acked, seq)
        self.counters.acks += 1
        ack = Ack(body["machine_id"], seq, body["command_id"], body["status"],
                  str(body.get("error") or ""))
        if ack.status == "refused":
            self.counters.refused += 1
        for cb in list(self._ack_callbacks):
            try:
                cb(ack)
            except Exception:
                log.exception("hub: ack callback failed")

    def _on_state(self, identity: str, env: codec.Envelope, now: float) -> None:
        state = codec.read_state(env.body)
        line = self._lines.get(state.machine_id)
        if line is None or line.gateway != identity:
            raise BusMessageError("field", f"machine {state.machine_id!r} is not on gateway "
                                  f"{identity!r}", "body(state).machine_id")
        if line.last_state_stamp is not None:
            if state.stamp_s < line.last_state_stamp:
                self.counters.stale_states += 1
                return
            # Same stamp and same content: a duplicate. Same stamp, other content: two
            # reports within one clock tick (VDA 5050 stamps are milliseconds): keep it.
            if state.stamp_s == line.last_state_stamp and state == line.last_state:
                self.counters.duplicate_states += 1
                return
        line.last_state_stamp = state.stamp_s
        line.last_state = state
        if state.mode == "offline":  # the gateway lost the machine (e.g. its last will)
            self.links.mark_lost(state.machine_id)
            self._deliver_state(dataclasses.replace(state, received_s=now))
            return
        # A simulated clock is not comparable with ours: then only arrival times count.
        sent = state.stamp_s if abs(now - state.stamp_s) < 60.0 else None
        self.links.observe(state.machine_id, sent, now)
        self.counters.states += 1
        self._deliver_state(dataclasses.replace(state, received_s=now))

    def _on_measurements(self, identity: str, env: codec.Envelope) -> None:
        batch = codec.read_measurements(env.body)
        line = self._lines.get(batch.machine_id)
        if line is None or line.gateway != identity:
            raise BusMessageError("field", f"machine {batch.machine_id!r} is not on gateway "
                                  f"{identity!r}", "body(measurements).machine_id")
        self.counters.measurements += 1
        for cb in list(self._measurement_callbacks):
            try:
                cb(batch)
            except Exception:
                log.exception("hub: measurements callback failed")

    def _deliver_state(self, stamped: MachineState) -> None:
        for cb in list(self._state_callbacks):
            try:
                cb(stamped)
            except Exception:
                log.exception("hub: state callback failed")
