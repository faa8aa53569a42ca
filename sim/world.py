"""The simulated plant: AGVs, cranes, the 5G link and the fault schedule on one clock.

Two calls are all a gateway needs: `apply(command)` (the command travels the link and
takes effect when it arrives) and `step(dt) -> list[MachineState]` (the states that
reached the core during the step, `received_s` set). Nothing here reads the wall
clock; all randomness comes from one seeded numpy Generator, so a run is a pure
function of (site, fleet, scenario, seed).
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import itertools
import logging
from collections.abc import Iterable

import numpy as np

from fleet.domain.commands import (
    Command,
    CraneCommand,
    InstantAction,
    MachineState,
    MovementCommand,
)
from fleet.errors import FleetError
from maps.site import Site, StationKind
from sim.agv import AgvFleet, AgvSpec, RouteRejected
from sim.crane import CraneFleet
from sim.faults import FaultEvent, FaultKind
from sim.network import Link, LinkProfile

log = logging.getLogger(__name__)

REMEMBERED_COMMAND_IDS = 65536  # a command id seen again within this many is a duplicate

class UnknownMachine(FleetError):
    status = 404
    kind = "unknown-machine"

    def __init__(self, machine_id: str) -> None:
        self.machine_id = machine_id
        super().__init__(f"no simulated machine {machine_id!r}")


class World:
    """Every simulated machine of a site. Single-threaded: call from one thread only."""

    def __init__(
        self,
        site: Site,
        agvs: Iterable[AgvSpec],
        *,
        seed: int = 0,
        link: LinkProfile | None = None,
        faults: Iterable[FaultEvent] = (),
        state_period_s: float = 1.0,
        idle_state_period_s: float = 10.0,
        start_s: float = 0.0,
        strict_lanes: bool = True,
    ) -> None:
        self.site = site
        self.rng = np.random.default_rng(seed)
        self.now = float(start_s)
        self.agvs = AgvFleet(site, agvs, strict_lanes=strict_lanes)
        self.cranes = CraneFleet(site)
        self.link = Link(link or LinkProfile.perfect(), np.random.default_rng([seed, 1]))
        self.state_period_s = state_period_s
        self.idle_state_period_s = idle_state_period_s
        # fault times count from the start of the shift, the world's clock from `start_s`
        # (the demo's world runs on Unix time)
        self._faults = sorted(dataclasses.replace(f, at_s=f.at_s + float(start_s)) for f in faults)
        self._fault_k = 0
        self._clears: list[tuple[float, int, FaultEvent]] = []
        self._down: list[tuple[float, int, Command]] = []
        self._up: list[tuple[float, int, MachineState]] = []
        self._seq = itertools.count()
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()  # recent command ids
        n = len(self.agvs.ids)
        self._last_report = np.full(n, -np.inf)
        self._crane_report: dict[str, float] = dict.fromkeys(self.cranes.ids, -np.inf)
        self.traversals: list[tuple[str, str, str]] = []
        self.fault_log: list[tuple[float, str, str, bool]] = []  # (t, kind, target, on)
        self.refused: collections.deque[tuple[float, str, str]] = collections.deque(maxlen=1000)  # (t, machine, why)
        self.refused_count = 0
        self.chargers = [s.id for s in site.stations if s.kind == StationKind.CHARGER]

    @property
    def machine_ids(self) -> list[str]:
        return self.agvs.ids + self.cranes.ids

    def is_crane(self, machine_id: str) -> bool:
        return machine_id in self.cranes.cranes

    def position(self, machine_id: str) -> tuple[float, float]:
        i = self.agvs.index.get(machine_id)
        if i is not None:
            return float(self.agvs.x[i]), float(self.agvs.y[i])
        c = self.cranes.cranes.get(machine_id)
        if c is None:
            raise UnknownMachine(machine_id)
        return c.bay.to_site(c.bridge_m, c.trolley_m)

    # --- commands in -----------------------------------------------------------------

    def apply(self, cmd: Command) -> None:
        """Send a command over the link; it acts when it arrives. Same id twice: once."""
        if cmd.machine_id not in self.agvs.index and cmd.machine_id not in self.cranes.cranes:
            raise UnknownMachine(cmd.machine_id)
        if cmd.command_id in self._seen:
            return
        self._seen[cmd.command_id] = None
        if len(self._seen) > REMEMBERED_COMMAND_IDS:
            self._seen.popitem(last=False)
        x, y = self.position(cmd.machine_id)
        at = self.link.down(cmd.machine_id, self.now, x, y)
        heapq.heappush(self._down, (at, next(self._seq), cmd))

    def _deliver(self, cmd: Command, t: float) -> None:
        mid = cmd.machine_id
        i = self.agvs.index.get(mid)
        try:
            if isinstance(cmd, MovementCommand):
                if i is None:
                    raise RouteRejected("a crane takes crane commands, not movement commands")
                self.agvs.apply_movement(cmd, t)
                self.agvs.errors[i] = {e for e in self.agvs.errors[i] if not e.startswith("orderError")}
            elif isinstance(cmd, InstantAction):
                if i is None:
                    self.cranes.apply_instant(cmd, t)
                else:
                    self.agvs.apply_instant(cmd, t)
            elif isinstance(cmd, CraneCommand):
                if i is not None:
                    raise RouteRejected("an AGV takes movement commands, not crane commands")
                self.cranes.apply(cmd, t)
                crane = self.cranes.cranes[mid]
                crane.errors = {e for e in crane.errors if not e.startswith("orderError")}  # taken: the refusal is over
        except Exception as exc:  # a command the machine cannot take never stops the plant
            if not isinstance(exc, RouteRejected):
                log.exception("simulated %s could not apply %s", mid, cmd.command_id)
                exc = RouteRejected(f"internal error: {exc!r}")
            self.refused.append((t, mid, str(exc)))
            self.refused_count += 1
            if i is not None:
                self.agvs.errors[i] = {e for e in self.agvs.errors[i] if not e.startswith("orderError")}
                self.agvs.errors[i].add(f"orderError:{exc}")
                self.agvs.dirty[i] = True
            else:
                self.cranes.cranes[mid].errors.add(f"orderError:{exc}")
                self.cranes.cranes[mid].dirty = True

    # --- faults ----------------------------------------------------------------------

    def _fault(self, ev: FaultEvent, on: bool, t: float) -> None:
        i = self.agvs.index.get(ev.target)
        crane = ev.target in self.cranes.cranes
        k = ev.kind
        if k == FaultKind.CHARGER_FAIL:
            self.agvs.fail_charger(ev.target, on)
        elif i is not None:
            if k == FaultKind.BREAKDOWN:
                self.agvs.set_fault(i, on, t)
            elif k == FaultKind.ESTOP:
                self.agvs.set_estop(i, on, t)
            elif k == FaultKind.BATTERY_FLAT:
                if on:
                    self.agvs.battery[i] = 0.0  # the step sees it go flat
                    self.agvs.flat_until[i] = np.inf
                else:
                    self.agvs.recover_flat(i, t)
        elif crane:
            if k == FaultKind.BREAKDOWN:
                self.cranes.set_fault(ev.target, on)
            elif k == FaultKind.ESTOP:
                self.cranes.set_estop(ev.target, on)
            elif k == FaultKind.HOIST_STALL:
                self.cranes.set_hoist_stall(ev.target, on)
        else:
            return
        self.fault_log.append((t, k.value, ev.target, on))

    # --- time ------------------------------------------------------------------------

    def step(self, dt: float) -> list[MachineState]:
        """Advance dt seconds; the states that reached the core meanwhile."""
        t0, t1 = self.now, self.now + dt
        while self._down and self._down[0][0] < t1:
            at, _, cmd = heapq.heappop(self._down)
            self._deliver(cmd, max(at, t0))
        while self._fault_k < len(self._faults) and self._faults[self._fault_k].at_s < t1:
            ev = self._faults[self._fault_k]
            self._fault_k += 1
            self._fault(ev, True, t0)
            heapq.heappush(self._clears, (ev.at_s + ev.duration_s, next(self._seq), ev))
        while self._clears and self._clears[0][0] < t1:
            _, _, ev = heapq.heappop(self._clears)
            self._fault(ev, False, t0)
        self.agvs.step(t0, dt)
        self.cranes.step(t0, dt)
        self.traversals = self.agvs.traversals
        self.now = t1
        self._report(t1)
        out = []
        while self._up and self._up[0][0] <= t1:
            out.append(heapq.heappop(self._up)[2])
        return out

    def _report(self, t: float) -> None:
        """Send the states that are due: on every change, else every (idle) state period."""
        a = self.agvs
        period = np.where(a.moving, self.state_period_s, self.idle_state_period_s)
        due = a.dirty | (t - self._last_report >= period - 1e-9)
        link = self.link
        for i in np.flatnonzero(due).tolist():
            at = link.up(a.ids[i], t, float(a.x[i]), float(a.y[i]))
            if at is not None:  # a lost state is never built
                heapq.heappush(self._up, (at, next(self._seq), a.state(i, t, received_s=at)))
        self._last_report[due] = t
        a.dirty[:] = False
        for cid, c in self.cranes.cranes.items():
            period = self.state_period_s if c.current is not None else self.idle_state_period_s
            if c.dirty or t - self._crane_report[cid] >= period - 1e-9:
                x, y = c.bay.to_site(c.bridge_m, c.trolley_m)
                at = link.up(cid, t, x, y)
                if at is not None:
                    heapq.heappush(self._up, (at, next(self._seq), self.cranes.state(cid, t, received_s=at)))
                self._crane_report[cid] = t
                c.dirty = False
        self.cranes.prune_actions()

    def resume(self, machines: Iterable[object]) -> list[str]:
        """Put the machines where the fleet's store last saw them: node (AGVs) or runway
        position (cranes), charge and load. Real machines keep all that across a restart
        of the fleet manager; a restarted demo's simulator starts from it the same way.
        Returns what could not be placed, and why (the machine then starts as configured)."""
        skipped: list[str] = []
        taken: set[str] = set()
        hooks: dict[str, tuple[float, float, str | None]] = {}
        for m in machines:
            mid = getattr(m, "id", "")
            if mid in self.agvs.index:
                node = str(getattr(m, "node", None) or "")
                # a waypoint of the compiled graph ("A>B#2") stands for its lane's end or start
                lane = node.partition("#")[0].split(">") if ">" in node else []
                options = [node, *lane[::-1], self.agvs.last_node[self.agvs.index[mid]]]
                at = next((n for n in options if n in self.site.node_by_id and n not in taken), None)
                if at != node:
                    skipped.append(f"{mid}: last seen at {node!r}, placed at {at!r}")
                if at is None:
                    continue
                node = at
                taken.add(node)
                self.agvs.place(mid, node, battery=getattr(m, "battery", None), load_id=getattr(m, "load_id", None),
                                heading_rad=float(getattr(m, "heading_rad", 0.0)))
            elif mid in self.cranes.cranes:
                hooks[mid] = (float(getattr(m, "bridge_m", 0.0)), float(getattr(m, "trolley_m", 0.0)), getattr(m, "load_id", None))
        skipped.extend(f"bay {b}: cranes would overlap, kept at home" for b in self.cranes.place(hooks))
        return skipped

    def snapshot(self) -> list[MachineState]:
        """Every machine's true state now, straight from the machine (no link)."""
        t = self.now
        return [self.agvs.state(i, t) for i in range(len(self.agvs.ids))] + [
            self.cranes.state(cid, t) for cid in self.cranes.ids
        ]

    def pending_commands(self) -> int:
        return len(self._down)

