"""Sensors and tally cameras on the simulated machines, fed from the world's true motion.

`WorldSensing` samples every AGV's true pose after each world step and, every
`period_s`, runs the `sim.sensors` models (odometry, UWB, RFID, BeiDou: the same
models the localization benchmark uses) over the stretch of true motion since the
last report. Each AGV's readings go out as one `Measurements` batch, the way a real
machine reports its raw positioning, and travel the simulated 5G link: a machine
in a link outage sends nothing. Stamps are the machine's clock (the world's).

Faults (scenario kinds, `sim.faults.FaultKind`):
- `positioning_loss`: no UWB, RFID or BeiDou fix from that AGV while it lasts
  (odometry goes on), so its fused pose degrades and is eventually lost;
- `swap_label`: the machine's tally camera shows another load's label.

`SimCameras` is the tally camera of every machine (`sim.camera.Camera`, one per
machine, seeded): the core asks it for a frame of the load a machine handles at a
pick or a drop. It honours `swap_label` faults of the world it watches.

Single-threaded like the world, except `SimCameras.frame`, which only reads the set
of active faults.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import zlib
from typing import Any

import numpy as np

from fleet.domain.commands import Measurements
from sim.faults import FaultKind
from sim.sensors import OdometrySensor, SensorSuite
from sim.sensors_route import Trajectory

POSITIONING_LOSS = FaultKind.POSITIONING_LOSS
SWAP_LABEL = FaultKind.SWAP_LABEL


def site_suite(site: Any, odometry_hz: float = 10.0) -> SensorSuite:
    """Every sensor the site supports (UWB indoors, RFID tags, BeiDou outdoors), with
    odometry at `odometry_hz` (what an edge gateway forwards; the filter needs no more)."""
    from sim.sensors_scenes import Scene

    suite = Scene(site.name, site, ()).suite()
    rfid = dataclasses.replace(suite.rfid, scan_hz=50.0) if suite.rfid else None  # 2.4 cm apart at 1.2 m/s
    return dataclasses.replace(suite, odometry=OdometrySensor(rate_hz=odometry_hz), rfid=rfid)


class ActiveFaults:
    """Which (kind, target) faults are on now, read from the world's fault log."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self._seen = 0
        self.on: set[tuple[str, str]] = set()

    def update(self) -> set[tuple[str, str]]:
        log = self.world.fault_log
        for _t, kind, target, on in log[self._seen:]:
            (self.on.add if on else self.on.discard)((kind, target))
        self._seen = len(log)
        return self.on

    def active(self, kind: str, target: str) -> bool:
        return (kind, target) in self.on


class WorldSensing:
    """Raw positioning readings of every simulated AGV (see the module docstring)."""

    def __init__(self, world: Any, *, seed: int = 0, period_s: float = 0.5, odometry_hz: float = 10.0,
                 suite: SensorSuite | None = None) -> None:
        self.world = world
        self.period_s = period_s
        self.suite = suite or site_suite(world.site, odometry_hz)
        self.rng = np.random.default_rng([seed, 0x5E45])
        self.faults = ActiveFaults(world)
        self._hist: dict[str, collections.deque[tuple[float, float, float, float, float]]] = {
            mid: collections.deque(maxlen=256) for mid in world.agvs.ids}  # > 2 periods of steps
        self._last_emit = float(world.now)
        self.batches = 0
        self.sample()

    def sample(self) -> None:
        """Record every AGV's true pose now (call after each world step)."""
        a, t = self.world.agvs, float(self.world.now)
        v = a.signed_speed()
        for i, mid in enumerate(a.ids):
            self._hist[mid].append((t, float(a.x[i]), float(a.y[i]), float(a.theta[i]), float(v[i])))

    def due(self) -> list[Measurements]:
        """The batches to send now (empty until `period_s` has passed since the last)."""
        now = float(self.world.now)
        if now - self._last_emit < self.period_s - 1e-9:
            return []
        t0, self._last_emit = self._last_emit, now
        self.faults.update()
        out: list[Measurements] = []
        for mid, hist in self._hist.items():
            traj = self._window(hist, t0, now)
            if traj is None:
                continue
            x, y = float(traj.x[-1]), float(traj.y[-1])
            if not self.world.link.link_ok(mid, now, x, y):
                continue  # in an outage: the batch is lost, as a state would be
            blind = self.faults.active(POSITIONING_LOSS.value, mid)
            found = []
            for name in ("odometry", "uwb", "rfid", "beidou"):  # the suite's models, without its link model:
                sensor = getattr(self.suite, name)              # the batch travels the world's link instead
                if sensor is None or (blind and name != "odometry"):
                    continue
                if name == "rfid" and not traj.speed.any():
                    continue  # a reader reports a tag as it comes into range: a machine standing still reads none
                found += [m for m in sensor.measure(mid, traj, self.rng) if t0 <= m.stamp_s <= now]
            if not found:
                continue
            from fleet.core.poses import readings_of

            found.sort(key=lambda m: m.stamp_s)
            out.append(Measurements(mid, now, readings_of(found)))
        self.batches += len(out)
        return out

    @staticmethod
    def _window(hist: collections.deque[tuple[float, float, float, float, float]], t0: float,
                t1: float) -> Trajectory | None:
        rows = []
        for r in reversed(hist):  # newest first: a window is a few of the 256 samples kept
            rows.append(r)
            if r[0] < t0 - 1e-9:
                break  # the stretch starts where the last one ended
        rows.reverse()
        if len(rows) < 2 or rows[-1][0] - rows[0][0] <= 0:
            return None
        a = np.array(rows)
        t, heading = a[:, 0], np.unwrap(a[:, 3])
        yaw = np.gradient(heading, t) if len(rows) > 2 else np.diff(heading) / np.diff(t) * np.ones(2)
        return Trajectory(t, a[:, 1], a[:, 2], a[:, 3], a[:, 4], yaw)


class SimCameras:
    """The tally camera of every machine; the core asks for frames at pick and drop."""

    def __init__(self, world: Any = None, *, seed: int = 0) -> None:
        from sim.camera import Camera

        self._camera_cls = Camera
        self.world = world
        self.seed = seed
        self.faults = ActiveFaults(world) if world is not None else None
        self._cameras: dict[str, Any] = {}
        self._lock = threading.Lock()

    def frame(self, machine_id: str, load_id: str, *, others: tuple[str, ...] = ()) -> tuple[Any, str, tuple[str, ...]]:
        """(image, image_id, label texts truly shown) of `load_id` on `machine_id`."""
        with self._lock:
            cam = self._cameras.get(machine_id)
            if cam is None:
                cam = self._camera_cls(f"CAM-{machine_id}", seed=zlib.crc32(f"{self.seed}:{machine_id}".encode()))
                self._cameras[machine_id] = cam
            swapped = False
            if self.faults is not None:
                self.faults.update()
                swapped = self.faults.active(SWAP_LABEL.value, machine_id)
            if swapped:
                other = next((o for o in others if o != load_id), f"{load_id}-SWAPPED")
                f = cam.frame(load_id, swap_with=other)
            else:
                f = cam.frame(load_id)
        return f.image, f.image_id, f.shown
