"""The gateway side of the vehicle bus, and the base class every gateway subclasses.

A gateway sits between the core's `BusHub` and some machines (the simulator, VDA 5050
vehicles over MQTT, ROS 2 robots). Subclass `Gateway` and write two things::

    class MyGateway(Gateway):
        def on_command(self, cmd: Command) -> None:   # MovementCommand | InstantAction | CraneCommand
            ...hand it to the machine cmd.machine_id...
            # raise CommandRefused("why") to refuse it (the core is told; it is not retried)

        # and whenever a machine reports:
        #     self.publish_state(MachineState(...))

    gw = MyGateway("gw-sim", ["agv-1", "agv-2"], "inproc://fleet-bus")
    gw.start() ... gw.stop()

Contract (stable; the simulator's `sim/gateway.py` and the protocol gateways rely on it):
- `on_command(cmd)` runs on the gateway's bus thread, once per `command_id`, in each
  machine's sequence order (never a gap, never twice, across hub and gateway restarts).
  It must not block: queue the work (or publish over MQTT, which is non-blocking) and
  return. Raising `CommandRefused` (or any exception) acks the command as refused.
- `publish_state(state)` may be called from any thread at any rate; it never blocks.
  States are not retried: the next one supersedes a lost one.
- `on_start()` / `on_stop()` run on the caller's thread around the bus thread;
  `on_hub_lost()` / `on_hub_back()` run on the bus thread when the hub's heartbeats
  stop or come back (a gateway may e.g. let its machines finish their released base).
- `machine_ids` may grow with `add_machine(id)` (announced to the hub at once).
- Endpoints: `inproc://NAME` (same process, same zmq context: pass `context=`; the hub
  must bind first) or `tcp://HOST:PORT` (the hub binds, gateways connect; either side
  may restart at any time).

Resynchronisation: the gateway announces its machines and the last applied sequence
number per machine (`hello`, repeated in each heartbeat). The hub answers with `sync`
(the agreed last sequence per machine) and re-sends what is unacknowledged. A command
is applied when its sequence is exactly last+1; lower is a duplicate (acked again,
not applied), higher is a gap (dropped, the hub re-sends in order). Command ids seen
recently are remembered too, so a core that restarts and re-sends from its store does
not double anything.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import zmq

from adapters.bus import codec
from adapters.bus.socket_loop import SocketLoop
from adapters.errors import AdapterError, BusMessageError
from fleet.domain.commands import Command, MachineState, Measurements

log = logging.getLogger(__name__)

HEARTBEAT_S = 0.5  # both ways
MISSED_HEARTBEATS = 3  # the peer is declared lost after this many periods of silence
REMEMBERED_COMMAND_IDS = 4096


class CommandRefused(AdapterError):
    """Raised by `on_command` for a command the machine cannot take (told to the core)."""

    kind = "command-refused"


@dataclass
class GatewayCounters:
    applied: int = 0
    duplicates: int = 0
    gaps: int = 0
    refused: int = 0
    malformed: int = 0
    oversized: int = 0
    states_sent: int = 0
    measurements_sent: int = 0
    hub_lost: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


class Gateway:
    """Base of every gateway; see the module docstring for the contract."""

    def __init__(
        self,
        gateway_id: str,
        machine_ids: Iterable[str],
        endpoint: str,
        *,
        context: zmq.Context | None = None,
        heartbeat_s: float = HEARTBEAT_S,
        missed_heartbeats: int = MISSED_HEARTBEATS,
        max_bytes: int = codec.MAX_MESSAGE_BYTES,
    ) -> None:
        self.gateway_id = gateway_id
        self.endpoint = endpoint
        self.heartbeat_s = heartbeat_s
        self.missed_heartbeats = missed_heartbeats
        self.max_bytes = max_bytes
        self.counters = GatewayCounters()
        self._machines: list[str] = list(dict.fromkeys(machine_ids))
        self._last_applied: dict[str, int] = {}
        self._recent_ids: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._context = context or zmq.Context.instance()
        self._seq = 0
        self._seq_lock = threading.Lock()
        self._hub_session: str | None = None
        self._hub_heard_s = 0.0
        self._hub_alive = False
        self._last_sent_s = 0.0
        self._last_heartbeat_s = 0.0
        self._loop: SocketLoop | None = None
        self.session = uuid.uuid4().hex[:12]

    # --- for subclasses ------------------------------------------------------------

    def on_command(self, cmd: Command) -> None:
        """Hand `cmd` to its machine. Bus thread; must not block. See module doc."""
        raise NotImplementedError

    def on_start(self) -> None:
        """Before the bus thread starts (e.g. connect to the MQTT broker)."""

    def on_stop(self) -> None:
        """After the bus thread stopped (e.g. disconnect from the broker)."""

    def on_hub_lost(self) -> None:
        """The hub went silent for `missed_heartbeats` periods."""

    def on_hub_back(self) -> None:
        """The hub is heard again (it may be a new hub process)."""

    def publish_state(self, state: MachineState) -> None:
        """Send a machine's state to the core (any thread, never blocks)."""
        self._send("state", codec.to_plain(state))
        self.counters.states_sent += 1

    def publish_measurements(self, batch: Measurements) -> None:
        """Send a machine's raw positioning readings to the core's fusion (any thread,
        never blocks; not retried: a lost batch only widens the pose's uncertainty)."""
        self._send("measurements", codec.to_plain(batch))
        self.counters.measurements_sent += 1

    def add_machine(self, machine_id: str) -> None:
        if machine_id not in self._machines:
            self._machines.append(machine_id)
            self._send_hello()

    @property
    def machine_ids(self) -> tuple[str, ...]:
        return tuple(self._machines)

    @property
    def hub_alive(self) -> bool:
        return self._hub_alive

    def last_applied(self, machine_id: str) -> int | None:
        return self._last_applied.get(machine_id)

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        self.on_start()
        sock = self._context.socket(zmq.DEALER)
        sock.setsockopt(zmq.ROUTING_ID, self.gateway_id.encode())
        sock.setsockopt(zmq.IMMEDIATE, 1)  # no queueing towards a hub that is not there
        sock.setsockopt(zmq.SNDHWM, 10000)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        sock.setsockopt(zmq.MAXMSGSIZE, self.max_bytes)
        sock.connect(self.endpoint)
        self._loop = SocketLoop(sock, self._on_frames, self._on_tick,
                                tick_s=min(0.05, self.heartbeat_s / 4), name=f"gw-{self.gateway_id}")
        self._loop.start()
        self._send_hello()

    def stop(self) -> None:
        if self._loop is not None:
            self._send("bye", {"gateway_id": self.gateway_id})
            self._loop.stop()
            self._loop = None
        self.on_stop()

    # --- wire ----------------------------------------------------------------------

    def _send(self, msg_type: str, body: dict[str, Any]) -> None:
        loop = self._loop
        if loop is None:
            return
        now = time.time()
        with self._seq_lock:
            self._seq += 1
            seq = self._seq
        try:
            frame = codec.encode(msg_type, seq, self.gateway_id, now, body)
        except BusMessageError:
            log.exception("gateway %s: cannot encode %s", self.gateway_id, msg_type)
            return
        self._last_sent_s = now
        loop.post([frame])

    def _hello_body(self, echo_ts: float | None = None) -> dict[str, Any]:
        return {
            "gateway_id": self.gateway_id,
            "session": self.session,
            "machines": list(self._machines),
            "last_applied": dict(self._last_applied),
            "echo_ts": echo_ts,
        }

    def _send_hello(self) -> None:
        self._send("hello", self._hello_body())

    def _on_tick(self, now: float) -> None:
        if self._hub_alive and now - self._hub_heard_s > self.heartbeat_s * self.missed_heartbeats:
            self._hub_alive = False
            self.counters.hub_lost += 1
            log.warning("gateway %s: hub lost", self.gateway_id)
            self._call(self.on_hub_lost)
        if now - self._last_heartbeat_s >= self.heartbeat_s:
            # On its own clock, whatever else is sent: a hub that does not know us yet
            # (restarted, or our hello went out before the connection) takes it as a hello.
            self._last_heartbeat_s = now
            self._send("heartbeat", self._hello_body())

    def _count(self, exc: BusMessageError) -> None:
        if exc.reason == "oversized":
            self.counters.oversized += 1
        else:
            self.counters.malformed += 1
        self.counters.by_reason[exc.reason] = self.counters.by_reason.get(exc.reason, 0) + 1
        log.warning("gateway %s: dropped a frame: %s", self.gateway_id, exc)

    def _on_frames(self, frames: list[bytes]) -> None:
        try:
            env = codec.decode(frames[-1], self.max_bytes)
            now = time.time()
            self._hub_heard_s = now
            if not self._hub_alive:
                self._hub_alive = True
                self._call(self.on_hub_back)
            if env.type == "heartbeat":
                codec.require(env.body, {"session": str}, "heartbeat")
                if env.body["session"] != self._hub_session:
                    self._hub_session = env.body["session"]
                    self._send_hello()
                else:
                    self._send("heartbeat", self._hello_body(echo_ts=env.ts))
            elif env.type == "sync":
                self._on_sync(env.body)
            elif env.type == "command":
                self._on_command_frame(env.body)
            else:
                raise BusMessageError("envelope", f"{env.type!r} is not for a gateway", "type")
        except BusMessageError as exc:
            self._count(exc)

    def _on_sync(self, body: dict[str, Any]) -> None:
        codec.require(body, {"session": str, "acked": dict}, "sync")
        self._hub_session = body["session"]
        for machine_id, seq in codec.read_map_of_seq(body["acked"], "body(sync).acked").items():
            # The hub's view wins if we know less (we restarted); if we know more the
            # hub has already adopted our number before answering.
            self._last_applied[machine_id] = max(seq, self._last_applied.get(machine_id, 0))

    def _on_command_frame(self, body: dict[str, Any]) -> None:
        machine_seq, cmd = codec.read_command(body)
        machine_id = cmd.machine_id
        last = self._last_applied.get(machine_id)
        if last is None:
            # Not synchronised for this machine yet: wait for the hub's sync; it re-sends.
            self.counters.gaps += 1
            self._send_hello()
            return
        if machine_seq <= last:
            self.counters.duplicates += 1
            self._ack(machine_id, machine_seq, cmd.command_id, "duplicate")
            return
        if machine_seq > last + 1:
            self.counters.gaps += 1
            log.info("gateway %s: %s seq %d after %d, waiting for the re-send",
                     self.gateway_id, machine_id, machine_seq, last)
            return
        self._last_applied[machine_id] = machine_seq
        if cmd.command_id in self._recent_ids:
            self.counters.duplicates += 1
            self._ack(machine_id, machine_seq, cmd.command_id, "duplicate")
            return
        self._remember(cmd.command_id, machine_seq)
        try:
            self.on_command(cmd)
        except Exception as exc:
            self.counters.refused += 1
            log.warning("gateway %s: refused %s for %s: %s", self.gateway_id, cmd.command_id,
                        machine_id, exc)
            self._ack(machine_id, machine_seq, cmd.command_id, "refused", str(exc))
            return
        self.counters.applied += 1
        self._ack(machine_id, machine_seq, cmd.command_id, "applied")

    def _remember(self, command_id: str, seq: int) -> None:
        self._recent_ids[command_id] = seq
        while len(self._recent_ids) > REMEMBERED_COMMAND_IDS:
            self._recent_ids.popitem(last=False)

    def _ack(self, machine_id: str, seq: int, command_id: str, status: str, error: str = "") -> None:
        self._send("ack", {"machine_id": machine_id, "machine_seq": seq,
                           "command_id": command_id, "status": status, "error": error})

    def _call(self, hook: Any) -> None:
        try:
            hook()
        except Exception:
            log.exception("gateway %s: hook %s failed", self.gateway_id, hook.__name__)
