"""Builders for the VDA 5050 tests: a sniffer on the wire and a small site on a broker."""

from __future__ import annotations

import json
import threading

import pytest
import zmq

from adapters.bus import BusHub
from adapters.vda5050 import Vda5050Config, Vda5050Gateway, VehicleRef
from adapters.vda5050.transport import MqttLink
from adapters.vda5050.validation import problems
from fleet.domain.commands import MachineState
from sim.vda5050_vehicle import SimVda5050Vehicle
from tests.adapters.conftest import wait_until


class Sniffer:
    """Records every message on `uagv/#` to check them all against the schemas."""

    def __init__(self, host: str, port: int) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.link = MqttLink("sniffer", host, port, on_message=self._on)
        self.link.subscribe("uagv/#", 1)

    def _on(self, topic: str, payload: bytes) -> None:
        with self.lock:
            self.messages.append((topic, payload))

    def check_all(self, versions: dict[str, str]) -> int:
        with self.lock:
            msgs = list(self.messages)
        for topic, payload in msgs:
            serial, name = topic.split("/")[3], topic.split("/")[4]
            if not payload:
                continue
            found = problems(versions[serial], name, json.loads(payload))
            assert not found, f"{topic}: {found}"
        return len(msgs)

    def topics(self) -> set[str]:
        with self.lock:
            return {t.rsplit("/", 1)[1] for t, _ in self.messages}


@pytest.fixture
def site(broker, inproc_name):  # type: ignore[no-untyped-def]
    yield from build_site(broker, inproc_name)


def build_site(broker, inproc_name, vehicle_ports=None, speed_mps=20.0, starts=None):  # type: ignore[no-untyped-def]
    """Hub + VDA 5050 gateway + vehicles A1 (2.0) and B1 (2.1); `vehicle_ports` lets a
    vehicle reach the broker through a relay."""
    vehicle_ports = vehicle_ports or {}
    starts = starts or {}
    ctx = zmq.Context.instance()
    hub = BusHub(inproc_name, context=ctx, heartbeat_s=0.1, resend_after_s=0.3)
    hub.start()
    refs = (VehicleRef("agv-a", "acme", "A1", "2.0.0"), VehicleRef("agv-b", "acme", "B1", "2.1.0"))
    cfg = Vda5050Config("gw-vda", inproc_name, refs, mqtt_host=broker.host,
                        mqtt_port=broker.port, mqtt_keepalive_s=2, republish_s=0.3)
    sniffer = Sniffer(broker.host, broker.port)
    sniffer.link.start()
    assert sniffer.link.wait_connected()
    gw = Vda5050Gateway(cfg, context=ctx, heartbeat_s=0.1)
    gw.start()
    vehicles = {
        "agv-a": SimVda5050Vehicle("acme", "A1", broker.host, vehicle_ports.get("A1", broker.port),
                                   version="2.0.0", speed_mps=speed_mps, state_period_s=0.2,
                                   start=starts.get("A1", ("n0", 0.0, 0.0))),
        "agv-b": SimVda5050Vehicle("acme", "B1", broker.host, vehicle_ports.get("B1", broker.port),
                                   version="2.1.0", speed_mps=speed_mps, state_period_s=0.2,
                                   start=starts.get("B1", ("n0", 0.0, 0.0))),
    }
    for v in vehicles.values():
        v.start()
    states: dict[str, list[MachineState]] = {"agv-a": [], "agv-b": []}
    hub.subscribe(on_state=lambda s: states[s.machine_id].append(s))
    assert wait_until(lambda: all(states.values()))
    yield hub, gw, vehicles, sniffer, states
    for v in vehicles.values():
        v.stop()
    gw.stop()
    hub.stop()
    sniffer.link.stop()


