"""Per-machine, per-source health: how often fixes come, how late, how many are refused.

The core reads this to tell a dead UWB tag from a machine that is merely standing in
a corner: a source whose rate drops to zero or whose rejection ratio climbs is
flagged in `health()` long before the pose itself degrades.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass, field


@dataclass
class SourceHealth:
    """Counters over the machine's life plus 1-second buckets over the recent window.

    Buckets (second, received, rejected, latency sum, latency count, latency max) keep
    the memory per source constant however high the rate.
    """

    window_s: float = 10.0
    total: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    last_fix_s: float | None = None  # stamp of the newest accepted fix
    last_received_s: float | None = None
    _buckets: deque[list[float]] = field(default_factory=deque)

    def record(self, received_s: float, latency_s: float, reason: str | None) -> None:
        """One measurement arrived; `reason` is None when accepted."""
        self.total += 1
        ok = reason is None
        if ok:
            self.accepted += 1
        else:
            self.rejected[reason] += 1
        if not math.isfinite(received_s):
            return
        last = self.last_received_s
        self.last_received_s = received_s if last is None or received_s > last else last
        second = float(math.floor(received_s))
        bucket = self._bucket(second)
        bucket[1] += 1
        bucket[2] += 0 if ok else 1
        if math.isfinite(latency_s):
            bucket[3] += latency_s
            bucket[4] += 1
            if latency_s > bucket[5]:
                bucket[5] = latency_s
        if self._buckets[0][0] + 1.0 <= self.last_received_s - self.window_s:
            self._trim(self.last_received_s)

    def _bucket(self, second: float) -> list[float]:
        for b in reversed(self._buckets):
            if b[0] == second:
                return b
            if b[0] < second:
                break
        new = [second, 0.0, 0.0, 0.0, 0.0, -math.inf]
        self._buckets.append(new)
        if len(self._buckets) > 1 and self._buckets[-2][0] > second:  # rare: older second
            self._buckets = deque(sorted(self._buckets, key=lambda b: b[0]))
        return new

    def accepted_fix(self, stamp_s: float) -> None:
        if self.last_fix_s is None or stamp_s > self.last_fix_s:
            self.last_fix_s = stamp_s

    def amend(self, old_reason: str | None, new_reason: str | None) -> None:
        """A replay changed a measurement's verdict (e.g. a late fix made it pass the gate)."""
        if old_reason == new_reason:
            return
        if old_reason is None:
            self.accepted -= 1
        else:
            self.rejected[old_reason] -= 1
            if self.rejected[old_reason] <= 0:
                del self.rejected[old_reason]
        if new_reason is None:
            self.accepted += 1
        else:
            self.rejected[new_reason] += 1

    def _trim(self, now_s: float) -> None:
        while self._buckets and self._buckets[0][0] + 1.0 <= now_s - self.window_s:
            self._buckets.popleft()

    def report(self, now_s: float) -> dict[str, object]:
        """rate_hz, latency (mean, max) and rejection ratio over the window; life counters."""
        if math.isfinite(now_s):
            self._trim(now_s)
        received = sum(b[1] for b in self._buckets)
        rejected = sum(b[2] for b in self._buckets)
        lat_n = sum(b[4] for b in self._buckets)
        return {
            "rate_hz": received / self.window_s,
            "latency_mean_s": sum(b[3] for b in self._buckets) / lat_n if lat_n else None,
            "latency_max_s": max(b[5] for b in self._buckets) if lat_n else None,
            "rejection_ratio": rejected / received if received else 0.0,
            "rejection_ratio_total": (self.total - self.accepted) / self.total if self.total else 0.0,
            "received": self.total,
            "accepted": self.accepted,
            "rejected": dict(self.rejected),
            "last_fix_s": self.last_fix_s,
            "last_fix_age_s": (now_s - self.last_fix_s) if self.last_fix_s is not None else None,
            "last_received_s": self.last_received_s,
        }
