"""Struct-of-arrays state of every tracked machine: one row per machine.

The arrays are what `ekf.fuse_batch` works on; `Tracks` only hands out rows and
grows the arrays (doubling) when a new machine appears.
"""

from __future__ import annotations

import numpy as np

from fleet.localization.ekf import A_HEAD_X, A_HEAD_Y, AUX, STATE

START_POSITION_VAR = 1e6  # m^2: a row with no fix yet knows nothing about where it is


class Tracks:
    """means (N, 5), covs (N, 5, 5), times (N,), aux (N, AUX) bookkeeping."""

    def __init__(self, capacity: int = 64) -> None:
        self.count = 0
        self._free: list[int] = []
        self._alloc(max(1, capacity))

    def _alloc(self, n: int) -> None:
        self.means = np.zeros((n, STATE))
        self.covs = np.zeros((n, STATE, STATE))
        self.covs[:] = np.diag([START_POSITION_VAR, START_POSITION_VAR, np.pi**2, 4.0, 1.0])
        self.times = np.full(n, -np.inf)
        self.aux = np.zeros((n, AUX))
        self.aux[:, A_HEAD_X] = np.nan
        self.aux[:, A_HEAD_Y] = np.nan

    @property
    def capacity(self) -> int:
        return self.means.shape[0]

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The state arrays in `ekf.fuse_batch` argument order."""
        return (self.means, self.covs, self.times, self.aux)

    def add(self) -> int:
        """A new row (machine); returns its index (a released one first)."""
        if self._free:
            return self._free.pop()
        if self.count == self.capacity:
            old = self.arrays()
            self._alloc(2 * self.capacity)
            for new, prev in zip(self.arrays(), old, strict=True):
                new[: prev.shape[0]] = prev
        self.count += 1
        return self.count - 1

    def release(self, row: int) -> None:
        """Give a row back (machine gone); it is reset and handed out again by `add`."""
        self.means[row] = 0.0
        self.covs[row] = np.diag([START_POSITION_VAR, START_POSITION_VAR, np.pi**2, 4.0, 1.0])
        self.times[row] = -np.inf
        self.aux[row] = 0.0
        self.aux[row, A_HEAD_X] = np.nan
        self.aux[row, A_HEAD_Y] = np.nan
        self._free.append(row)

    def started(self, row: int) -> bool:
        return bool(self.aux[row, 0])

    def snapshot(self, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, cov, [time, *aux]) of one row, in the layout of fuse_batch's snapshots."""
        return (self.means[row].copy(), self.covs[row].copy(),
                np.concatenate([[self.times[row]], self.aux[row]]))

    def restore(self, row: int, m: np.ndarray, p: np.ndarray, s: np.ndarray) -> None:
        self.means[row] = m
        self.covs[row] = p
        self.times[row] = s[0]
        self.aux[row] = s[1:]
