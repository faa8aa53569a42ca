"""Shift studies: seeds and fleet sizes, run in worker processes, summarised honestly."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import pytest

from fleet.cli import main as fleet_main
from sim.brain_double import ReservationBrainDouble
from sim.runner import deterministic_kpis, run_shift
from sim.scenario import ScenarioFileError, _share, scenario_from_dict
from sim.study import study_markdown, summarise

SCENARIO = {
    "format": "fleet5g-scenario", "version": 1, "name": "small", "site": "warehouse", "seed": 5,
    "duration_h": 0.05, "dt_s": 0.5,
    "fleet": {"agvs": [{"prefix": "agv", "count": 4}, {"prefix": "tug", "count": 2, "max_speed_mps": 1.0}]},
    "orders": [{"kind": "poisson", "rate_per_h": 120, "sources": "kind:pickup", "destinations": "racks"}],
    "network": {"latency_ms": 10, "jitter_ms": 5, "state_loss": 0.02},
    "faults": {"scheduled": [{"kind": "breakdown", "target": "agv-3", "at_s": 60, "duration_s": 60}]},
}


def test_share_splits_a_fleet_in_proportion() -> None:
    assert _share(9, [4, 2]) == [6, 3]
    assert _share(7, [4, 2]) == [5, 2]
    assert _share(1, [4, 2]) == [1, 0]
    assert sum(_share(500, [3, 3, 1])) == 500


def test_fleet_size_keeps_the_rest_of_the_scenario() -> None:
    sc = replace(scenario_from_dict(copy.deepcopy(SCENARIO), "small.yaml").with_duration(900.0), seed=11)
    big = sc.with_fleet_size(9)
    assert [a.id for a in big.agvs] == [*(f"agv-{k}" for k in range(1, 7)), "tug-1", "tug-2", "tug-3"]
    assert {a.max_speed_mps for a in big.agvs if a.id.startswith("tug")} == {1.0}
    assert len({a.start_node for a in big.agvs}) == 9
    assert (big.seed, big.duration_s, big.streams, big.link) == (11, 900.0, sc.streams, sc.link)
    assert len(sc.agvs) == 6  # the original is untouched
    with pytest.raises(ScenarioFileError, match="agv-3"):  # the fault's target is not in a fleet of 2
        sc.with_fleet_size(2)
    with pytest.raises(ScenarioFileError, match="at least 1"):
        sc.with_fleet_size(0)


def test_cli_study_runs_every_seed_and_size_in_workers(tmp_path: Path, capsys) -> None:
    p = tmp_path / "small.yaml"
    p.write_text(json.dumps(SCENARIO), encoding="utf-8")
    out = tmp_path / "study"
    rc = fleet_main(["sim", "study", str(p), "--seeds", "2", "--first-seed", "3", "--agvs", "4,6", "--jobs", "2",
                     "--brain", "double", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "[4/4]" in printed and "study.md" in printed
    study = json.loads((out / "study.json").read_text(encoding="utf-8"))
    assert [(g["agvs"], g["seeds"]) for g in study["groups"]] == [(4, [3, 4]), (6, [3, 4])]
    assert study["runs"] == 4 and study["runs_failed"] == 0
    for g in study["groups"]:
        done = [r["orders_done"] for r in study["per_run"] if r["agvs"] == g["agvs"]]
        assert g["kpis"]["orders_done"]["min"] == min(done) and g["kpis"]["orders_done"]["max"] == max(done)
        assert g["safety_totals"]["collisions"] == 0
    for label in ("a4-s3", "a4-s4", "a6-s3", "a6-s4"):
        assert (out / "runs" / label / "summary.md").exists()
    md = (out / "study.md").read_text(encoding="utf-8")
    assert "| 6 | 2 |" in md and "(runs/a6-s4/summary.md)" in md
    assert (out / "study.png").stat().st_size > 0

    # a run in a worker process is the same shift as one run here, for its seed and size
    sc = replace(scenario_from_dict(copy.deepcopy(SCENARIO), str(p)).with_fleet_size(6), seed=4)
    alone = run_shift(sc, ReservationBrainDouble(sc.site, list(sc.agvs), list(sc.cranes))).kpis
    worker = next(r for r in study["per_run"] if r["run"] == "a6-s4")
    assert {k: worker[k] for k in deterministic_kpis(alone)} == deterministic_kpis(alone)


def test_cli_study_refuses_bad_sizes_before_running(tmp_path: Path, capsys) -> None:
    p = tmp_path / "small.yaml"
    p.write_text(json.dumps(SCENARIO), encoding="utf-8")
    assert fleet_main(["sim", "study", str(p), "--agvs", "4,x", "--brain", "double", "--out", str(tmp_path)]) == 2
    assert "whole numbers" in capsys.readouterr().err
    assert fleet_main(["sim", "study", str(p), "--agvs", "2", "--brain", "double", "--out", str(tmp_path)]) == 2
    assert "--agvs 2" in capsys.readouterr().err and not (tmp_path / "study.json").exists()
    assert fleet_main(["sim", "study", str(p), "--seeds", "0", "--brain", "double", "--out", str(tmp_path)]) == 2


def test_the_study_names_every_unsafe_run() -> None:
    base = {"orders_submitted": 10, "orders_done": 8, "throughput_per_h": 8.0, "collisions": 0, "deadlocks": 0,
            "lost_orders": 0, "near_misses": 1, "sim_hours": 1.0, "wall_s": 2.0, "lead_time_p95_s": 300.0}
    runs = [{"run": "s1", "seed": 1, "agvs": 5, **base},
            {"run": "s2", "seed": 2, "agvs": 5, **base, "deadlocks": 1},
            {"run": "s3", "seed": 3, "agvs": 5, "error": "boom"}]
    study = summarise("x", runs, hours=1.0, wall_s=3.0, jobs=1)
    assert study["runs_failed"] == 1 and study["groups"][0]["runs"] == 2
    assert study["groups"][0]["safety_totals"]["deadlocks"] == 1
    assert study["groups"][0]["kpis"]["orders_done"] == {"mean": 8.0, "sd": 0.0, "min": 8.0, "max": 8.0, "n": 2}
    md = study_markdown(study)
    assert "**Attention:** 5 AGVs seed 2: deadlocks 1." in md and "Run s3 failed:** boom" in md
    assert "Safe in every run" not in md
