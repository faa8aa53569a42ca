"""The store behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading

import pytest

from fleet.domain import Leg, LegId, LegKind, Order, OrderId, OrderState, Vehicle, VehicleId
from fleet.store import Store


def _order(i: int, **kw: object) -> Order:
    base = {"id": OrderId(f"o{i}"), "source": "P", "destination": "D", "client_id": f"c{i}",
            "created_s": float(i), "updated_s": float(i)}
    base.update(kw)
    return Order(**base)  # type: ignore[arg-type]


def test_migrations_apply_once(store: Store) -> None:
    assert store.migrate() == 2
    again = Store(store.url)
    assert again.migrate() == 2
    again.close()


def test_orders_round_trip_and_filters(store: Store) -> None:
    with store.transaction() as tx:
        for i in range(30):
            tx.put_order(_order(i, priority=i % 3, destination="D" if i % 2 else "E"), body_hash=f"h{i}")
    with store.transaction() as tx:
        tx.put_order(_order(3, state=OrderState.DONE, updated_s=99.0))
    assert store.get_order("o3").state == OrderState.DONE
    assert store.get_order("nope") is None
    items, total = store.list_orders(priority=1, limit=5)
    assert total == 10 and len(items) == 5 and all(o.priority == 1 for o in items)
    assert [o.id for o in items] == ["o28", "o25", "o22", "o19", "o16"]  # newest first
    page2, _ = store.list_orders(priority=1, limit=5, offset=5)
    assert not {o.id for o in items} & {o.id for o in page2}
    _, n = store.list_orders(station="E")
    assert n == 15
    _, n = store.list_orders(created_from=10, created_to=20)
    assert n == 10
    _, n = store.list_orders(states=["done"])
    assert n == 1
    assert store.order_by_client("c7")[1] == "h7"


def test_duplicate_client_id_refused_by_the_database(store: Store) -> None:
    with store.transaction() as tx:
        tx.put_order(_order(1), body_hash="a")
    with pytest.raises(Exception), store.transaction() as tx:  # noqa: B017 - driver-specific error
        tx.put_order(_order(2, client_id="c1"), body_hash="b")
    assert store.get_order("o2") is None


def test_rolled_back_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.put_order(_order(1), body_hash="a")
        tx.add_event("order.state", 1.0, {"x": 1})
        raise RuntimeError("boom")
    assert store.get_order("o1") is None
    assert store.events_after(0) == []


def test_event_ids_increase_and_resume(store: Store) -> None:
    events = []
    for batch in range(5):
        with store.transaction() as tx:
            events += [tx.add_event("t", float(batch), {"n": batch * 10 + k}) for k in range(10)]
    ids = [e["id"] for e in events]  # set by the commit at the latest
    assert json.loads(events[7]["_json"]) == {"id": ids[7], "type": "t", "at_s": 0.0, "payload": {"n": 7}}
    assert ids == sorted(ids) and len(set(ids)) == 50
    after = store.events_after(ids[24], limit=1000)
    assert [e["id"] for e in after] == ids[25:]
    assert after[0]["payload"] == {"n": 25}
    assert store.last_event_id() == ids[-1]


def test_audit_is_append_only(store: Store) -> None:
    with store.transaction() as tx:
        tx.add_audit(1.0, "alice", "dispatcher", "t1", "machine.estop", "agv-1", "10.0.0.1", "ok")
    for sql in ("UPDATE audit SET actor = 'mallory'", "DELETE FROM audit"):
        with pytest.raises(Exception), store.transaction() as tx:  # noqa: B017
            tx.execute(sql)
    rows = store.audit()
    assert len(rows) == 1 and rows[0]["actor"] == "alice"


def test_legs_machines_zones_alarms(store: Store) -> None:
    leg = Leg(id=LegId("o1.0"), order_id=OrderId("o1"), kind=LegKind.AGV, source="P", destination="D",
              extra={"attempts": "1"})
    with store.transaction() as tx:
        tx.put_leg(leg)
        tx.put_machine(Vehicle(id=VehicleId("agv-1"), battery=0.5), "paused")
        tx.put_zone("Z1", True, 1.0, "bob")
        tx.put_alarm({"id": "a1", "raised_s": 1.0, "acknowledged_s": None, "kind": "fault"})
    assert store.legs_of("o1") == [leg] and store.legs_of("o1")[0].extra == {"attempts": "1"}
    (machine, held), = store.machines()
    assert machine.battery == 0.5 and held == "paused"
    assert store.zones() == {"Z1": True}
    assert store.alarms(open_only=True)[0]["kind"] == "fault"


def test_reads_run_beside_writes(store: Store) -> None:
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(50):
                store.list_orders(limit=10)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(50):
        with store.transaction() as tx:
            tx.put_order(_order(i), body_hash="h")
    for t in threads:
        t.join()
    assert not errors
    assert store.list_orders()[1] == 50


def test_savepoints_undo_one_command_of_a_batch(store: Store) -> None:
    with store.transaction() as tx:
        tx.put_order(_order(1), body_hash="a")
        kept = tx.add_event("order.state", 1.0, {"n": 1})
        tx.savepoint()
        tx.put_order(_order(2), body_hash="b")
        tx.add_event("order.state", 2.0, {"n": 2})
        tx.rollback_savepoint()
        tx.release_savepoint()
        assert tx.order_by_client("c1") == (_order(1), "a")  # seen before the commit
        tx.add_event("order.state", 3.0, {"n": 3})
    assert store.get_order("o1") is not None and store.get_order("o2") is None
    stored = store.events_after(0)
    assert [e["payload"]["n"] for e in stored] == [1, 3]
    assert stored[0]["id"] == kept["id"] and stored[1]["id"] > kept["id"]


def test_a_rolled_back_command_forgets_its_client_ids(store: Store) -> None:
    with store.transaction() as tx:
        tx.savepoint()
        tx.put_order(_order(1), body_hash="a")
        tx.rollback_savepoint()
        tx.release_savepoint()
        assert tx.order_by_client("c1") is None  # the retry in the same batch is a new order
        tx.put_order(_order(1, priority=7), body_hash="b")
    assert store.order_by_client("c1") == (_order(1, priority=7), "b")


def test_an_update_in_the_same_command_lands_and_a_later_rollback_does_not_leak(store: Store) -> None:
    with store.transaction() as tx:
        tx.savepoint()  # command 1: create, then queue (one command)
        tx.put_order(_order(1), body_hash="a")
        tx.put_order(_order(1, state=OrderState.QUEUED, updated_s=2.0))
        tx.release_savepoint()
        tx.savepoint()  # command 2: changes the same order, then fails
        tx.put_order(_order(1, state=OrderState.QUEUED, priority=9, updated_s=3.0))
        tx.rollback_savepoint()
        tx.release_savepoint()
    got = store.get_order("o1")
    assert got is not None and got.state == OrderState.QUEUED and got.priority == 5 and got.updated_s == 2.0
    assert store.order_counts() == {"queued": 1}


def test_expected_client_ids_are_looked_up_together(store: Store) -> None:
    with store.transaction() as tx:
        tx.put_order(_order(1), body_hash="a")
    for cid in ("c1", "c2", "c3"):
        store.expect_client(cid)
    with store.transaction() as tx:
        assert tx.order_by_client("c2") is None
        assert tx.order_by_client("c1") == (_order(1), "a")
        tx.put_order(_order(3), body_hash="c")
        assert tx.order_by_client("c3") == (_order(3), "c")
        assert tx.order_by_client("c9") is None  # not expected: asked on its own
    for cid in ("c1", "c2", "c3"):
        store.forget_client(cid)
    assert store.order_by_client("c3") == (_order(3), "c")


def test_live_event_ids_and_json_match_the_stored_events(store: Store) -> None:
    with store.transaction() as tx:
        for i in range(5):
            tx.add_event(f"order.t{i}", float(i), {"n": i, "s": 'quote " and \\ slash'})
        tx.execute("SELECT 1")  # a mid-transaction flush
        tx.add_event("order.after", 9.0, {"n": 9})
        live = list(tx.events)
    stored = store.events_after(0)
    assert [e["id"] for e in live] == [e["id"] for e in stored]
    assert [e["id"] for e in stored] == sorted(e["id"] for e in stored)
    for mine, theirs in zip(live, stored, strict=True):
        assert json.loads(mine["_json"]) == theirs


def test_bodies_are_the_plain_json_of_the_dataclass() -> None:
    import dataclasses

    from fleet.domain import Capabilities
    from fleet.store import records

    order = _order(1, legs=("l1", "l2"), state=OrderState.QUEUED)
    leg = Leg(id=LegId("l1"), order_id=OrderId("o1"), kind=LegKind.AGV, source="P", destination="D",
              extra={"k": [1, 2]})
    vehicle = Vehicle(id=VehicleId("agv-1"), capabilities=Capabilities(payload_kg=5.0, load_types=("pallet",)))
    for value in (order, leg, vehicle):
        want = json.dumps(dataclasses.asdict(value), separators=(",", ":"), sort_keys=True)
        assert records.dumps(value) == want
    assert records.order_from_body(records.order_body(order)) == order
    assert records.leg_from_body(records.leg_body(leg)) == leg


def test_bulk_lookups_stay_right_across_batches(store: Store) -> None:
    for cid in ("c1", "c2"):
        store.expect_client(cid)  # in flight while the batch before them commits
    with store.transaction() as tx:
        tx.put_order(_order(1), body_hash="a")
    with store.transaction() as tx:
        assert tx.order_by_client("c1") == (_order(1), "a")  # the previous batch's own order
        assert tx.order_by_client("c2") is None
        tx.put_order(_order(2), body_hash="b")
    with store.transaction() as tx:  # c2 was known absent; its insert made that stale
        assert tx.order_by_client("c2") == (_order(2), "b")
    with store.transaction() as tx:  # a rolled-back insert leaves it absent
        tx.savepoint()
        store.expect_client("c4")
        assert tx.order_by_client("c4") is None
        tx.put_order(_order(4), body_hash="d")
        tx.rollback_savepoint()
        tx.release_savepoint()
    with store.transaction() as tx:
        assert tx.order_by_client("c4") is None
    store.forget_client("c4")
