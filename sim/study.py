"""Shift studies: one scenario over several seeds and fleet sizes, each run a full shift.

One seed's shift is one draw of the demand, faults and link losses; throughput and
lead times move by several per cent from seed to seed, so a site is sized (and a
planner setting judged) on the spread over seeds, not on one run. Runs are
independent and deterministic for their (fleet size, seed), so they go to worker
processes (one per core) and a study repeats exactly whatever the number of workers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

# what makes a run unsafe; near misses are counted in the tables (a busy site has many), not flagged
SAFETY_KEYS = ("collisions", "deadlocks", "lost_orders")
# the KPIs a study spreads out over its seeds (all numbers in a run's kpis.json)
SPREAD_KEYS = (
    "orders_submitted", "orders_done", "throughput_per_h", "lead_time_p50_s", "lead_time_p95_s", "vehicle_utilisation",
    "empty_travel_share", "crane_utilisation", "charging_time_h", "orders_open_at_end", "orders_stuck_at_end",
    "near_misses", "min_battery", "wall_s",
)


@dataclass(frozen=True)
class StudyRun:
    """One shift of the study: the scenario with `agvs` AGVs (None: as written) and `seed`."""

    scenario: str  # a bundled name or a scenario file, as `fleet sim run` takes it
    seed: int
    agvs: int | None = None
    hours: float | None = None
    brain: str = "auto"

    @property
    def label(self) -> str:
        return (f"a{self.agvs}-" if self.agvs is not None else "") + f"s{self.seed}"


def run_one(run: StudyRun, out: Path) -> dict[str, Any]:
    """Run one shift and write its full report to `out`; its KPIs, or the error that stopped it.

    Module-level so worker processes can import it; a failing run (a fleet size the
    site has no room for, a fault target the smaller fleet lacks) is reported, not raised,
    so the other runs of the study still finish.
    """
    from fleet.errors import FleetError
    from sim.brains import make_brain
    from sim.report import write_report
    from sim.runner import run_shift
    from sim.scenario import load_scenario, resolve_scenario

    try:
        scenario = load_scenario(resolve_scenario(run.scenario))
        if run.agvs is not None:
            scenario = scenario.with_fleet_size(run.agvs)
        if run.hours is not None:
            scenario = scenario.with_duration(run.hours * 3600.0)
        scenario = replace(scenario, seed=run.seed)
        brain, brain_name = make_brain(run.brain, scenario)
        result = run_shift(scenario, brain)
    except FleetError as exc:
        return {"run": run.label, "agvs": run.agvs, "seed": run.seed, "error": str(exc)}
    result.kpis["brain"] = brain_name
    write_report(result, out)
    return {"run": run.label, "seed": run.seed, **result.kpis, "agvs": result.kpis["agvs"],
            "report": str(out / "summary.md")}


def study_runs(scenario: str, seeds: Iterable[int], fleet_sizes: Iterable[int | None], *,
               hours: float | None = None, brain: str = "auto") -> list[StudyRun]:
    return [StudyRun(scenario, seed, agvs, hours, brain) for agvs in fleet_sizes for seed in seeds]


def run_study(runs: list[StudyRun], out: Path, *, jobs: int = 1,
              on_done: Callable[[int, int, dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Every run's KPIs in the order of `runs`; `jobs` > 1 runs them in that many processes."""
    out.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any] | None] = [None] * len(runs)
    finished = 0

    def done(i: int, kpis: dict[str, Any]) -> None:
        nonlocal finished
        results[i] = kpis
        finished += 1
        if on_done:
            on_done(finished, len(runs), kpis)

    if jobs <= 1 or len(runs) == 1:
        for i, run in enumerate(runs):
            done(i, run_one(run, out / "runs" / run.label))
    else:
        # spawn, not fork: the parent may hold threads (rich's progress, numba) that fork would copy mid-state
        with ProcessPoolExecutor(max_workers=min(jobs, len(runs)), mp_context=get_context("spawn")) as pool:
            pending: dict[Future[dict[str, Any]], int] = {
                pool.submit(run_one, run, out / "runs" / run.label): i for i, run in enumerate(runs)}
            while pending:
                ready, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in ready:
                    i = pending.pop(fut)
                    try:
                        kpis = fut.result()
                    except Exception as exc:  # a worker that died (memory, a bug) is one failed run
                        kpis = {"run": runs[i].label, "agvs": runs[i].agvs, "seed": runs[i].seed,
                                "error": f"{type(exc).__name__}: {exc}"}
                    done(i, kpis)
    return [r for r in results if r is not None]


def _spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"mean": round(mean, 4), "sd": round(sd, 4), "min": min(values), "max": max(values), "n": n}


def summarise(scenario: str, results: list[dict[str, Any]], *, hours: float | None, wall_s: float,
              jobs: int) -> dict[str, Any]:
    """The study as JSON: per fleet size the spread of each KPI over the seeds, and the safety totals."""
    ok = [r for r in results if "error" not in r]
    groups = []
    for agvs in sorted({r["agvs"] for r in ok}):
        rows = [r for r in ok if r["agvs"] == agvs]
        spread = {k: s for k in SPREAD_KEYS
                  if (s := _spread([float(r[k]) for r in rows if r.get(k) is not None])) is not None}
        safety = {k: sum(int(r.get(k) or 0) for r in rows) for k in SAFETY_KEYS}
        groups.append({"agvs": agvs, "runs": len(rows), "seeds": [r["seed"] for r in rows],
                       "kpis": spread, "safety_totals": safety})
    unsafe = [{"run": r["run"], "agvs": r["agvs"], "seed": r["seed"],
               **{k: r[k] for k in SAFETY_KEYS if r.get(k)}}
              for r in ok if any(r.get(k) for k in SAFETY_KEYS)]
    return {
        "scenario": scenario,
        "hours": hours if hours is not None else (ok[0]["sim_hours"] if ok else None),
        "runs": len(results),
        "runs_failed": len(results) - len(ok),
        "jobs": jobs,
        "wall_s": round(wall_s, 2),
        "groups": groups,
        "unsafe_runs": unsafe,
        "failed_runs": [{"run": r["run"], "error": r["error"]} for r in results if "error" in r],
        "per_run": results,
    }


def _cell(s: dict[str, float] | None, scale: float = 1.0, pct: bool = False) -> str:
    if s is None:
        return "n/a"

    def f(v: float) -> str:
        v *= scale
        return f"{v:.0%}" if pct else (f"{v:.0f}" if abs(v) >= 100 else f"{v:.3g}")

    if s["n"] == 1:
        return f(s["mean"])
    return f"{f(s['mean'])} ± {f(s['sd'])} ({f(s['min'])}–{f(s['max'])})"


def study_markdown(study: dict[str, Any]) -> str:
    seeds = sorted({s for g in study["groups"] for s in g["seeds"]})
    lines = [f"# Shift study: {study['scenario']}", "",
             f"{study['runs']} runs of {study['hours']:g} simulated hours (seeds {', '.join(map(str, seeds))}), "
             f"{study['jobs']} worker process{'es' if study['jobs'] > 1 else ''}, {study['wall_s']} s in all.", ""]
    if study["unsafe_runs"]:
        lines.append("**Attention:** " + "; ".join(
            f"{u['agvs']} AGVs seed {u['seed']}: " + ", ".join(f"{k.replace('_', ' ')} {u[k]}" for k in SAFETY_KEYS
                                                               if k in u)
            for u in study["unsafe_runs"]) + ".")
    elif study["groups"]:
        lines.append(f"**Safe in every run:** zero collisions, zero deadlocks, zero lost orders in all "
                     f"{study['runs'] - study['runs_failed']} shifts.")
    for f in study["failed_runs"]:
        lines.append(f"\n**Run {f['run']} failed:** {f['error']}")
    lines += ["", "Each cell: mean ± standard deviation over the seeds (min–max).", "",
              "| AGVs | runs | orders done | throughput / h | lead time p50 (min) | lead time p95 (min) "
              "| vehicle utilisation | empty travel | stuck at end | near misses |",
              "|---:|---:|---|---|---|---|---|---|---|---|"]
    for g in study["groups"]:
        k = g["kpis"]
        lines.append(
            f"| {g['agvs']} | {g['runs']} | {_cell(k.get('orders_done'))} | {_cell(k.get('throughput_per_h'))} "
            f"| {_cell(k.get('lead_time_p50_s'), 1 / 60)} | {_cell(k.get('lead_time_p95_s'), 1 / 60)} "
            f"| {_cell(k.get('vehicle_utilisation'), pct=True)} | {_cell(k.get('empty_travel_share'), pct=True)} "
            f"| {_cell(k.get('orders_stuck_at_end'))} | {_cell(k.get('near_misses'))} |")
    lines += ["", "![throughput over the fleet sizes](study.png)", "", "## Runs", "",
              "| AGVs | seed | orders done | throughput / h | lead time p95 (min) | collisions | deadlocks "
              "| lost orders | wall (s) | report |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in study["per_run"]:
        if "error" in r:
            lines.append(f"| {r['agvs'] or ''} | {r['seed']} | failed | | | | | | | |")
            continue
        p95 = f"{r['lead_time_p95_s'] / 60:.1f}" if r.get("lead_time_p95_s") is not None else "n/a"
        lines.append(f"| {r['agvs']} | {r['seed']} | {r['orders_done']} | {r['throughput_per_h']} | {p95} "
                     f"| {r['collisions']} | {r['deadlocks']} | {r['lost_orders']} | {r['wall_s']} "
                     f"| [summary](runs/{r['run']}/summary.md) |")
    return "\n".join(lines) + "\n"


def write_study(study: dict[str, Any], out: Path) -> dict[str, Path]:
    """study.json, study.md and study.png (throughput and p95 lead time over the fleet sizes)."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    files = {"json": out / "study.json", "summary": out / "study.md", "plot": out / "study.png"}
    files["json"].write_text(json.dumps(study, indent=2) + "\n", encoding="utf-8")
    fig, ax = plt.subplots(figsize=(7, 3.8))
    groups = [g for g in study["groups"] if "throughput_per_h" in g["kpis"]]
    if groups:
        x = [g["agvs"] for g in groups]
        t = [g["kpis"]["throughput_per_h"] for g in groups]
        ax.errorbar(x, [s["mean"] for s in t], yerr=[[s["mean"] - s["min"] for s in t], [s["max"] - s["mean"] for s in t]],
                    marker="o", capsize=4, color="#3a7bd5", label="throughput (mean, min–max)")
        for g in groups:  # every seed as a dot, so the spread is seen, not only summarised
            runs = [r for r in study["per_run"] if r.get("agvs") == g["agvs"] and "error" not in r]
            ax.scatter([g["agvs"]] * len(runs), [r["throughput_per_h"] for r in runs], s=10, color="#3a7bd5",
                       alpha=0.4)
        hours = study["hours"] or 1.0
        offered = [g["kpis"]["orders_submitted"]["mean"] / hours for g in groups if "orders_submitted" in g["kpis"]]
        if len(offered) == len(x):  # the demand a fleet has to keep up with
            ax.plot(x, offered, color="#888888", linestyle=":", label="orders submitted / h (mean)")
        ax.set_xlabel("AGVs")
        ax.set_ylabel("orders done per hour")
        ax.set_xticks(x)
        p95 = [(g["agvs"], g["kpis"]["lead_time_p95_s"]["mean"] / 60) for g in groups
               if "lead_time_p95_s" in g["kpis"]]
        if p95:
            ax2 = ax.twinx()
            ax2.plot([a for a, _ in p95], [v for _, v in p95], marker="s", linestyle="--", color="#d5763a",
                     label="lead time p95 (mean)")
            ax2.set_ylabel("lead time p95 (min)")
            ax2.set_ylim(bottom=0)
            ax2.legend(loc="lower right")
        top = max([s["max"] for s in t] + offered)
        ax.set_ylim(0, top * 1.25 if top > 0 else 1.0)
        ax.legend(loc="upper left")
    ax.set_title(f"{study['scenario']}: {study['runs']} shifts of {study['hours']:g} h")
    fig.tight_layout()
    fig.savefig(files["plot"], dpi=110)
    plt.close(fig)
    files["summary"].write_text(study_markdown(study), encoding="utf-8")
    return files


def timed_study(runs: list[StudyRun], out: Path, *, scenario: str, hours: float | None, jobs: int,
                on_done: Callable[[int, int, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run, summarise and write the study; the summary as JSON."""
    t0 = time.perf_counter()
    results = run_study(runs, out, jobs=jobs, on_done=on_done)
    study = summarise(scenario, results, hours=hours, wall_s=time.perf_counter() - t0, jobs=jobs)
    write_study(study, out)
    return study
