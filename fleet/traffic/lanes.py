"""AGV traffic: legs -> goals -> lifelong plan -> execution graph -> released steps.

Every AGV is an agent of one lifelong planner over the site's compiled graph. The
plan runs ahead of the vehicles in virtual steps (at most `horizon` entries beyond
what a vehicle has reached, and a few horizons beyond the slowest vehicle still executing
it: planned further, most of it would be cut at the next re-plan); the execution graph
releases each vehicle's next nodes only when the vehicles planned there before it have
left, so late or early vehicles never collide and never deadlock. Released nodes go out as VDA 5050-style order
updates (base = released, horizon = planned but not released).

Idle vehicles keep their place unless it is wanted: a station, a spur, the room around a
goal, or the way of a vehicle that has waited a while short of its goal (booked paths never
push anyone, so one parked in a one-way aisle would shut it for good).

A vehicle at its goal waiting for a pick, a drop, a crane or a charger is *held*: it
leaves the planner's agents and its node is blocked, so nobody plans through it.
A vehicle that stops (fault, offline, e-stop, out of service) is held at the end of what
it was released (it may be anywhere up to there), and the plan is cut back to what is
released, then re-planned around it.

Called only from the core's thread (see fleet.core.strategies).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np

from fleet.core.strategies import LegProgress, Stage
from fleet.domain import Leg, LegKind
from fleet.domain.commands import (
    Action,
    ActionStatus,
    ActionType,
    BlockingType,
    InstantAction,
    MachineState,
    MovementCommand,
    RouteEdge,
    RouteNode,
    stopping_errors,
)
from fleet.traffic.places import agv_node
from maps.compile import blocked_nodes, compile_site
from maps.graph import GraphArrays
from maps.site import Site
from planners.distance import goal_distances, unreachable
from planners.execution import ExecutionError, ExecutionGraph, around_lists, hold_rotations
from planners.lacam import solve
from planners.lifelong import LifelongPlanner, spurs, warm_up
from planners.problem import Blocks

log = logging.getLogger(__name__)

RESEND_RETRY_S = 10.0  # a re-sent order the vehicle has not reported by then goes again
RESCUE_MAX_CONFIGS = 5_000  # work-limited rescue: LaCAM's configurations
RESCUE_MAX_ITERATIONS = 100_000  # and its iterations (about 0.4 s; 5,000 configurations alone took 3.5 s)
RESCUE_WALL_CAP_S = 5.0  # and its wall-clock backstop
LEAD_HORIZONS = 2  # planning stops this many horizons of virtual steps ahead of the slowest vehicle
MAKE_WAY_STEPS = 8  # plan steps a vehicle waits short of its goal before idle ones leave its way
UNHEARD_S = 5.0  # a vehicle silent this long does not hold planning back
STOPPED_MODES = frozenset({"fault", "offline", "estopped", "out_of_service", "manual"})


@dataclass
class _Job:
    """What a vehicle is doing now: one leg, in stages."""

    leg: Leg
    stage: Stage = Stage.STARTED
    pickup: str = ""
    drop: str = ""
    wait_for_load: bool = False  # pickup at a handoff: the crane sets the load down


NO_WAY: tuple[int, int, frozenset[int]] = (-1, -1, frozenset())


@dataclass
class _Vehicle:
    machine_id: str
    agent: int
    job: _Job | None = None
    goal: int = -1  # node index the planner drives it to (-1: none)
    action: Action | None = None  # runs when the goal entry is reached
    action_entry: int = -1  # entry index the action is attached to
    held_at: int = -1  # node it is held on (-1: moving freely)
    stopped: bool = False
    order_id: str = ""
    order_update: int = 0
    order_first_entry: int = 0
    sent_released: int = -1  # last entry released in a command
    charging: bool = False
    last_state: MachineState | None = None
    done_actions: set[str] = field(default_factory=set)
    resend: bool = False  # the action's node was released without it: send it on a new order
    resend_cmd: MovementCommand | None = None  # that new order, until the vehicle reports it
    resend_s: float = 0.0  # when it last went out
    job_arrived: bool = False
    waited: int = 0  # consecutive plan steps in which others moved and it stood short of its goal
    way: tuple[int, int, frozenset[int]] = NO_WAY  # (from, goal, nodes around its route)


class LaneTraffic:
    """The AGV half of `fleet.core.strategies.Traffic` (cranes: `RunwayTraffic`)."""

    def __init__(
        self,
        site: Site,
        graph: GraphArrays | None = None,
        *,
        lookahead: int = 8,
        horizon: int = 12,
        max_plan_steps: int = 6,
        seed: int = 0,
    ) -> None:
        self.site = site
        self.graph = graph or compile_site(site)
        self._xy: list[list[float]] = self.graph.xy.tolist()  # plain floats: commands read them per node
        ptr, nbr = self.graph.indptr.tolist(), self.graph.indices.tolist()
        self._succ = [frozenset(nbr[ptr[u]:ptr[u + 1]]) for u in range(self.graph.n_nodes)]
        self.lookahead = lookahead
        self.horizon = horizon
        self.max_plan_steps = max_plan_steps
        self.planner = LifelongPlanner(self.graph, seed=seed, no_rotation=True)
        warm_up(self.graph, no_rotation=True)  # no compile later, inside a tick
        self.exec: ExecutionGraph | None = None
        self.vehicles: dict[str, _Vehicle] = {}
        self._by_agent: list[str] = []
        self._ids = itertools.count(1)
        self._closed = np.zeros(self.graph.n_nodes, dtype=bool)
        self._zones: frozenset[str] = frozenset()
        self.handoff_open = lambda station, crane_leg: True  # set by FleetTraffic
        self._station_nodes = frozenset(self.graph.index(st.node) for st in site.stations)
        self._rest_nodes = [self.graph.index(st.node) for st in site.stations if st.kind in ("parking", "charger")]
        self._spur_id = spurs(self.graph)  # dead-end spur of each node (-1: none)
        self._mouths = self._spur_mouths()
        self._no_idle = self._spur_nodes() - frozenset(self._rest_nodes)
        self._rest_set = frozenset(self._rest_nodes)
        self._spur_of: list[int] = self._spur_id.tolist()
        self._near = around_lists(self.graph.conflict_indptr, self.graph.conflict_indices)
        self._rest_dist: np.ndarray | None = None  # steps from every node to each rest node
        self.replans = 0
        self.held_rotations = 0
        self.plan_steps = 0
        self.stalled_steps = 0  # consecutive plan steps in which no vehicle with a goal moved
        self.stall_limit = 24  # beyond the planner's own PIBT spell (planners.lifelong)
        self.rescues = 0
        self.rescue_time_s = 0.3
        self._rescue_backoff = 1
        self._rescue_rows: list[list[int]] = []

    # -- the Traffic contract ---------------------------------------------------
    def assign(self, leg: Leg, machine_id: str, now_s: float) -> None:
        v = self.vehicles.get(machine_id)
        if v is None:
            raise KeyError(f"vehicle {machine_id!r} has not reported a position yet")
        job = _Job(leg=leg)
        if leg.kind in (LegKind.CHARGE, LegKind.PARK):
            job.drop = leg.destination
            job.stage = Stage.PICKED  # nothing to pick: drive straight to the destination
            self._set_goal(v, agv_node(self.site, leg.destination), self._goal_action(leg, "drop"))
        else:
            job.pickup, job.drop = leg.source, leg.destination
            st = self.site.station_by_id.get(leg.source)
            job.wait_for_load = st is not None and st.kind == "handoff"
            self._set_goal(v, agv_node(self.site, leg.source), None if job.wait_for_load else self._goal_action(leg, "pick"))
        v.job = job

    def withdraw(self, leg_id: str, now_s: float) -> None:
        for v in self.vehicles.values():
            if v.job and v.job.leg.id == leg_id:
                v.job = None
                self._set_goal(v, -1, None)
                self._replan()

    def set_blocked_zones(self, zone_ids: frozenset[str]) -> None:
        if zone_ids == self._zones:
            return
        self._zones = frozenset(zone_ids)
        self._closed = blocked_nodes(self.site, self.graph, self._zones)
        self._rest_dist = None
        self.planner.set_closed(self._closed)
        for v in self.vehicles.values():  # the ways were routed round the old closures
            v.way = NO_WAY
        self._replan()

    def planned_path(self, machine_id: str) -> list[str]:
        v = self.vehicles.get(machine_id)
        if v is None or self.exec is None:
            return []
        return [self.graph.node_ids[n] for n in self.exec.planned(v.agent)]

    def machine_stopped(self, machine_id: str, stopped: bool) -> None:
        """The core says a vehicle stopped (fault, link lost, e-stop) or is back."""
        v = self.vehicles.get(machine_id)
        if v is None or v.stopped == stopped:
            return
        v.stopped = stopped
        if stopped:
            self._replan(stopped=frozenset({v.agent}))
        elif self.exec is not None and v.held_at >= 0 and (
                v.goal < 0 or self.exec.node_at(v.agent, self.exec.last(v.agent)) != v.goal):
            v.held_at = -1  # back in the plan; a vehicle held at its goal stays (its action runs there)

    def on_state(self, state: MachineState) -> list[LegProgress]:
        v = self.vehicles.get(state.machine_id)
        if v is None:
            return self._join(state)
        v.last_state = state
        v.charging = state.charging
        if v.resend_cmd is not None and state.order_id == v.resend_cmd.order_id:
            v.resend, v.resend_cmd = False, None
        if state.mode in STOPPED_MODES or stopping_errors(state.errors):
            self.machine_stopped(state.machine_id, True)
        elif v.stopped and state.mode == "auto" and not stopping_errors(state.errors):
            self.machine_stopped(state.machine_id, False)
        out: list[LegProgress] = []
        ex = self.exec
        if ex is not None and state.order_id == v.order_id and state.last_node_id:
            k = v.order_first_entry + state.last_node_sequence_id // 2
            if k <= ex.released(v.agent) and ex.node_at(v.agent, k) == self._index(state.last_node_id):
                ex.mark_reached(v.agent, k)
        if ex is not None and v.action is not None and not v.resend and v.action_entry >= 0 \
                and ex.reached(v.agent) == v.action_entry and not state.driving \
                and all(a.action_id != v.action.action_id for a in state.action_states):
            # standing where its action runs, and it has never heard of it (an update that
            # re-sent the node bare, a vehicle that lost it): send it again on a new order
            log.warning("%s stands at %s without action %s; sending it again", v.machine_id,
                        state.last_node_id, v.action.action_id)
            v.resend = True
        if ex is not None and v.job and not v.job_arrived and v.held_at >= 0 and v.held_at == v.goal \
                and ex.reached(v.agent) == ex.last(v.agent):
            v.job_arrived = True
            stage = Stage.AT_PICKUP if v.job.stage == Stage.STARTED else Stage.AT_DROP
            out.append(LegProgress(v.job.leg.id, v.machine_id, stage, state.stamp_s, state.last_node_id))
        for act in state.action_states:
            if v.action is None or act.action_id != v.action.action_id or act.action_id in v.done_actions:
                continue
            if act.status == ActionStatus.FINISHED:
                v.done_actions.add(act.action_id)
                out.extend(self._action_finished(v, state))
            elif act.status == ActionStatus.FAILED:
                v.done_actions.add(act.action_id)
                if v.job:
                    out.append(LegProgress(v.job.leg.id, v.machine_id, Stage.FAILED, state.stamp_s, state.last_node_id, act.result or "action failed"))
                    v.job = None
                self._set_goal(v, -1, None)
        return out

    def tick(self, now_s: float, budget_s: float) -> list[MovementCommand | InstantAction]:
        if self.exec is None:
            return []
        self._extend(budget_s, now_s)
        cmds: list[MovementCommand | InstantAction] = []
        for v in self.vehicles.values():
            if v.stopped:
                continue
            rel = self.exec.release(v.agent, self.lookahead)
            if rel > v.sent_released:
                cmds.append(self._command(v, now_s))
            elif v.resend and self.exec.reached(v.agent) == v.action_entry:
                if v.resend_cmd is None:
                    v.order_id = ""  # a new order from where it stands, carrying the action
                    v.resend_cmd = self._command(v, now_s)
                    v.resend_s = now_s
                    cmds.append(v.resend_cmd)
                elif now_s - v.resend_s >= RESEND_RETRY_S:
                    # not reported yet: refused (say, still finishing the old order) or its
                    # states lost. The same order again: a vehicle that has it ignores it.
                    v.resend_s = now_s
                    cmds.append(replace(v.resend_cmd, command_id=f"{v.resend_cmd.command_id}/retry-{next(self._ids)}",
                                        issued_s=now_s))
        if self.plan_steps % 200 == 0:
            self.exec.prune()
        return cmds

    # -- handoff support (used by the crane side) ---------------------------------
    def waiting_at(self, node_id: str, after_leg: str | None = None) -> str | None:
        """The vehicle standing on a node, held there waiting for a load (the one whose
        leg comes after `after_leg`, when given), if any."""
        if self.exec is None:
            return None
        idx = self._index(node_id)
        for v in self.vehicles.values():
            if v.job and v.job.wait_for_load and v.held_at == idx and self.exec.reached(v.agent) == self.exec.last(v.agent) \
                    and (after_leg is None or v.job.leg.after == after_leg):
                return v.machine_id
        return None

    def assigned_after(self, crane_leg: str) -> str | None:
        """The vehicle that has the leg following `crane_leg` (it takes the crane's load), if any."""
        for v in self.vehicles.values():
            if v.job and v.job.leg.after == crane_leg and not v.stopped:
                return v.machine_id
        return None

    def load_handed_over(self, machine_id: str, now_s: float) -> list[LegProgress]:
        """The crane set the load down on this vehicle: its leg is loaded, drive on."""
        v = self.vehicles[machine_id]
        if v.job is None:
            return []
        v.job.stage = Stage.PICKED
        v.job.wait_for_load = False
        self._set_goal(v, agv_node(self.site, v.job.drop), self._goal_action(v.job.leg, "drop"))
        return [LegProgress(v.job.leg.id, machine_id, Stage.PICKED, now_s, self.graph.node_ids[self.exec.node_at(v.agent, self.exec.reached(v.agent))] if self.exec else None)]

    # -- internals --------------------------------------------------------------
    def _index(self, node_id: str) -> int:
        try:
            return self.graph.index(node_id)
        except KeyError:
            return -1

    def _join(self, state: MachineState) -> list[LegProgress]:
        node = self._index(state.last_node_id) if state.last_node_id else -1
        if node < 0:
            log.warning("vehicle %s reports unknown node %r; not planned until it does", state.machine_id, state.last_node_id)
            return []
        try:
            if self.exec is None:
                self.exec = ExecutionGraph([node], self.graph.conflict_indptr, self.graph.conflict_indices)
                agent = 0
            else:
                agent = self.exec.add_agent(node)
        except ExecutionError as exc:
            log.error("vehicle %s cannot join the plan: %s", state.machine_id, exc)
            return []
        self._by_agent.append(state.machine_id)
        v = _Vehicle(machine_id=state.machine_id, agent=agent, last_state=state)
        v.sent_released = self.exec.released(agent)
        v.charging = state.charging
        self.vehicles[state.machine_id] = v
        if state.mode in STOPPED_MODES or stopping_errors(state.errors):
            v.stopped = True
            v.held_at = node
        return []

    def _goal_action(self, leg: Leg, kind: str) -> Action:
        if leg.kind == LegKind.CHARGE:
            atype = ActionType.START_CHARGING
        elif leg.kind == LegKind.PARK:
            return Action(f"{leg.id}-park-{next(self._ids)}", ActionType.INIT_POSITION, BlockingType.NONE, {"park": True})
        else:
            atype = ActionType.PICK if kind == "pick" else ActionType.DROP
        params = {"legId": leg.id, "loadType": leg.load_type, "weightKg": leg.weight_kg}
        if leg.order_id:
            params["orderId"] = leg.order_id
        return Action(f"{leg.id}-{atype.value}-{next(self._ids)}", atype, BlockingType.HARD, params)

    def _set_goal(self, v: _Vehicle, node: int | str, action: Action | None) -> None:
        idx = self._index(node) if isinstance(node, str) else node
        v.goal = idx
        v.action = action
        v.action_entry = -1
        v.resend, v.resend_cmd = False, None
        v.job_arrived = False
        v.waited = 0
        if v.held_at >= 0 and not v.stopped:
            v.held_at = -1  # rejoin the planner from where it stands
        if self.exec is not None and idx >= 0 and self.exec.node_at(v.agent, self.exec.last(v.agent)) == idx:
            # already there (or planned to end there): hold and run the action in place. A
            # stopped vehicle too (it was held there): its action goes out once it is back
            self._arrive(v, self.exec.last(v.agent))

    def _arrive(self, v: _Vehicle, entry: int) -> None:
        assert self.exec is not None
        v.held_at = self.exec.node_at(v.agent, entry)
        if v.action is not None:
            v.action_entry = entry
            # the node already went out without the action: send it once the vehicle is there
            v.resend = entry <= v.sent_released

    def _action_finished(self, v: _Vehicle, state: MachineState) -> list[LegProgress]:
        job = v.job
        act = v.action
        v.action = None
        v.action_entry = -1
        if job is None or act is None:
            self._set_goal(v, -1, None)
            return []
        node = state.last_node_id
        if act.action_type == ActionType.PICK:
            job.stage = Stage.PICKED
            self._set_goal(v, agv_node(self.site, job.drop), self._goal_action(job.leg, "drop"))
            return [LegProgress(job.leg.id, v.machine_id, Stage.PICKED, state.stamp_s, node)]
        stage = Stage.CHARGING if act.action_type == ActionType.START_CHARGING else Stage.DROPPED
        v.job = None
        self._set_goal(v, -1, None)
        out = [LegProgress(job.leg.id, v.machine_id, stage, state.stamp_s, node)]
        if stage == Stage.CHARGING:
            out.append(LegProgress(job.leg.id, v.machine_id, Stage.DROPPED, state.stamp_s, node))
        return out

    def _replan(self, stopped: frozenset[int] = frozenset()) -> None:
        if self.exec is None:
            return
        self.replans += 1
        self._rescue_rows.clear()
        # a stopped vehicle keeps what it was released: braking, or with its last state
        # still on the way, it may stand anywhere up to the end of it. Others wait for it
        # to leave those nodes, and when it goes on, its route continues unchanged.
        self.exec.cut_to_released()
        for v in self.vehicles.values():
            last = self.exec.last(v.agent)
            if v.agent in stopped:
                v.held_at = self.exec.node_at(v.agent, last)
            if v.action_entry > last:
                v.action_entry = -1
            at_goal = v.goal >= 0 and self.exec.node_at(v.agent, last) == v.goal
            if v.held_at >= 0 and not v.stopped and v.goal >= 0 and not at_goal:
                v.held_at = -1
            elif at_goal and v.action is not None and v.action_entry < 0:
                # its arrival was planned beyond what is released (say, pushed off its goal and
                # back): the cut lost the action, yet the released plan already ends there
                self._arrive(v, last)

    def _gate_handoffs(self) -> None:
        """AGVs waiting for a crane's load go to the handoff only when it is their turn."""
        for v in self.vehicles.values():
            job = v.job
            if job is None or not job.wait_for_load or v.held_at >= 0 or v.stopped:
                continue
            node = self._index(agv_node(self.site, job.pickup))
            want = node if self.handoff_open(job.pickup, job.leg.after) else -1
            if v.goal != want:
                self._set_goal(v, want, None)

    def _unheard(self, now_s: float) -> frozenset[int]:
        """Agents of vehicles silent for a while (a link outage): they do not hold planning
        back; the re-plan when the plan runs far ahead of them bounds it."""
        return frozenset(v.agent for v in self.vehicles.values()
                         if v.last_state is None or now_s - v.last_state.stamp_s > UNHEARD_S)

    def _extend(self, budget_s: float, now_s: float) -> None:
        ex = self.exec
        assert ex is not None
        self._gate_handoffs()
        unheard = self._unheard(now_s)
        for _ in range(self.max_plan_steps):
            active = [v for v in self.vehicles.values() if v.held_at < 0 and not v.stopped]
            ahead = ex.ahead_all()
            # planning runs at most a few horizons of virtual steps ahead of the slowest
            # vehicle executing it: a vehicle waiting at its plan's end asks for more only
            # while the plan is less than a horizon ahead (planned that far, it still waits:
            # more steps now would only pile up plan for the others, cut at the next re-plan)
            short = [v for v in active if v.goal >= 0 and ahead[v.agent] < self.horizon]
            if not short:
                return
            lead = ex.lead(unheard)
            if lead >= LEAD_HORIZONS * self.horizon or (
                    lead >= self.horizon and all(ahead[v.agent] == 0 for v in short)):
                return
            if max(ahead, default=0) > 3 * self.horizon:
                # the plan ran far ahead of a slow vehicle: start again from what is released
                self._replan()
                continue
            moving = {v.agent for v in active}
            prev = ex.end_config()
            blocked = np.zeros(self.graph.n_nodes, dtype=bool)
            standing = []  # nodes of vehicles not planned this step (at an action, stopped)
            for v in self.vehicles.values():
                if v.agent not in moving:
                    at = prev[v.agent]
                    standing.append(at)
                    blocked[at] = True
                    blocked[self.graph.conflicts(at)] = True
            if not active:
                return
            agents = np.array([v.agent for v in active], dtype=np.int32)
            positions = np.array([prev[a] for a in agents], dtype=np.int32)
            goals = self._step_goals(active, prev, blocked)
            if self.stalled_steps >= self.stall_limit and not self._rescue_rows:
                self._rescue(active, prev, blocked, work_limited=not math.isfinite(budget_s))
            config = self._rescue_rows.pop(0) if self._rescue_rows else None
            if config is not None and not self._follows(prev, config, moving):
                self._rescue_rows.clear()  # the fleet changed since the rescue was planned
                config = None
            if config is None:
                nxt = self.planner.step(positions, goals, blocked, budget_s=budget_s,
                                        standing=np.array(standing, dtype=np.int32))
                config = list(prev)
                for a, node in zip(agents.tolist(), nxt.tolist(), strict=True):
                    config[a] = int(node)
            if not self._follows(prev, config, moving):
                log.error("planner step jumps or moves a held vehicle; step skipped")
                return
            config, held = hold_rotations(prev, config, self.graph.conflict_indptr, self.graph.conflict_indices)
            self.held_rotations += len(held)
            if held:
                self._rescue_rows.clear()  # the rescue plan no longer fits what runs
            try:
                ex.append(config, executable=True)
            except ExecutionError as exc:  # the planner gave an unusable step: wait this one out
                log.warning("planner step refused by the execution graph: %s", exc)
                self._rescue_rows.clear()
                return
            self.plan_steps += 1
            # stalled: someone has somewhere to go this step and nobody moved (vehicles
            # waiting by design, short of a taken spur, do not count)
            bound = agents[goals != positions].tolist()
            moved = not bound or any(config[a] != prev[a] for a in bound)
            self.stalled_steps = 0 if moved else self.stalled_steps + 1
            if config == prev:
                return  # nobody moves this step: planning further now only repeats it
            for v in active:
                a = v.agent
                v.waited = v.waited + 1 if v.goal >= 0 and config[a] == prev[a] != v.goal else 0
                if v.goal >= 0 and config[a] == v.goal:
                    self._arrive(v, ex.last(a))

    def _spur_nodes(self) -> frozenset[int]:
        """Stations, the dead-end spurs they stand on, and every node too close to one:
        places an idle vehicle must not wait on (others have to get through)."""
        g = self.graph
        station_spurs = {int(self._spur_id[st]) for st in self._station_nodes} - {-1}
        spur = set(self._station_nodes) | set(np.flatnonzero(np.isin(self._spur_id, list(station_spurs))).tolist())
        near = {int(c) for v in spur for c in g.conflicts(v).tolist()}
        return frozenset(spur | near)

    def _follows(self, prev: list[int], config: list[int], moving: set[int]) -> bool:
        """Every vehicle stays or moves along one edge, and only planned vehicles move."""
        succ = self._succ
        for a, (u, w) in enumerate(zip(prev, config, strict=True)):
            if u == w:
                continue
            if a not in moving or w not in succ[u]:
                return False
        return True

    def _step_goals(self, active: list[_Vehicle], prev: list[int], blocked: np.ndarray) -> np.ndarray:
        """Goals for this step: a vehicle without a leg keeps its place unless it stands
        on a station, a spur to one, or a node someone is heading for; then it makes way
        to the nearest free node (an idle vehicle must never hold a station)."""
        near, rest, spur_of = self._near, self._rest_set, self._spur_of
        wanted: set[int] = set(self._no_idle)
        for v in active:
            if v.goal >= 0:
                wanted.update(near[v.goal])
                if v.waited >= MAKE_WAY_STEPS:
                    # it has waited a while: idle vehicles on its way make way (booked paths
                    # never push anyone, and one parked in a one-way aisle shuts it for good)
                    wanted.update(self._way(v, prev[v.agent]))
        goals = np.empty(len(active), dtype=np.int32)
        # an idle vehicle rests on a free parking place or charger if there is one (on a
        # one-way loop it would hold up everyone behind it), else keeps out of the way
        resting = {prev[v.agent] for v in self.vehicles.values() if v.job is None} & rest
        claimed = {prev[v.agent] for v in self.vehicles.values()} | {v.goal for v in self.vehicles.values() if v.goal >= 0}
        in_spur = Counter(spur_of[prev[v.agent]] for v in self.vehicles.values())
        # rest places nobody holds or heads for (hundreds of idle vehicles, a dozen places)
        free_rest = [r for r, node in enumerate(self._rest_nodes)
                     if node not in claimed and node not in resting and not blocked[node]]
        for k, v in enumerate(active):
            at = prev[v.agent]
            mouth = self._busy_mouth(v, prev, in_spur) if v.goal >= 0 else None
            if mouth is not None:
                # its station's dead end is taken: waiting in the mouth would shut in the
                # one coming out, so wait short of it, or go on clear of it when already in
                goals[k] = self._free_spot(at, wanted | mouth, blocked) if at in mouth else at
            elif v.goal >= 0:
                goals[k] = v.goal
            elif at in rest:
                goals[k] = at
            else:
                r = self._rest_spot(at, free_rest) if free_rest else -1
                if r >= 0:
                    free_rest.remove(r)
                    goals[k] = self._rest_nodes[r]
                elif at in wanted:
                    goals[k] = self._free_spot(at, wanted, blocked)
                else:
                    goals[k] = at
        return goals

    def _way(self, v: _Vehicle, at: int) -> frozenset[int]:
        """The nodes around v's shortest route to its goal, kept while it waits on one spot."""
        if v.way[:2] != (at, v.goal):
            near = self._near
            v.way = (at, v.goal, frozenset(u for w in self.planner.route(at, v.goal) for u in near[w]))
        return v.way[2]

    def _busy_mouth(self, v: _Vehicle, prev: list[int], in_spur: Counter[int]) -> set[int] | None:
        """The nodes around the dead-end spur of v's goal when another vehicle is in it
        (`in_spur`: vehicles per spur id). One in a spur itself comes out whatever:
        waiting there would shut it."""
        sid = self._spur_of[v.goal]
        if sid < 0 or self._spur_of[prev[v.agent]] >= 0 or not in_spur[sid]:
            return None
        return self._mouths[sid]

    def _spur_mouths(self) -> list[set[int]]:
        """Per spur: its nodes, the junction it leaves the lanes at, and all nodes too close."""
        g = self.graph
        n_spurs = int(self._spur_id.max()) + 1 if g.n_nodes else 0
        mouths: list[set[int]] = [set() for _ in range(n_spurs)]
        src = np.repeat(np.arange(g.n_nodes), np.diff(g.indptr))
        for a, b in zip(src.tolist(), g.indices.tolist(), strict=True):
            for x, y in ((a, b), (b, a)):
                sid = int(self._spur_id[x])
                if sid >= 0:
                    mouths[sid].update((x, y))  # y: the spur's next node or its junction
        return [m | {int(c) for u in m for c in g.conflicts(u).tolist()} for m in mouths]

    def _rest_spot(self, start: int, free: list[int]) -> int:
        """Of the free rest places (`free`: indexes into the parking places and chargers),
        the nearest by lane distance, or -1 when none is reachable. A place behind a held
        vehicle still counts: the planner waits or goes round."""
        if self._rest_dist is None:
            rest = np.array(self._rest_nodes, dtype=np.int32)
            self._rest_dist = goal_distances(self.graph, rest, self._closed)
        best, best_d = -1, unreachable(self._rest_dist.dtype)
        for r in free:
            d = int(self._rest_dist[r, start])
            if d < best_d:
                best, best_d = r, d
        return best

    def _rescue(self, active: list[_Vehicle], prev: list[int], blocked: np.ndarray, work_limited: bool = False) -> None:
        """The step planner stalled: plan the active vehicles to their goals with the
        complete solver (LaCAM) and play that plan back step by step."""
        self.rescues += 1
        g = self.graph
        starts = np.array([prev[v.agent] for v in active], dtype=np.int32)
        goals = starts.copy()
        taken: set[int] = set()
        conflicted = set()
        for v in active:
            if v.goal >= 0:
                conflicted.update((v.goal, *g.conflicts(v.goal).tolist()))
        # real goals first, each at most once; the rest keep their place unless it is wanted
        for k, v in enumerate(active):
            if v.goal >= 0 and v.goal not in taken and not blocked[v.goal]:
                goals[k] = v.goal
                taken.update((v.goal, *g.conflicts(v.goal).tolist()))
        for k, v in enumerate(active):
            if goals[k] != starts[k] and goals[k] == v.goal:
                continue
            spot = self._free_spot(int(starts[k]), taken | (conflicted if v.goal < 0 else set()), blocked)
            goals[k] = spot
            taken.update((spot, *g.conflicts(spot).tolist()))
        # work-limited (a simulated shift): configuration and iteration caps end the search, the same for a
        # seed on any machine; the wall clock is only the backstop
        limit_s, cap, iters = ((RESCUE_WALL_CAP_S, RESCUE_MAX_CONFIGS, RESCUE_MAX_ITERATIONS) if work_limited
                               else (self.rescue_time_s, None, None))
        result = solve(g, starts, goals, limit_s, seed=self.rescues, blocks=Blocks(mask=blocked),
                       no_rotation=True, max_configs=cap, max_iterations=iters)
        if not result.solved or result.plan is None:
            log.info("rescue plan failed (%s): %s", result.status, result.reason)
            # let the step planner try a while first, longer after every failed rescue
            self._rescue_backoff = min(64, 2 * self._rescue_backoff)
            self.stalled_steps = -self._rescue_backoff * self.stall_limit
            return
        self._rescue_backoff = 1
        rows = []
        for t in range(1, result.plan.shape[0]):
            config = list(prev)
            for k, v in enumerate(active):
                config[v.agent] = int(result.plan[t, k])
            rows.append(config)
        self._rescue_rows = rows
        self.stalled_steps = 0

    def _free_spot(self, start: int, avoid: set[int], blocked: np.ndarray) -> int:
        """The nearest node (breadth first) not in `avoid` and not blocked."""
        if start not in avoid:
            return start
        seen, frontier = {start}, [start]
        while frontier:
            nxt = []
            for u in frontier:
                for w in self.graph.neighbours(u).tolist():
                    if w in seen:
                        continue
                    if w not in avoid and not blocked[w]:
                        return w
                    seen.add(w)
                    nxt.append(w)
            frontier = nxt
        return start

    def _command(self, v: _Vehicle, now_s: float) -> MovementCommand:
        ex = self.exec
        assert ex is not None
        rel = ex.released(v.agent)
        new_order = not v.order_id
        if new_order:
            start = ex.reached(v.agent)
            v.order_id = f"{v.machine_id}-{next(self._ids)}"
            v.order_update = 0
            v.order_first_entry = start
        else:
            start = v.sent_released
            v.order_update += 1
        last = min(ex.last(v.agent), rel + self.horizon)
        nodes: list[RouteNode] = []
        edges: list[RouteEdge] = []
        prev_name = None
        node_ids, xy = self.graph.node_ids, self._xy
        px = py = 0.0
        for k in range(start, last + 1):
            n = ex.node_at(v.agent, k)
            name = node_ids[n]
            seq = 2 * (k - v.order_first_entry)
            actions: tuple[Action, ...] = ()
            if k == v.action_entry and v.action is not None and k <= rel and (new_order or k > start):
                actions = (v.action,)
            if k == start and new_order and v.charging and (v.job is None or v.job.leg.kind != LegKind.CHARGE):
                actions = (Action(f"stop-charge-{next(self._ids)}", ActionType.STOP_CHARGING, BlockingType.HARD), *actions)
            x, y = xy[n]
            nodes.append(RouteNode(name, seq, x, y, released=k <= rel, actions=actions))
            if prev_name is not None:
                edges.append(RouteEdge(f"{prev_name}->{name}", seq - 1, prev_name, name, released=k <= rel,
                                       length_m=math.hypot(x - px, y - py)))
            prev_name, px, py = name, x, y
        v.sent_released = rel
        return MovementCommand(
            command_id=f"{v.order_id}/{v.order_update}",
            machine_id=v.machine_id,
            order_id=v.order_id,
            order_update_id=v.order_update,
            nodes=tuple(nodes),
            edges=tuple(edges),
            issued_s=now_s,
        )
