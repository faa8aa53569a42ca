"""A small simulated road for the wiring tests: the real core on a SimClock, the world,
its sensors and (optionally) an inventory, stepped by hand and fast."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from fleet.plant import calm
from sim.core_brain import CoreBrain
from sim.faults import FaultEvent, FaultKind
from sim.runner import build_world
from sim.scenario import load_scenario, resolve_scenario
from sim.sensing import WorldSensing


class SimRoad:
    """World + sensing + CoreBrain; `run(seconds)` steps all of them together."""

    def __init__(self, site: str = "coil_yard", faults: tuple[FaultEvent, ...] = (), seed: int = 3,
                 sensing: bool = True) -> None:
        scenario = calm(load_scenario(resolve_scenario(site)))
        self.scenario = dataclasses.replace(scenario, fixed_faults=tuple(faults))
        self.brain = CoreBrain(self.scenario)
        self.core = self.brain.core
        self.world = build_world(self.scenario)
        self.sensing = WorldSensing(self.world, seed=seed) if sensing else None
        self.dt = self.scenario.dt_s
        self.errors: dict[str, list[float]] = {}

    def submit(self, order: dict[str, Any]) -> str | None:
        return self.brain.submit(order, self.world.now)

    def step(self) -> None:
        for cmd in self.brain.tick(self.world.now):
            self.world.apply(cmd)
        for st in self.world.step(self.dt):
            self.brain.on_state(st)
        if self.sensing is not None:
            self.sensing.sample()
            for batch in self.sensing.due():
                self.core.on_measurements(batch)

    def run(self, seconds: float, every: float | None = None) -> None:
        end = self.world.now + seconds
        while self.world.now < end:
            self.step()
            if every is not None:
                self.record_errors()

    def record_errors(self) -> None:
        """Core pose versus truth, per tracked AGV."""
        a = self.world.agvs
        for i, mid in enumerate(a.ids):
            if not self.core.localization.tracked(mid):
                continue
            m = self.core.machine(mid)
            self.errors.setdefault(mid, []).append(math.hypot(m.x - float(a.x[i]), m.y - float(a.y[i])))

    def close(self) -> None:
        self.brain.close()


def fault(kind: str, target: str, at_s: float, duration_s: float) -> FaultEvent:
    return FaultEvent(at_s, FaultKind(kind), target, duration_s)


def with_stock(road: SimRoad, share: float = 0.5) -> Any:
    """Give the road's core an inventory (seeded) and the simulated tally cameras."""
    from fleet.core.stock import StockKeeper, build_inventory, seed_stock
    from sim.sensing import SimCameras

    inv = build_inventory(road.brain.store, road.scenario.site, now=road.core.clock.now)
    seed_stock(inv, share=share)
    road.core.stock = StockKeeper(inv, SimCameras(road.world, seed=1))
    return inv
