"""The core's lifecycle rules, stepped by hand (`threaded=False`) with scripted traffic."""

from __future__ import annotations

import pytest

from fleet.clock import SimClock
from fleet.core import FleetCore, MachineAction, OrderRequest, RecordingLink
from fleet.core.strategies import LegProgress, Stage
from fleet.domain import LegKind, LegState, Mode, OrderRejected, OrderState, Vehicle, VehicleId
from fleet.domain.commands import ActionType, InstantAction, MachineState
from fleet.errors import ConflictError, NotFoundError
from fleet.store import Store
from tests.service.conftest import ScriptedTraffic


def make_core(store: Store, n: int = 2) -> tuple[FleetCore, ScriptedTraffic, RecordingLink, SimClock]:
    traffic, link, clock = ScriptedTraffic(), RecordingLink(), SimClock(1000.0)
    core = FleetCore(store, machines=[Vehicle(id=VehicleId(f"agv-{i}")) for i in range(n)], clock=clock,
                     traffic=traffic, link=link, threaded=False).start()
    for i in range(n):
        core.on_state(MachineState(machine_id=f"agv-{i}", stamp_s=clock.now()))
    core.run_once()
    return core, traffic, link, clock


def step(core: FleetCore, traffic: ScriptedTraffic, clock: SimClock, machine: str, *stages: Stage) -> None:
    leg_id = next(leg for leg, m in traffic.assigned.items() if m == machine)
    for stage in stages:
        clock.advance(1.0)
        traffic.push(LegProgress(leg_id, machine, stage, clock.now()))
        core.on_state(MachineState(machine_id=machine, stamp_s=clock.now()))
        core.run_once()


def result(fut):
    return fut.result(timeout=5)


@pytest.fixture
def sqlite_store(tmp_path) -> Store:
    return Store(f"sqlite:///{tmp_path}/core.db")


def test_an_order_runs_to_done_with_its_timeline(store: Store) -> None:
    core, traffic, _, clock = make_core(store)
    fut = core.submit_order(OrderRequest("P", "D", client_id="wms-1"))
    core.run_once()
    order, created = result(fut)
    assert created and order.state == OrderState.QUEUED
    assert store.get_order(order.id).state == OrderState.ASSIGNED
    machine = traffic.assigned[order.legs[0]]
    step(core, traffic, clock, machine, Stage.STARTED, Stage.PICKED, Stage.DROPPED)
    assert store.get_order(order.id).state == OrderState.DONE
    states = [row["state"] for row in store.timeline(order.id)]
    assert states == ["created", "queued", "assigned", "in_progress", "done"]
    assert store.timeline(order.id)[-1]["machine_id"] == machine
    assert core.machine(machine).leg_id is None
    types = [e["type"] for e in store.events_after(0, 1000)]
    assert "order.state" in types and "leg.state" in types and "machine.state" in types


def test_same_client_id_same_body_is_one_order(store: Store) -> None:
    core, *_ = make_core(store)
    futs = [core.submit_order(OrderRequest("P", "D", client_id="dup")) for _ in range(3)]
    core.run_once()
    orders = [result(f) for f in futs]
    assert len({o.id for o, _ in orders}) == 1
    assert [created for _, created in orders] == [True, False, False]
    other = core.submit_order(OrderRequest("P", "E", client_id="dup"))
    core.run_once()
    with pytest.raises(ConflictError):
        result(other)
    assert store.list_orders()[1] == 1


def test_a_caller_that_gave_up_waiting_does_not_break_the_batch(store: Store) -> None:
    """The API cancels a command's future after its timeout (a 503); the core still
    applies it and answers the rest of the batch."""
    core, *_ = make_core(store)
    gave_up = core.submit_order(OrderRequest("P", "D", client_id="slow"))
    waiting = core.submit_order(OrderRequest("P", "E", client_id="other"))
    assert gave_up.cancel()
    core.run_once()
    order, created = result(waiting)
    assert created and order.client_id == "other"
    assert {o.client_id for o in store.list_orders()[0]} == {"slow", "other"}


def test_rejected_order_is_not_stored(sqlite_store: Store) -> None:
    core, *_ = make_core(sqlite_store)
    fut = core.submit_order(OrderRequest("P", "P", client_id="same"))
    core.run_once()
    with pytest.raises(OrderRejected) as info:
        result(fut)
    assert info.value.field == "destination"
    assert sqlite_store.list_orders()[1] == 0


def test_failure_before_pickup_redispatches_then_fails(sqlite_store: Store) -> None:
    core, traffic, _, clock = make_core(sqlite_store, n=1)
    fut = core.submit_order(OrderRequest("P", "D"))
    core.run_once()
    order, _ = result(fut)
    for attempt in range(3):
        assert order.legs[0] in traffic.assigned, attempt
        step(core, traffic, clock, "agv-0", Stage.FAILED)
    stored = sqlite_store.get_order(order.id)
    assert stored.state == OrderState.FAILED
    assert any(a["kind"] == "order_failed" for a in sqlite_store.alarms())


def test_failure_with_load_on_board_raises_a_critical_alarm(sqlite_store: Store) -> None:
    core, traffic, _, clock = make_core(sqlite_store, n=1)
    fut = core.submit_order(OrderRequest("P", "D"))
    core.run_once()
    order, _ = result(fut)
    step(core, traffic, clock, "agv-0", Stage.PICKED, Stage.FAILED)
    assert sqlite_store.get_order(order.id).state == OrderState.FAILED
    assert any(a["kind"] == "load_stranded" and a["severity"] == "critical" for a in sqlite_store.alarms())


def test_cancel_and_reprioritise(sqlite_store: Store) -> None:
    core, traffic, _, clock = make_core(sqlite_store, n=1)
    f1 = core.submit_order(OrderRequest("P", "D"))
    core.run_once()
    clock.advance(1.0)
    f2 = core.submit_order(OrderRequest("P", "E"))
    core.run_once()
    (o1, _), (o2, _) = result(f1), result(f2)
    assigned = sqlite_store.get_order(o1.id)
    assert assigned.state == OrderState.ASSIGNED  # first come, one vehicle
    rp = core.reprioritise(o2.id, 9)
    core.run_once()
    assert result(rp).priority == 9
    c = core.cancel_order(o1.id, "WMS changed its mind")
    core.run_once()
    assert result(c).state == OrderState.CANCELLED
    assert o1.legs[0] in traffic.withdrawn
    assert sqlite_store.get_order(o2.id).state == OrderState.ASSIGNED  # the vehicle took the other one
    again = core.cancel_order(o1.id)
    core.run_once()
    with pytest.raises(ConflictError):
        result(again)
    missing = core.cancel_order("ord-nope")
    core.run_once()
    with pytest.raises(NotFoundError):
        result(missing)
    # a loaded order cannot be cancelled
    step(core, traffic, clock, "agv-0", Stage.PICKED)
    loaded = core.cancel_order(o2.id)
    core.run_once()
    with pytest.raises(ConflictError):
        result(loaded)


def test_machine_commands_hold_the_mode_and_reach_the_machine(sqlite_store: Store) -> None:
    core, traffic, link, clock = make_core(sqlite_store, n=2)
    link.take()
    fut = core.machine_action("agv-0", MachineAction.ESTOP)
    core.run_once()
    assert result(fut)["mode"] == "estopped"
    sent = [c for c in link.take() if isinstance(c, InstantAction)]
    assert sent and sent[0].actions[0].action_type == ActionType.EMERGENCY_STOP
    core.on_state(MachineState(machine_id="agv-0", stamp_s=clock.now()))  # reports auto: still held
    core.run_once()
    assert core.machine("agv-0").mode == Mode.ESTOPPED
    fut = core.submit_order(OrderRequest("P", "D"))
    core.run_once()
    order, _ = result(fut)
    assert traffic.assigned[order.legs[0]] == "agv-1"  # e-stopped machines get no work
    pause = core.machine_action("agv-0", MachineAction.PAUSE)
    core.run_once()
    with pytest.raises(ConflictError):
        result(pause)
    res = core.machine_action("agv-0", MachineAction.RESUME)
    core.run_once()
    assert result(res)["mode"] == "auto"
    all_stop = core.estop_all()
    core.run_once()
    assert result(all_stop) == ["agv-0", "agv-1"]
    assert all(m.mode == Mode.ESTOPPED for m in core.machines())
    assert any(a["kind"] == "estop" for a in sqlite_store.alarms())


def test_out_of_service_reopens_its_leg(sqlite_store: Store) -> None:
    core, traffic, _, _ = make_core(sqlite_store, n=2)
    fut = core.submit_order(OrderRequest("P", "D"))
    core.run_once()
    order, _ = result(fut)
    first = traffic.assigned[order.legs[0]]
    oos = core.machine_action(first, MachineAction.OUT_OF_SERVICE)
    core.run_once()
    result(oos)
    second = traffic.assigned[order.legs[0]]
    assert second != first
    assert sqlite_store.legs_of(order.id)[0].machine_id == second


def test_zones_and_alarm_ack(sqlite_store: Store) -> None:
    core, traffic, _, _ = make_core(sqlite_store)
    z = core.set_zone("Z1", True)
    core.run_once()
    assert result(z)["closed"] and traffic.blocked == frozenset({"Z1"})
    assert core.closed_zones() == frozenset({"Z1"})
    e = core.machine_action("agv-0", MachineAction.ESTOP)
    core.run_once()
    result(e)
    alarm = sqlite_store.alarms(open_only=True)[0]
    ack = core.ack_alarm(alarm["id"])
    core.run_once()
    assert result(ack)["acknowledged_s"] is not None
    assert sqlite_store.alarms(open_only=True) == []


def test_link_loss_marks_the_machine_offline(sqlite_store: Store) -> None:
    core, _, _, clock = make_core(sqlite_store, n=1)
    assert core.machine("agv-0").link_ok
    clock.advance(60)
    core.run_once()
    assert not core.machine("agv-0").link_ok and core.machine("agv-0").mode == Mode.OFFLINE
    assert any(a["kind"] == "link_lost" for a in sqlite_store.alarms())


def test_an_order_refusal_is_an_alarm_not_a_fault(sqlite_store: Store) -> None:
    """VDA 5050 vehicles refuse a re-sent older update with orderUpdateError; they drive on."""
    core, _, _, clock = make_core(sqlite_store, n=1)
    for refusal in ("orderUpdateError", "noRouteError", "validationError", "orderError:not here"):
        clock.advance(1.0)
        core.on_state(MachineState(machine_id="agv-0", stamp_s=clock.now(), errors=(refusal,)))
        core.run_once()
        assert core.machine("agv-0").mode == Mode.AUTO, refusal
    assert any("refused an order: orderUpdateError" in a["message"] for a in sqlite_store.alarms())
    clock.advance(1.0)
    core.on_state(MachineState(machine_id="agv-0", stamp_s=clock.now(), errors=("laserScannerFault",)))
    core.run_once()
    assert core.machine("agv-0").mode == Mode.FAULT


def test_restart_recovers_legs_and_machines(store: Store) -> None:
    core, traffic, _, clock = make_core(store, n=2)
    f1 = core.submit_order(OrderRequest("P", "D", client_id="a"))
    f2 = core.submit_order(OrderRequest("P", "E", client_id="b"))
    core.run_once()
    (o1, _), (o2, _) = result(f1), result(f2)
    m1 = traffic.assigned[o1.legs[0]]
    step(core, traffic, clock, m1, Stage.PICKED)
    core.machine_action(m1, MachineAction.PAUSE)
    core.run_once()
    # the process dies here; a new core on the same store
    traffic2, link2 = ScriptedTraffic(), RecordingLink()
    core2 = FleetCore(store, machines=[Vehicle(id=VehicleId(f"agv-{i}")) for i in range(2)], clock=clock,
                      traffic=traffic2, link=link2, threaded=False).start()
    assert traffic2.assigned == traffic.assigned  # same legs on the same machines
    requested = {c.machine_id for c in link2.sent if isinstance(c, InstantAction)
                 and c.actions[0].action_type == ActionType.STATE_REQUEST}
    assert requested == {"agv-0", "agv-1"}
    assert core2.machine(m1).mode == Mode.PAUSED  # held modes survive
    for i in range(2):
        core2.on_state(MachineState(machine_id=f"agv-{i}", stamp_s=clock.now()))
    core2.run_once()
    step(core2, traffic2, clock, m1, Stage.DROPPED)
    assert store.get_order(o1.id).state == OrderState.DONE
    assert store.get_order(o2.id).state == OrderState.ASSIGNED
    dup = core2.submit_order(OrderRequest("P", "D", client_id="a"))
    core2.run_once()
    assert result(dup) == (store.get_order(o1.id), False)
    assert store.list_orders()[1] == 2
    assert [row["state"] for row in store.timeline(o1.id)].count("done") == 1
    assert not [g for g in store.legs_of(o1.id) if g.state != LegState.DONE]


class TwoLegDispatcher:
    """Splits every order at a handoff H and releases the second leg early (like dispatch_round)."""

    plans_rounds = True

    def __init__(self) -> None:
        from fleet.core.greedy import GreedyDispatcher

        self.greedy = GreedyDispatcher()

    def split(self, order, site, machines, closed):
        import dataclasses

        first = self.greedy._leg(order, 0, LegKind.AGV, order.source, "H")
        second = self.greedy._leg(order, 1, LegKind.AGV, "H", order.destination, after=first)
        return [first, dataclasses.replace(second)]

    def assign(self, snapshot):
        from fleet.core.dispatcher import Decisions

        pending = [g.id for g in snapshot.all_legs if g.state == LegState.PENDING]
        return Decisions(assignments=tuple(self.greedy.assign(snapshot)), released=tuple(pending))


def test_handoff_with_the_next_leg_released_early(sqlite_store: Store) -> None:
    traffic, clock = ScriptedTraffic(), SimClock(0.0)
    core = FleetCore(sqlite_store, machines=[Vehicle(id=VehicleId(f"agv-{i}")) for i in range(2)], clock=clock,
                     traffic=traffic, dispatcher=TwoLegDispatcher(), threaded=False).start()
    for i in range(2):
        core.on_state(MachineState(machine_id=f"agv-{i}", stamp_s=0.0))
    fut = core.submit_order(OrderRequest("P", "D"))
    core.run_once()  # round 1: first leg assigned, second released
    core.run_once()  # round 2: second leg assigned to the other vehicle
    order, _ = result(fut)
    a, b = traffic.assigned[order.legs[0]], traffic.assigned[order.legs[1]]
    assert a != b
    step(core, traffic, clock, a, Stage.PICKED, Stage.DROPPED)
    assert sqlite_store.get_order(order.id).state == OrderState.HANDED_OFF
    step(core, traffic, clock, b, Stage.PICKED, Stage.DROPPED)
    assert sqlite_store.get_order(order.id).state == OrderState.DONE
    assert [r["state"] for r in sqlite_store.timeline(order.id)] == [
        "created", "queued", "assigned", "in_progress", "handed_off", "in_progress", "done"]


def test_send_to_charge_on_a_site(tmp_path) -> None:
    from maps.loader import load_site, resolve_site

    site = load_site(resolve_site("warehouse"))
    store = Store(f"sqlite:///{tmp_path}/charge.db")
    traffic, clock = ScriptedTraffic(), SimClock(0.0)
    start = site.stations[0].node
    core = FleetCore(store, site, machines=[Vehicle(id=VehicleId("agv-0"))], clock=clock, traffic=traffic,
                     threaded=False).start()
    core.on_state(MachineState(machine_id="agv-0", stamp_s=0.0, last_node_id=start))
    fut = core.machine_action("agv-0", MachineAction.CHARGE)
    core.run_once()
    assert result(fut)["leg_id"].startswith("chg-")
    (leg_id, machine), = traffic.assigned.items()
    assert machine == "agv-0"
    row = store.one("SELECT state, order_id, body FROM legs WHERE id = ?", (leg_id,))
    assert row["state"] == "assigned" and row["order_id"] is None  # a charge leg belongs to no order
    assert '"destination":"CHG' in row["body"]
    step(core, traffic, clock, "agv-0", Stage.CHARGING)
    assert core.machine("agv-0").leg_id is None
    assert store.one("SELECT state FROM legs WHERE id = ?", (leg_id,))["state"] == "done"
    again = core.machine_action("agv-0", MachineAction.CHARGE)
    core.run_once()
    assert result(again)["leg_id"] != leg_id  # a second charge trip is fine once idle


def test_events_of_parts_beside_the_core_are_stored_and_streamed(store: Store) -> None:
    core, _, _, _ = make_core(store)
    sub = core.bus.subscribe(maxsize=100)
    before = store.last_event_id()
    core.record_event("inventory.stored", {"load_id": "C-1", "position": "S1-01/T1"})
    core.run_once()
    stored = [e for e in store.events_after(before) if e["type"] == "inventory.stored"]
    assert [e["payload"]["load_id"] for e in stored] == ["C-1"]
    streamed = [e for e in sub.get(0.0) if e["type"] == "inventory.stored"]
    assert [e["id"] for e in streamed] == [stored[0]["id"]]
