"""Messages per second through the vehicle bus and the adapters, and round trips on loopback.

- bus (inproc and tcp): commands hub -> loopback gateway, each acknowledged (the
  real delivery path with sequence numbers and dedup), states gateway -> hub, and
  the command -> ack round trip one at a time;
- VDA 5050 over a real mosquitto (skipped if it is not installed): orders through
  hub -> gateway -> MQTT -> an echo vehicle -> state -> gateway -> hub, every message
  checked against the official schema on the way (as in production);
- ROS 2 pure DDS: nav_msgs/Path samples through cyclonedds on loopback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from fleet.plant import free_port

DESCRIPTION = "messages/s through the bus (inproc, tcp), VDA 5050 over mosquitto, ROS 2 DDS; RTT"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=None, help="messages per throughput run")


def _wait(pred: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.0005)
    return bool(pred())


def _cmd(i: int, machine: str) -> Any:
    from fleet.domain.commands import MovementCommand, RouteEdge, RouteNode

    nodes = tuple(RouteNode(f"n{k}", 2 * k, float(k), 0.0, k < 3) for k in range(5))
    edges = tuple(RouteEdge(f"e{k}", 2 * k + 1, f"n{k}", f"n{k + 1}", k < 2, 1.0, 1.0)
                  for k in range(4))
    return MovementCommand(f"b{i}-{time.monotonic_ns()}", machine, f"o{i}", 0, nodes, edges)


def _bus(transport: str, n: int, rtt_n: int) -> dict[str, float]:
    import zmq

    from adapters.bus import BusHub
    from adapters.bus.loopback import LoopbackGateway
    from fleet.domain.commands import MachineState

    ctx = zmq.Context.instance()
    endpoint = f"inproc://bench-{time.monotonic_ns()}" if transport == "inproc" else \
        f"tcp://127.0.0.1:{free_port()}"
    hub = BusHub(endpoint, context=ctx, heartbeat_s=0.5, resend_after_s=5.0)
    hub.start()
    gw = LoopbackGateway("gw-bench", ["m1"], endpoint, context=ctx, state_period_s=3600)
    gw.start()
    states: list[float] = []
    acked = threading.Event()
    last_id: list[str] = [""]
    hub.subscribe(on_state=lambda s: states.append(s.stamp_s),
                  on_ack=lambda a: acked.set() if a.command_id == last_id[0] else None)
    out: dict[str, float] = {}
    try:
        if not _wait(lambda: hub.gateway_of("m1") == "gw-bench" and hub.acked("m1") == 0
                     and gw.last_applied("m1") is not None, 10):
            raise RuntimeError("the bench gateway did not connect")
        cmds = [_cmd(i, "m1") for i in range(n)]
        t0 = time.perf_counter()
        for c in cmds:
            hub.send(c)
        ok = _wait(lambda: hub.pending("m1") == 0, 120)
        dt = time.perf_counter() - t0
        out[f"{transport}_commands_per_s"] = round(n / dt, 1) if ok else 0.0
        # states: publish n from the gateway side, count them at the hub
        states.clear()
        base = time.time()
        t0 = time.perf_counter()
        for i in range(n):
            gw.publish_state(MachineState("m1", base + i * 1e-6))
        ok = _wait(lambda: len(states) >= n, 120)
        dt = time.perf_counter() - t0
        out[f"{transport}_states_per_s"] = round(len(states) / dt, 1)
        # round trip: one command at a time, until its ack is back
        rtts = []
        for i in range(rtt_n):
            c = _cmd(10**6 + i, "m1")
            last_id[0] = c.command_id
            acked.clear()
            t0 = time.perf_counter()
            hub.send(c)
            if acked.wait(5):
                rtts.append((time.perf_counter() - t0) * 1000)
        if rtts:
            out[f"{transport}_rtt_median_ms"] = round(statistics.median(rtts), 3)
            out[f"{transport}_rtt_p99_ms"] = round(sorted(rtts)[int(0.99 * (len(rtts) - 1))], 3)
    finally:
        gw.stop()
        hub.stop()
    return out


class _EchoVehicle:
    """Answers every order at once with a schema-valid state confirming it."""

    def __init__(self, host: str, port: int, serial: str) -> None:
        from adapters.vda5050.mapping import VehicleRef, header
        from adapters.vda5050.transport import MqttLink
        from adapters.vda5050.versions import profile

        self.ref = VehicleRef(serial, "bench", serial, "2.0.0")
        self.prof = profile("2.0.0")
        self._header = header
        self.hid = 0
        self.link = MqttLink(f"echo-{serial}", host, port, on_message=self._on)
        self.link.subscribe(self.ref.topic("order"), 0)

    def _on(self, topic: str, payload: bytes) -> None:
        import json

        order = json.loads(payload)
        self.hid += 1
        state = {
            **self._header(self.ref, self.prof, self.hid, time.time()),
            "orderId": order["orderId"], "orderUpdateId": order["orderUpdateId"],
            "lastNodeId": order["nodes"][0]["nodeId"], "lastNodeSequenceId": 0,
            "nodeStates": [], "edgeStates": [], "driving": False, "actionStates": [],
            "batteryState": {"batteryCharge": 80.0, "charging": False},
            "operatingMode": "AUTOMATIC", "errors": [],
            "safetyState": {"eStop": "NONE", "fieldViolation": False},
        }
        self.link.publish(self.ref.topic("state"), state)


def _vda5050(n: int, rtt_n: int) -> dict[str, float]:
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(mosquitto).exists():
        return {"vda5050_skipped": 1}
    import zmq

    from adapters.bus import BusHub
    from adapters.vda5050 import Vda5050Config, Vda5050Gateway, VehicleRef

    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 100000\n")
    broker = subprocess.Popen([mosquitto, "-c", str(conf)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    out: dict[str, float] = {}
    ctx = zmq.Context.instance()
    endpoint = f"inproc://bench-vda-{time.monotonic_ns()}"
    hub = BusHub(endpoint, context=ctx, heartbeat_s=0.5, resend_after_s=5.0)
    try:
        _wait(lambda: _port_open(port), 10)
        hub.start()
        gw = Vda5050Gateway(Vda5050Config("gw-bench", endpoint, (VehicleRef("v1", "bench", "S1"),),
                                          mqtt_port=port, republish_s=30.0), context=ctx)
        echo = _EchoVehicle("127.0.0.1", port, "S1")
        echo.link.start()
        gw.start()
        if not (echo.link.wait_connected(10) and gw.mqtt.wait_connected(10)):
            raise RuntimeError("MQTT clients did not connect")
        seen: dict[str, float] = {}
        hub.subscribe(on_state=lambda s: seen.__setitem__(s.order_id, time.perf_counter()))
        _wait(lambda: hub.gateway_of("v1") == "gw-bench", 10)
        time.sleep(0.3)
        t0 = time.perf_counter()
        for i in range(n):
            hub.send(_cmd(i, "v1"))
        _wait(lambda: f"o{n - 1}" in seen, 120)
        dt = time.perf_counter() - t0
        out["vda5050_orders_per_s"] = round(sum(1 for k in seen if k.startswith("o")) / dt, 1)
        rtts = []
        for i in range(rtt_n):
            oid = f"o{10**6 + i}"
            c = _cmd(10**6 + i, "v1")
            t0 = time.perf_counter()
            hub.send(c)
            if _wait(lambda oid=oid: oid in seen, 5):
                rtts.append((seen[oid] - t0) * 1000)
        if rtts:
            out["vda5050_rtt_median_ms"] = round(statistics.median(rtts), 3)
            out["vda5050_rtt_p99_ms"] = round(sorted(rtts)[int(0.99 * (len(rtts) - 1))], 3)
        out["vda5050_invalid_messages"] = gw.master.counters.invalid_total
        gw.stop()
        echo.link.stop()
    finally:
        hub.stop()
        broker.terminate()
        broker.wait(5)
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _dds(n: int) -> dict[str, float]:
    os.environ.setdefault(
        "CYCLONEDDS_URI",
        '<CycloneDDS><Domain id="any"><General><Interfaces><NetworkInterface name="lo"/>'
        "</Interfaces><AllowMulticast>false</AllowMulticast></General><Discovery>"
        "<ParticipantIndex>auto</ParticipantIndex><Peers><Peer address=\"127.0.0.1\"/></Peers>"
        "</Discovery></Domain></CycloneDDS>")
    from adapters.ros2 import mapping
    from adapters.ros2 import messages as m
    from adapters.ros2.transport import DdsTransport

    domain = 201 + os.getpid() % 30
    pub_side, sub_side = DdsTransport(domain), DdsTransport(domain)
    got = [0]
    sub_side.subscribe("bench", "fleet_path", m.Path, lambda _m: got.__setitem__(0, got[0] + 1))
    publish = pub_side.publisher("bench", "fleet_path", m.Path)
    path = mapping.base_path(_cmd(0, "x"), "map", time.time())
    time.sleep(1.0)  # discovery
    t0 = time.perf_counter()
    for _ in range(n):
        publish(path)
    _wait(lambda: got[0] >= n, 60)
    dt = time.perf_counter() - t0
    pub_side.close()
    sub_side.close()
    return {"dds_path_msgs_per_s": round(got[0] / dt, 1), "dds_received": got[0]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.messages or (2000 if args.quick else 20000)
    rtt_n = 200 if args.quick else 1000
    figures: dict[str, Any] = {"messages": n, "rtt_samples": rtt_n}
    figures.update(_bus("inproc", n, rtt_n))
    figures.update(_bus("tcp", n, rtt_n))
    figures.update(_vda5050(max(200, n // 10), max(50, rtt_n // 4)))
    figures.update(_dds(n))
    figures["summary"] = (
        f"bus inproc {figures.get('inproc_commands_per_s')} cmd/s "
        f"(rtt {figures.get('inproc_rtt_median_ms')} ms), tcp {figures.get('tcp_commands_per_s')} "
        f"cmd/s (rtt {figures.get('tcp_rtt_median_ms')} ms), vda5050 "
        f"{figures.get('vda5050_orders_per_s')} orders/s (rtt {figures.get('vda5050_rtt_median_ms')}"
        f" ms), dds {figures.get('dds_path_msgs_per_s')} paths/s"
    )
    return figures
