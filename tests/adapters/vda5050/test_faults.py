"""VDA 5050 under faults: broker restart, a vehicle's link cut, and bad messages."""

from __future__ import annotations

import json
import math
import threading
import time

import pytest

from adapters.bus import BusAdapterFactory
from adapters.errors import LinkLostError
from adapters.vda5050.transport import MqttLink
from fleet.domain.commands import MovementCommand, RouteEdge, RouteNode
from tests.adapters.conftest import movement, wait_until
from tests.adapters.relay import Relay
from tests.adapters.vda5050.conftest import build_site

pytestmark = pytest.mark.mqtt


def test_broker_restart_loses_no_order(broker, inproc_name) -> None:  # type: ignore[no-untyped-def]
    gen = build_site(broker, inproc_name, speed_mps=4.0)
    hub, gw, vehicles, sniffer, _states = next(gen)
    try:
        for mid in ("agv-a", "agv-b"):
            hub.send(movement(mid, order_id=f"r-{mid}", n=8, released=3, spacing_m=1.0))
        assert wait_until(lambda: all(v.m.order_id.startswith("r-") for v in vehicles.values()))
        broker.stop()
        for mid in ("agv-a", "agv-b"):  # the update goes out while there is no broker
            hub.send(movement(mid, order_id=f"r-{mid}", update=1, n=8, spacing_m=1.0))
        assert wait_until(lambda: hub.pending("agv-a") == 0 and hub.pending("agv-b") == 0)
        time.sleep(0.3)
        broker.start()
        assert wait_until(lambda: all(v.m.last_node_id == "n7" and v.idle
                                      for v in vehicles.values()), timeout_s=30)
        for v in vehicles.values():
            assert v.visited == [f"n{i}" for i in range(8)]  # nothing lost, nothing twice
            assert v.counters.orders_rejected == 0
        assert gw.master.counters.republished > 0
        assert wait_until(lambda: gw.master.unconfirmed("agv-a") == 0)
        sniffer.check_all({"A1": "2.0.0", "B1": "2.1.0"})
    finally:
        next(gen, None)


def test_vehicle_link_outage_stops_at_base_end_and_resyncs(broker, inproc_name) -> None:  # type: ignore[no-untyped-def]
    relay = Relay(("127.0.0.1", 0), (broker.host, broker.port))
    # agv-b stands on n4 of agv-a's route: agv-a's base ends at n3, so the outage must
    # not bring them closer than the node spacing allows (no collision).
    gen = build_site(broker, inproc_name, vehicle_ports={"A1": relay.port}, speed_mps=3.0,
                     starts={"B1": ("p", 4.0, 0.0)})
    hub, gw, vehicles, sniffer, states = next(gen)
    adapters = BusAdapterFactory(hub)
    agv = adapters.create("agv-a")
    agv.connect()
    v, other = vehicles["agv-a"], vehicles["agv-b"]
    closest = [float("inf")]
    watching = threading.Event()

    def watch() -> None:
        while not watching.wait(0.01):
            (ax, ay), (bx, by) = v.position, other.position
            closest[0] = min(closest[0], math.hypot(ax - bx, ay - by))

    threading.Thread(target=watch, daemon=True).start()
    try:
        assert wait_until(agv.can_accept)
        agv.send(movement("agv-a", order_id="out", n=10, released=4, spacing_m=1.0))
        assert wait_until(lambda: v.m.order_id == "out" and v.m.driving)
        relay.cut()  # the radio link drops; the broker publishes the vehicle's last will
        assert wait_until(lambda: gw.master.connection("agv-a") == "CONNECTIONBROKEN")
        assert wait_until(lambda: not agv.can_accept())
        with pytest.raises(LinkLostError):  # no new steps for a machine we cannot reach
            agv.send(movement("agv-a", order_id="out", update=1, n=10, spacing_m=1.0))
        # the vehicle drives on to the end of its base on its own, and stops there
        assert wait_until(lambda: v.m.last_node_id == "n3" and not v.m.driving)
        time.sleep(0.5)
        assert v.m.last_node_id == "n3" and v.visited[-1] == "n3"
        assert closest[0] >= 0.99  # stopped a node short of agv-b
        # the core moves agv-b off the lane, then releases the rest of agv-a's route;
        # that update is in flight when the link comes back, and is delivered then
        hub.send(MovementCommand("away", "agv-b", "away", 0, (
            RouteNode("p", 0, 4.0, 0.0, True), RouteNode("q", 2, 4.0, 5.0, True)),
            (RouteEdge("pq", 1, "p", "q", True, 1.0, 5.0),)))
        assert wait_until(lambda: other.m.last_node_id == "q" and other.idle)
        hub.send(movement("agv-a", order_id="out", update=1, n=10, spacing_m=1.0,
                          command_id="inflight"))
        relay.restore()
        assert wait_until(lambda: gw.master.connection("agv-a") == "ONLINE", timeout_s=15)
        assert wait_until(agv.can_accept)
        assert wait_until(lambda: v.m.last_node_id == "n9" and v.idle, timeout_s=20)
        assert v.visited == [f"n{i}" for i in range(10)]
        assert states["agv-a"][-1].mode == "auto"
        assert closest[0] >= 0.99
        sniffer.check_all({"A1": "2.0.0", "B1": "2.1.0"})
    finally:
        watching.set()
        next(gen, None)
        relay.close()


def test_bad_vehicle_messages_are_counted_and_ignored(broker, inproc_name) -> None:  # type: ignore[no-untyped-def]
    gen = build_site(broker, inproc_name)
    hub, gw, vehicles, _sniffer, states = next(gen)
    rogue = MqttLink("rogue", broker.host, broker.port)
    rogue.start()
    assert rogue.wait_connected()
    topic = "uagv/v2/acme/A1/state"
    c = gw.master.counters
    try:
        v = vehicles["agv-a"]
        with v._lock:
            good = v._state()  # a valid state, to replay as stale and duplicate
        time.sleep(0.3)  # let the vehicle publish newer headers
        n_states = len(states["agv-a"])
        rogue.publish_raw(topic, b"\xff\xfe not json")
        rogue.publish_raw(topic, json.dumps({"headerId": 1}).encode())  # schema-invalid
        rogue.publish_raw(topic, json.dumps({**good, "batteryState": "full"}).encode())
        rogue.publish_raw(topic, b"{" + b" " * (600 * 1024) + b"}")  # oversized
        rogue.publish_raw(topic, json.dumps(good).encode())  # stale headerId (replayed)
        gw.master.handle("uagv/v2/acme/ZZ/state", json.dumps(good).encode())  # unknown vehicle
        ok = wait_until(lambda: c.malformed_json == 1 and c.invalid["state"] == 2
                        and c.oversized == 1 and c.stale >= 1 and c.unknown_vehicle >= 1)
        assert ok, c
        # the vehicle's own messages keep flowing, and orders still run
        assert wait_until(lambda: len(states["agv-a"]) > n_states)
        assert all(s.stamp_s != good["timestamp"] for s in states["agv-a"])
        hub.send(movement("agv-a", order_id="after-bad", n=3))
        assert wait_until(lambda: v.m.last_node_id == "n2" and v.idle)
    finally:
        rogue.stop()
        next(gen, None)


def test_vehicle_counts_invalid_orders_as_errors(broker, inproc_name) -> None:  # type: ignore[no-untyped-def]
    gen = build_site(broker, inproc_name)
    _hub, _gw, vehicles, _sniffer, states = next(gen)
    rogue = MqttLink("rogue-master", broker.host, broker.port)
    rogue.start()
    assert rogue.wait_connected()
    try:
        rogue.publish_raw("uagv/v2/acme/B1/order", json.dumps({"orderId": 5}).encode())
        v = vehicles["agv-b"]
        assert wait_until(lambda: v.counters.invalid_received == 1)
        assert wait_until(lambda: "validationError" in states["agv-b"][-1].errors)
        assert v.counters.orders_accepted == 0
    finally:
        rogue.stop()
        next(gen, None)
