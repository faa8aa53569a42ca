"""Localization fusion: accuracy on simulated shifts and batch-kernel throughput.

Three settings (indoor warehouse with UWB + RFID; outdoor yard with BeiDou; a route
through a warehouse door into a yard and back). For each: position RMSE and 95th
percentile error of the fused pose versus each source alone, at 10 Hz, as the core
would see them (measurements received so far, fused pose predicted to now; a source
alone = its newest fix held until the next one, odometry alone = dead reckoning
from the true start). Then the same shifts with 10 % outliers from every source
(divergence check), then updates per second of `ekf.fuse_batch` across a fleet.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np

from fleet.localization import (
    BeidouFix,
    Fusion,
    Measurement,
    Odometry,
    RfidRead,
    SiteFrame,
    UwbFix,
    ekf,
)
from fleet.localization.track import Tracks
from sim.sensors import SensorSuite, merged, with_outliers
from sim.sensors_route import Trajectory, drive_route
from sim.sensors_scenes import SCENES, Scene

DESCRIPTION = "localization fusion: RMSE / p95 vs single sources, outliers, kernel updates/s"

FLOOR_RATIO = 0.5  # fused RMSE <= this x best single source
FLOOR_P95_INDOOR_M = 0.3
FLOOR_UPDATES_PER_S = 200_000
DIVERGED_M = 2.0  # fused error above this after warm-up counts as divergence
WARMUP_S = 5.0
TICK_S = 0.1
# A source alone is scored only while its newest fix is this fresh (RFID tags are sparse).
FRESH_S = {"uwb": 1.0, "beidou": 1.0, "rfid": 5.0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=7, help="seed of every sensor model (default 7)")
    parser.add_argument("--shift-s", type=float, default=None, help="simulated seconds per setting")
    parser.add_argument("--machines", type=int, default=5000, help="fleet size for the kernel run")


def _position(m: Measurement, scene: Scene, frame: SiteFrame | None) -> tuple[float, float] | None:
    """What a source alone says about where the machine is (no filtering, no checks)."""
    if isinstance(m, UwbFix):
        return (m.x, m.y)
    if isinstance(m, RfidRead):
        tag = scene.site.tag_by_id.get(m.tag_id)
        return (tag.x, tag.y) if tag else None
    if isinstance(m, BeidouFix) and frame is not None:
        x, y, _ = frame.to_site(m.lat_deg, m.lon_deg, m.height_m)
        return (float(x), float(y))
    return None


def _dead_reckoning(odo: list[Measurement], traj: Trajectory, ticks: np.ndarray) -> np.ndarray:
    """Integrate odometry (in stamp order) from the true start pose; position at ticks."""
    ms = sorted((m for m in odo if isinstance(m, Odometry)), key=lambda m: m.stamp_s)
    x, y, th, t = float(traj.x[0]), float(traj.y[0]), float(traj.heading[0]), float(traj.t[0])
    ts, xs, ys = [t], [x], [y]
    for m in ms:
        dt = m.stamp_s - t
        if dt <= 0:
            continue
        x += m.speed_mps * dt * math.cos(th)
        y += m.speed_mps * dt * math.sin(th)
        th += m.yaw_rate_rps * dt
        t = m.stamp_s
        ts.append(t)
        xs.append(x)
        ys.append(y)
    return np.column_stack([np.interp(ticks, ts, xs), np.interp(ticks, ts, ys)])


def _stats(err: np.ndarray) -> dict[str, float]:
    err = err[np.isfinite(err)]
    if not err.size:
        return {"rmse_m": math.nan, "p95_m": math.nan, "max_m": math.nan}
    return {"rmse_m": float(np.sqrt(np.mean(err**2))), "p95_m": float(np.percentile(err, 95)),
            "max_m": float(err.max())}


def run_shift(scene: Scene, suite: SensorSuite, duration_s: float, seed: int) -> dict[str, Any]:
    """Drive the scene's route for duration_s, fuse, and measure errors at 10 Hz."""
    rng = np.random.default_rng(seed)
    traj = drive_route(scene.route, laps=1000, dwell_s=8.0, dwell_every=3,
                       max_duration_s=duration_s)
    streams = suite.streams("m1", traj, rng)
    inbox = merged(streams)
    ticks = np.arange(traj.t[0] + TICK_S, traj.t[-1], TICK_S)
    tx, ty, _, _, _ = traj.at(ticks)
    fusion = Fusion(scene.site)
    frame = fusion.frame
    fused = np.full((ticks.size, 2), np.nan)
    quality = []
    k = 0
    started = time.perf_counter()
    for i, t in enumerate(ticks):
        j = k
        while j < len(inbox) and inbox[j].received_s <= t:
            j += 1
        if j > k:
            fusion.ingest_many(inbox[k:j])
            k = j
        fusion.advance(float(t))
        try:
            p = fusion.pose("m1", float(t))
        except KeyError:
            continue
        except Exception:  # UnknownMachine before the first measurement
            continue
        fused[i] = (p.x, p.y)
        quality.append(p.quality.value)
    fuse_s = time.perf_counter() - started
    live = ticks >= traj.t[0] + WARMUP_S
    err_f = np.hypot(fused[:, 0] - tx, fused[:, 1] - ty)[live]
    out: dict[str, Any] = {"fused": _stats(err_f), "measurements": len(inbox),
                           "fuse_wall_s": fuse_s}
    out["diverged"] = bool(np.nanmax(err_f) > DIVERGED_M) if err_f.size else True
    out["quality_ok_share"] = quality.count("ok") / len(quality) if quality else 0.0
    for name, stream in streams.items():
        if name == "odometry":
            dr = _dead_reckoning(stream, traj, ticks)
            out[name] = _stats(np.hypot(dr[:, 0] - tx, dr[:, 1] - ty)[live])
            continue
        held = np.full((ticks.size, 2), np.nan)
        fresh = np.zeros(ticks.size, dtype=bool)
        last, last_t, q = None, -math.inf, 0
        for i, t in enumerate(ticks):
            while q < len(stream) and stream[q].received_s <= t:
                pos = _position(stream[q], scene, frame)
                if pos is not None:
                    last, last_t = pos, stream[q].received_s
                q += 1
            if last is not None and t - last_t <= FRESH_S.get(name, 1.0):
                held[i] = last
                fresh[i] = True
        err = np.hypot(held[:, 0] - tx, held[:, 1] - ty)
        stats = _stats(err[live & fresh])
        stats["coverage"] = float(np.mean(fresh[live]))
        out[name] = stats
    return out


def _kernel_rate(machines: int, seconds: float, seed: int) -> dict[str, float]:
    """fuse_batch over a fleet: 50 Hz odometry and 10 Hz position fixes per machine."""
    rng = np.random.default_rng(seed)
    tracks = Tracks(machines)
    for _ in range(machines):
        tracks.add()
    steps = int(seconds * 50)
    per_step = machines
    m_total = steps * per_step
    rows = np.tile(np.arange(machines, dtype=np.int64), steps)
    stamps = np.repeat(np.arange(steps) * 0.02, per_step) + rng.uniform(0, 0.019, m_total)
    step_idx = np.repeat(np.arange(steps), per_step)
    kinds = np.where((step_idx + rows) % 5 == 0, ekf.Kind.POSITION, ekf.Kind.ODOMETRY).astype(np.int64)
    z = np.zeros((m_total, ekf.Z_WIDTH))
    pos = kinds == ekf.Kind.POSITION
    t = stamps
    z[pos, 0] = 1.2 * t[pos] + rng.normal(0, 0.08, pos.sum()) + rows[pos] * 3.0
    z[pos, 1] = rng.normal(0, 0.08, pos.sum())
    z[~pos, 0] = 1.2 + rng.normal(0, 0.03, (~pos).sum())
    z[~pos, 1] = rng.normal(0, 0.01, (~pos).sum())
    r = np.zeros((m_total, 2, 2))
    r[pos, 0, 0] = r[pos, 1, 1] = 0.0064
    r[~pos, 0, 0] = 0.0025
    r[~pos, 1, 1] = 0.0004
    verdict = np.zeros(m_total, dtype=np.int64)
    nis = np.zeros(m_total)
    none = (np.zeros((0, 5)), np.zeros((0, 5, 5)), np.zeros((0, 1 + ekf.AUX)))
    params = ekf.default_params()
    ekf.fuse_batch(*Tracks(1).arrays(), rows[:1] * 0, kinds[:1], stamps[:1], z[:1], r[:1],
                   params, verdict[:1], nis[:1], *none)  # compile / load cache
    best = math.inf
    for _ in range(3):
        tr = Tracks(machines)
        for _ in range(machines):
            tr.add()
        t0 = time.perf_counter()
        ekf.fuse_batch(*tr.arrays(), rows, kinds, stamps, z, r, params, verdict, nis, *none)
        best = min(best, time.perf_counter() - t0)
    accepted = float(np.mean((verdict == 0) | (verdict == 5)))
    return {"kernel_updates_per_s": m_total / best, "kernel_measurements": m_total,
            "kernel_machines": machines, "kernel_accepted_share": accepted}


def _front_rate(seed: int) -> float:
    """Fusion.ingest_many (validation, history, replay, health) per measurement."""
    scene = SCENES["warehouse"]()
    rng = np.random.default_rng(seed)
    suite = scene.suite()
    inbox: list[Measurement] = []
    for n in range(20):
        traj = drive_route(scene.route, laps=100, max_duration_s=30.0)
        inbox += merged(suite.streams(f"m{n}", traj, rng))
    inbox.sort(key=lambda m: m.received_s)
    fusion = Fusion(scene.site)
    t0 = time.perf_counter()
    for k in range(0, len(inbox), 500):
        fusion.ingest_many(inbox[k:k + 500])
    return len(inbox) / (time.perf_counter() - t0)


def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = bool(getattr(args, "quick", False))
    seed = int(getattr(args, "seed", 7))
    shift = getattr(args, "shift_s", None) or (90.0 if quick else 900.0)
    machines = int(getattr(args, "machines", 5000))
    figures: dict[str, Any] = {"shift_s": shift}
    checks: dict[str, bool] = {}
    for name, make in SCENES.items():
        scene = make()
        for variant, suite in (("nominal", scene.suite()),
                               ("outliers10", with_outliers(scene.suite(), 0.10))):
            res = run_shift(scene, suite, shift, seed)
            prefix = f"{name}_{variant}"
            for src in ("fused", "odometry", "uwb", "rfid", "beidou"):
                if src in res:
                    for key, val in res[src].items():
                        figures[f"{prefix}_{src}_{key}"] = round(val, 4)
            if variant == "nominal":
                # stricter comparison: the same filter fed odometry plus one source only
                for src in ("uwb", "rfid", "beidou"):
                    if src not in res or res[src].get("coverage", 0.0) < 0.2:
                        continue
                    alone = scene.suite(uwb=src == "uwb", rfid=src == "rfid", beidou=src == "beidou")
                    single = run_shift(scene, alone, shift, seed)
                    figures[f"{prefix}_{src}_filtered_rmse_m"] = round(single["fused"]["rmse_m"], 4)
                    figures[f"{prefix}_{src}_filtered_p95_m"] = round(single["fused"]["p95_m"], 4)
            figures[f"{prefix}_diverged"] = res["diverged"]
            figures[f"{prefix}_quality_ok_share"] = round(res["quality_ok_share"], 3)
            figures[f"{prefix}_measurements"] = res["measurements"]
            singles = [res[s]["rmse_m"] for s in ("uwb", "rfid", "beidou", "odometry")
                       if s in res and math.isfinite(res[s]["rmse_m"])]
            best = min(singles) if singles else math.nan
            figures[f"{prefix}_best_single_rmse_m"] = round(best, 4)
            ratio = res["fused"]["rmse_m"] / best if best > 0 else math.inf
            figures[f"{prefix}_fused_over_best_single"] = round(ratio, 3)
            checks[f"{prefix}_ratio"] = ratio <= FLOOR_RATIO
            checks[f"{prefix}_no_divergence"] = not res["diverged"]
            if name == "warehouse":
                checks[f"{prefix}_p95"] = res["fused"]["p95_m"] < FLOOR_P95_INDOOR_M
    figures.update(_kernel_rate(machines if not quick else min(machines, 2000),
                                2.0 if not quick else 1.0, seed))
    checks["kernel_updates"] = figures["kernel_updates_per_s"] >= FLOOR_UPDATES_PER_S
    figures["front_ingest_per_s"] = round(_front_rate(seed))
    figures["kernel_updates_per_s"] = round(figures["kernel_updates_per_s"])
    figures["failed_checks"] = [k for k, ok in checks.items() if not ok]
    figures["ok"] = all(checks.values())
    figures["summary"] = (
        "localization: fused/best-single RMSE "
        + ", ".join(f"{n} {figures[f'{n}_nominal_fused_over_best_single']:.2f}" for n in SCENES)
        + f"; warehouse p95 {figures['warehouse_nominal_fused_p95_m']:.3f} m"
        + f"; diverged {sum(figures[f'{n}_outliers10_diverged'] for n in SCENES)}/3 at 10% outliers"
        + f"; kernel {figures['kernel_updates_per_s'] / 1e6:.2f} M updates/s"
        + f"; {'ok' if figures['ok'] else 'FAILED ' + ','.join(figures['failed_checks'])}"
    )
    return figures
