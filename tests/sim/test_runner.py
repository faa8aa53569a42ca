"""Shifts end to end against the test double: determinism, KPIs, the report, the CLI."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from fleet.cli import main as fleet_main
from sim.brain_double import ReservationBrainDouble
from sim.report import write_report
from sim.runner import deterministic_kpis, run_shift
from sim.scenario import scenario_from_dict

SCENARIO = {
    "format": "fleet5g-scenario", "version": 1, "name": "small", "site": "warehouse", "seed": 5,
    "duration_h": 0.25, "dt_s": 0.5,
    "fleet": {"agvs": [{"prefix": "agv", "count": 4, "battery": 0.5, "drain_per_m": 0.002}]},
    "orders": [{"kind": "poisson", "rate_per_h": 40, "sources": "kind:pickup", "destinations": "racks"}],
    "network": {"latency_ms": 10, "jitter_ms": 5, "state_loss": 0.05, "command_loss": 0.05},
    "faults": {"scheduled": [{"kind": "breakdown", "target": "agv-2", "at_s": 200, "duration_s": 120}],
               "random": [{"kind": "estop", "per_machine_h": 1.0, "duration_s": 20}]},
}


def _run(data=SCENARIO):
    sc = scenario_from_dict(copy.deepcopy(data), "small.yaml")
    return run_shift(sc, ReservationBrainDouble(sc.site, list(sc.agvs), list(sc.cranes)))


@pytest.fixture(scope="module")
def shift():
    return _run()


def test_a_shift_finishes_orders_safely(shift) -> None:
    k = shift.kpis
    assert k["orders_done"] >= 3
    assert k["collisions"] == 0 and k["lost_orders"] == 0 and k["deadlocks"] == 0
    assert k["faults_injected"] >= 1 and k["states_lost"] > 0
    assert 0 < k["vehicle_utilisation"] <= 1 and 0 <= k["empty_travel_share"] < 1
    assert k["lead_time_p50_s"] <= k["lead_time_p95_s"]
    assert shift.heat.sum() > 0


def test_same_seed_same_kpis(shift) -> None:
    again = _run()
    assert deterministic_kpis(again.kpis) == deterministic_kpis(shift.kpis)
    other = copy.deepcopy(SCENARIO)
    other["seed"] = 6
    assert deterministic_kpis(_run(other).kpis) != deterministic_kpis(shift.kpis)


def test_report_files(shift, tmp_path: Path) -> None:
    files = write_report(shift, tmp_path)
    body = json.loads(files["kpis"].read_text())
    for key in ("orders_done", "throughput_per_h", "lead_time_p50_s", "lead_time_p95_s", "vehicle_utilisation",
                "empty_travel_share", "crane_utilisation", "charging_time_h", "collisions", "near_misses",
                "deadlocks", "lost_orders"):
        assert key in body
    for name in ("throughput", "lead_time", "heatmap"):
        assert files[name].stat().st_size > 5000
        assert files[name].read_bytes()[:4] == b"\x89PNG"
    text = files["summary"].read_text()
    assert "zero collisions" in text and "orders_done" in text
    assert ("Stuck orders" in text) == bool(shift.kpis["orders_stuck_at_end"])


def test_the_summary_says_when_orders_stood_still(shift, tmp_path: Path) -> None:
    # a jam the safety monitor does not count (nobody waits on a route) still shows
    jammed = copy.copy(shift)
    jammed.kpis = {**shift.kpis, "orders_stuck_at_end": 7}
    text = write_report(jammed, tmp_path)["summary"].read_text()
    assert "**Stuck orders:** 7 open orders had not changed for 30 min" in text


def test_coil_moves_use_a_crane_and_an_agv() -> None:
    data = {
        "format": "fleet5g-scenario", "version": 1, "name": "coil", "site": "coil_yard", "seed": 2,
        "duration_h": 0.4,
        "fleet": {"agvs": [{"prefix": "cc", "count": 3, "load_types": ["coil"], "payload_kg": 30000}]},
        "orders": [{"kind": "coil", "rate_per_h": 12, "sources": "bay:BAY1", "destinations": "kind:drop"}],
    }
    r = _run(data)
    assert r.kpis["orders_done"] >= 1
    assert r.kpis["crane_utilisation"] > 0 and r.kpis["crane_collisions"] == 0


def test_cli_run_writes_the_report(tmp_path: Path, capsys) -> None:
    p = tmp_path / "s.yaml"
    data = copy.deepcopy(SCENARIO)
    p.write_text(json.dumps(data), encoding="utf-8")
    rc = fleet_main(["sim", "run", str(p), "--hours", "0.05", "--out", str(tmp_path / "out"), "--brain", "double",
                     "--no-progress"])
    assert rc == 0
    assert (tmp_path / "out" / "summary.md").exists()
    assert "orders done" in capsys.readouterr().out
    assert fleet_main(["sim", "check", str(p)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: nope\n", encoding="utf-8")
    assert fleet_main(["sim", "run", str(bad), "--brain", "double"]) == 2
