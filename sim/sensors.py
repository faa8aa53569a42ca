"""Sensor models: turn a true trajectory into the measurement streams machines send.

Each model draws from a numpy `Generator` (seeded by the caller, so runs repeat
exactly) and returns measurements stamped with their time of measurement; `Link`
then adds the 5G latency (`received_s`), including a tail of late arrivals that
reach the service out of order. The streams are the very dataclasses the fusion
ingests (`fleet.localization.fix`), so the simulator feeds it as machines would.

Failure modes modelled: odometry noise, scale error, yaw-rate bias and spikes;
UWB noise, coverage (enough anchors in range), dropouts and non-line-of-sight
outliers; RFID reads only when the reader passes within range of a tag, missed
reads and misread ids; BeiDou outdoors only, solution type degrading and multipath
outliers near buildings and cranes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from fleet.localization.fix import (
    BEIDOU_SIGMA_M,
    BeidouFix,
    FixQuality,
    Measurement,
    Odometry,
    RfidRead,
    UwbFix,
    UwbRanges,
)
from fleet.localization.geodesy import SiteFrame
from sim.sensors_route import Trajectory

Coverage = Callable[[np.ndarray, np.ndarray], np.ndarray]  # positions -> mask: where the sensor works


def _ticks(traj: Trajectory, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
    """Sample times at rate_hz with a random phase, within the trajectory."""
    period = 1.0 / rate_hz
    start = traj.t[0] + rng.uniform(0, period)
    return np.arange(start, traj.t[-1], period)


@dataclass(frozen=True)
class OdometrySensor:
    rate_hz: float = 50.0
    speed_sigma_mps: float = 0.03
    yaw_rate_sigma_rps: float = 0.01
    scale_error_sigma: float = 0.005  # wheel radius error, drawn once per run
    yaw_bias_sigma_rps: float = 0.002  # gyro bias, drawn once per run
    dropout_prob: float = 0.01
    outlier_prob: float = 0.0  # spikes (encoder glitch, wheel slip)
    reported_speed_sigma_mps: float = 0.05
    reported_yaw_rate_sigma_rps: float = 0.02

    def measure(self, machine_id: str, traj: Trajectory, rng: np.random.Generator) -> list[Measurement]:
        t = _ticks(traj, self.rate_hz, rng)
        _, _, _, v, w = traj.at(t)
        scale = 1.0 + rng.normal(0, self.scale_error_sigma)
        bias = rng.normal(0, self.yaw_bias_sigma_rps)
        vm = v * scale + rng.normal(0, self.speed_sigma_mps, t.size)
        wm = w + bias + rng.normal(0, self.yaw_rate_sigma_rps, t.size)
        spike = rng.random(t.size) < self.outlier_prob
        vm[spike] += rng.choice([-1, 1], spike.sum()) * rng.uniform(0.5, 2.0, spike.sum())
        wm[spike] += rng.choice([-1, 1], spike.sum()) * rng.uniform(0.3, 1.0, spike.sum())
        keep = rng.random(t.size) >= self.dropout_prob
        return [
            Odometry(machine_id, float(ti), float(ti), float(a), float(b),
                     self.reported_speed_sigma_mps, self.reported_yaw_rate_sigma_rps)
            for ti, a, b in zip(t[keep], vm[keep], wm[keep], strict=True)
        ]


@dataclass(frozen=True)
class UwbSensor:
    """Indoor positioning: a fix where at least `min_anchors` anchors are in range."""

    anchors: tuple[tuple[float, float, float], ...] = ()
    anchor_ids: tuple[str, ...] = ()
    rate_hz: float = 10.0
    sigma_m: float = 0.08
    max_range_m: float = 60.0
    min_anchors: int = 3
    dropout_prob: float = 0.02
    nlos_prob: float = 0.05
    nlos_error_m: tuple[float, float] = (0.4, 2.5)
    coverage: Coverage | None = None  # extra condition (e.g. indoors only)
    ranges: bool = False  # emit raw ranges (UwbRanges) instead of fixes
    tag_height_m: float = 0.5

    def measure(self, machine_id: str, traj: Trajectory, rng: np.random.Generator) -> list[Measurement]:
        t = _ticks(traj, self.rate_hz, rng)
        x, y, _, _, _ = traj.at(t)
        anchors = np.array(self.anchors, dtype=float).reshape(-1, 3)
        covered = self.coverage(x, y).tolist() if self.coverage is not None else [True] * t.size
        out: list[Measurement] = []
        for ti, xi, yi, inside in zip(t, x, y, covered, strict=True):
            if rng.random() < self.dropout_prob:
                continue
            if not inside:
                continue
            d = np.sqrt((anchors[:, 0] - xi) ** 2 + (anchors[:, 1] - yi) ** 2
                        + (anchors[:, 2] - self.tag_height_m) ** 2)
            seen = np.flatnonzero(d <= self.max_range_m)
            if seen.size < self.min_anchors:
                continue
            if self.ranges:
                names = self.anchor_ids or tuple(f"A{k}" for k in range(len(anchors)))
                rho = d[seen] + rng.normal(0, self.sigma_m, seen.size)
                nlos = rng.random(seen.size) < self.nlos_prob
                rho[nlos] += rng.uniform(*self.nlos_error_m, nlos.sum())  # NLOS only lengthens
                out.append(UwbRanges(machine_id, float(ti), float(ti),
                                     tuple(names[k] for k in seen),
                                     tuple(float(v) for v in rho), self.sigma_m, self.tag_height_m))
                continue
            fx = xi + rng.normal(0, self.sigma_m)
            fy = yi + rng.normal(0, self.sigma_m)
            if rng.random() < self.nlos_prob:
                ang = rng.uniform(0, 2 * math.pi)
                err = rng.uniform(*self.nlos_error_m)
                fx += err * math.cos(ang)
                fy += err * math.sin(ang)
            var = self.sigma_m**2
            out.append(UwbFix(machine_id, float(ti), float(ti), float(fx), float(fy), var, 0.0, var))
        return out


@dataclass(frozen=True)
class RfidSensor:
    """A reader under the vehicle: one read per pass within `reader_range_m` of a tag."""

    tags: tuple[tuple[str, float, float], ...] = ()
    reader_range_m: float = 0.15
    scan_hz: float = 100.0
    miss_prob: float = 0.05
    misread_prob: float = 0.02  # half: another tag's id, half: a garbage id

    @cached_property
    def _ids(self) -> list[str]:
        return [t[0] for t in self.tags]

    @cached_property
    def _xy(self) -> np.ndarray:
        return np.array([(t[1], t[2]) for t in self.tags], dtype=np.float64).reshape(-1, 2)

    def measure(self, machine_id: str, traj: Trajectory, rng: np.random.Generator) -> list[Measurement]:
        if not self.tags:
            return []
        ids, txy = self._ids, self._xy
        t = np.arange(traj.t[0], traj.t[-1], 1.0 / self.scan_hz)
        if t.size == 0:
            return []
        x, y, _, _, _ = traj.at(t)
        # cheap pre-filter: only tags near the path at all
        near = np.flatnonzero(
            (txy[:, 0] >= x.min() - 1) & (txy[:, 0] <= x.max() + 1)
            & (txy[:, 1] >= y.min() - 1) & (txy[:, 1] <= y.max() + 1)
        )
        if near.size == 0:
            return []
        sub = txy[near]
        in_range = (sub[None, :, 0] - x[:, None]) ** 2 + (sub[None, :, 1] - y[:, None]) ** 2 <= self.reader_range_m**2
        entered = in_range.copy()
        entered[1:] &= ~in_range[:-1]  # a read as a tag comes into range, once per pass
        out: list[Measurement] = []
        for row, col in zip(*np.nonzero(entered), strict=True):  # in scan order
            if rng.random() < self.miss_prob:
                continue
            ti = float(t[row])
            tag_id = ids[int(near[col])]
            if rng.random() < self.misread_prob:
                tag_id = ids[int(rng.integers(len(ids)))] if rng.random() < 0.5 else f"??{rng.integers(1 << 30):x}"
            out.append(RfidRead(machine_id, ti, ti, tag_id, self.reader_range_m))
        return out


@dataclass(frozen=True)
class BeidouSensor:
    """A BeiDou RTK receiver: fixes outdoors; worse near obstructions (walls, cranes)."""

    frame: SiteFrame | None = None
    rate_hz: float = 5.0
    outdoor: Coverage | None = None  # where the sky is visible
    obstructions: tuple[BaseGeometry, ...] = ()
    multipath_range_m: float = 12.0  # within this distance of an obstruction
    rtk_prob_open: float = 0.97  # share of rtk_fixed in open sky (rest: float)
    rtk_prob_near: float = 0.6  # near obstructions (rest split float / single)
    outlier_prob_open: float = 0.01
    outlier_prob_near: float = 0.1
    outlier_error_m: tuple[float, float] = (1.5, 8.0)
    dropout_prob: float = 0.02
    antenna_height_m: float = 2.0
    indoor_leak_prob: float = 0.02  # a stray single fix just inside a door

    def measure(self, machine_id: str, traj: Trajectory, rng: np.random.Generator) -> list[Measurement]:
        if self.frame is None:
            return []
        t = _ticks(traj, self.rate_hz, rng)
        x, y, _, _, _ = traj.at(t)
        rows: list[tuple[float, float, float, float, FixQuality, float]] = []
        sky = self.outdoor(x, y).tolist() if self.outdoor is not None else [True] * t.size
        close = np.zeros(t.size, dtype=bool)
        if self.obstructions and t.size:
            pts = shapely.points(x, y)
            for g in self.obstructions:
                close |= shapely.distance(g, pts) < self.multipath_range_m
        for ti, xi, yi, outside, near in zip(t, x, y, sky, close.tolist(), strict=True):
            if rng.random() < self.dropout_prob:
                continue
            if not outside:
                if rng.random() < self.indoor_leak_prob:
                    q = FixQuality.SINGLE
                    rows.append((ti, xi + rng.normal(0, 3.0), yi + rng.normal(0, 3.0), 0.0, q, 2.5))
                continue
            rtk = self.rtk_prob_near if near else self.rtk_prob_open
            u = rng.random()
            if u < rtk:
                q = FixQuality.RTK_FIXED
            elif not near or u < rtk + 0.5 * (1 - rtk):
                q = FixQuality.FLOAT
            else:
                q = FixQuality.SINGLE
            hdop = float(rng.uniform(0.7, 1.4) * (1.5 if near else 1.0))
            sigma = BEIDOU_SIGMA_M[q] * hdop
            fx = xi + rng.normal(0, sigma)
            fy = yi + rng.normal(0, sigma)
            if rng.random() < (self.outlier_prob_near if near else self.outlier_prob_open):
                ang = rng.uniform(0, 2 * math.pi)
                err = rng.uniform(*self.outlier_error_m)
                fx += err * math.cos(ang)
                fy += err * math.sin(ang)
            rows.append((ti, fx, fy, rng.normal(0, 2 * sigma), q, hdop))
        if not rows:
            return []
        a = np.array([(r[1], r[2], r[3]) for r in rows])
        lat, lon, h = self.frame.to_geodetic(a[:, 0], a[:, 1], a[:, 2] + self.antenna_height_m)
        lat, lon, h = np.atleast_1d(lat), np.atleast_1d(lon), np.atleast_1d(h)
        return [
            BeidouFix(machine_id, float(r[0]), float(r[0]), float(la), float(lo), float(hh), r[4], r[5])
            for r, la, lo, hh in zip(rows, lat, lon, h, strict=True)
        ]


@dataclass(frozen=True)
class Link:
    """5G link latency: base + exponential jitter, and a tail of late arrivals."""

    base_s: float = 0.015
    jitter_s: float = 0.01
    late_prob: float = 0.03
    late_max_s: float = 0.9
    loss_prob: float = 0.0

    def deliver(self, stream: Sequence[Measurement], rng: np.random.Generator) -> list[Measurement]:
        """Copies with `received_s` set, in arrival order (lost ones left out)."""
        n = len(stream)
        delay = self.base_s + rng.exponential(self.jitter_s, n)
        late = rng.random(n) < self.late_prob
        delay[late] += rng.uniform(0.1, self.late_max_s, late.sum())
        keep = rng.random(n) >= self.loss_prob
        out = [replace(m, received_s=m.stamp_s + float(d))
               for m, d, k in zip(stream, delay, keep, strict=True) if k]
        out.sort(key=lambda m: m.received_s)
        return out


@dataclass(frozen=True)
class Blackout:
    """No positioning fix from any source between start_s and end_s (odometry goes on)."""

    start_s: float
    end_s: float

    def drops(self, m: Measurement) -> bool:
        return not isinstance(m, Odometry) and self.start_s <= m.stamp_s < self.end_s


@dataclass
class SensorSuite:
    """The sensors of one machine, plus its link; `streams` runs them all."""

    odometry: OdometrySensor | None = field(default_factory=OdometrySensor)
    uwb: UwbSensor | None = None
    rfid: RfidSensor | None = None
    beidou: BeidouSensor | None = None
    link: Link = field(default_factory=Link)
    blackouts: tuple[Blackout, ...] = ()

    def streams(self, machine_id: str, traj: Trajectory, rng: np.random.Generator) -> dict[str, list[Measurement]]:
        """Per source, the measurements as delivered (received_s set, arrival order)."""
        out: dict[str, list[Measurement]] = {}
        for name in ("odometry", "uwb", "rfid", "beidou"):
            sensor: Any = getattr(self, name)
            if sensor is None:
                continue
            raw = sensor.measure(machine_id, traj, rng)
            raw = [m for m in raw if not any(b.drops(m) for b in self.blackouts)]
            out[name] = self.link.deliver(raw, rng)
        return out


def merged(streams: dict[str, list[Measurement]]) -> list[Measurement]:
    """All streams in arrival order (what the service's inbox sees)."""
    out = [m for s in streams.values() for m in s]
    out.sort(key=lambda m: m.received_s)
    return out


def with_outliers(suite: SensorSuite, share: float) -> SensorSuite:
    """The same suite with `share` outliers from every source (for divergence tests)."""
    return replace(
        suite,
        odometry=replace(suite.odometry, outlier_prob=share) if suite.odometry else None,
        uwb=replace(suite.uwb, nlos_prob=share) if suite.uwb else None,
        rfid=replace(suite.rfid, misread_prob=share) if suite.rfid else None,
        beidou=replace(suite.beidou, outlier_prob_open=share, outlier_prob_near=share)
        if suite.beidou else None,
    )
