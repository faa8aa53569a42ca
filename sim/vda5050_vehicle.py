"""A simulated VDA 5050 vehicle: speaks the real protocol over MQTT, for tests and demos.

It drives node to node along the released base of its order at `speed_mps`, stops
at the end of the base (and so stops on its own when the link to master control is
lost), accepts order updates that stitch at its last base node, runs pick/drop node
actions, charges at startCharging (node or instant action) until stopCharging or it
drives off, drains its battery per metre driven, honours the instant actions
startPause, stopPause, cancelOrder, stateRequest, factsheetRequest and initPosition,
reports `state` every
`state_period_s` and on every change, `visualization` in between, `connection`
ONLINE/OFFLINE (retained) with CONNECTIONBROKEN as the broker's last will, and a
`factsheet` on connect. Every message it receives is checked against the schema;
an invalid one is counted and reported as a WARNING error, as a real vehicle would.

Time is wall time (one thread, `tick_s`); `speed_mps` (and with it `charge_per_s`) can be
raised to make tests quick.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from adapters.vda5050 import validation
from adapters.vda5050.mapping import VehicleRef, header
from adapters.vda5050.transport import MqttLink
from adapters.vda5050.versions import profile

log = logging.getLogger(__name__)


@dataclass
class VehicleCounters:
    orders_accepted: int = 0
    orders_rejected: int = 0
    updates_ignored: int = 0
    invalid_received: int = 0
    instant_actions: int = 0
    nodes_reached: int = 0
    states_sent: int = 0


@dataclass
class _Motion:
    x: float
    y: float
    theta: float = 0.0
    last_node_id: str = ""
    last_node_seq: int = 0
    order_id: str = ""
    order_update_id: int = 0
    nodes: list[dict[str, Any]] = field(default_factory=list)  # still to reach (+ current)
    edges: list[dict[str, Any]] = field(default_factory=list)
    paused: bool = False
    driving: bool = False
    load_id: str | None = None
    running_action: tuple[dict[str, Any], float] | None = None  # (action, finishes at)
    pending_actions: list[dict[str, Any]] = field(default_factory=list)
    action_states: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    battery: float = 90.0  # percent, as VDA 5050 reports it
    charging: bool = False
    odometer_m: float = 0.0


class SimVda5050Vehicle:
    def __init__(
        self,
        manufacturer: str,
        serial_number: str,
        host: str,
        port: int,
        *,
        version: str = "2.0.0",
        start: tuple[str, float, float] = ("n0", 0.0, 0.0),
        speed_mps: float = 2.0,
        state_period_s: float = 0.5,
        action_s: float = 0.2,
        tick_s: float = 0.02,
        keepalive_s: int = 2,
        map_id: str = "site",
        interface_name: str = "uagv",
        battery: float = 0.9,
        drain_per_m: float = 0.0001,
        charge_per_s: float = 0.6 / 3600,
    ) -> None:
        """battery: the charge at start (0..1); drain_per_m: charge used per metre driven;
        charge_per_s: charge gained per wall second on a charger."""
        self.ref = VehicleRef(serial_number, manufacturer, serial_number, version, map_id,
                              interface_name)
        self.profile = profile(version)
        self.speed_mps = speed_mps
        self.state_period_s = state_period_s
        self.action_s = action_s
        self.tick_s = tick_s
        self.drain_per_m = drain_per_m
        self.charge_per_s = charge_per_s
        self.counters = VehicleCounters()
        self.m = _Motion(start[1], start[2], last_node_id=start[0], battery=100.0 * battery)
        self.visited: list[str] = [start[0]]  # every node reached, in order (for tests)
        self._headers: dict[str, int] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_state_s = 0.0
        self._last_vis_s = 0.0
        self._dirty = True
        self.link = MqttLink(
            f"sim-{manufacturer}-{serial_number}", host, port, keepalive_s=keepalive_s,
            will=(self._topic("connection"), self._connection("CONNECTIONBROKEN"), 1, True),
            on_message=self._on_message, on_connect=self._on_connect,
        )
        self.link.subscribe(self._topic("order"), 0)
        self.link.subscribe(self._topic("instantActions"), 0)

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        self.link.start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"vda-sim-{self.ref.serial_number}",
                                        daemon=True)
        self._thread.start()

    def stop(self, graceful: bool = True) -> None:
        if graceful and self.link.connected:
            self._publish("connection", self._connection("OFFLINE"), qos=1, retain=True)
            time.sleep(0.05)
        self._stop.set()
        if self._thread:
            self._thread.join(2)
        self.link.stop(graceful=graceful)

    # --- views for tests -----------------------------------------------------------

    @property
    def idle(self) -> bool:
        with self._lock:
            return not self._base_ahead() and self.m.running_action is None and not self.m.pending_actions

    @property
    def position(self) -> tuple[float, float]:
        with self._lock:
            return self.m.x, self.m.y

    # --- wire ----------------------------------------------------------------------

    def _topic(self, name: str) -> str:
        return self.ref.topic(name, self.profile.major)

    def _header(self, topic: str) -> dict[str, Any]:
        self._headers[topic] = self._headers.get(topic, 0) + 1
        return header(self.ref, self.profile, self._headers[topic], time.time())

    def _connection(self, state: str) -> dict[str, Any]:
        return {**self._header("connection"), "connectionState": state}

    def _publish(self, topic: str, msg: dict[str, Any], qos: int = 0, retain: bool = False) -> None:
        found = validation.problems(self.profile.version, topic, msg)
        if found:  # a bug in the simulator, not in the vehicle's peer
            raise AssertionError(f"sim vehicle built an invalid {topic}: {found[:3]}")
        self.link.publish(self._topic(topic), msg, qos=qos, retain=retain)

    def _on_connect(self) -> None:
        self._publish("connection", self._connection("ONLINE"), qos=1, retain=True)
        self._publish("factsheet", self._factsheet(), qos=1, retain=True)  # a late master still gets it
        self._dirty = True

    def _on_message(self, topic: str, payload: bytes) -> None:
        name = topic.rpartition("/")[2]
        try:
            msg = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            msg = None
        found = ["not JSON"] if msg is None else validation.problems(self.profile.version, name, msg)
        with self._lock:
            if found:
                self.counters.invalid_received += 1
                self._error("validationError", "WARNING", "; ".join(found[:2]))
                return
            if name == "order":
                self._on_order(msg)
            elif name == "instantActions":
                for action in msg["actions"]:
                    self._on_instant(action)
            self._dirty = True

    def _error(self, kind: str, level: str, text: str, refs: dict[str, str] | None = None) -> None:
        err = {"errorType": kind, "errorLevel": level, "errorDescription": text[:200],
               "errorReferences": [{"referenceKey": k, "referenceValue": v}
                                   for k, v in (refs or {}).items()]}
        self.m.errors = [*self.m.errors[-4:], err]
        self._dirty = True

    # --- orders --------------------------------------------------------------------

    def _base_ahead(self) -> list[dict[str, Any]]:
        out = []
        for n in self.m.nodes:
            if not n["released"]:
                break
            if n["sequenceId"] > self.m.last_node_seq or (
                    n["sequenceId"] == self.m.last_node_seq and n["nodeId"] != self.m.last_node_id):
                out.append(n)
        return out

    def _on_order(self, msg: dict[str, Any]) -> None:
        m = self.m
        nodes = sorted(msg["nodes"], key=lambda n: n["sequenceId"])
        edges = sorted(msg["edges"], key=lambda e: e["sequenceId"])
        refs = {"orderId": msg["orderId"]}
        if msg["orderId"] == m.order_id:
            if msg["orderUpdateId"] == m.order_update_id:
                self.counters.updates_ignored += 1  # a re-publish of what we have
                return
            if msg["orderUpdateId"] < m.order_update_id:
                self.counters.orders_rejected += 1
                self._error("orderUpdateError", "WARNING", "orderUpdateId went back", refs)
                return
            base = [n for n in m.nodes if n["released"]]
            base_end = base[-1] if base else {"nodeId": m.last_node_id, "sequenceId": m.last_node_seq}
            first = nodes[0] if nodes else None
            if not first or (first["nodeId"], first["sequenceId"]) != (
                    base_end["nodeId"], base_end["sequenceId"]):
                self.counters.orders_rejected += 1
                self._error("orderUpdateError", "WARNING", "update does not stitch", refs)
                return
            kept = [n for n in m.nodes if n["sequenceId"] < first["sequenceId"]]
            m.nodes = kept + nodes
            m.edges = [e for e in m.edges if e["sequenceId"] < first["sequenceId"]] + edges
        else:
            if self._base_ahead() or m.running_action:
                self.counters.orders_rejected += 1
                self._error("orderError", "WARNING", "a new order while one is running", refs)
                return
            first = nodes[0]
            pos = first.get("nodePosition")
            near = pos is not None and math.hypot(pos["x"] - m.x, pos["y"] - m.y) < 1.0
            if first["nodeId"] != m.last_node_id and not near:
                self.counters.orders_rejected += 1
                self._error("noRouteError", "WARNING", "the order does not start here", refs)
                return
            m.nodes, m.edges = nodes, edges
            m.action_states = {}
            m.errors = []
            # the first node is where we are: reached now
            m.last_node_id, m.last_node_seq = first["nodeId"], first["sequenceId"]
            self._queue_actions(first)
        m.order_id, m.order_update_id = msg["orderId"], msg["orderUpdateId"]
        for n in nodes:
            for a in n["actions"]:
                m.action_states.setdefault(a["actionId"], self._action_state(a, "WAITING"))
        self.counters.orders_accepted += 1

    @staticmethod
    def _action_state(action: dict[str, Any], status: str, result: str | None = None) -> dict[str, Any]:
        out = {"actionId": action["actionId"], "actionType": action["actionType"],
               "actionStatus": status}
        if result:
            out["resultDescription"] = result
        return out

    def _queue_actions(self, node: dict[str, Any]) -> None:
        self.m.pending_actions.extend(node.get("actions", []))

    def _on_instant(self, action: dict[str, Any]) -> None:
        m = self.m
        self.counters.instant_actions += 1
        kind = action["actionType"]
        status, result = "FINISHED", None
        if kind == "startPause":
            m.paused = True
        elif kind == "stopPause":
            m.paused = False
        elif kind in ("startCharging", "stopCharging"):
            m.charging = kind == "startCharging"
        elif kind == "cancelOrder":
            ahead = self._base_ahead()
            stop_at = ahead[0]["sequenceId"] if (ahead and m.driving) else m.last_node_seq
            m.nodes = [n for n in m.nodes if n["sequenceId"] <= stop_at]
            m.edges = [e for e in m.edges if e["sequenceId"] < stop_at]
            for n in m.nodes:
                n["released"] = True
            m.pending_actions = []
            for st in m.action_states.values():
                if st["actionStatus"] in ("WAITING", "INITIALIZING", "RUNNING", "PAUSED"):
                    st["actionStatus"] = "FAILED"
        elif kind == "initPosition":
            params = {p["key"]: p["value"] for p in action.get("actionParameters", [])}
            m.x, m.y = float(params.get("x", m.x)), float(params.get("y", m.y))
            m.theta = float(params.get("theta", m.theta))
            m.last_node_id = str(params.get("lastNodeId", m.last_node_id))
        elif kind == "factsheetRequest":
            self._publish("factsheet", self._factsheet())
        elif kind != "stateRequest":
            status, result = "FAILED", f"unknown instant action {kind}"
        m.action_states[action["actionId"]] = self._action_state(action, status, result)
        self._last_state_s = 0.0  # answer at once

    # --- motion --------------------------------------------------------------------

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self.tick_s):
            now = time.monotonic()
            dt, last = now - last, now
            with self._lock:
                self._step(dt)
                wall = time.time()
                if self.link.connected:
                    if self._dirty or wall - self._last_state_s >= self.state_period_s:
                        self._publish("state", self._state())
                        self.counters.states_sent += 1
                        self._last_state_s, self._dirty = wall, False
                    elif wall - self._last_vis_s >= self.state_period_s / 2:
                        self._publish("visualization", self._visualization())
                        self._last_vis_s = wall

    def _step(self, dt: float) -> None:
        m = self.m
        if m.running_action is not None:
            action, done_at = m.running_action
            if time.monotonic() >= done_at:
                if action["actionType"] == "pick":
                    params = {p["key"]: p["value"] for p in action.get("actionParameters", [])}
                    m.load_id = str(params.get("loadId", "load"))
                elif action["actionType"] == "drop":
                    m.load_id = None
                m.action_states[action["actionId"]] = self._action_state(action, "FINISHED")
                m.running_action = None
                self._dirty = True
            elif action.get("blockingType") != "NONE":
                m.driving = False
                return
        if m.charging:
            m.battery = min(100.0, m.battery + 100.0 * self.charge_per_s * dt)
        if m.running_action is None and m.pending_actions and not m.paused:
            action = m.pending_actions.pop(0)
            if action["actionType"] in ("startCharging", "stopCharging"):  # a switch, not a task
                m.charging = action["actionType"] == "startCharging"
                m.action_states[action["actionId"]] = self._action_state(action, "FINISHED")
                self._dirty = True
                return
            m.running_action = (action, time.monotonic() + self.action_s)
            m.action_states[action["actionId"]] = self._action_state(action, "RUNNING")
            self._dirty = True
            return
        ahead = self._base_ahead()
        if m.paused or not ahead or m.pending_actions:
            if m.driving:
                self._dirty = True
            m.driving = False
            return
        target = ahead[0]
        pos = target.get("nodePosition") or {"x": m.x, "y": m.y}
        dx, dy = pos["x"] - m.x, pos["y"] - m.y
        dist = math.hypot(dx, dy)
        step = self.speed_mps * dt  # edge maxSpeed is the real vehicle's business
        if not m.driving:
            self._dirty = True
        m.driving = True
        m.charging = False  # it drove off the charger
        if dist > 1e-9:
            m.theta = math.atan2(dy, dx)
        if step >= dist:
            m.x, m.y = pos["x"], pos["y"]
            m.odometer_m += dist
            m.last_node_id, m.last_node_seq = target["nodeId"], target["sequenceId"]
            self.visited.append(target["nodeId"])
            self.counters.nodes_reached += 1
            m.nodes = [n for n in m.nodes if n["sequenceId"] >= target["sequenceId"]]
            m.edges = [e for e in m.edges if e["sequenceId"] > target["sequenceId"]]
            self._queue_actions(target)
            self._dirty = True
        else:
            m.x += dx / dist * step
            m.y += dy / dist * step
            m.odometer_m += step
        m.battery = max(0.0, m.battery - 100.0 * self.drain_per_m * min(step, dist))

    # --- messages ------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        m = self.m
        remaining = [n for n in m.nodes if n["sequenceId"] != m.last_node_seq]
        msg: dict[str, Any] = {
            **self._header("state"),
            "orderId": m.order_id,
            "orderUpdateId": m.order_update_id,
            "lastNodeId": m.last_node_id,
            "lastNodeSequenceId": m.last_node_seq,
            "driving": m.driving,
            "paused": m.paused,
            "operatingMode": "AUTOMATIC",
            "nodeStates": [{"nodeId": n["nodeId"], "sequenceId": n["sequenceId"],
                            "released": n["released"]} for n in remaining],
            "edgeStates": [{"edgeId": e["edgeId"], "sequenceId": e["sequenceId"],
                            "released": e["released"]} for e in m.edges],
            "agvPosition": {"x": m.x, "y": m.y, "theta": m.theta, "mapId": self.ref.map_id,
                            "positionInitialized": True},
            "velocity": {"vx": self.speed_mps if m.driving else 0.0, "vy": 0.0, "omega": 0.0},
            "loads": [{"loadId": m.load_id}] if m.load_id else [],
            "actionStates": list(m.action_states.values()),
            "batteryState": {"batteryCharge": round(m.battery, 2), "charging": m.charging},
            "errors": list(m.errors),
            "safetyState": {"eStop": "NONE", "fieldViolation": False},
        }
        return msg

    def _visualization(self) -> dict[str, Any]:
        m = self.m
        return {**self._header("visualization"),
                "agvPosition": {"x": m.x, "y": m.y, "theta": m.theta, "mapId": self.ref.map_id,
                                "positionInitialized": True},
                "velocity": {"vx": self.speed_mps if m.driving else 0.0, "vy": 0.0, "omega": 0.0}}

    def _factsheet(self) -> dict[str, Any]:
        actions = [{"actionType": t, "actionScopes": scopes} for t, scopes in (
            ("pick", ["NODE"]), ("drop", ["NODE"]), ("startPause", ["INSTANT"]),
            ("stopPause", ["INSTANT"]), ("cancelOrder", ["INSTANT"]),
            ("stateRequest", ["INSTANT"]), ("initPosition", ["INSTANT"]),
            ("factsheetRequest", ["INSTANT"]))]
        return {
            **self._header("factsheet"),
            "typeSpecification": {"seriesName": "fleet5g-sim", "agvKinematic": "DIFF",
                                  "agvClass": "CARRIER", "maxLoadMass": 1000,
                                  "localizationTypes": ["NATURAL"],
                                  "navigationTypes": ["AUTONOMOUS"]},
            "physicalParameters": {"speedMin": 0.0, "speedMax": self.speed_mps,
                                   "accelerationMax": 1.0, "decelerationMax": 1.0,
                                   "heightMax": 0.5, "heightMin": 0.2, "width": 0.8,
                                   "length": 1.2},
            "protocolLimits": {"maxStringLens": {}, "maxArrayLens": {},
                               "timing": {"minOrderInterval": 0.1,
                                          "minStateInterval": self.state_period_s}},
            "protocolFeatures": {"optionalParameters": [], "agvActions": actions},
            "agvGeometry": {},
            "loadSpecification": {},
        }
