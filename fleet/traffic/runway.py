"""Crane traffic on shared runways: claims keep bridges apart, handoffs wait for the AGV.

A crane moves only inside a *claim*: the stretch of runway its bridge will sweep
(from where it is to where it goes, plus its width). Claims of neighbours on one
runway never come closer than the bay's safety gap, so cranes can neither cross nor
touch whatever the timing. A crane whose way is claimed waits; an idle neighbour in
the way is sent aside (it yields); when two busy cranes block each other the one not
carrying a load backs off. A crane lifts a coil bound for a handoff only once an AGV
has the leg that takes it on, hovers above the handoff until that AGV stands there,
then sets the coil down; the crane's own state confirms pick and drop. (Dispatch books
each handoff for one coil at a time, so crane and AGV never wait on each other.)

Sequencing (which crane does which leg when) is dispatch's job (the runway schedule);
this module is the safety layer that executes it. Called only from the core's thread.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from enum import StrEnum

from fleet.core.strategies import LegProgress, Stage
from fleet.domain import Leg, LegState
from fleet.domain.commands import (
    ActionStatus,
    CraneCommand,
    CraneMove,
    CraneMoveKind,
    MachineState,
    stopping_errors,
)
from fleet.traffic.places import BayPlace, bay_place
from maps.site import CraneBay, CraneSpec, Site

log = logging.getLogger(__name__)

LOWER_M = 1.0  # hook height to pick or set down


class Phase(StrEnum):
    TO_SOURCE = "to_source"  # travel, lower, pick, raise
    TO_DEST = "to_dest"  # travel above the destination
    WAIT_AGV = "wait_agv"  # hover above a handoff until the AGV is there
    SET_DOWN = "set_down"  # lower, drop, raise


@dataclass
class _Job:
    leg: Leg
    src: BayPlace
    dst: BayPlace
    phase: Phase = Phase.TO_SOURCE
    picked_s: float | None = None


@dataclass
class _Crane:
    spec: CraneSpec
    bay: CraneBay
    bridge_m: float
    trolley_m: float = 0.0
    hoist_m: float = 0.0
    job: _Job | None = None
    command: CraneCommand | None = None  # running command
    target_m: float | None = None  # bridge target of the running command
    stopped: bool = False
    loaded: bool = False

    @property
    def busy(self) -> bool:
        return self.command is not None

    def claim(self) -> tuple[float, float]:
        half = self.spec.width_m / 2
        lo = min(self.bridge_m, self.target_m if self.target_m is not None else self.bridge_m)
        hi = max(self.bridge_m, self.target_m if self.target_m is not None else self.bridge_m)
        return lo - half, hi + half


class RunwayTraffic:
    """The crane half of `fleet.core.strategies.Traffic`."""

    def __init__(self, site: Site, handoffs=None) -> None:  # type: ignore[no-untyped-def]
        self.site = site
        self.handoffs = handoffs  # LaneTraffic: who waits at a handoff, load handed over
        self.cranes: dict[str, _Crane] = {}
        self.by_bay: dict[str, list[str]] = {}
        for bay in site.crane_bays:
            self.by_bay[bay.id] = [c.id for c in bay.cranes]  # runway order
            for spec in bay.cranes:
                self.cranes[spec.id] = _Crane(spec=spec, bay=bay, bridge_m=spec.home_m, hoist_m=bay.hook_height_m)
        self._ids = itertools.count(1)
        self.yields = 0

    def handoff_open(self, station: str, crane_leg: str | None) -> bool:
        """May the AGV whose leg follows `crane_leg` drive into this handoff now?
        Only when that crane leg holds its load and is the next to set down there, so
        AGVs neither block a handoff long before nor queue in the wrong order."""
        # a crane already hovering above the handoff goes first (it holds the runway there),
        # then loaded cranes by when they lifted, then cranes that wait for this AGV to lift
        queue = [(not c.loaded, c.job.phase != Phase.WAIT_AGV, c.job.picked_s or 0.0, c.job.leg.id)
                 for c in self.cranes.values() if c.job and c.job.dst.station == station]
        return bool(queue) and min(queue)[3] == crane_leg

    def knows(self, machine_id: str) -> bool:
        return machine_id in self.cranes

    # -- the Traffic contract ---------------------------------------------------
    def assign(self, leg: Leg, machine_id: str, now_s: float) -> None:
        c = self.cranes[machine_id]
        src, dst = bay_place(self.site, leg.source), bay_place(self.site, leg.destination)
        if src.bay != c.bay.id or dst.bay != c.bay.id:
            raise ValueError(f"leg {leg.id} is not inside crane {machine_id}'s bay {c.bay.id}")
        c.job = _Job(leg=leg, src=src, dst=dst)
        if leg.state == LegState.LOADED:  # recovered with the coil on the hook: on to the destination
            c.loaded = True
            c.job.phase = Phase.TO_DEST
            c.job.picked_s = now_s

    def withdraw(self, leg_id: str, now_s: float) -> None:
        for c in self.cranes.values():
            if c.job and c.job.leg.id == leg_id and not c.loaded:
                c.job = None

    def machine_stopped(self, machine_id: str, stopped: bool) -> None:
        if machine_id in self.cranes:
            self.cranes[machine_id].stopped = stopped

    def planned_path(self, machine_id: str) -> list[str]:
        c = self.cranes.get(machine_id)
        if c is None or c.job is None:
            return []
        return [c.job.leg.source, c.job.leg.destination]

    def on_state(self, state: MachineState) -> list[LegProgress]:
        c = self.cranes.get(state.machine_id)
        if c is None:
            return []
        if state.bridge_m is not None:
            c.bridge_m = state.bridge_m
        if state.trolley_m is not None:
            c.trolley_m = state.trolley_m
        if state.hoist_m is not None:
            c.hoist_m = state.hoist_m
        # a refused command (orderError) leaves the crane able to work, as it does an AGV
        c.stopped = state.mode not in ("auto", "") or any(not e.startswith("collision") for e in stopping_errors(state.errors))
        cmd = c.command
        if cmd is None:
            return []
        status = {a.action_id: a for a in state.action_states}
        out: list[LegProgress] = []
        finished = 0
        for k, move in enumerate(cmd.moves):
            a = status.get(f"{cmd.command_id}:{k}")
            if a is None:
                break
            if a.status == ActionStatus.FAILED:
                c.command, c.target_m = None, None
                if c.job:
                    out.append(LegProgress(c.job.leg.id, state.machine_id, Stage.FAILED, state.stamp_s, None, a.result or f"{move.kind} failed"))
                    if not c.loaded:
                        c.job = None
                return out
            if a.status != ActionStatus.FINISHED:
                break
            finished += 1
        if finished < len(cmd.moves):
            return out
        c.command, c.target_m = None, None
        job = c.job
        if job is None:
            return out  # a yield move
        if job.phase == Phase.TO_SOURCE:
            c.loaded = True
            job.picked_s = state.stamp_s
            job.phase = Phase.TO_DEST
            out.append(LegProgress(job.leg.id, state.machine_id, Stage.PICKED, state.stamp_s, job.leg.source))
        elif job.phase == Phase.TO_DEST:
            job.phase = Phase.WAIT_AGV if job.dst.station else Phase.SET_DOWN
        elif job.phase == Phase.SET_DOWN:
            c.loaded = False
            c.job = None
            out.append(LegProgress(job.leg.id, state.machine_id, Stage.DROPPED, state.stamp_s, job.leg.destination))
            if job.dst.station and self.handoffs is not None:
                node = self.site.station_by_id[job.dst.station].node
                agv = self.handoffs.waiting_at(node, job.leg.id)
                if agv is not None:
                    out.extend(self.handoffs.load_handed_over(agv, state.stamp_s))
        return out

    def tick(self, now_s: float, budget_s: float = 0.0) -> list[CraneCommand]:
        out: list[CraneCommand] = []
        for bay_id, ids in self.by_bay.items():
            for cid in ids:
                c = self.cranes[cid]
                if c.busy or c.stopped or c.job is None:
                    continue
                cmd = self._next(c, now_s)
                if cmd is not None:
                    out.append(cmd)
            out.extend(self._resolve_blocks(bay_id, now_s))
        return out

    # -- internals --------------------------------------------------------------
    def _neighbours(self, c: _Crane) -> tuple[_Crane | None, _Crane | None]:
        ids = self.by_bay[c.bay.id]
        i = ids.index(c.spec.id)
        left = self.cranes[ids[i - 1]] if i > 0 else None
        right = self.cranes[ids[i + 1]] if i + 1 < len(ids) else None
        return left, right

    def _fits(self, c: _Crane, target: float) -> tuple[bool, _Crane | None]:
        half = c.spec.width_m / 2
        lo, hi = min(c.bridge_m, target) - half, max(c.bridge_m, target) + half
        gap = c.bay.safety_gap_m
        left, right = self._neighbours(c)
        if left is not None and left.claim()[1] + gap > lo:
            return False, left
        if right is not None and right.claim()[0] - gap < hi:
            return False, right
        return True, None

    def _wanted(self, c: _Crane) -> float | None:
        job = c.job
        if job is None:
            return None
        if job.phase == Phase.TO_SOURCE:
            return job.src.runway_m
        return job.dst.runway_m

    def _next(self, c: _Crane, now_s: float) -> CraneCommand | None:
        job = c.job
        assert job is not None
        hook_up = c.bay.hook_height_m - 1.0
        if job.phase == Phase.WAIT_AGV:
            node = self.site.station_by_id[job.dst.station].node if job.dst.station else None
            if self.handoffs is None or node is None or self.handoffs.waiting_at(node, job.leg.id) is not None:
                job.phase = Phase.SET_DOWN
            else:
                return None
        if job.phase == Phase.TO_SOURCE and job.dst.station and job.leg.handoff and self.handoffs is not None \
                and self.handoffs.assigned_after(job.leg.id) is None:
            return None  # lift the coil only once an AGV is on its way to take it: never hover loaded for nobody
        target = self._wanted(c)
        assert target is not None
        ok, _ = self._fits(c, target)
        if not ok:
            return None
        load = job.leg.extra.get("load_id") if job.leg.extra else None
        if job.phase == Phase.TO_SOURCE:
            moves = (
                CraneMove(CraneMoveKind.BRIDGE, job.src.runway_m),
                CraneMove(CraneMoveKind.TROLLEY, job.src.cross_m),
                CraneMove(CraneMoveKind.HOIST, LOWER_M),
                CraneMove(CraneMoveKind.PICK, load_id=load or job.leg.order_id),
                CraneMove(CraneMoveKind.HOIST, hook_up),
            )
        elif job.phase == Phase.TO_DEST:
            moves = (CraneMove(CraneMoveKind.BRIDGE, job.dst.runway_m), CraneMove(CraneMoveKind.TROLLEY, job.dst.cross_m))
        else:
            moves = (
                CraneMove(CraneMoveKind.HOIST, LOWER_M),
                CraneMove(CraneMoveKind.DROP, load_id=load or job.leg.order_id),
                CraneMove(CraneMoveKind.HOIST, hook_up),
            )
        return self._send(c, moves, target, job.leg.id, now_s)

    def _send(self, c: _Crane, moves: tuple[CraneMove, ...], target: float, order_id: str, now_s: float) -> CraneCommand:
        cmd = CraneCommand(f"{c.spec.id}-{next(self._ids)}", c.spec.id, order_id or f"{c.spec.id}-yield", moves, now_s)
        c.command = cmd
        c.target_m = target
        return cmd

    def _resolve_blocks(self, bay_id: str, now_s: float) -> list[CraneCommand]:
        """Send idle cranes out of the way, and break mutual blocks."""
        out: list[CraneCommand] = []
        for cid in self.by_bay[bay_id]:
            c = self.cranes[cid]
            if c.busy or c.stopped or c.job is None or c.job.phase == Phase.WAIT_AGV:
                continue
            target = self._wanted(c)
            if target is None:
                continue
            ok, other = self._fits(c, target)
            if ok or other is None or other.busy or other.stopped:
                continue
            other_target = self._wanted(other)
            if other.job is not None and other_target is not None:
                # both want to move: the one without a load backs off for the other
                ok_other, blocker = self._fits(other, other_target)
                if ok_other or blocker is not c or not _backs_off(c, other):
                    continue
                mover, need_lo, need_hi = c, *self._sweep(other, other_target)
            else:
                mover, need_lo, need_hi = other, *self._sweep(c, target)
            spot = self._aside(mover, need_lo, need_hi, below=self._order(mover) < self._order(c if mover is other else other))
            if spot is not None:
                ok_move, _ = self._fits(mover, spot)
                if ok_move:
                    self.yields += 1
                    out.append(self._send(mover, (CraneMove(CraneMoveKind.BRIDGE, spot),), spot, "", now_s))
        return out

    @staticmethod
    def _sweep(c: _Crane, target: float) -> tuple[float, float]:
        half = c.spec.width_m / 2
        return min(c.bridge_m, target) - half, max(c.bridge_m, target) + half

    def _aside(self, mover: _Crane, lo: float, hi: float, *, below: bool) -> float | None:
        """Nearest bridge position of `mover` that keeps the gap to [lo, hi], on its own
        side (`below`: it is the lower one on the runway; cranes never pass each other).
        Half a metre to spare where the runway allows, else up to the runway's end."""
        half, gap = mover.spec.width_m / 2, mover.bay.safety_gap_m
        length = mover.bay.runway_length_m
        if below:
            edge = lo - gap - half  # the highest position that keeps the gap
            return None if edge < half else max(half, edge - 0.5)
        edge = hi + gap + half  # the lowest such position
        return None if edge > length - half else min(length - half, edge + 0.5)

    def _order(self, c: _Crane) -> int:
        return self.by_bay[c.bay.id].index(c.spec.id)


def _backs_off(c: _Crane, other: _Crane) -> bool:
    """Of two cranes blocking each other, the one without a load gives way (else by id)."""
    if c.loaded != other.loaded:
        return not c.loaded
    return c.spec.id > other.spec.id
