"""VDA 5050 master control over MQTT: orders and instant actions out, state back.

`MasterControl` speaks to many vehicles through one MQTT connection. It keeps per
vehicle and topic the header ids, checks every message both ways against the
official schema, and holds each order (update) and instant action until the
vehicle's own `state` confirms it (orderId/orderUpdateId, actionStates),
re-publishing it every `republish_s` meanwhile: so a broker restart or a vehicle
outage delays an order but never loses it. Anything invalid, oversized, stale or
from an unknown vehicle is counted and logged, never raised.

Threads: `send_order`/`send_instant` from any thread; `on_state` callbacks run on
paho's network thread and must not block.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.errors import SchemaViolation
from adapters.vda5050 import mapping, validation
from adapters.vda5050.mapping import VehicleRef
from adapters.vda5050.transport import MqttLink
from adapters.vda5050.versions import profile
from fleet.domain.commands import ActionType, InstantAction, MachineState, MovementCommand

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 512 * 1024
IN_TOPICS = ("state", "connection", "factsheet", "visualization")


@dataclass
class MasterCounters:
    sent: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    received: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    invalid: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    republished: int = 0
    malformed_json: int = 0
    oversized: int = 0
    stale: int = 0  # headerId not after the last one of that vehicle and topic
    unknown_vehicle: int = 0
    invalid_outgoing: int = 0
    gave_up: int = 0

    @property
    def invalid_total(self) -> int:
        return sum(self.invalid.values())


@dataclass
class _Outgoing:
    topic: str  # "order" | "instantActions"
    command: MovementCommand | InstantAction
    sent_s: float = 0.0
    tries: int = 0


@dataclass
class _Vehicle:
    ref: VehicleRef
    header_ids: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    last_in_header: dict[str, int] = field(default_factory=dict)
    outbox: list[_Outgoing] = field(default_factory=list)
    last_order: MovementCommand | None = None
    state: MachineState | None = None
    raw_state: dict[str, Any] | None = None
    connection: str = "UNKNOWN"
    factsheet: dict[str, Any] | None = None
    estopped: bool = False
    seen_action_ids: set[str] = field(default_factory=set)


class MasterControl:
    def __init__(
        self,
        vehicles: list[VehicleRef],
        link: MqttLink,
        *,
        on_state: Callable[[MachineState], None] | None = None,
        republish_s: float = 1.0,
        max_tries: int = 600,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        wire_log: Callable[[str, str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.link = link
        self.counters = MasterCounters()
        self.republish_s = republish_s
        self.max_tries = max_tries
        self.max_payload_bytes = max_payload_bytes
        self._on_state = on_state
        self._wire_log = wire_log  # (direction, topic, message) for tests and tracing
        self._lock = threading.RLock()
        self._vehicles: dict[str, _Vehicle] = {}
        self._by_topic_prefix: dict[str, _Vehicle] = {}
        for ref in vehicles:
            self.add_vehicle(ref)

    def add_vehicle(self, ref: VehicleRef) -> None:
        prof = profile(ref.version)
        v = _Vehicle(ref)
        with self._lock:
            self._vehicles[ref.machine_id] = v
            prefix = ref.topic("", prof.major)
            self._by_topic_prefix[prefix] = v
        for topic in IN_TOPICS:
            self.link.subscribe(ref.topic(topic, prof.major), qos=1 if topic == "connection" else 0)

    # --- out -----------------------------------------------------------------------

    def send_order(self, cmd: MovementCommand) -> None:
        """Queue an order or order update (raises ValueError if it does not stitch)."""
        with self._lock:
            v = self._vehicle(cmd.machine_id)
            cmd = mapping.stitch(v.last_order, cmd)
            if v.last_order is None or v.last_order.order_id != cmd.order_id:
                # A new order supersedes what is still unconfirmed of the old one.
                v.outbox = [o for o in v.outbox if o.topic != "order"]
            v.last_order = cmd
            out = _Outgoing("order", cmd)
            v.outbox.append(out)
            self._publish(v, out)

    def send_instant(self, cmd: InstantAction) -> None:
        with self._lock:
            v = self._vehicle(cmd.machine_id)
            for a in cmd.actions:
                if a.action_type is ActionType.EMERGENCY_STOP:
                    v.estopped = True
                elif a.action_type is ActionType.RELEASE_EMERGENCY_STOP:
                    v.estopped = False
                elif a.action_type is ActionType.CANCEL_ORDER:
                    v.outbox = [o for o in v.outbox if o.topic != "order"]
                    v.last_order = None
            out = _Outgoing("instantActions", cmd)
            v.outbox.append(out)
            self._publish(v, out)

    def tick(self, now_s: float | None = None) -> None:
        """Re-publish what the vehicles have not confirmed yet (call ~ every 0.1 s)."""
        now_s = time.time() if now_s is None else now_s
        with self._lock:
            for v in self._vehicles.values():
                self._settle(v)
                for out in list(v.outbox):
                    if now_s - out.sent_s < self.republish_s:
                        continue
                    if out.tries >= self.max_tries:
                        self.counters.gave_up += 1
                        log.error("vda5050 %s: gave up on %s %s", v.ref.machine_id, out.topic,
                                  out.command.command_id)
                        v.outbox.remove(out)
                        continue
                    self.counters.republished += 1
                    self._publish(v, out)

    def _vehicle(self, machine_id: str) -> _Vehicle:
        v = self._vehicles.get(machine_id)
        if v is None:
            raise ValueError(f"machine {machine_id!r} is not a VDA 5050 vehicle of this gateway")
        return v

    def _publish(self, v: _Vehicle, out: _Outgoing) -> None:
        prof = profile(v.ref.version)
        v.header_ids[out.topic] += 1
        hid, now = v.header_ids[out.topic], time.time()
        if isinstance(out.command, MovementCommand):
            msg = mapping.order_message(out.command, v.ref, prof, hid, now)
        else:
            msg = mapping.instant_actions_message(out.command, v.ref, prof, hid, now)
        try:
            validation.validate(prof.version, out.topic, msg)
        except SchemaViolation as exc:
            self.counters.invalid_outgoing += 1
            v.outbox.remove(out)
            raise ValueError(f"refusing to send an invalid {out.topic}: {exc}") from None
        out.sent_s, out.tries = now, out.tries + 1
        self.counters.sent[out.topic] += 1
        if self._wire_log:
            self._wire_log("out", out.topic, msg)
        self.link.publish(v.ref.topic(out.topic, prof.major), msg, qos=0)

    def _settle(self, v: _Vehicle) -> None:
        """Drop what the vehicle's last state confirms."""
        raw = v.raw_state
        if raw is None:
            return
        keep = []
        for out in v.outbox:
            if isinstance(out.command, MovementCommand):
                done = raw.get("orderId") == out.command.order_id and \
                    int(raw.get("orderUpdateId", -1)) >= out.command.order_update_id
            else:
                ids = {a.action_id for a in out.command.actions}
                done = ids <= v.seen_action_ids
            if not done:
                keep.append(out)
        v.outbox = keep

    # --- in ------------------------------------------------------------------------

    def handle(self, topic: str, payload: bytes) -> None:
        """One MQTT message from a vehicle (paho's thread). Never raises."""
        try:
            self._handle(topic, payload)
        except Exception:
            log.exception("vda5050: failed on a message on %s", topic)

    def _handle(self, topic: str, payload: bytes) -> None:
        prefix, _, name = topic.rpartition("/")
        with self._lock:
            v = self._by_topic_prefix.get(prefix + "/")
        if v is None or name not in IN_TOPICS:
            self.counters.unknown_vehicle += 1
            log.warning("vda5050: message on %s from no known vehicle", topic)
            return
        self.counters.received[name] += 1
        if len(payload) > self.max_payload_bytes:
            self.counters.oversized += 1
            log.warning("vda5050 %s: %s of %d bytes dropped (limit %d)", v.ref.machine_id, name,
                        len(payload), self.max_payload_bytes)
            return
        if not payload and name == "connection":
            return  # a cleared retained message
        try:
            msg = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.counters.malformed_json += 1
            log.warning("vda5050 %s: %s is not JSON: %s", v.ref.machine_id, name, exc)
            return
        prof = profile(v.ref.version)
        found = validation.problems(prof.version, name, msg)
        if found:
            self.counters.invalid[name] += 1
            log.warning("vda5050 %s: invalid %s: %s", v.ref.machine_id, name, "; ".join(found[:3]))
            return
        if self._wire_log:
            self._wire_log("in", name, msg)
        if isinstance(msg.get("serialNumber"), str) and msg["serialNumber"] != v.ref.serial_number:
            self.counters.unknown_vehicle += 1
            return
        with self._lock:
            if name == "connection" and msg.get("connectionState") == "ONLINE":
                v.last_in_header.clear()  # a (re)started vehicle counts its headers anew
            hid = msg.get("headerId")
            last = v.last_in_header.get(name)
            # The last will (CONNECTIONBROKEN) was written at connect time with an old
            # header, so connection messages are taken as they come.
            if isinstance(hid, int) and last is not None and hid <= last and name != "connection":
                self.counters.stale += 1
                log.info("vda5050 %s: %s headerId %d after %d ignored", v.ref.machine_id, name,
                         hid, last)
                return
            if isinstance(hid, int):
                v.last_in_header[name] = hid
            forward = None
            if name == "state":
                v.raw_state = msg
                v.seen_action_ids |= {a["actionId"] for a in msg.get("actionStates", [])}
                v.state = mapping.machine_state(msg, v.ref, time.time(), v.estopped)
                self._settle(v)
                forward = v.state
            elif name == "connection":
                v.connection = msg["connectionState"]
                if v.connection != "ONLINE":
                    base = v.state or MachineState(v.ref.machine_id, 0.0)
                    forward = dataclasses.replace(base, mode="offline", driving=False,
                                                  stamp_s=max(base.stamp_s,
                                                              mapping.parse_timestamp(msg["timestamp"])))
                    v.state = forward
            elif name == "factsheet":
                v.factsheet = msg
            elif name == "visualization" and v.state is not None and "agvPosition" in msg:
                stamp = mapping.parse_timestamp(msg["timestamp"])
                if stamp > v.state.stamp_s:
                    pos = msg["agvPosition"]
                    forward = v.state = dataclasses.replace(
                        v.state, stamp_s=stamp, x=pos["x"], y=pos["y"], theta=pos["theta"])
        if forward is not None and self._on_state:
            self._on_state(forward)

    # --- views ---------------------------------------------------------------------

    def unconfirmed(self, machine_id: str) -> int:
        with self._lock:
            v = self._vehicle(machine_id)
            self._settle(v)
            return len(v.outbox)

    def connection(self, machine_id: str) -> str:
        with self._lock:
            return self._vehicle(machine_id).connection

    def factsheet(self, machine_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._vehicle(machine_id).factsheet

    def latest(self, machine_id: str) -> MachineState | None:
        with self._lock:
            return self._vehicle(machine_id).state
