"""Kill -9 mid-shift, start again on the same data directory: every open order resumes
and ends done (issue 12, "done when").

`fleet demo` runs as a subprocess (fast `--speed`, a temporary `--data-dir`, a free
port) while its WMS submits orders; once some are under way it is killed with SIGKILL
(no clean-up of any kind). The orders that were open at that moment are read straight
from the SQLite file, then the demo is started again on the same directory and every
one of them must end done, with its timeline continuing where it stopped. The scenario's
deliberate faults stay on, so the test answers them as the dispatcher would (a tally
alarm from a swapped camera label pauses the crane until someone accepts it).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from fleet.plant import free_port
from tests.e2e.demo_process import OPEN, Demo, answer_as_dispatcher, wait_for

SPEED = 30.0  # machines this many times faster than real (collisions do not matter here)


def _open_in_store(db: Path) -> dict[str, str]:
    """Open orders as the killed process left them on disk (order id -> state)."""
    from fleet.store import Store

    store = Store(f"sqlite:///{db}")
    try:
        return {o.id: o.state.value for o in store.active_orders()}
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill_9_mid_shift_then_every_open_order_resumes_and_ends_done(tmp_path: Path) -> None:
    port = free_port()
    first = Demo(tmp_path, port, fresh=True, orders_per_hour=120, speed=SPEED)
    try:
        with first.client() as c:
            def under_way() -> bool:
                items = c.get("/api/v1/orders", params={"limit": 200}).json()["items"]
                return len(items) >= 5 and any(o["state"] in ("assigned", "in_progress", "handed_off") for o in items)

            got = wait_for(under_way, 90)
            seen = [o["state"] for o in c.get("/api/v1/orders", params={"limit": 200}).json()["items"]]
        assert got, f"no order under way in the first run: {seen}\n" + "\n".join(first.lines[-20:])
    finally:
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait(10)
    was_open = _open_in_store(tmp_path / "coil_yard.db")
    assert was_open, "nothing was open at the kill"
    assert any(s != "queued" for s in was_open.values()), f"nothing was under way at the kill: {was_open}"

    second = Demo(tmp_path, port, fresh=False, orders_per_hour=1, speed=SPEED)  # the old orders, hardly any new
    try:
        with second.client() as c, second.dispatcher() as desk:
            def states() -> dict[str, str]:
                return {oid: c.get(f"/api/v1/orders/{oid}").json()["state"] for oid in was_open}

            answered: list[str] = []

            def all_ended() -> bool:
                answered.extend(answer_as_dispatcher(desk))  # the scenario's faults still need a person
                return all(s not in OPEN for s in states().values())

            ended = wait_for(all_ended, 360, step_s=2.0)
            final = states()
            if not ended:
                legs = {o: [(g["kind"], g["source"], g["destination"], g["state"], g["machine_id"])
                            for g in c.get(f"/api/v1/orders/{o}").json()["leg_details"]]
                        for o, s in final.items() if s in OPEN}
                machines = [(m["machine_id"], m.get("mode"), m.get("node") or m.get("bridge_m"), m.get("load_id"), m.get("leg_id"))
                            for kind in ("vehicles", "cranes") for m in c.get(f"/api/v1/{kind}").json()]
                alarms = [a["message"] for a in c.get("/api/v1/alarms").json()[:8]]
                raise AssertionError(f"open at the kill ({len(was_open)}), still open after the restart: {legs}\n"
                                     f"machines {machines}\nalarms {alarms}\ndispatcher: {answered}\n" + "\n".join(second.lines[-30:]))
            assert set(final.values()) == {"done"}, f"not done: { {o: s for o, s in final.items() if s != 'done'} }"
            for oid, before in was_open.items():
                timeline = [row["state"] for row in c.get(f"/api/v1/orders/{oid}/timeline").json()]
                assert before in timeline and timeline[-1] == "done", f"{oid}: {timeline}"
    finally:
        code = second.stop()
    assert code == 0, "the restarted demo did not stop cleanly:\n" + "\n".join(second.lines[-20:])
