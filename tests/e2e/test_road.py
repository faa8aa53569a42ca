"""The whole road, end to end (issue 12): WMS orders over the REST API, through dispatch,
planning and the machines, back to an SSE client and a webhook receiver.

Each variant runs the real service (SQLite, vehicle bus, HTTP on loopback) on the coil
yard: 200 orders (120 over VDA 5050), including retried duplicates, a racing
retry, a conflicting retry, one cancellation, one priority change, and coil orders
that need a crane leg, a handoff and an AGV leg. Checked: every order ends done or
cancelled, exactly once, and there is exactly one order per client id; every order
state change in the store reached the SSE client and the webhook receiver (signature
checked); the simulator's own safety monitor (true positions) saw no collision and no
deadlock; over VDA 5050 every message on the broker was valid against its schema.

Variants: (a) the in-process bus and `SimGateway`; (c) the simulator gateway as a
separate process over tcp://. Both on a simulated clock: the core unthreaded, stepped
with the simulator by `fleet.plant.Lockstep` across the real bus, as fast as they go.
The lockstep AGVs send their positioning readings once a simulated second (`REPORT_S`;
the demo's default is 0.5 s): the sensors and the core's pose fusion are most of a step.
(b) VDA 5050 vehicles over a real mosquitto (`sim.vda5050_vehicle`, which keeps wall
time): the threaded core on the wall clock with the vehicles `SPEED` times faster
(18-20 minutes here). All three are marked slow (`make test-road`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.adapters.conftest import broker  # noqa: F401  (the mosquitto fixture)
from tests.e2e.road import RoadReport, drive

N_ORDERS = 200
# wall seconds for every order to end, per variant: about 7 simulated hours, 12-16 min here
# (the simulator's sensors and the core's pose fusion are most of each 0.5 s step). A
# stuck road ends well before: `road.STALL_S` without an order ending.
TIMEOUT_S = 1800.0
REPORT_S = 1.0  # lockstep: seconds between an AGV's batches of positioning readings
SPEED = 40.0  # VDA 5050 (wall clock): the vehicles this many times faster than real
VDA_TIMEOUT_S = 1500.0  # wall seconds
# the VDA road runs the threaded core, the gateway, six vehicles and the schema check in one
# process on the wall clock: 200 orders no longer fit 25 minutes (180 done at 1,500 s), 120 do
VDA_N_ORDERS = 120


def check(r: RoadReport) -> None:
    """Every property of the road; each failure message says what and which order."""
    n = len(r.plan.bodies)
    hint = f"[{r.transport}] {'; '.join(r.notes)}"
    # the WMS side: one order per client id, retries answered with the same order
    assert len(r.ids) == n, f"{hint}: {n - len(r.ids)} orders were not accepted with 201"
    for cid, status, oid, replay in r.replays:
        assert (status, oid, replay) == (200, r.ids[cid], "true"), f"retry of {cid}: {status} {oid} {replay}"
    assert len(r.replays) >= n // 7
    assert r.conflict_status == 409, "same client id, other body: must be refused"
    assert r.cancel_status == 200 and r.priority_status == 200
    duplicated = {cid: k for cid, k in r.per_client_total.items() if k != 1}
    assert not duplicated, f"client ids with other than one order: {duplicated}"
    # every order ended, done or cancelled, exactly once
    states = Counter(o["state"] for o in r.final.values())
    assert r.finished, f"{hint}: orders still open; states {dict(states)}"
    assert states == Counter({"done": n - 1, "cancelled": 1}), f"{hint}: final states {dict(states)}"
    assert r.final[r.cancelled]["state"] == "cancelled"
    assert r.final[r.reprioritised]["priority"] == 9
    ends: Counter[str] = Counter()
    by_order: dict[str, list[str]] = {}
    for _eid, ev in sorted(r.stored.items()):
        p = ev["payload"]
        by_order.setdefault(p["order_id"], []).append(p["state"])
        if p["state"] in ("done", "cancelled", "failed"):
            ends[p["order_id"]] += 1
    assert set(by_order) == set(r.ids.values()), "an accepted order has no stored state change"
    twice = {o: k for o, k in ends.items() if k != 1}
    assert not twice and len(ends) == n, f"orders that did not end exactly once: {twice}"
    for oid, seq in by_order.items():
        assert seq[0] == "created" and seq[-1] in ("done", "cancelled"), f"{oid}: {seq}"
    # every state change reached the SSE client and the webhook receiver
    missing_sse = sorted(set(r.stored) - set(r.sse))
    missing_hook = sorted(set(r.stored) - set(r.webhook))
    assert not missing_sse, f"{len(missing_sse)} order events never reached the SSE client, first {missing_sse[:5]}"
    assert not missing_hook, f"{len(missing_hook)} order events never reached the webhook, first {missing_hook[:5]}"
    assert r.webhook_bad_signatures == 0
    for eid in r.stored:
        assert r.sse[eid]["payload"] == r.stored[eid]["payload"] == r.webhook[eid]["payload"]
    # coil orders took the crane, the handoff and an AGV, and the timeline says who did what
    coil_out = [cid for cid, kind in r.plan.kinds.items() if kind == "coil-out" and cid in r.timelines
                and cid != r.cancelled]
    assert coil_out
    for cid in coil_out:
        rows = r.timelines[cid]
        movers = [r.machine_kinds.get(x["machine_id"]) for x in rows if x.get("machine_id")]
        assert "crane" in movers and "agv" in movers, f"{cid}: timeline {rows}"
        assert movers.index("crane") < len(movers) - 1 - movers[::-1].index("agv"), f"{cid}: crane after AGV"
        assert any(x["state"] == "handed_off" for x in rows), f"{cid}: no handoff in {rows}"
    # the machines' true positions: nothing touched, nothing stuck in a cycle
    s = r.safety
    assert s.get("collisions", 0) == 0, f"{hint}: collisions {r.safety_events}"
    assert s.get("crane_collisions", 0) == 0 and s.get("crane_crossings", 0) == 0, r.safety_events
    assert s.get("deadlocks", 0) == 0, f"deadlocks: {r.safety_events}"
    if r.wire is not None:
        assert r.wire["messages"] > 0 and r.wire["invalid"] == 0, f"VDA 5050 messages off the schema: {r.wire}"


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT_S + 300)
def test_road_in_process(tmp_path: Path) -> None:
    check(drive(tmp_path, "inproc", n_orders=N_ORDERS, timeout_s=TIMEOUT_S, lockstep=True,
                report_period_s=REPORT_S))


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT_S + 300)
def test_road_with_the_simulator_in_another_process(tmp_path: Path) -> None:
    check(drive(tmp_path, "tcp", n_orders=N_ORDERS, timeout_s=TIMEOUT_S, lockstep=True,
                report_period_s=REPORT_S))


@pytest.mark.mqtt
@pytest.mark.slow
@pytest.mark.timeout(VDA_TIMEOUT_S + 300)
def test_road_over_vda5050(tmp_path: Path, broker) -> None:  # noqa: F811
    r = drive(tmp_path, "vda5050", n_orders=VDA_N_ORDERS, speed=SPEED, timeout_s=VDA_TIMEOUT_S,
              mqtt=(broker.host, broker.port))
    assert r.wire is not None and {"order", "state", "connection"} <= set(r.wire["by_topic"])
    check(r)
