"""Ground truth of a simulated run, and the sensor streams it produces.

`TrajectoryRecorder` samples the true pose of chosen AGVs after every world step;
`measurements` turns a stretch of it into what the machines' sensors would send
(odometry, UWB, RFID reads, BeiDou, with their noise, dropouts, outliers and link
delays), using the localization models in `sim.sensors`, so a simulator run can
feed the fusion the way machines would. The sensor models are the localization
area's; this module only hands them trajectories.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from sim.world import World


class TrajectoryRecorder:
    """True (t, x, y, heading, speed) of some AGVs, one sample per `sample()` call."""

    def __init__(self, world: World, machine_ids: Iterable[str] | None = None) -> None:
        self.world = world
        ids = list(machine_ids) if machine_ids is not None else list(world.agvs.ids)
        self.ids = ids
        self.idx = np.array([world.agvs.index[m] for m in ids], dtype=np.int64)
        self._t: list[float] = []
        self._rows: list[np.ndarray] = []  # (4, k): x, y, theta, v

    def __call__(self, world: World) -> None:
        """As a `run_shift` observer."""
        self.sample()

    def sample(self) -> None:
        a = self.world.agvs
        i = self.idx
        self._t.append(self.world.now)
        self._rows.append(np.stack([a.x[i], a.y[i], a.theta[i], a.signed_speed()[i]]))

    def trajectory(self, machine_id: str, since_s: float | None = None, until_s: float | None = None) -> Any:
        """The recorded stretch as a `sim.sensors_route.Trajectory` (needs two samples)."""
        from sim.sensors_route import Trajectory

        k = self.ids.index(machine_id)
        t = np.asarray(self._t)
        rows = np.stack([r[:, k] for r in self._rows], axis=1) if self._rows else np.zeros((4, 0))
        keep = np.ones(t.shape[0], bool)
        if since_s is not None:
            keep &= t >= since_s
        if until_s is not None:
            keep &= t <= until_s
        t, rows = t[keep], rows[:, keep]
        if t.shape[0] < 2:
            raise ValueError(f"{machine_id}: fewer than two samples in the requested stretch")
        heading = np.unwrap(rows[2])
        yaw_rate = np.gradient(heading, t)
        wrapped = (heading + math.pi) % (2 * math.pi) - math.pi
        return Trajectory(t=t, x=rows[0], y=rows[1], heading=wrapped, speed=rows[3], yaw_rate=yaw_rate)


def site_suite(world: World, *, uwb: bool = True, rfid: bool = True, beidou: bool = True) -> Any:
    """Every sensor the site supports (UWB anchors, RFID tags, BeiDou outdoors)."""
    from sim.sensors_scenes import Scene

    return Scene(world.site.name, world.site, ()).suite(uwb=uwb, rfid=rfid, beidou=beidou)


def measurements(recorder: TrajectoryRecorder, suite: Any, rng: np.random.Generator,
                 since_s: float | None = None, until_s: float | None = None) -> list[Any]:
    """Every recorded machine's measurements over the stretch, in arrival order."""
    from sim.sensors import merged

    out: list[Any] = []
    for mid in recorder.ids:
        try:
            traj = recorder.trajectory(mid, since_s, until_s)
        except ValueError:
            continue
        out += merged(suite.streams(mid, traj, rng))
    out.sort(key=lambda m: m.received_s)
    return out
