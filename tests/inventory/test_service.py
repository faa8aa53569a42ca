"""The inventory facade: drops change the inventory only on a match; alarms; restart; API."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleet.errors import FleetError
from fleet.inventory import InventoryRepository, InventoryService, StackingRefused, open_sqlite
from fleet.inventory.routes import PREFIX, make_router
from sim.camera import Camera
from tests.inventory.yards import coil, small_coil_site


class Clock:
    t = 100.0

    def now(self) -> float:
        self.t += 1.0
        return self.t


def _service(db: Path, events: list | None = None) -> InventoryService:
    return InventoryService(small_coil_site(), InventoryRepository(open_sqlite(db)), now=Clock().now,
                            emit=(lambda t, p: events.append((t, p))) if events is not None else None)


CAM = Camera(seed=9)


def _drop(svc: InventoryService, load, dest: str, shown: str | None = None, **kw):
    lid = load if isinstance(load, str) else load.id
    f = CAM.frame(lid, "qr", degraded=False, swap_with=shown)
    return svc.confirm_drop(load, dest, image=f.image, image_id=f.image_id, machine_id="CR1", **kw)


def test_drop_with_matching_label_stores_and_moves(tmp_path: Path) -> None:
    events: list = []
    svc = _service(tmp_path / "a.db", events)
    r = _drop(svc, coil(1), "S1-01/T1", leg_id="L1")
    assert r["outcome"] == "match" and r["inventory"]["change"] == "stored"
    pick = svc.confirm_pickup("C0001", "S1-01/T1", image=CAM.frame("C0001", degraded=False).image)
    assert pick["action"] == "confirm" and svc.by_load("C0001")["position"] == "S1-01/T1"  # pickup moves nothing
    r = _drop(svc, "C0001", "S2-01")  # a slot id: its first free position that takes the load
    assert r["inventory"] == {"load_id": "C0001", "position": "S2-01/T1", "from": "S1-01/T1", "change": "moved"}
    r = _drop(svc, "C0001", "DOCK1")
    assert r["inventory"]["change"] == "removed" and svc.yard.fill()["occupied"] == 0
    assert [t for t, _ in events if t.startswith("inventory.")] == [
        "inventory.stored", "inventory.moved", "inventory.removed"]
    recs = svc.tally_records(load_id="C0001")
    assert [r["stage"] for r in recs] == ["drop", "pickup", "drop", "drop"]
    assert recs[0]["machine_id"] == "CR1" and recs[0]["image_id"] and recs[0]["read_label"] == "C0001"


def test_swapped_label_raises_alarm_and_changes_nothing_until_accepted(tmp_path: Path) -> None:
    svc = _service(tmp_path / "b.db")
    r = _drop(svc, coil(1), "S1-01/T1", shown="C0002", leg_id="L9")
    assert r["stop_leg"] and r["outcome"] == "mismatch" and r["alarm"]["options"] == ["accept", "re-read", "check-station"]
    assert svc.yard.fill()["occupied"] == 0
    assert svc.slot_map()["alarm"][svc.layout.index("S1-01/T1")]
    out = svc.resolve_alarm(r["alarm"]["id"], "accept", by="alice")
    assert out["state"] == "resolved" and out["inventory"]["change"] == "stored"
    assert svc.by_load("C0001")["position"] == "S1-01/T1"
    assert svc.tally_records(outcome="accepted")[0]["detail"].startswith("accepted by alice")
    with pytest.raises(FleetError):
        svc.resolve_alarm(r["alarm"]["id"], "accept", by="alice")


def test_duplicate_label_on_an_incoming_load_is_stopped(tmp_path: Path) -> None:
    svc = _service(tmp_path / "c.db")
    _drop(svc, coil(1), "S1-01/T1")
    r = _drop(svc, coil(1, weight=9000), "S1-05/T1")  # another physical coil with the same label
    assert r["outcome"] == "duplicate" and r["stop_leg"] and svc.yard.position_of("C0001") == "S1-01/T1"


def test_rule_breaking_drop_is_refused_and_not_stored(tmp_path: Path) -> None:
    svc = _service(tmp_path / "d.db")
    with pytest.raises(StackingRefused):
        _drop(svc, coil(1), "S1-01/T2")  # upper without supports
    assert svc.yard.fill()["occupied"] == 0 and svc.repo.stock() == []


def test_restart_restores_inventory_alarms_and_tally(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    svc = _service(db)
    for k in (1, 2):
        _drop(svc, coil(k, weight=20000), f"S1-0{k}/T1")
    _drop(svc, coil(3, weight=10000), "S1-01/T2")
    _drop(svc, coil(4), "S3-01/T1", shown="C0005")
    again = _service(db)
    assert again.restore_violations == []
    assert again.by_load("C0003")["position"] == "S1-01/T2"
    assert again.by_slot("S1-01")["positions"][0]["blocked_by"] == ["C0003"]
    assert len(again.alarms(open_only=True)) == 1 and len(again.tally_records()) == 4
    alarm, = again.alarms(open_only=True)
    assert again.resolve_alarm(alarm["id"], "accept", by="bob")["inventory"]["position"] == "S3-01/T1"
    plan = again.plan_retrieval("C0002")
    assert plan["reshuffles"] == 1 and plan["moves"][0]["load_id"] == "C0003"


def test_reconciliation_lists_discrepancies(tmp_path: Path) -> None:
    svc = _service(tmp_path / "f.db")
    _drop(svc, coil(1), "S1-01/T1")
    svc.store(coil(2), "S1-03/T1")  # stock take: never read
    svc.tally("audit", "C0001", place="S1-01/T1", image=CAM.frame("C0009", degraded=False).image)
    svc.tally("audit", "nothing", place="S1-05/T1", image=CAM.frame("C0007", degraded=False).image)
    rec = svc.reconciliation()
    assert rec["stored"] == 2 and rec["unverified"] == 1 and rec["confirmed"] == 0
    kinds = {(d["position"], d["kind"]) for d in rec["discrepancies"]}
    assert kinds == {("S1-01/T1", "wrong-load"), ("S1-05/T1", "unexpected")}


def test_routes_serve_the_facade(tmp_path: Path) -> None:
    svc = _service(tmp_path / "g.db")
    app = FastAPI()
    app.state.inventory = svc
    app.include_router(_open_router())

    @app.exception_handler(FleetError)
    def _problem(request, exc: FleetError) -> JSONResponse:
        return JSONResponse({"kind": exc.kind, "detail": str(exc)}, status_code=exc.status)

    c = TestClient(app)
    load = {"id": "C1", "type": "coil", "weight_kg": 15000, "width_m": 1.5, "diameter_m": 1.8}
    assert c.post(f"{PREFIX}/stock", json={"load": load, "position": "S1-01/T1"}).status_code == 200
    assert c.get(f"{PREFIX}/loads/C1").json()["position"] == "S1-01/T1"
    assert c.get(f"{PREFIX}/slots/S1-01").json()["positions"][0]["load"]["id"] == "C1"
    assert c.get(f"{PREFIX}/loads/nope").status_code == 404
    plan = c.post(f"{PREFIX}/putaway", json={"loads": [{**load, "id": "C2"}]}).json()
    assert plan["placements"]["C2"].endswith("/T1")
    r = c.post(f"{PREFIX}/tally", json={"stage": "drop", "expected": "C1", "place": "S1-01/T1",
                                         "texts": ["LD:C7"]}).json()
    assert r["outcome"] == "mismatch" and r["alarm"]["id"]
    assert c.post(f"{PREFIX}/alarms/{r['alarm']['id']}/resolve", json={"action": "check-station"}).json()["state"] == "resolved"
    assert len(c.get(f"{PREFIX}/tally").json()) == 1
    assert c.get(f"{PREFIX}/map").json()["fill"]["occupied"] == 1
    assert c.get(f"{PREFIX}/reconciliation").json()["discrepancies"][0]["kind"] == "wrong-load"
    assert c.post(f"{PREFIX}/stock", json={"load": {**load, "id": "C3", "weight_kg": -1},
                                           "position": "S1-02/T1"}).status_code == 422
    assert c.post(f"{PREFIX}/stock", json={"load": {**load, "id": "C3"}, "position": "S1-01/T2"}).status_code == 409


def _open_router():  # routes without accounts, for the test app
    from typing import Annotated

    from fastapi import Depends

    def nobody() -> None:
        return None

    open_dep = Annotated[None, Depends(nobody)]
    return make_router(read=open_dep, write=open_dep, ack=open_dep)

OPS = st.lists(st.tuples(st.sampled_from(["drop-new", "drop-swap", "move", "ship", "accept", "reread"]),
                         st.integers(0, 84), st.integers(0, 30), st.floats(4000, 29000)), max_size=25)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(OPS)
def test_any_sequence_keeps_the_yard_valid_and_survives_restart(tmp_path_factory, ops) -> None:
    from fleet.errors import FleetError as Refused

    db = tmp_path_factory.mktemp("seq") / "s.db"
    svc = _service(db)
    lay = svc.layout
    for op, p, k, w in ops:
        try:
            if op in ("drop-new", "drop-swap"):
                _drop(svc, coil(k, weight=w), lay.ids[p], shown=("X9" if op == "drop-swap" else None))
            elif op == "move" and svc.yard.at:
                lid = sorted(ld.id for ld in svc.yard.at.values())[k % len(svc.yard.at)]
                _drop(svc, lid, lay.ids[p])
            elif op == "ship" and svc.yard.at:
                lid = sorted(ld.id for ld in svc.yard.at.values())[k % len(svc.yard.at)]
                _drop(svc, lid, "DOCK1")
            elif op in ("accept", "reread"):
                open_ = svc.alarms(open_only=True)
                if open_:
                    svc.resolve_alarm(open_[0]["id"], "accept" if op == "accept" else "re-read", by="t")
        except Refused:
            pass
        assert not svc.yard.check()
    again = _service(db)
    assert again.yard.at == svc.yard.at and again.restore_violations == []
    assert len(again.tally_records(limit=5000)) == len(svc.tally_records(limit=5000))


def test_reconciliation_confirms_a_drop_read_at_the_slot(tmp_path: Path) -> None:
    """The core's drop records name the slot (S1-07) and come before the confirmed move
    that places the load (S1-07/T1): the read still confirms it, a read of another load does not."""
    svc = _service(tmp_path / "h.db")
    svc.tally("drop", "C0001", place="S1-07", image=CAM.frame("C0001", degraded=False).image)
    svc.store(coil(1), "S1-07/T1")
    svc.tally("drop", "C0002", place="S1-09", image=CAM.frame("C0005", degraded=False).image)
    svc.store(coil(2), "S1-09/T1")
    rec = svc.reconciliation()
    assert rec["stored"] == 2 and rec["confirmed"] == 1 and rec["unverified"] == 1, rec
