"""`Fusion`: the one object the core talks to about where machines are.

The core hands every raw measurement to `ingest` (or a batch to `ingest_many`) and
asks `pose`, `pose_quality` and `health`. Inside, each measurement goes through the
rejection rules (time, numbers, site, tag and anchor look-ups, BeiDou indoors), is
encoded as rows for the compiled filter (`ekf.fuse_batch`) and joins its machine's
short history so that a fix arriving up to `history_s` late is applied in stamp
order: the machine rolls back to the state just before it and replays what came
after. One kernel call serves all machines of a batch.

Not thread-safe: call it from the core's one state-owning task. Nothing in here
raises on bad measurements; `pose` raises `UnknownMachine` for an id never seen.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from fleet.errors import NotFoundError
from fleet.localization import ekf
from fleet.localization.fix import (
    BEIDOU_SIGMA_M,
    BeidouFix,
    FixQuality,
    Odometry,
    RfidRead,
    Source,
    UwbFix,
    UwbRanges,
)
from fleet.localization.geodesy import SiteFrame
from fleet.localization.health import SourceHealth
from fleet.localization.track import Tracks


class Reason(StrEnum):
    """Why a measurement was dropped (counted per machine and source)."""

    GATED = "gated"  # Mahalanobis distance of the innovation above the gate
    STALE = "stale"  # measured too long before it arrived, or older than the replay history
    FUTURE = "future"  # stamped after it arrived (clock fault)
    NAN = "nan"  # a non-finite number
    OUT_OF_SITE = "out_of_site"  # outside the site's bounds plus the margin
    UNKNOWN_TAG = "unknown_tag"
    UNKNOWN_ANCHOR = "unknown_anchor"
    INDOORS = "indoors"  # a BeiDou fix that falls outside every outdoor zone
    NO_FIX = "no_fix"  # BeiDou quality none
    NO_GEODETIC_ANCHOR = "no_geodetic_anchor"  # BeiDou on a site without one
    INVALID = "invalid"  # malformed: bad covariance, sigma <= 0, wrong lengths
    UNINITIALIZED = "uninitialized"  # ranges before the machine has any position
    UNKNOWN_TYPE = "unknown_type"


class PoseQuality(StrEnum):
    """The core's speed policy reads this: OK drive, DEGRADED slow down, LOST stop."""

    OK = "ok"
    DEGRADED = "degraded"
    LOST = "lost"


class UnknownMachine(NotFoundError):
    kind = "unknown-machine"

    def __init__(self, machine_id: str) -> None:
        super().__init__("machine (localization)", machine_id)


@dataclass(frozen=True)
class FusionConfig:
    """Rejection limits, history length and the pose-quality policy (see docs)."""

    max_latency_s: float = 1.5  # received - stamp above this: stale
    max_future_s: float = 0.25  # stamp - received above this: from the future
    history_s: float = 2.0  # how far back a late fix can be replayed
    site_margin_m: float = 10.0  # fixes this far outside Site.bounds are refused
    slow_sigma_m: float = 0.30  # limit A: above it the pose is DEGRADED (slow down)
    stop_sigma_m: float = 1.00  # limit B: above it the pose is LOST (stop)
    health_window_s: float = 10.0
    max_predict_s: float = 60.0  # a pose older than this is LOST whatever its covariance
    max_clock_jump_s: float = 300.0  # a received_s this far past the clock is refused
    ekf: dict[str, float] = field(default_factory=dict)  # ekf.default_params overrides


@dataclass(frozen=True)
class Pose:
    machine_id: str
    x: float
    y: float
    heading: float  # radians, site frame, counter-clockwise from +x
    speed: float  # m/s
    yaw_rate: float  # rad/s
    cov: np.ndarray  # 5x5 over (x, y, heading, speed, yaw_rate)
    stamp: float  # the time this pose is for
    sigma_m: float  # sqrt of the largest eigenvalue of the position covariance
    quality: PoseQuality


@dataclass(frozen=True)
class Outcome:
    accepted: bool
    reason: Reason | None = None
    replayed: int = 0  # measurements re-applied because this one came late


SNAPSHOT_EVERY = 4  # keep the state after every 4th history entry (memory vs replay length)


@dataclass(slots=True)
class _Entry:
    stamp: float
    seq: int
    source: Source
    rows: np.ndarray  # (k, 9): kind, z[0:4], r[0, 0], r[0, 1], r[1, 0], r[1, 1]
    received: float
    reason: Reason | None = None
    decided: bool = False
    snap: np.ndarray | None = None  # state after this entry, packed (see _pack)

    @property
    def key(self) -> tuple[float, int]:
        return (self.stamp, self.seq)


def _pack(m: np.ndarray, p: np.ndarray, s: np.ndarray) -> np.ndarray:
    """One array per snapshot (mean, cov, [time, *aux]): fewer objects per history entry."""
    return np.concatenate((m, p.ravel(), s))


def _unpack(snap: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = ekf.STATE
    return snap[:n], snap[n:n + n * n].reshape(n, n), snap[n + n * n:]


@dataclass
class _Track:
    machine_id: str
    row: int
    base: np.ndarray
    log: list[_Entry] = field(default_factory=list)
    health: dict[Source, SourceHealth] = field(default_factory=dict)
    replays: int = 0

    @property
    def base_time(self) -> float:
        return float(self.base[ekf.STATE + ekf.STATE * ekf.STATE])


_VERDICT_REASON = {
    int(ekf.Verdict.GATED): Reason.GATED,
    int(ekf.Verdict.LATE): Reason.STALE,
    int(ekf.Verdict.INVALID): Reason.INVALID,
    int(ekf.Verdict.UNINITIALIZED): Reason.UNINITIALIZED,
}
_ACCEPTED = (int(ekf.Verdict.ACCEPTED), int(ekf.Verdict.RESET))
_ODOMETRY, _POSITION, _RANGE = (float(k) for k in (ekf.Kind.ODOMETRY, ekf.Kind.POSITION, ekf.Kind.RANGE))


class Fusion:
    """One pose per machine from odometry, UWB, RFID and BeiDou.

    `site` gives RFID tag positions, UWB anchors, bounds, outdoor zones and the
    geodetic anchor; it may be None (then only site-frame fixes and odometry are
    used). `frame` overrides the site's geodetic anchor.
    """

    def __init__(self, site: Any = None, config: FusionConfig | None = None,
                 frame: SiteFrame | None = None) -> None:
        self.config = config or FusionConfig()
        self.site = site
        self.params = ekf.default_params(**self.config.ekf)
        self.tracks = Tracks()
        self._by_id: dict[str, _Track] = {}
        self._seq = 0
        self.now_s = -math.inf
        self.unknown_type = 0
        self._tags: dict[str, tuple[float, float]] = {}
        self._anchors: dict[str, tuple[float, float, float]] = {}
        self._bounds: tuple[float, float, float, float] | None = None
        self.frame = frame
        if site is not None:
            self._tags = {t.id: (t.x, t.y) for t in site.rfid_tags}
            self._anchors = {a.id: (a.x, a.y, a.z) for a in site.uwb_anchors}
            x0, y0, x1, y1 = site.bounds
            mg = self.config.site_margin_m
            self._bounds = (x0 - mg, y0 - mg, x1 + mg, y1 + mg)
            if frame is None and site.geodetic_anchor is not None:
                self.frame = SiteFrame.from_anchor(site.geodetic_anchor)

    # ---- measurements in -------------------------------------------------------

    def ingest(self, measurement: Any) -> Outcome:
        """Take one measurement; never raises. Returns whether it was used and why not."""
        return self.ingest_many([measurement])[0]

    def ingest_many(self, measurements: Iterable[Any]) -> list[Outcome]:
        """Take a batch (any order, any machines) in one kernel call; never raises."""
        items = list(measurements)
        outcomes: list[Outcome | None] = [None] * len(items)
        pending: dict[str, list[tuple[int, _Entry]]] = {}
        for idx, m in enumerate(items):
            got = self._screen(m)
            if isinstance(got, Outcome):
                outcomes[idx] = got
            else:
                track, entry = got
                pending.setdefault(track.machine_id, []).append((idx, entry))
        if pending:
            self._fuse(pending, outcomes)
        return [o if o is not None else Outcome(False, Reason.INVALID) for o in outcomes]

    def advance(self, now_s: float) -> None:
        """Move the service clock on with no measurement (poses are predicted to it)."""
        if math.isfinite(now_s):
            self.now_s = max(self.now_s, now_s)

    def _screen(self, m: Any) -> Outcome | tuple[_Track, _Entry]:
        """Rejection rules that need no filter state; then encode as kernel rows."""
        try:
            source = m.source if type(m.source) is Source else Source(m.source)
            machine_id = str(m.machine_id)
            stamp, received = float(m.stamp_s), float(m.received_s)
        except (AttributeError, TypeError, ValueError):
            self.unknown_type += 1
            return Outcome(False, Reason.UNKNOWN_TYPE)
        track = self._track(machine_id)
        health = track.health.setdefault(source, SourceHealth(self.config.health_window_s))
        latency = received - stamp
        reason: Reason | None = None
        if not (math.isfinite(stamp) and math.isfinite(received)):
            reason = Reason.NAN
        elif received - self.now_s > self.config.max_clock_jump_s and math.isfinite(self.now_s):
            reason = Reason.FUTURE  # a receive time far beyond the clock: do not follow it
        else:
            self.advance(received)
            if -latency > self.config.max_future_s or stamp > self.now_s + self.config.max_future_s:
                reason = Reason.FUTURE
            elif latency > self.config.max_latency_s or stamp < track.base_time:
                reason = Reason.STALE
        rows: np.ndarray | Reason = Reason.INVALID
        if reason is None:
            try:
                rows = self._encode(m)
            except (AttributeError, TypeError, ValueError, OverflowError):
                rows = Reason.INVALID
            if isinstance(rows, Reason):
                reason = rows
        if reason is not None:
            health.record(received, latency, reason)
            return Outcome(False, reason)
        self._seq += 1
        return track, _Entry(stamp, self._seq, source, rows, received)  # type: ignore[arg-type]

    def _track(self, machine_id: str) -> _Track:
        track = self._by_id.get(machine_id)
        if track is None:
            row = self.tracks.add()
            track = _Track(machine_id, row, _pack(*self.tracks.snapshot(row)))
            self._by_id[machine_id] = track
        return track

    def _inside(self, x: float, y: float) -> bool:
        if self._bounds is None:
            return True
        x0, y0, x1, y1 = self._bounds
        return x0 <= x <= x1 and y0 <= y <= y1

    def _encode(self, m: Any) -> np.ndarray | Reason:
        """Kernel rows (k, 9): kind, z[0:4], r00, r01, r10, r11; or why not."""
        isfinite = math.isfinite
        if isinstance(m, Odometry):
            v, w, sv, sw = m.speed_mps, m.yaw_rate_rps, m.speed_sigma_mps, m.yaw_rate_sigma_rps
            if not (isfinite(v) and isfinite(w) and isfinite(sv) and isfinite(sw)):
                return Reason.NAN
            if not (sv > 0 and sw > 0):
                return Reason.INVALID
            return np.array([[_ODOMETRY, v, w, 0.0, 0.0, sv * sv, 0.0, 0.0, sw * sw]])
        if isinstance(m, UwbFix):
            x, y, cxx, cxy, cyy = m.x, m.y, m.cov_xx, m.cov_xy, m.cov_yy
            if not all(isfinite(v) for v in (x, y, cxx, cxy, cyy)):
                return Reason.NAN
            if not self._inside(x, y):
                return Reason.OUT_OF_SITE
            if not (cxx > 0 and cyy > 0 and cxx * cyy > cxy * cxy):
                return Reason.INVALID
            return np.array([[_POSITION, x, y, 0.0, 0.0, cxx, cxy, cxy, cyy]])
        if isinstance(m, RfidRead):
            tag = self._tags.get(m.tag_id) if isinstance(m.tag_id, str) else None
            if tag is None:
                return Reason.UNKNOWN_TAG
            if not isfinite(m.reader_range_m):
                return Reason.NAN
            if not m.reader_range_m > 0:
                return Reason.INVALID
            # a reader reports a tag when it first comes into range, so the antenna is on
            # the rim of the range disc, direction unknown: per-axis variance r^2 / 2
            var = 0.5 * m.reader_range_m**2
            return np.array([[_POSITION, tag[0], tag[1], 0.0, 0.0, var, 0.0, 0.0, var]])
        if isinstance(m, UwbRanges):
            return self._encode_ranges(m)
        if isinstance(m, BeidouFix):
            return self._encode_beidou(m)
        return Reason.UNKNOWN_TYPE

    def _encode_ranges(self, m: UwbRanges) -> np.ndarray | Reason:
        ids, ranges = tuple(m.anchor_ids), tuple(float(v) for v in m.ranges_m)
        if not ids or len(ids) != len(ranges):
            return Reason.INVALID
        if any(a not in self._anchors for a in ids):
            return Reason.UNKNOWN_ANCHOR
        if not all(math.isfinite(v) for v in (*ranges, m.sigma_m, m.tag_height_m)):
            return Reason.NAN
        if not (m.sigma_m > 0 and all(v > 0 for v in ranges)):
            return Reason.INVALID
        var = m.sigma_m**2
        out = []
        for a, rho in zip(ids, ranges, strict=True):
            ax, ay, az = self._anchors[a]
            out.append([_RANGE, rho, ax, ay, az - m.tag_height_m, var, 0.0, 0.0, 1.0])
        return np.array(out)

    def _encode_beidou(self, m: BeidouFix) -> np.ndarray | Reason:
        quality = FixQuality(m.quality)
        if quality == FixQuality.NONE:
            return Reason.NO_FIX
        if self.frame is None:
            return Reason.NO_GEODETIC_ANCHOR
        if not all(math.isfinite(v) for v in (m.lat_deg, m.lon_deg, m.height_m)):
            return Reason.NAN
        if abs(m.lat_deg) > 90 or abs(m.lon_deg) > 180:
            return Reason.INVALID
        x, y, _ = self.frame.to_site(m.lat_deg, m.lon_deg, m.height_m)
        x, y = float(x), float(y)
        if not self._inside(x, y):
            return Reason.OUT_OF_SITE
        if self.site is not None and not self.site.is_outdoor(x, y):
            return Reason.INDOORS
        if m.cov_en is not None:
            ee, en, nn = (float(v) for v in m.cov_en)
            if not all(math.isfinite(v) for v in (ee, en, nn)):
                return Reason.NAN
            if not (ee > 0 and nn > 0 and ee * nn > en * en):
                return Reason.INVALID
            cov = self.frame.cov_enu_to_site(np.array([[ee, en], [en, nn]]))
        else:
            if not math.isfinite(m.hdop):
                return Reason.NAN
            if not m.hdop > 0:
                return Reason.INVALID
            sigma = BEIDOU_SIGMA_M[quality] * m.hdop
            cov = np.diag((sigma**2, sigma**2))
        return np.array([[_POSITION, x, y, 0.0, 0.0, *cov.ravel()]])

    def _fuse(self, pending: dict[str, list[tuple[int, _Entry]]],
              outcomes: list[Outcome | None]) -> None:
        """Roll each machine back to just before its oldest new entry, replay in stamp order."""
        plan: list[tuple[_Track, int, list[_Entry], dict[int, int]]] = []
        for machine_id, new in pending.items():
            track = self._by_id[machine_id]
            new_entries = sorted((e for _, e in new), key=lambda e: e.key)
            log = track.log
            if not log or new_entries[0].key >= log[-1].key:
                k = len(log)  # the usual case: nothing to replay
            else:
                k = bisect.bisect_right([e.key for e in log], new_entries[0].key)
            start = k  # replay from the newest snapshot at or before the insertion point
            while start > 0 and track.log[start - 1].snap is None:
                start -= 1
            if start < len(track.log):
                base = track.log[start - 1].snap if start > 0 else track.base
                self.tracks.restore(track.row, *_unpack(base))  # type: ignore[arg-type]
            if k < len(track.log):
                track.replays += 1
            tail = track.log[start:]
            merged = sorted(tail + new_entries, key=lambda e: e.key) if tail else new_entries
            plan.append((track, start, merged, {id(e): i for i, e in new}))
        entries = [e for _, _, merged, _ in plan for e in merged]
        counts = [e.rows.shape[0] for e in entries]
        rows = np.repeat(
            np.array([t.row for t, _, merged, _ in plan for _ in merged], dtype=np.int64), counts
        )
        packed = np.concatenate([e.rows for e in entries])
        kinds = packed[:, 0].astype(np.int64)
        stamps = np.repeat(np.array([e.stamp for e in entries]), counts)
        z = np.ascontiguousarray(packed[:, 1:5])
        r = np.ascontiguousarray(packed[:, 5:9]).reshape(-1, 2, 2)
        n = rows.shape[0]
        verdict = np.zeros(n, dtype=np.int64)
        nis = np.zeros(n)
        width = ekf.STATE + ekf.STATE * ekf.STATE
        snap = np.zeros((n, width + 1 + ekf.AUX))  # packed like _pack, filled through views
        ekf.fuse_batch(*self.tracks.arrays(), rows, kinds, stamps, z, r, self.params,
                       verdict, nis, snap[:, :ekf.STATE],
                       snap[:, ekf.STATE:width].reshape(n, ekf.STATE, ekf.STATE), snap[:, width:])
        verdicts = verdict.tolist()
        j = 0
        for track, k, merged, new_index in plan:
            replayed = len(merged) - len(new_index)
            for pos, e in enumerate(merged):
                size = e.rows.shape[0]
                vs = verdicts[j:j + size]
                if (k + pos) % SNAPSHOT_EVERY == 0 or pos == len(merged) - 1:
                    e.snap = snap[j + size - 1].copy()
                else:
                    e.snap = None
                j += size
                ok = any(v in _ACCEPTED for v in vs)
                reason = None if ok else _VERDICT_REASON.get(vs[0], Reason.INVALID)
                health = track.health[e.source]
                if e.decided:
                    health.amend(e.reason, reason)
                else:
                    health.record(e.received, e.received - e.stamp, reason)
                    outcomes[new_index[id(e)]] = Outcome(ok, reason, replayed)
                    e.decided = True
                if ok:
                    health.accepted_fix(e.stamp)
                e.reason = reason
            track.log[k:] = merged
            self._trim(track)

    def _trim(self, track: _Track) -> None:
        """Forget entries older than history_s before the newest one (they become the base)."""
        log = track.log
        if not log:
            return
        horizon = log[-1].stamp - self.config.history_s
        if log[0].stamp >= horizon:
            return
        cut = 0
        while cut < len(log) - 1 and log[cut].stamp < horizon:
            cut += 1
        while cut > 0 and log[cut - 1].snap is None:
            cut -= 1
        if cut:
            track.base = log[cut - 1].snap  # type: ignore[assignment]  # cut stops at a snapshot
            del log[:cut]

    # ---- poses and health out --------------------------------------------------

    def machines(self) -> list[str]:
        return list(self._by_id)

    def forget(self, machine_id: str) -> bool:
        """Drop a machine (decommissioned, or an id that was never real); frees its row."""
        track = self._by_id.pop(str(machine_id), None)
        if track is None:
            return False
        self.tracks.release(track.row)
        return True

    def pose(self, machine_id: str, at_s: float | None = None) -> Pose:
        """The machine's pose predicted to `at_s` (default: the service clock).

        A machine that has had measurements but no position fix yet gets NaN
        coordinates and quality LOST. Raises `UnknownMachine` for an id never seen.
        """
        track = self._by_id.get(str(machine_id))
        if track is None:
            raise UnknownMachine(str(machine_id))
        row = track.row
        t0 = float(self.tracks.times[row])
        at = self.now_s if at_s is None else float(at_s)
        if not self.tracks.started(row) or not math.isfinite(t0):
            nan = math.nan
            return Pose(track.machine_id, nan, nan, nan, nan, nan,
                        np.full((5, 5), np.nan), at, math.inf, PoseQuality.LOST)
        if not math.isfinite(at):
            at = t0
        ahead = max(0.0, at - t0)
        m, p = ekf.predicted(self.tracks.means[row], self.tracks.covs[row],
                             min(ahead, self.config.max_predict_s), self.params)
        sigma = float(ekf.position_sigma(p.reshape(1, 5, 5))[0])
        quality = self._quality(sigma)
        if ahead > self.config.max_predict_s:
            quality = PoseQuality.LOST
        return Pose(track.machine_id, float(m[0]), float(m[1]), float(m[2]), float(m[3]),
                    float(m[4]), p, max(at, t0), sigma, quality)

    def _quality(self, sigma: float) -> PoseQuality:
        if not math.isfinite(sigma) or sigma > self.config.stop_sigma_m:
            return PoseQuality.LOST
        if sigma > self.config.slow_sigma_m:
            return PoseQuality.DEGRADED
        return PoseQuality.OK

    def pose_quality(self, machine_id: str, at_s: float | None = None) -> PoseQuality:
        """OK / DEGRADED (core slows the machine) / LOST (core stops it); LOST if unknown."""
        try:
            return self.pose(machine_id, at_s).quality
        except UnknownMachine:
            return PoseQuality.LOST

    def health(self, machine_id: str, at_s: float | None = None) -> dict[str, Any]:
        """Per-source rate, latency, rejections and last fix; pose sigma and quality."""
        track = self._by_id.get(str(machine_id))
        if track is None:
            raise UnknownMachine(str(machine_id))
        now = self.now_s if at_s is None else float(at_s)
        pose = self.pose(machine_id, at_s)
        return {
            "machine_id": track.machine_id,
            "quality": pose.quality.value,
            "pose_sigma_m": pose.sigma_m,
            "state_stamp_s": float(self.tracks.times[track.row]),
            "replays": track.replays,
            "sources": {s.value: h.report(now) for s, h in track.health.items()},
        }

    def rejections(self) -> dict[str, dict[str, dict[str, int]]]:
        """machine -> source -> reason -> count, over each machine's life."""
        return {
            mid: {s.value: dict(h.rejected) for s, h in t.health.items() if h.rejected}
            for mid, t in self._by_id.items()
        }
