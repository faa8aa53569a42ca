"""The shift report: KPIs as JSON, three plots a person would look at, a Markdown summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from sim.runner import ShiftResult

SAFETY_KEYS = ("collisions", "near_misses", "deadlocks", "lost_orders")


def write_report(result: ShiftResult, out: Path) -> dict[str, Path]:
    """Write kpis.json, events.json, throughput.png, lead_time.png, heatmap.png, summary.md."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    files = {
        "kpis": out / "kpis.json",
        "events": out / "events.json",
        "throughput": out / "throughput.png",
        "lead_time": out / "lead_time.png",
        "heatmap": out / "heatmap.png",
        "summary": out / "summary.md",
    }
    body = {"scenario": result.scenario, "site": result.site, "seed": result.seed,
            "duration_s": result.duration_s, **result.kpis}
    files["kpis"].write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    files["events"].write_text(json.dumps(result.events, indent=1) + "\n", encoding="utf-8")

    hours = result.duration_s / 3600.0
    bucket_s = 900.0
    edges = np.arange(0.0, result.duration_s + bucket_s, bucket_s)
    counts, _ = np.histogram(result.done_times_s, bins=edges)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.bar(edges[:-1] / 3600.0, counts * (3600.0 / bucket_s), width=bucket_s / 3600.0 * 0.9, align="edge",
           color="#3a7bd5")
    ax.set_xlabel("shift time (h)")
    ax.set_ylabel("orders done per hour")
    ax.set_title(f"{result.scenario}: throughput ({result.kpis['throughput_per_h']} / h over {hours:g} h)")
    ax.set_xlim(0, hours)
    fig.tight_layout()
    fig.savefig(files["throughput"], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    if result.lead_times_s:
        ax.hist(np.asarray(result.lead_times_s) / 60.0, bins=40, color="#2e9e6b")
        for q, style in ((50, "--"), (95, ":")):
            v = float(np.percentile(result.lead_times_s, q)) / 60.0
            ax.axvline(v, color="k", linestyle=style, label=f"p{q} {v:.1f} min")
        ax.legend()
    ax.set_xlabel("order lead time (min)")
    ax.set_ylabel("orders")
    ax.set_title("lead time, submitted to done")
    fig.tight_layout()
    fig.savefig(files["lead_time"], dpi=110)
    plt.close(fig)

    x0, x1, y0, y1 = result.heat_extent
    aspect = (y1 - y0) / max(x1 - x0, 1e-6)
    fig, ax = plt.subplots(figsize=(9, max(3.0, min(9.0, 9 * aspect + 1))))
    for ax_, ay, bx, by in result.lanes:
        ax.plot([ax_, bx], [ay, by], color="#cccccc", linewidth=0.6, zorder=1)
    heat = np.ma.masked_equal(result.heat / 60.0, 0.0)
    im = ax.imshow(heat, origin="lower", extent=(x0, x1, y0, y1), cmap="inferno_r", zorder=2,
                   interpolation="nearest")
    fig.colorbar(im, ax=ax, label="AGV driving time per m² (min)")
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(f"{result.site}: where the traffic was")
    fig.tight_layout()
    fig.savefig(files["heatmap"], dpi=110)
    plt.close(fig)

    files["summary"].write_text(summary_markdown(result), encoding="utf-8")
    return files


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def summary_markdown(result: ShiftResult) -> str:
    k = result.kpis
    safe = all((k.get(key) or 0) == 0 for key in SAFETY_KEYS)
    verdict = ("**Safe shift:** zero collisions, zero deadlocks, zero lost orders."
               if safe and k.get("deadlocks", 0) == 0 else
               "**Attention:** " + ", ".join(f"{key.replace('_', ' ')} {k.get(key)}" for key in SAFETY_KEYS
                                              if k.get(key)) + ".")
    lead = (f"{k['lead_time_p50_s'] / 60:.1f} min median, {k['lead_time_p95_s'] / 60:.1f} min p95"
            if k.get("lead_time_p50_s") is not None else "no order finished")
    lines = [
        f"# Shift report: {result.scenario}",
        "",
        f"Site **{result.site}**, seed {result.seed}, {result.duration_s / 3600:g} simulated hours, "
        f"{k['agvs']} AGVs and {k['cranes']} cranes; ran in {k['wall_s']} s ({k['speedup']}x real time).",
        "",
        verdict,
        "",
    ]
    if k.get("orders_stuck_at_end"):
        # a jam the safety monitor cannot see (nobody waits on a route), or no vehicle or
        # charge left for the work: either way the shift did not keep up
        lines += [f"**Stuck orders:** {k['orders_stuck_at_end']} open orders had not changed for 30 min at "
                  "the end (a jammed fleet, or one short of vehicles or charge).", ""]
    lines += [
        f"- Orders: {k['orders_done']} done of {k['orders_submitted']} accepted "
        f"({k['orders_refused']} refused, {k['orders_failed']} failed, {k['orders_open_at_end']} still open at the end, "
        f"{k['orders_stuck_at_end']} of them unchanged for 30 min).",
        f"- Throughput: {k['throughput_per_h']} orders per hour; lead time {lead}.",
        f"- Vehicles: utilisation {k['vehicle_utilisation']:.0%}, empty travel {k['empty_travel_share']:.0%} "
        f"of {k['distance_km']} km, charging {k['charging_time_h']} h in total.",
    ]
    if k.get("crane_utilisation") is not None:
        lines.append(f"- Cranes: utilisation {k['crane_utilisation']:.0%}, "
                     f"{k['crane_gap_violations']} safety-gap violations.")
    lines += [
        f"- Safety: {k['collisions']} collisions, {k['near_misses']} near misses, {k['deadlocks']} deadlocks, "
        f"{k['stalls']} long stalls, {k['wrong_way']} wrong-way lane uses, {k['lost_orders']} lost orders.",
        f"- Disturbances: {k['faults_injected']} faults injected; {k['states_lost']} of {k['states_sent']} "
        f"states lost on the link, {k['command_retransmits']} command retransmissions.",
        "",
        "![throughput](throughput.png)",
        "",
        "![lead time](lead_time.png)",
        "",
        "![traffic heat map](heatmap.png)",
        "",
        "## All figures",
        "",
        "| KPI | value |",
        "|---|---|",
    ]
    lines += [f"| {key} | {_fmt(v)} |" for key, v in k.items()]
    events = [e for e in result.events if e["kind"] != "stall"][:20]
    if events:
        lines += ["", "## First safety events", "", "| t (s) | kind | machines | detail |", "|---|---|---|---|"]
        lines += [f"| {e['at_s']} | {e['kind']} | {', '.join(e['machines'])} | {e['detail']} |" for e in events]
    return "\n".join(lines) + "\n"
