"""Where the core believes each machine is: raw readings fused into one pose each.

Machines (the simulator, real gateways) send `Measurements` over the vehicle bus;
the hub's thread hands each batch to `PoseKeeper.offer` (a queue append, never
blocks). The core's thread calls `fuse` once per planning tick: it drains the
queue, converts the readings into `fleet.localization` measurements and feeds them
to one `Fusion` in one `ingest_many` call, then reads each machine's fused pose and
its quality. The pose the core keeps, shows and stores is the fused one as soon as a
machine's track has started; until then the machine's own reported pose stands.

Speed policy (what `FleetCore` does with `changes`): DEGRADED caps the speed of
every step released to the machine from then on (edges' `max_speed_mps`, default
0.3 m/s); LOST stops it (a startPause instant action, traffic's `machine_stopped`,
no new legs) and raises a `localization_degraded` alarm. Worse quality applies at
once; better quality only after `recover_s` (2 s) of it, so a machine does not
flicker between states. The policy arms once a machine's fused pose has been OK:
a new track (a few fixes, heading not yet known) is not stopped while it converges,
and a machine whose track never started has no fused pose to lose. One that stops
reporting degrades as time passes.

`Fusion` is not thread-safe: only `offer` may be called from other threads; the
views read by API threads (`view`) are plain dicts replaced whole on the core thread.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fleet.domain.commands import Measurements, Reading

ODOMETRY, UWB, UWB_RANGES, RFID, BEIDOU = "odometry", "uwb", "uwb_ranges", "rfid", "beidou"
QUALITY_RANK = {"ok": 0, "degraded": 1, "lost": 2}


@dataclass(frozen=True)
class PosePolicy:
    """How the core treats pose quality (see the module docstring)."""

    degraded_speed_mps: float = 0.3  # speed cap of steps released while DEGRADED
    recover_s: float = 2.0  # better quality must hold this long before it counts
    max_queue: int = 200_000  # readings waiting for the next fuse (oldest dropped beyond)
    min_fixes: int = 3  # accepted position fixes before the fused pose replaces the reported one


# --------------------------------------------------------------------------- conversion


def reading_of(m: Any) -> Reading:
    """A `fleet.localization` measurement as a transport-neutral `Reading`."""
    from fleet.localization.fix import BeidouFix, Odometry, RfidRead, UwbFix, UwbRanges

    if isinstance(m, Odometry):
        return Reading(ODOMETRY, m.stamp_s, (m.speed_mps, m.yaw_rate_rps, m.speed_sigma_mps, m.yaw_rate_sigma_rps))
    if isinstance(m, UwbFix):
        return Reading(UWB, m.stamp_s, (m.x, m.y, m.cov_xx, m.cov_xy, m.cov_yy))
    if isinstance(m, UwbRanges):
        return Reading(UWB_RANGES, m.stamp_s, (m.sigma_m, m.tag_height_m, *m.ranges_m), tuple(m.anchor_ids))
    if isinstance(m, RfidRead):
        return Reading(RFID, m.stamp_s, (m.reader_range_m,), (m.tag_id,))
    if isinstance(m, BeidouFix):
        cov = tuple(m.cov_en) if m.cov_en is not None else ()
        return Reading(BEIDOU, m.stamp_s, (m.lat_deg, m.lon_deg, m.height_m, m.hdop, *cov), (), m.quality.value)
    raise TypeError(f"not a positioning measurement: {type(m).__name__}")


def readings_of(measurements: Iterable[Any]) -> tuple[Reading, ...]:
    return tuple(reading_of(m) for m in measurements)


def measurement_of(machine_id: str, r: Reading, received_s: float) -> Any:
    """The typed measurement of one reading (ValueError/TypeError/IndexError if malformed)."""
    from fleet.localization.fix import BeidouFix, FixQuality, Odometry, RfidRead, UwbFix, UwbRanges

    v = r.values
    if r.kind == ODOMETRY:
        return Odometry(machine_id, r.stamp_s, received_s, v[0], v[1], *v[2:4])
    if r.kind == UWB:
        return UwbFix(machine_id, r.stamp_s, received_s, v[0], v[1], *v[2:5])
    if r.kind == UWB_RANGES:
        return UwbRanges(machine_id, r.stamp_s, received_s, tuple(r.ids), tuple(v[2:]), v[0], v[1])
    if r.kind == RFID:
        return RfidRead(machine_id, r.stamp_s, received_s, r.ids[0], *v[:1])
    if r.kind == BEIDOU:
        cov = (v[4], v[5], v[6]) if len(v) >= 7 else None
        return BeidouFix(machine_id, r.stamp_s, received_s, v[0], v[1], v[2], FixQuality(r.quality or "single"),
                         v[3], cov)
    raise ValueError(f"unknown reading kind {r.kind!r}")


# --------------------------------------------------------------------------- keeper


@dataclass
class _Machine:
    quality: str | None = None  # the effective quality (None: no track yet)
    better_since: float | None = None  # when the raw quality first got better than `quality`
    view: dict[str, Any] | None = None
    pose: tuple[float, float, float] | None = None  # x, y, heading of the last fuse


class PoseKeeper:
    """One `Fusion` per core, fed in batches on the core thread (see the module doc)."""

    def __init__(self, site: Any = None, config: Any = None, policy: PosePolicy | None = None) -> None:
        self.site = site
        self.config = config
        self.policy = policy or PosePolicy()
        self.fusion: Any = None  # built at the first batch (imports numba)
        self._inbox: collections.deque[tuple[Measurements, float]] = collections.deque()
        self._lock = threading.Lock()
        self._machines: dict[str, _Machine] = {}
        self._newest_sent: float | None = None
        self._newest_arrival = 0.0
        self.stats = {"batches": 0, "readings": 0, "accepted": 0, "malformed": 0, "dropped": 0}

    # ---- any thread
    def offer(self, batch: Measurements) -> None:
        """Queue one batch for the next `fuse` (never blocks, never raises)."""
        with self._lock:
            self._inbox.append((batch, time.monotonic()))
            while len(self._inbox) > self.policy.max_queue:
                self._inbox.popleft()
                self.stats["dropped"] += 1

    def view(self, machine_id: str) -> dict[str, Any] | None:
        """pose_sigma_m, pose_quality, pose_source and per-source health, as last fused."""
        m = self._machines.get(machine_id)
        return m.view if m is not None else None

    def tracked(self, machine_id: str) -> bool:
        """True once the machine's fused track has started (its pose replaces the report)."""
        m = self._machines.get(machine_id)
        return m is not None and m.pose is not None

    def quality(self, machine_id: str) -> str | None:
        m = self._machines.get(machine_id)
        return m.quality if m is not None else None

    # ---- core thread
    def fuse(self, now_s: float | None = None) -> tuple[dict[str, tuple[float, float, float]], list[tuple[str, str | None, str]]]:
        """Ingest what arrived; returns (fused poses of tracked machines, quality changes).
        now_s: the time to age silent tracks to (a simulated clock); else the newest
        batch's send time plus the wall time since it arrived.

        A change is (machine_id, before, after) with the effective qualities.
        """
        with self._lock:
            batches, self._inbox = list(self._inbox), collections.deque()
        if not batches and self.fusion is None:
            return {}, []
        if self.fusion is None:
            from fleet.localization import Fusion

            self.fusion = Fusion(self.site, self.config)
        items: list[Any] = []
        for batch, arrival in batches:
            self.stats["batches"] += 1
            if self._newest_sent is None or batch.sent_s >= self._newest_sent:
                self._newest_sent, self._newest_arrival = batch.sent_s, arrival
            self._machines.setdefault(batch.machine_id, _Machine())
            for r in batch.readings:
                try:
                    items.append(measurement_of(batch.machine_id, r, batch.sent_s))
                except (ValueError, TypeError, IndexError):
                    self.stats["malformed"] += 1
        if items:
            self.stats["readings"] += len(items)
            self.stats["accepted"] += sum(1 for o in self.fusion.ingest_many(items) if o.accepted)
        if now_s is not None:  # machines that fall silent lose quality as time passes
            self.fusion.advance(now_s)
        elif self._newest_sent is not None:
            self.fusion.advance(self._newest_sent + (time.monotonic() - self._newest_arrival))
        return self._evaluate()

    def _evaluate(self) -> tuple[dict[str, tuple[float, float, float]], list[tuple[str, str | None, str]]]:
        from fleet.localization import UnknownMachine

        poses: dict[str, tuple[float, float, float]] = {}
        changes: list[tuple[str, str | None, str]] = []
        now = self.fusion.now_s  # the machines' clock: hysteresis in their time, whatever the sim speed
        for mid, m in self._machines.items():
            try:
                pose = self.fusion.pose(mid)
                health = self.fusion.health(mid)
            except UnknownMachine:
                continue
            fixes = sum(int(h["accepted"]) for src, h in health["sources"].items() if src != "odometry")
            # a track started by one bad fix (a misread tag) is wrong until the filter restarts it:
            # trust the fused pose only after a few accepted position fixes
            started = math.isfinite(pose.x) and math.isfinite(pose.y) and fixes >= self.policy.min_fixes
            raw = pose.quality.value
            m.view = {
                "pose_sigma_m": round(pose.sigma_m, 3) if math.isfinite(pose.sigma_m) else None,
                "pose_quality": raw if started else "lost",
                "pose_source": "fused" if started else "reported",
                "localization": {src: {"rate_hz": round(float(h["rate_hz"]), 2),
                                       "rejection_ratio": round(float(h["rejection_ratio"]), 3),
                                       "last_fix_age_s": None if h["last_fix_age_s"] is None
                                       else round(float(h["last_fix_age_s"]), 2),
                                       "accepted": int(h["accepted"]), "received": int(h["received"])}
                                 for src, h in health["sources"].items()},
            }
            if not started:
                continue
            m.pose = (pose.x, pose.y, pose.heading)
            poses[mid] = m.pose
            before = m.quality
            if before is None and raw != "ok":
                continue  # the policy arms once the pose has been OK (a new track converges first)
            if before is None or QUALITY_RANK[raw] >= QUALITY_RANK[before]:
                m.better_since = None
                if raw != before:
                    m.quality = raw
                    changes.append((mid, before, raw))
                continue
            if m.better_since is None:
                m.better_since = now
            if now - m.better_since >= self.policy.recover_s:
                m.quality, m.better_since = raw, None
                changes.append((mid, before, raw))
        for m in self._machines.values():
            if m.view is not None and m.quality is not None:
                m.view["pose_quality"] = m.quality
        return poses, changes
