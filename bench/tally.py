"""Label read rate and speed on simulated camera frames; wrong reads never accepted.

Frames come from `sim.camera.Camera` (seeded): clean frames, and degraded frames with
the camera's default distortions (rotation, perspective, blur, glare, occlusion,
uneven light, noise), in equal shares of QR Code, DataMatrix and Code 128. A share
of the degraded frames carries the "swap label" fault (another load's label): the
tally must never confirm those. Decode speed is the reader alone, on this one
process (zxing-cpp decodes on the calling thread).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from fleet.inventory import Action, LabelReader, TallyPolicy, decide
from sim.camera import Camera

DESCRIPTION = "label read rate (clean, degraded), frames/s, wrong reads accepted (must be 0)"
FORMATS = ("qr", "datamatrix", "code128")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=1500, help="frames per condition (clean, degraded)")
    parser.add_argument("--swap-share", type=float, default=0.05, help="share of degraded frames with a swapped label")
    parser.add_argument("--seed", type=int, default=1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = bool(getattr(args, "quick", False))
    n = 150 if quick else int(getattr(args, "frames", 1500))
    swap_share = float(getattr(args, "swap_share", 0.05))
    seed = int(getattr(args, "seed", 1))
    cam = Camera("BENCH", seed=seed)
    reader = LabelReader()
    rng = np.random.default_rng(seed)
    policy = TallyPolicy(max_attempts=3)
    fig: dict[str, Any] = {}
    decode_s = render_s = 0.0
    decoded_frames = 0
    wrong_accepted = swaps_stopped = swaps = 0
    per_format: dict[str, list[int]] = {f: [0, 0] for f in FORMATS}
    for cond in ("clean", "degraded"):
        hits = total = 0
        retry_hits = 0
        for i in range(n):
            fmt = FORMATS[i % 3]
            lid = f"C-{seed:02d}{i:06d}"
            swap = cond == "degraded" and rng.random() < swap_share
            t0 = time.perf_counter()
            frame = cam.frame(lid, fmt, degraded=cond == "degraded", swap_with=f"C-{seed:02d}{i + 1:06d}" if swap else None)
            t1 = time.perf_counter()
            read = reader.read(frame.image)
            t2 = time.perf_counter()
            render_s += t1 - t0
            decode_s += t2 - t1
            decoded_frames += 1
            d = decide(lid, read, 1, policy=policy)
            truth = frame.shown[0][3:]
            if d.action == Action.CONFIRM and truth != lid:
                wrong_accepted += 1
            if swap:
                swaps += 1
                swaps_stopped += d.stop_leg
                continue
            total += 1
            ok = read.load_id == lid
            hits += ok
            if cond == "degraded":
                per_format[fmt][0] += ok
                per_format[fmt][1] += 1
                attempt, dd = 1, d
                while dd.action == Action.RETRY:  # a fresh frame per retry
                    attempt += 1
                    f2 = cam.frame(lid, fmt)
                    dd = decide(lid, reader.read(f2.image), attempt, policy=policy)
                retry_hits += dd.action == Action.CONFIRM
        fig[f"read_rate_{cond}"] = round(hits / max(total, 1), 4)
        if cond == "degraded":
            fig["confirmed_within_3_attempts_degraded"] = round(retry_hits / max(total, 1), 4)
    for fmt, (h, t) in per_format.items():
        fig[f"read_rate_degraded_{fmt}"] = round(h / max(t, 1), 4)
    fig["frames"] = decoded_frames
    fig["decode_frames_per_s"] = round(decoded_frames / decode_s, 1)
    fig["mean_decode_ms"] = round(1000 * decode_s / decoded_frames, 2)
    fig["render_frames_per_s"] = round(decoded_frames / render_s, 1)
    fig["swapped_frames"] = swaps
    fig["swapped_frames_stopped"] = swaps_stopped
    fig["wrong_reads_accepted"] = wrong_accepted
    fig["ok"] = (fig["read_rate_clean"] >= 0.99 and fig["read_rate_degraded"] >= 0.95
                 and fig["decode_frames_per_s"] >= 50 and wrong_accepted == 0)
    fig["summary"] = (f"tally: read {100 * fig['read_rate_clean']:.1f}% clean, {100 * fig['read_rate_degraded']:.1f}% "
                      f"degraded, {fig['decode_frames_per_s']:.0f} frames/s, {swaps_stopped}/{swaps} swapped labels "
                      f"stopped, {wrong_accepted} wrong reads accepted")
    fig["instance"] = {"frame_px": list(cam.size), "formats": list(FORMATS), "seed": seed,
                       "frames_per_condition": n, "swap_share": swap_share}
    return fig
