"""True trajectories for sensor models: a machine driving a polyline route.

A unicycle follows the route with pure pursuit, slowing where the path bends so
its yaw rate stays within limits and stopping for a dwell at chosen waypoints. The
result is sampled densely (default 100 Hz) so sensors can read it at any time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Trajectory:
    """Ground truth over time: x, y (m), heading (rad), speed (m/s), yaw rate (rad/s)."""

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    heading: np.ndarray
    speed: np.ndarray
    yaw_rate: np.ndarray

    @cached_property
    def _unwrapped(self) -> np.ndarray:
        return np.unwrap(self.heading)  # once: every sensor reads the same trajectory

    @property
    def duration_s(self) -> float:
        return float(self.t[-1] - self.t[0])

    def at(self, times: np.ndarray) -> tuple[np.ndarray, ...]:
        """(x, y, heading, speed, yaw_rate) interpolated at `times` (clamped to the ends)."""
        times = np.asarray(times, dtype=float)
        x = np.interp(times, self.t, self.x)
        y = np.interp(times, self.t, self.y)
        h = (np.interp(times, self.t, self._unwrapped) + math.pi) % (2 * math.pi) - math.pi
        v = np.interp(times, self.t, self.speed)
        w = np.interp(times, self.t, self.yaw_rate)
        return x, y, h, v, w


def drive_route(
    waypoints: Sequence[tuple[float, float]],
    *,
    cruise_mps: float = 1.5,
    accel_mps2: float = 0.6,
    max_yaw_rate_rps: float = 0.8,
    lookahead_m: float = 0.6,
    dwell_s: float = 0.0,
    dwell_every: int = 0,
    laps: int = 1,
    dt: float = 0.01,
    start_s: float = 0.0,
    max_duration_s: float | None = None,
) -> Trajectory:
    """Drive the polyline `waypoints` (closed into a loop when laps > 1).

    Stops for `dwell_s` at every `dwell_every`-th waypoint (0: never). Stops when the
    route is done or after `max_duration_s`.
    """
    pts = [tuple(map(float, p)) for p in waypoints]
    if len(pts) < 2:
        raise ValueError("a route needs at least two waypoints")
    path = list(pts)
    for _ in range(laps - 1):
        path += pts[1:] + pts[:1] if pts[0] != pts[-1] else pts[1:]
    path_arr = np.array(path)
    seg = np.diff(path_arr, axis=0)
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    keep = seg_len > 1e-9
    path_arr = np.vstack([path_arr[:1], path_arr[1:][keep]])
    seg = np.diff(path_arr, axis=0)
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    total = float(cum[-1])
    dwell_at = set()
    if dwell_every > 0 and dwell_s > 0:
        dwell_at = {float(cum[i]) for i in range(dwell_every, len(cum), dwell_every)}

    def point_at(s: float) -> tuple[float, float]:
        s = min(max(s, 0.0), total)
        i = min(int(np.searchsorted(cum, s, side="right")) - 1, len(seg) - 1)
        f = (s - cum[i]) / seg_len[i]
        return (path_arr[i, 0] + f * seg[i, 0], path_arr[i, 1] + f * seg[i, 1])

    x, y = path_arr[0]
    th = math.atan2(seg[0, 1], seg[0, 0])
    v, s_prog, t = 0.0, 0.0, start_s
    dwell_left = 0.0
    done_dwell: set[float] = set()
    out: list[tuple[float, float, float, float, float, float]] = []
    limit = max_duration_s if max_duration_s is not None else 10.0 * total / max(cruise_mps, 0.1) + 600
    while t - start_s <= limit:
        # progress along the path: nearest arc length near the current progress
        s_prog = _project(path_arr, cum, seg, seg_len, x, y, s_prog)
        remaining = total - s_prog
        if remaining < 0.02 and v < 0.05:
            out.append((t, x, y, th, 0.0, 0.0))
            break
        next_dwell = min((d for d in dwell_at if d > s_prog - 0.05 and d not in done_dwell), default=None)
        if dwell_left > 0.0:
            dwell_left -= dt
            out.append((t, x, y, th, 0.0, 0.0))
            t += dt
            continue
        if next_dwell is not None and abs(next_dwell - s_prog) < 0.03 and v < 0.05:
            done_dwell.add(next_dwell)
            dwell_left = dwell_s
            continue
        gx, gy = point_at(s_prog + lookahead_m)
        alpha = _wrap(math.atan2(gy - y, gx - x) - th)
        curvature = 2.0 * math.sin(alpha) / lookahead_m
        stop_at = remaining if next_dwell is None else min(remaining, next_dwell - s_prog)
        v_target = min(cruise_mps, max_yaw_rate_rps / max(abs(curvature), 1e-6),
                       math.sqrt(max(2.0 * accel_mps2 * max(stop_at - 0.01, 0.0), 0.0)) + 0.02)
        if abs(alpha) > 1.2:
            v_target = min(v_target, 0.2)
        v = min(v + accel_mps2 * dt, v_target) if v < v_target else max(v - 2 * accel_mps2 * dt, v_target)
        w = max(-max_yaw_rate_rps, min(max_yaw_rate_rps, v * curvature if v > 0.05 else 2.0 * alpha))
        out.append((t, x, y, th, v, w))
        x += v * math.cos(th) * dt
        y += v * math.sin(th) * dt
        th = _wrap(th + w * dt)
        t += dt
    a = np.array(out)
    return Trajectory(a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4], a[:, 5])


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def _project(path: np.ndarray, cum: np.ndarray, seg: np.ndarray, seg_len: np.ndarray,
             x: float, y: float, s_hint: float) -> float:
    """Arc length of the closest point on the path within a window ahead of s_hint."""
    i0 = max(int(np.searchsorted(cum, s_hint - 1.0, side="right")) - 1, 0)
    i1 = min(int(np.searchsorted(cum, s_hint + 3.0, side="right")), len(seg))
    best_s, best_d = s_hint, math.inf
    for i in range(i0, max(i1, i0 + 1)):
        ax, ay = path[i]
        dx, dy = seg[i]
        f = ((x - ax) * dx + (y - ay) * dy) / (seg_len[i] ** 2)
        f = min(max(f, 0.0), 1.0)
        px, py = ax + f * dx, ay + f * dy
        d = (px - x) ** 2 + (py - y) ** 2
        s = cum[i] + f * seg_len[i]
        if d < best_d and s >= s_hint - 0.5:
            best_d, best_s = d, s
    return max(best_s, s_hint)
