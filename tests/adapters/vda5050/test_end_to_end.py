"""VDA 5050 end to end on a real mosquitto: core -> bus -> gateway -> MQTT -> vehicles."""

from __future__ import annotations

import pytest

from fleet.domain.commands import Action, ActionType, MovementCommand, RouteNode
from tests.adapters.conftest import movement, wait_until

pytestmark = pytest.mark.mqtt


def _with_pick_and_drop(cmd: MovementCommand) -> MovementCommand:
    nodes = list(cmd.nodes)
    nodes[1] = RouteNode(nodes[1].node_id, nodes[1].sequence_id, nodes[1].x, nodes[1].y, True,
                         actions=(Action("pick-1", ActionType.PICK, params={"loadId": "L7"}),))
    nodes[-1] = RouteNode(nodes[-1].node_id, nodes[-1].sequence_id, nodes[-1].x, nodes[-1].y,
                          nodes[-1].released,
                          actions=(Action("drop-1", ActionType.DROP),))
    return MovementCommand(cmd.command_id, cmd.machine_id, cmd.order_id, cmd.order_update_id,
                           tuple(nodes), cmd.edges)


def test_orders_run_end_to_end_on_both_versions(site) -> None:  # type: ignore[no-untyped-def]
    hub, gw, vehicles, sniffer, states = site
    for mid in ("agv-a", "agv-b"):
        # base n0..n2, horizon n3..n5; then an update releases up to n5 (stitched at n2)
        first = _with_pick_and_drop(movement(mid, order_id=f"o-{mid}", n=6, released=3))
        hub.send(first)
    assert wait_until(lambda: all(v.m.last_node_id == "n2" and v.idle for v in vehicles.values()))
    assert all(v.visited[-1] == "n2" for v in vehicles.values())  # stopped at the base end
    for mid in ("agv-a", "agv-b"):
        update = _with_pick_and_drop(movement(mid, order_id=f"o-{mid}", update=1, n=6))
        hub.send(update)
    assert wait_until(lambda: all(v.m.last_node_id == "n5" and v.idle for v in vehicles.values()))
    for mid, v in vehicles.items():
        assert v.visited == ["n0", "n1", "n2", "n3", "n4", "n5"], mid
        assert v.counters.orders_rejected == 0
    assert wait_until(lambda: all(s and s[-1].last_node_id == "n5" and not s[-1].driving
                                  for s in states.values()))
    final = states["agv-b"][-1]
    statuses = {a.action_id: a.status.value for a in final.action_states}
    assert statuses == {"pick-1": "FINISHED", "drop-1": "FINISHED"}
    assert any(s.load_id == "L7" for s in states["agv-b"])  # carried between pick and drop
    assert final.load_id is None and final.order_update_id == 1
    assert wait_until(lambda: gw.master.unconfirmed("agv-a") == 0)
    n = sniffer.check_all({"A1": "2.0.0", "B1": "2.1.0"})
    assert n > 20 and {"order", "state", "connection", "factsheet", "visualization"} <= sniffer.topics()
    assert gw.master.counters.invalid_total == 0
    assert wait_until(lambda: gw.master.factsheet("agv-a") is not None)


def test_instant_actions_pause_resume_and_cancel(site) -> None:  # type: ignore[no-untyped-def]
    from tests.adapters.conftest import instant

    hub, _gw, vehicles, sniffer, states = site
    v = vehicles["agv-a"]
    v.speed_mps = 2.0
    hub.send(instant("agv-a", ActionType.START_PAUSE))
    assert wait_until(lambda: v.m.paused)
    hub.send(movement("agv-a", order_id="slow", n=4, spacing_m=2.0))
    assert wait_until(lambda: v.m.order_id == "slow")
    assert not v.m.driving and v.m.last_node_id == "n0"
    hub.send(instant("agv-a", ActionType.STOP_PAUSE))
    assert wait_until(lambda: v.m.driving)
    hub.send(instant("agv-a", ActionType.CANCEL_ORDER))
    assert wait_until(lambda: v.idle)
    assert v.m.last_node_id in ("n1", "n2")  # stopped at the next node, not at the end
    hub.send(instant("agv-a", ActionType.EMERGENCY_STOP))
    assert wait_until(lambda: states["agv-a"][-1].mode == "estopped")
    assert "emergencyStop" in states["agv-a"][-1].errors
    hub.send(instant("agv-a", ActionType.RELEASE_EMERGENCY_STOP))
    assert wait_until(lambda: states["agv-a"][-1].mode == "auto")
    sniffer.check_all({"A1": "2.0.0", "B1": "2.1.0"})


def test_update_that_does_not_stitch_is_refused(site) -> None:  # type: ignore[no-untyped-def]
    hub, _gw, vehicles, _sniffer, _states = site
    acks = []
    hub.subscribe(on_ack=acks.append)
    hub.send(movement("agv-b", order_id="s", n=5, released=2, command_id="s0"))
    bad = movement("agv-b", order_id="s", update=1, n=5, command_id="s1")
    bad = MovementCommand(bad.command_id, bad.machine_id, bad.order_id, 1, tuple(
        RouteNode("x" + n.node_id, n.sequence_id, n.x, n.y + 5, n.released) for n in bad.nodes),
        ())  # does not continue the order: other nodes
    hub.send(bad)
    assert wait_until(lambda: any(a.command_id == "s1" for a in acks))
    assert [a.status for a in acks if a.command_id == "s1"] == ["refused"]
    assert wait_until(lambda: vehicles["agv-b"].m.last_node_id == "n1")


def test_base_is_bounded_by_the_link_rules(site) -> None:  # type: ignore[no-untyped-def]
    from adapters.bus import BusAdapterFactory

    hub, _gw, vehicles, _sniffer, _states = site
    agv = BusAdapterFactory(hub).create("agv-a")  # default rules: 4 nodes, 25 m of base
    agv.connect()
    v = vehicles["agv-a"]
    assert wait_until(agv.can_accept)
    for update in range(3):  # the core releases everything each time
        agv.send(movement("agv-a", order_id="far", update=update, n=12, spacing_m=2.0))
        expected = f"n{min(11, 4 * (update + 1))}"
        assert wait_until(lambda e=expected: v.m.last_node_id == e and v.idle), v.m.last_node_id
        assert wait_until(lambda e=expected: agv.latest and agv.latest.last_node_id == e)
    assert v.visited == [f"n{i}" for i in range(12)]
    assert v.counters.orders_rejected == 0


def test_a_vehicle_charges_at_the_charger_and_stops_when_it_drives_off(site) -> None:  # type: ignore[no-untyped-def]
    hub, _gw, vehicles, _sniffer, states = site
    v = vehicles["agv-a"]
    v.charge_per_s = 0.5  # half a battery a second: quick to see
    with v._lock:
        v.m.battery = 20.0
    cmd = movement("agv-a", order_id="to-charger", n=3)
    nodes = list(cmd.nodes)
    nodes[-1] = RouteNode(nodes[-1].node_id, nodes[-1].sequence_id, nodes[-1].x, nodes[-1].y, True,
                          actions=(Action("charge-1", ActionType.START_CHARGING),))
    hub.send(MovementCommand(cmd.command_id, cmd.machine_id, cmd.order_id, 0, tuple(nodes), cmd.edges))
    assert wait_until(lambda: bool(states["agv-a"]) and states["agv-a"][-1].charging)
    assert wait_until(lambda: (states["agv-a"][-1].battery or 0) > 0.6)
    st = states["agv-a"][-1]
    assert {a.action_id: a.status.value for a in st.action_states}["charge-1"] == "FINISHED"
    away = movement("agv-a", order_id="away", n=5)  # n2 (the charger) on to n4
    hub.send(MovementCommand(away.command_id, "agv-a", "away", 0, away.nodes[2:], away.edges[2:]))
    assert wait_until(lambda: not states["agv-a"][-1].charging and v.m.last_node_id == "n4")
    level = v.m.battery
    assert wait_until(lambda: states["agv-a"][-1].battery is not None)
    assert v.m.battery <= level  # off the charger: no more charge
