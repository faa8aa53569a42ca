"""Run a scenario shift: the world, its demand and faults, against a "brain".

The brain is whatever decides what the machines do: the real core (dispatch,
planners, traffic) or, in the simulator's own tests, a test double. The runner only
knows the small `Brain` protocol below, so the same shift can be run against any of
them. Time is the scenario's simulated clock (`fleet.clock.SimClock`); `realtime`
paces the loop against the wall clock (demo, web UI) without the wall clock ever
reaching the simulation's logic, so a run is deterministic for its seed either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from fleet.clock import SimClock
from fleet.domain.commands import Command, MachineState
from sim.safety import SafetyMonitor
from sim.scenario import Scenario
from sim.world import UnknownMachine, World

TERMINAL = {"done", "failed", "cancelled"}
STUCK_S = 1800.0


class Brain(Protocol):
    """What the runner drives. All calls come from the runner's single thread.

    `submit` hands over one order dict (the WMS API body) and returns the order id,
    or None when the order is refused (refused orders are counted, not lost).
    `on_state` feeds one machine state as it arrives over the link. `tick` is called
    every planning period and returns the commands to send now. `order_updates`
    returns (order_id, state, at_s) for every order state change since the last call
    (states as `fleet.domain.OrderState` values). `known_orders` is every order id the
    brain still has (the safety monitor checks that none vanished).
    """

    def submit(self, order: dict[str, Any], now_s: float) -> str | None: ...

    def on_state(self, state: MachineState) -> None: ...

    def tick(self, now_s: float) -> list[Command]: ...

    def order_updates(self) -> list[tuple[str, str, float]]: ...

    def known_orders(self) -> set[str]: ...


@dataclass
class OrderRecord:
    order_id: str
    client_id: str
    submitted_s: float
    state: str = "created"
    done_s: float | None = None
    changed_s: float = 0.0


@dataclass
class ShiftResult:
    """Everything the report needs, in plain values."""

    scenario: str
    site: str
    seed: int
    duration_s: float
    kpis: dict[str, Any]
    done_times_s: list[float]
    lead_times_s: list[float]
    heat: np.ndarray  # seconds of AGV driving per cell, [row = y, col = x]
    heat_extent: tuple[float, float, float, float]  # (min_x, max_x, min_y, max_y)
    events: list[dict[str, Any]] = field(default_factory=list)
    lanes: list[tuple[float, float, float, float]] = field(default_factory=list)


class Pacer:
    """Sleeps so simulated time runs `speed` times real time (the only wall-clock reader)."""

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = speed
        self._t0: float | None = None

    def wait_until(self, sim_s: float, start_s: float) -> None:
        if self._t0 is None:
            self._t0 = time.monotonic()
        target = self._t0 + (sim_s - start_s) / self.speed
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def build_world(scenario: Scenario) -> World:
    return World(
        scenario.site,
        scenario.agvs,
        seed=scenario.seed,
        link=scenario.link,
        faults=scenario.faults(),
        state_period_s=scenario.state_period_s,
        idle_state_period_s=scenario.idle_state_period_s,
    )


def run_shift(
    scenario: Scenario,
    brain: Brain,
    *,
    world: World | None = None,
    clock: SimClock | None = None,
    pacer: Pacer | None = None,
    progress: Callable[[float, dict[str, int]], None] | None = None,
    heat_cell_m: float = 1.0,
    observers: tuple[Callable[[World], None], ...] = (),
) -> ShiftResult:
    """Run the scenario's whole duration against `brain`; returns the shift's figures.

    `observers` are called with the world after every step (e.g. a
    `sim.truth.TrajectoryRecorder.sample` feeding the localization's sensor models).
    """
    wall0 = time.perf_counter()
    world = world or build_world(scenario)
    clock = clock or SimClock(world.now)
    monitor = SafetyMonitor(scenario.site, world.agvs, world.cranes, scenario.deadlock_s)
    demand = scenario.orders()
    ledger: dict[str, OrderRecord] = {}
    rejected = 0
    k = 0
    start = world.now
    end = start + scenario.duration_s
    dt = scenario.dt_s
    next_plan = start
    next_check = start
    next_orders_check = start + 600.0
    x0, y0, x1, y1 = scenario.site.bounds
    x0, y0, x1, y1 = x0 - 2, y0 - 2, x1 + 2, y1 + 2
    nx, ny = max(1, int(np.ceil((x1 - x0) / heat_cell_m))), max(1, int(np.ceil((y1 - y0) / heat_cell_m)))
    heat = np.zeros((ny, nx))
    refused_cmds = 0
    for st in world.snapshot():
        brain.on_state(st)
    counts = {"done": 0, "submitted": 0, "refused": 0}

    def digest() -> None:
        for oid, state, at in brain.order_updates():
            rec = ledger.get(oid)
            if rec is None:
                continue
            if state == "refused":  # refused once the brain looked at it: not lost
                del ledger[oid]
                counts["refused"] += 1
                counts["submitted"] -= 1
                continue
            if rec.state not in TERMINAL:
                rec.state = state
                rec.changed_s = at
                if state == "done":
                    rec.done_s = at
                    counts["done"] += 1

    while world.now < end - 1e-9:
        now = world.now
        while k < len(demand) and demand[k][0] <= now:
            _, order = demand[k]
            k += 1
            try:
                oid = brain.submit(dict(order), now)
            except Exception:  # a brain that throws on bad input refused it
                oid = None
            if oid is None:
                rejected += 1
            else:
                ledger[oid] = OrderRecord(oid, order["client_id"], now, changed_s=now)
                counts["submitted"] += 1
        if now >= next_plan - 1e-9:
            next_plan += scenario.plan_period_s
            for cmd in brain.tick(now):
                try:
                    world.apply(cmd)
                except UnknownMachine:
                    refused_cmds += 1
        for st in world.step(dt):
            brain.on_state(st)
        clock.set(world.now)
        for observe in observers:
            observe(world)
        monitor.on_traversals(world.now, world.traversals)
        a = world.agvs
        driving = a.v > 0
        if driving.any():
            ix = np.clip(((a.x[driving] - x0) / heat_cell_m).astype(int), 0, nx - 1)
            iy = np.clip(((a.y[driving] - y0) / heat_cell_m).astype(int), 0, ny - 1)
            np.add.at(heat, (iy, ix), dt)
        if world.now >= next_check - 1e-9:
            next_check += scenario.check_period_s
            monitor.check(world.now)
        digest()
        if world.now >= next_orders_check:
            next_orders_check += 600.0
            open_ids = {o for o, r in ledger.items() if r.state not in TERMINAL}
            monitor.check_orders(world.now, open_ids, brain.known_orders())
        if progress is not None:
            progress(world.now - start, counts)
        if pacer is not None:
            pacer.wait_until(world.now, start)
    digest()
    open_ids = {o for o, r in ledger.items() if r.state not in TERMINAL}
    monitor.check_orders(world.now, open_ids, brain.known_orders())
    wall = time.perf_counter() - wall0
    return _result(scenario, world, monitor, ledger, rejected + counts["refused"], refused_cmds, heat, (x0, x1, y0, y1), wall)


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def _result(scenario: Scenario, world: World, monitor: SafetyMonitor, ledger: dict[str, OrderRecord],
            rejected: int, refused_cmds: int, heat: np.ndarray, extent: tuple[float, float, float, float],
            wall_s: float) -> ShiftResult:
    hours = scenario.duration_s / 3600.0
    done = [r for r in ledger.values() if r.state == "done" and r.done_s is not None]
    lead = [r.done_s - r.submitted_s for r in done]  # type: ignore[operator]
    a = world.agvs
    dist = float(a.dist_m.sum())
    cranes = list(world.cranes.cranes.values())
    c = monitor.counts
    kpis: dict[str, Any] = {
        "orders_submitted": len(ledger),
        "orders_refused": rejected,
        "orders_done": len(done),
        "orders_failed": sum(r.state == "failed" for r in ledger.values()),
        "orders_cancelled": sum(r.state == "cancelled" for r in ledger.values()),
        "orders_open_at_end": sum(r.state not in TERMINAL for r in ledger.values()),
        # open orders whose state has not moved for half an hour: stuck somewhere in the loop
        "orders_stuck_at_end": sum(r.state not in TERMINAL and world.now - r.changed_s >= STUCK_S
                                   for r in ledger.values()),
        "lost_orders": c["vanished_orders"],
        "throughput_per_h": round(len(done) / hours, 2) if hours else 0.0,
        "lead_time_p50_s": _pct(lead, 50),
        "lead_time_p95_s": _pct(lead, 95),
        "vehicle_utilisation": round(float(a.busy_s.mean()) / scenario.duration_s, 4) if len(a.ids) else 0.0,
        "empty_travel_share": round(1.0 - float(a.dist_loaded_m.sum()) / dist, 4) if dist > 0 else 0.0,
        "crane_utilisation": round(sum(x.busy_s for x in cranes) / (len(cranes) * scenario.duration_s), 4)
        if cranes else None,
        "charging_time_h": round(float(a.charge_s.sum()) / 3600.0, 3),
        "collisions": c["collisions"] + c["crane_collisions"] + c["crane_crossings"],
        "agv_collisions": c["collisions"],
        "crane_collisions": c["crane_collisions"] + c["crane_crossings"],
        "crane_gap_violations": c["crane_gap_violations"],
        "near_misses": c["near_misses"],
        "deadlocks": c["deadlocks"],
        "stalls": c["stalls"],
        "wrong_way": c["wrong_way"],
        "off_lane": c["off_lane"],
        "closed_lane": c["closed_lane"],
        "distance_km": round(dist / 1000.0, 3),
        "min_battery": round(float(a.battery.min()), 3) if len(a.ids) else None,
        "faults_injected": sum(1 for f in world.fault_log if f[3]),
        "commands_refused_by_machines": world.refused_count + refused_cmds,
        "states_sent": world.link.sent_states,
        "states_lost": world.link.lost_states,
        "command_retransmits": world.link.retransmits,
        "agvs": len(a.ids),
        "cranes": len(cranes),
        "sim_hours": round(hours, 3),
        "wall_s": round(wall_s, 2),
        "speedup": round(scenario.duration_s / wall_s, 1) if wall_s > 0 else None,
    }
    lanes = []
    nodes = scenario.site.node_by_id
    for lane in scenario.site.lanes:
        p, q = nodes[lane.start], nodes[lane.end]
        lanes.append((p.x, p.y, q.x, q.y))
    return ShiftResult(
        scenario=scenario.name,
        site=scenario.site.name,
        seed=scenario.seed,
        duration_s=scenario.duration_s,
        kpis=kpis,
        done_times_s=sorted(r.done_s for r in done),  # type: ignore[misc]
        lead_times_s=lead,
        heat=heat,
        heat_extent=extent,
        events=[{"at_s": e.at_s, "kind": e.kind, "machines": list(e.machines), "detail": e.detail}
                for e in monitor.events],
        lanes=lanes,
    )


def deterministic_kpis(kpis: dict[str, Any]) -> dict[str, Any]:
    """The KPIs that must repeat exactly for a seed (everything but wall-clock figures)."""
    return {k: v for k, v in kpis.items() if k not in {"wall_s", "speedup"}}
