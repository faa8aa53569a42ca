"""Simulated AGVs: a whole fleet stepped as numpy arrays, with per-vehicle routes.

Kinematics are vectorised over the fleet (one array op per quantity per step); only
the vehicles that reach a node, finish an action or receive a command run Python
code, so a step costs O(fleet) array work plus O(events) Python work.

A vehicle drives only its released base (never into the horizon), stops at every
node that has a blocking action, ends the base, or turns a corner (turning in place
takes `turn_s_per_90deg` per quarter turn), accelerates at `accel_mps2` and brakes so
it stops exactly at the next stop node. Top speed per lane is the lowest of the
vehicle's top speed, the edge's `max_speed_mps`, the site lane's and its zones'.

A `bidirectional` vehicle (a port IGV has no front) drives back out of a dead end instead
of turning round in it: a long vehicle rotating in place sweeps a disc its neighbours on
the lanes are not kept out of.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fleet.domain.commands import (
    Action,
    ActionState,
    ActionStatus,
    ActionType,
    InstantAction,
    MachineState,
    MovementCommand,
    RouteEdge,
    RouteNode,
)
from maps.site import Site, StationKind

CORNER_RAD = math.radians(8.0)  # heading changes above this need a stop and a turn in place
ARRIVE_EPS_M = 1e-6


@dataclass(frozen=True)
class AgvSpec:
    """What a simulated vehicle is like (scenario `fleet.agvs` entries)."""

    id: str
    start_node: str
    max_speed_mps: float = 1.5
    accel_mps2: float = 0.5
    turn_s_per_90deg: float = 3.0
    pick_s: float = 8.0
    drop_s: float = 8.0
    battery: float = 1.0
    drain_per_m: float = 0.0002
    drain_per_lift: float = 0.001
    idle_drain_per_h: float = 0.01
    charge_per_h: float = 0.6
    payload_kg: float = 1000.0
    load_types: tuple[str, ...] = ("pallet",)
    hazardous_rated: bool = False
    flat_recover_s: float = 900.0  # a flat battery is swapped or towed after this long
    bidirectional: bool = False  # drives either end first: reverses rather than turn more than 90 deg


@dataclass
class _Route:
    """One vehicle's current order: its nodes, edges and how far it has got."""

    order_id: str
    update_id: int
    nodes: list[RouteNode]
    edges: list[RouteEdge]  # edges[k] joins nodes[k] -> nodes[k + 1]
    at: int = 0  # index of the last node reached
    actions: dict[str, ActionState] = field(default_factory=dict)
    pending: list[Action] = field(default_factory=list)  # still to run at nodes[at]
    running: Action | None = None
    cancel_action: Action | None = None

    def released_end(self) -> int:
        end = self.at
        while end + 1 < len(self.nodes) and self.nodes[end + 1].released and self.edges[end].released:
            end += 1
        return end


class RouteRejected(ValueError):
    """A movement command the vehicle cannot take (bad shape, wrong start node, stale update)."""


def _waypoint(nid: str) -> tuple[str, str] | None:
    """(lane start, lane end) of a compiled waypoint id `A>B#k`, else None."""
    if ">" not in nid:
        return None
    a, _, rest = nid.partition(">")
    return a, rest.split("#", 1)[0]


def _lane_key(u: str, v: str) -> tuple[str, str] | None:
    """The site lane (start, end as driven) an edge lies on, also for waypoints `A>B#k`;
    None when the two ends are not on one lane."""
    wu, wv = _waypoint(u), _waypoint(v)
    if wu is None and wv is None:
        return u, v
    lane = wu or wv
    assert lane is not None
    ends = set(lane)
    if (wu is None and u not in ends) or (wv is None and v not in ends):
        return None
    if wu is not None and wv is not None and set(wu) != set(wv):
        return None
    # the direction as driven: from the end we come from
    a, b = lane
    if u == b or v == a:
        return b, a
    if wu is not None and wv is not None:
        ku, kv = int(u.rsplit("#", 1)[1]), int(v.rsplit("#", 1)[1])
        if wu != wv:  # the same lane written from its other end
            return None
        return (a, b) if kv > ku else (b, a)
    return a, b


class AgvFleet:
    """All simulated AGVs of a world. Arrays are indexed by vehicle index `i`."""

    def __init__(self, site: Site, specs: Iterable[AgvSpec], *, strict_lanes: bool = True) -> None:
        self.site = site
        self.strict_lanes = strict_lanes  # refuse edges that are no lane of the site (as a real map would)
        self.specs = list(specs)
        n = len(self.specs)
        self.ids = [s.id for s in self.specs]
        self.index = {vid: i for i, vid in enumerate(self.ids)}
        if len(self.index) != n:
            raise ValueError("duplicate AGV ids")
        f = np.float64
        self.x = np.zeros(n, f)
        self.y = np.zeros(n, f)
        self.theta = np.zeros(n, f)
        self.v = np.zeros(n, f)
        self.s = np.zeros(n, f)  # metres along the current segment
        self.seg_len = np.zeros(n, f)
        self.seg_vmax = np.zeros(n, f)
        self.end_vlim = np.zeros(n, f)  # speed allowed at the segment's end node
        self.stop_after = np.zeros(n, f)  # distance from segment end to the next stop node
        self.x0 = np.zeros(n, f)
        self.y0 = np.zeros(n, f)
        self.ux = np.zeros(n, f)
        self.uy = np.zeros(n, f)
        self.moving = np.zeros(n, bool)  # on a segment (maybe halted on it)
        self.busy_until = np.full(n, np.inf)  # a timer (action or turn) runs until then
        self.paused = np.zeros(n, bool)
        self.estop = np.zeros(n, bool)
        self.fault = np.zeros(n, bool)  # breakdown
        self.flat = np.zeros(n, bool)
        self.flat_until = np.full(n, np.inf)
        self.charging = np.zeros(n, bool)
        self.loaded = np.zeros(n, bool)
        self.battery = np.array([s.battery for s in self.specs], f)
        self.vtop = np.array([s.max_speed_mps for s in self.specs], f)
        self.accel = np.array([s.accel_mps2 for s in self.specs], f)
        self.drain_m = np.array([s.drain_per_m for s in self.specs], f)
        self.idle_drain = np.array([s.idle_drain_per_h / 3600.0 for s in self.specs], f)
        self.charge_rate = np.array([s.charge_per_h / 3600.0 for s in self.specs], f)
        # tallies for the shift report
        self.dist_m = np.zeros(n, f)
        self.dist_loaded_m = np.zeros(n, f)
        self.busy_s = np.zeros(n, f)
        self.charge_s = np.zeros(n, f)
        self.last_node = [s.start_node for s in self.specs]
        self.last_seq = [0] * n
        self.load_id: list[str | None] = [None] * n
        self.routes: list[_Route | None] = [None] * n
        self.instant: list[dict[str, ActionState]] = [{} for _ in range(n)]
        self.errors: list[set[str]] = [set() for _ in range(n)]
        self.timer_kind: list[str] = [""] * n  # "action" or "turn"
        self.failed_chargers: set[str] = set()
        self.dirty = np.ones(n, bool)  # something worth reporting changed
        self.on_order = np.zeros(n, bool)  # has route left to drive or an action running
        self.turning = np.zeros(n, bool)  # rotating in place at a corner
        self.turn_from = np.zeros(n, f)
        self.turn_by = np.zeros(n, f)
        self.turn_t0 = np.zeros(n, f)
        self.turn_len = np.ones(n, f)
        self.bidir = np.array([s.bidirectional for s in self.specs], bool)
        self.backward = np.zeros(n, bool)  # a bidirectional vehicle driving its back end first
        self.traversals: list[tuple[str, str, str]] = []  # (vehicle, from node, to node) this step
        self._lanes = {}
        for lane in site.lanes:
            self._lanes[(lane.start, lane.end)] = (lane, True)
            if lane.two_way:
                self._lanes[(lane.end, lane.start)] = (lane, True)
            else:
                self._lanes.setdefault((lane.end, lane.start), (lane, False))
        from maps.compile import lane_speed  # the one place zone limits are computed

        self._lane_speed = {lane.id: lane_speed(site, lane) for lane in site.lanes}
        self._chargers = {s.node: s.id for s in site.stations if s.kind == StationKind.CHARGER}
        for i, spec in enumerate(self.specs):
            node = site.node_by_id.get(spec.start_node)
            if node is None:
                raise ValueError(f"AGV {spec.id!r} starts at unknown node {spec.start_node!r}")
            self.x[i], self.y[i] = node.x, node.y

    def place(self, vehicle_id: str, node_id: str, *, battery: float | None = None, load_id: str | None = None,
              heading_rad: float = 0.0) -> None:
        """Stand a vehicle on a node, idle, with this charge and load (a resumed plant)."""
        i = self.index[vehicle_id]
        node = self.site.node_by_id.get(node_id)
        if node is None:
            raise ValueError(f"AGV {vehicle_id!r} placed on unknown node {node_id!r}")
        self.x[i], self.y[i], self.theta[i] = node.x, node.y, heading_rad
        self.last_node[i], self.last_seq[i] = node_id, 0
        if battery is not None:
            self.battery[i] = min(1.0, max(0.0, battery))
        self.load_id[i], self.loaded[i] = load_id, load_id is not None
        self.dirty[i] = True

    # --- commands ------------------------------------------------------------------

    def apply_movement(self, cmd: MovementCommand, now: float) -> None:
        """Take a new order or an update of the current one; raises RouteRejected."""
        i = self.index[cmd.machine_id]
        nodes = sorted(cmd.nodes, key=lambda n: n.sequence_id)
        edges = sorted(cmd.edges, key=lambda e: e.sequence_id)
        if not nodes:
            raise RouteRejected("an order needs at least one node")
        if len(edges) != len(nodes) - 1:
            raise RouteRejected(f"{len(nodes)} nodes need {len(nodes) - 1} edges, got {len(edges)}")
        for k, e in enumerate(edges):
            if e.start_node_id != nodes[k].node_id or e.end_node_id != nodes[k + 1].node_id:
                raise RouteRejected(f"edge {e.edge_id!r} (seq {e.sequence_id}) does not join "
                                    f"{nodes[k].node_id!r} to {nodes[k + 1].node_id!r}")
            key = _lane_key(e.start_node_id, e.end_node_id)
            if self.strict_lanes and (key is None or self._lanes.get(key) is None):
                raise RouteRejected(f"edge {e.edge_id!r} from {e.start_node_id!r} to {e.end_node_id!r} "
                                    "is no lane of the site")
        route = self.routes[i]
        if route is not None and route.order_id == cmd.order_id:
            if cmd.order_update_id <= route.update_id:
                if cmd.order_update_id == route.update_id:
                    return  # the same update again: already applied
                raise RouteRejected(f"order {cmd.order_id!r} update {cmd.order_update_id} is older "
                                    f"than {route.update_id}")
            self._stitch(i, route, cmd, nodes, edges)
            return
        if route is not None and not self._base_done(i):
            raise RouteRejected(f"{cmd.machine_id} is still on order {route.order_id!r}")
        if self.moving[i]:
            raise RouteRejected(f"{cmd.machine_id} is between nodes")
        first = nodes[0]
        if first.node_id != self.last_node[i] and math.hypot(first.x - self.x[i], first.y - self.y[i]) > 0.5:
            raise RouteRejected(f"order starts at {first.node_id!r} but {cmd.machine_id} is at "
                                f"{self.last_node[i]!r}")
        new = _Route(cmd.order_id, cmd.order_update_id, nodes, edges)
        for a in self._all_actions(nodes, edges):
            new.actions[a.action_id] = ActionState(a.action_id, a.action_type.value, ActionStatus.WAITING)
        self.routes[i] = new
        self.instant[i] = {}
        self.last_node[i] = first.node_id
        self.last_seq[i] = first.sequence_id
        new.pending = list(first.actions) if first.released else []
        self.dirty[i] = True
        if self.busy_until[i] == np.inf:
            self._next_at_node(i, now)

    def _stitch(self, i: int, route: _Route, cmd: MovementCommand, nodes: list[RouteNode],
                edges: list[RouteEdge]) -> None:
        # route nodes are in sequence order, and a long order grows to thousands of them
        k = bisect.bisect_left(route.nodes, nodes[0].sequence_id, key=lambda n: n.sequence_id)
        if k == len(route.nodes) or route.nodes[k].sequence_id != nodes[0].sequence_id:
            raise RouteRejected(f"update {cmd.order_update_id} of {cmd.order_id!r} starts at sequence "
                                f"{nodes[0].sequence_id}, not on the current route")
        if route.nodes[k].node_id != nodes[0].node_id:
            raise RouteRejected(f"update starts at {nodes[0].node_id!r}, the route has "
                                f"{route.nodes[k].node_id!r} there")
        if k > route.released_end():
            raise RouteRejected(f"update starts at {nodes[0].node_id!r}, beyond the released base")
        # What the vehicle already passed stays as driven; the rest comes from the update.
        keep = max(k, route.at)
        offset = keep - k
        # Nodes the vehicle has reached, and the one it is driving to, must stay as they are.
        fixed_to = route.at + (1 if self.moving[i] else 0)  # last route index that cannot change
        if fixed_to - k >= len(nodes):
            raise RouteRejected("update ends behind the vehicle")
        for j in range(max(1, fixed_to - k + 1)):
            if nodes[j].node_id != route.nodes[k + j].node_id:
                raise RouteRejected(f"update changes node {route.nodes[k + j].node_id!r} the vehicle "
                                    "already passed")
        del route.nodes[keep:]  # in place: a copy of a long-lived order's route costs O(route)
        route.nodes.extend(nodes[offset:])
        del route.edges[keep:]
        route.edges.extend(edges[offset:])
        route.update_id = cmd.order_update_id
        for a in self._all_actions(nodes[offset + 1:], edges[offset:]):
            route.actions.setdefault(a.action_id, ActionState(a.action_id, a.action_type.value,
                                                              ActionStatus.WAITING))
        self.dirty[i] = True
        if not self.moving[i] and self.busy_until[i] == np.inf:
            self._next_at_node(i, self._now)
        elif self.moving[i]:
            self._refresh_stops(i)

    @staticmethod
    def _all_actions(nodes: Iterable[RouteNode], edges: Iterable[RouteEdge]) -> list[Action]:
        out = [a for n in nodes for a in n.actions]
        out += [a for e in edges for a in e.actions]
        return out

    def apply_instant(self, cmd: InstantAction, now: float) -> None:
        i = self.index[cmd.machine_id]
        for a in cmd.actions:
            status = ActionStatus.FINISHED
            t = a.action_type
            if t == ActionType.START_PAUSE:
                self.paused[i] = True
            elif t == ActionType.STOP_PAUSE:
                self.paused[i] = False
                self.resume(i, now)  # paused standing at a node: nothing else sets it off again
            elif t == ActionType.EMERGENCY_STOP:
                self.estop[i] = True
                self.v[i] = 0.0
                self.errors[i].add("emergencyStop")
            elif t == ActionType.RELEASE_EMERGENCY_STOP:
                self.estop[i] = False
                self.errors[i].discard("emergencyStop")
                self.resume(i, now)
            elif t == ActionType.CANCEL_ORDER:
                status = self._cancel(i, a)
            elif t == ActionType.START_CHARGING:
                status = self._start_charging(i)
            elif t == ActionType.STOP_CHARGING:
                self.charging[i] = False
            elif t == ActionType.INIT_POSITION:
                status = self._init_position(i, a)
            elif t == ActionType.STATE_REQUEST:
                pass
            else:
                status = ActionStatus.FAILED
            self.instant[i][a.action_id] = ActionState(a.action_id, t.value, status)
        self.dirty[i] = True

    def _init_position(self, i: int, a: Action) -> ActionStatus:
        node = self.site.node_by_id.get(str(a.params.get("node_id", "")))
        if node is None or self.moving[i]:
            return ActionStatus.FAILED
        self.x[i], self.y[i] = node.x, node.y
        self.last_node[i] = node.id
        self.routes[i] = None
        return ActionStatus.FINISHED

    def _cancel(self, i: int, a: Action) -> ActionStatus:
        route = self.routes[i]
        if route is None or self._route_done(i):
            return ActionStatus.FINISHED
        stop = route.at + 1 if self.moving[i] else route.at
        for n in route.nodes[stop + 1:]:
            for act in n.actions:
                self._set_action(i, act, ActionStatus.FAILED, "cancelled")
        if not self.moving[i]:
            for act in route.pending:
                self._set_action(i, act, ActionStatus.FAILED, "cancelled")
            route.pending = []
        else:
            for act in route.nodes[stop].actions:
                self._set_action(i, act, ActionStatus.FAILED, "cancelled")
        route.nodes = route.nodes[: stop + 1]
        route.edges = route.edges[:stop]
        route.nodes[stop] = _with_no_actions(route.nodes[stop])
        if self.moving[i]:
            self._refresh_stops(i)
            route.cancel_action = a
            return ActionStatus.RUNNING
        if route.running is not None:
            route.cancel_action = a
            return ActionStatus.RUNNING
        return ActionStatus.FINISHED

    def _start_charging(self, i: int) -> ActionStatus:
        station = self._chargers.get(self.last_node[i])
        if self.moving[i] or station is None:
            self.errors[i].add("noChargerHere")
            return ActionStatus.FAILED
        if station in self.failed_chargers:
            self.errors[i].add(f"chargerFault:{station}")
            return ActionStatus.FAILED
        self.errors[i].discard("noChargerHere")
        self.charging[i] = True
        return ActionStatus.FINISHED

    # --- the node state machine ------------------------------------------------------

    def _set_action(self, i: int, a: Action, status: ActionStatus, result: str | None = None) -> None:
        route = self.routes[i]
        if route is not None:
            route.actions[a.action_id] = ActionState(a.action_id, a.action_type.value, status, result)
        self.dirty[i] = True

    def _base_done(self, i: int) -> bool:
        """Standing at the end of its base with nothing to do: a new order may replace this
        one (VDA 5050: the horizon binds nobody; only a base still being driven does)."""
        r = self.routes[i]
        if r is None:
            return True
        return not self.moving[i] and r.running is None and not r.pending and r.at == r.released_end()

    def _route_done(self, i: int) -> bool:
        r = self.routes[i]
        if r is None:
            return True
        return (not self.moving[i] and r.running is None and not r.pending
                and r.at == len(r.nodes) - 1)

    def _next_at_node(self, i: int, now: float) -> None:
        """At nodes[at] and idle: run the next action, turn, or set off along the base."""
        route = self.routes[i]
        if route is None:
            return
        while route.pending:
            a = route.pending.pop(0)
            if self._run_action(i, a, now):
                return
        if route.cancel_action is not None:
            self.instant[i][route.cancel_action.action_id] = ActionState(
                route.cancel_action.action_id, ActionType.CANCEL_ORDER.value, ActionStatus.FINISHED)
            route.cancel_action = None
            self.dirty[i] = True
        k = route.at
        if k + 1 >= len(route.nodes) or k >= len(route.edges):
            return
        nxt, edge = route.nodes[k + 1], route.edges[k]
        if not (nxt.released and edge.released) or self._halted(i):
            return
        cur = route.nodes[k]
        heading = math.atan2(nxt.y - cur.y, nxt.x - cur.x)
        self.backward[i] = bool(self.bidir[i]) and abs(_wrap(heading - self.theta[i])) > math.pi / 2
        if self.backward[i]:
            heading = _wrap(heading + math.pi)  # the body's heading: its back leads
        turn = abs(_wrap(heading - self.theta[i]))
        if turn > CORNER_RAD and math.hypot(nxt.x - cur.x, nxt.y - cur.y) > 1e-6:
            duration = self.specs[i].turn_s_per_90deg * turn / (math.pi / 2)
            self.turn_from[i] = self.theta[i]
            self.turn_by[i] = _wrap(heading - self.theta[i])
            self.turn_t0[i] = now
            self.turn_len[i] = duration
            self.turning[i] = duration > 0
            self.busy_until[i] = now + duration
            self.timer_kind[i] = "turn"
            if duration <= 0:
                self.theta[i] = heading
            return
        self._start_segment(i)

    def _run_action(self, i: int, a: Action, now: float) -> bool:
        """Start a node action; True when it takes time (a timer now runs)."""
        spec = self.specs[i]
        t = a.action_type
        if t in (ActionType.PICK, ActionType.DROP):
            base = spec.pick_s if t == ActionType.PICK else spec.drop_s
            duration = float(a.params.get("duration_s", base))
            self._set_action(i, a, ActionStatus.RUNNING)
            self.routes[i].running = a  # type: ignore[union-attr]
            self.busy_until[i] = now + duration
            self.timer_kind[i] = "action"
            self.charging[i] = False
            return True
        if t == ActionType.START_CHARGING:
            self._set_action(i, a, self._start_charging(i))
            return False
        if t == ActionType.STOP_CHARGING:
            self.charging[i] = False
        self._set_action(i, a, ActionStatus.FINISHED)
        return False

    def _finish_action(self, i: int) -> None:
        route = self.routes[i]
        a = route.running if route else None
        if route is None or a is None:
            return
        route.running = None
        if a.action_type == ActionType.PICK:
            self.load_id[i] = str(a.params.get("load_id") or route.order_id)
            self.loaded[i] = True
        else:
            self.load_id[i] = None
            self.loaded[i] = False
        self.battery[i] = max(0.0, self.battery[i] - self.specs[i].drain_per_lift)
        self._set_action(i, a, ActionStatus.FINISHED)

    def _edge_speed(self, i: int, edge: RouteEdge) -> float:
        limit = self.vtop[i]
        if edge.max_speed_mps:
            limit = min(limit, edge.max_speed_mps)
        key = _lane_key(edge.start_node_id, edge.end_node_id)
        hit = self._lanes.get(key) if key is not None else None
        if hit is not None:
            limit = min(limit, self._lane_speed[hit[0].id])
        return max(limit, 0.05)

    def _start_segment(self, i: int) -> None:
        route = self.routes[i]
        assert route is not None
        k = route.at
        a, b, edge = route.nodes[k], route.nodes[k + 1], route.edges[k]
        dx, dy = b.x - a.x, b.y - a.y
        length = math.hypot(dx, dy)
        self.x0[i], self.y0[i] = a.x, a.y
        self.ux[i], self.uy[i] = (dx / length, dy / length) if length > 0 else (0.0, 0.0)
        self.seg_len[i] = max(edge.length_m or length, length) if length > 0 else 0.0
        self.s[i] = 0.0
        self.seg_vmax[i] = self._edge_speed(i, edge)
        if length > 0:
            self.theta[i] = _wrap(math.atan2(dy, dx) + (math.pi if self.backward[i] else 0.0))
        self.moving[i] = True
        self.charging[i] = False
        self._refresh_stops(i)
        self.dirty[i] = True

    def _is_stop(self, route: _Route, j: int, heading_in: float) -> bool:
        """Must the vehicle stop at nodes[j] (coming in at heading_in)?"""
        if j + 1 >= len(route.nodes) or j >= len(route.edges):
            return True
        n, nxt, e = route.nodes[j], route.nodes[j + 1], route.edges[j]
        if not (nxt.released and e.released):
            return True
        if any(a.blocking != "NONE" for a in n.actions):
            return True
        out = math.atan2(nxt.y - n.y, nxt.x - n.x)
        return abs(_wrap(out - heading_in)) > CORNER_RAD

    def _refresh_stops(self, i: int) -> None:
        """Recompute the end-of-segment speed and the run-out to the next stop."""
        route = self.routes[i]
        if route is None:
            return
        j = route.at + 1
        heading = self.travel_heading(i)
        if self._is_stop(route, j, heading):
            self.end_vlim[i] = 0.0
            self.stop_after[i] = 0.0
            return
        self.end_vlim[i] = self._edge_speed(i, route.edges[j])
        dist = 0.0
        while j < len(route.nodes) - 1 and dist < 50.0:
            a, b = route.nodes[j], route.nodes[j + 1]
            dist += math.hypot(b.x - a.x, b.y - a.y)
            heading = math.atan2(b.y - a.y, b.x - a.x)
            j += 1
            if self._is_stop(route, j, heading):
                break
        self.stop_after[i] = dist

    def _halted(self, i: int) -> bool:
        return bool(self.paused[i] or self.estop[i] or self.fault[i] or self.flat[i])

    # --- time ------------------------------------------------------------------------

    _now = 0.0

    def step(self, now: float, dt: float) -> None:
        """Advance every vehicle by dt seconds, ending at time now + dt."""
        t1 = now + dt
        self._now = t1
        self.traversals = []
        halted = self.paused | self.estop | self.fault | self.flat
        # a halted vehicle's timers do not run
        timer = np.isfinite(self.busy_until)
        self.busy_until[timer & halted] += dt
        self.turn_t0[self.turning & halted] += dt
        if self.turning.any():
            frac = np.clip((t1 - self.turn_t0) / self.turn_len, 0.0, 1.0)
            self.theta = np.where(self.turning, self.turn_from + self.turn_by * frac, self.theta)
        go = self.moving & ~halted
        a = self.accel
        rem = np.maximum(self.seg_len - self.s, 0.0)
        vlim = np.minimum(self.seg_vmax, np.sqrt(self.end_vlim**2 + 2 * a * rem))
        vlim = np.minimum(vlim, np.sqrt(2 * a * (rem + self.stop_after)))
        v_new = np.where(go, np.minimum(self.v + a * dt, vlim), 0.0)
        # paused vehicles brake at their normal deceleration; e-stop and faults stop dead
        soft = self.moving & self.paused & ~(self.estop | self.fault | self.flat)
        v_new = np.where(soft, np.maximum(self.v - a * dt, 0.0), v_new)
        ds = np.minimum(v_new * dt, rem)
        arrive = self.moving & (self.s + v_new * dt >= self.seg_len - ARRIVE_EPS_M) & (go | soft)
        arrive &= (v_new > 0) | (rem <= ARRIVE_EPS_M)
        self.v = v_new
        self.s += ds
        self.x = np.where(self.moving, self.x0 + self.ux * self.s, self.x)
        self.y = np.where(self.moving, self.y0 + self.uy * self.s, self.y)
        self.dist_m += ds
        self.dist_loaded_m += ds * self.loaded
        idle = ~self.moving & ~timer
        self.battery -= self.drain_m * ds * np.where(self.loaded, 1.3, 1.0) + self.idle_drain * dt * idle
        # charging
        self.charge_s += dt * self.charging
        self.battery = np.where(self.charging, np.minimum(self.battery + self.charge_rate * dt, 1.0),
                                self.battery)
        self.busy_s += dt * (self.moving | timer | self.on_order)
        # flat batteries
        newly_flat = (self.battery <= 0.0) & ~self.flat
        for i in np.flatnonzero(newly_flat):
            self.battery[i] = 0.0
            self.flat[i] = True
            self.flat_until[i] = t1 + self.specs[i].flat_recover_s
            self.v[i] = 0.0
            self.errors[i].add("batteryFlat")
            self.dirty[i] = True
        self.battery = np.maximum(self.battery, 0.0)
        for i in np.flatnonzero(self.flat & (self.flat_until <= t1)):
            self.recover_flat(int(i), t1)
        for i in np.flatnonzero(arrive):
            self._arrive(int(i), t1)
        for i in np.flatnonzero(self.busy_until <= t1):
            i = int(i)
            kind = self.timer_kind[i]
            self.busy_until[i] = np.inf
            self.timer_kind[i] = ""
            if kind == "action":
                self._finish_action(i)
                self._next_at_node(i, t1)
            elif kind == "turn":
                self.turning[i] = False
                self.theta[i] = _wrap(self.turn_from[i] + self.turn_by[i])
                self._start_segment(i)
        for i in np.flatnonzero(self.dirty).tolist():  # whatever changed: still on an order?
            r = self.routes[i]
            self.on_order[i] = r is not None and (r.at < len(r.nodes) - 1 or r.running is not None)

    def recover_flat(self, i: int, now: float, level: float = 0.5) -> None:
        self.flat[i] = False
        self.flat_until[i] = np.inf
        self.battery[i] = max(self.battery[i], level)
        self.errors[i].discard("batteryFlat")
        self.dirty[i] = True
        self.resume(i, now)

    def resume(self, i: int, now: float) -> None:
        """Set off again after a halt ended, if standing at a node with more to do."""
        if not self.moving[i] and self.busy_until[i] == np.inf and not self._halted(i):
            self._next_at_node(i, now)

    def _arrive(self, i: int, now: float) -> None:
        route = self.routes[i]
        assert route is not None
        prev = route.nodes[route.at]
        route.at += 1
        node = route.nodes[route.at]
        self.x[i], self.y[i] = node.x, node.y
        self.s[i] = 0.0
        self.moving[i] = False
        self.last_node[i] = node.node_id
        self.last_seq[i] = node.sequence_id
        self.traversals.append((self.ids[i], prev.node_id, node.node_id))
        for a in route.edges[route.at - 1].actions:
            self._set_action(i, a, ActionStatus.FINISHED)
        route.pending = list(node.actions)
        self.dirty[i] = True
        if self.end_vlim[i] > 0 and not route.pending and route.at + 1 < len(route.nodes):
            keep_v = self.v[i]
            self._start_segment(i)  # drive straight through
            self.v[i] = keep_v
            return
        self.v[i] = 0.0
        self._next_at_node(i, now)

    # --- faults (from sim.faults) ------------------------------------------------------

    def set_fault(self, i: int, on: bool, now: float) -> None:
        self.fault[i] = on
        if on:
            self.v[i] = 0.0
            self.errors[i].add("breakdown")
        else:
            self.errors[i].discard("breakdown")
            self.resume(i, now)
        self.dirty[i] = True

    def set_estop(self, i: int, on: bool, now: float) -> None:
        self.estop[i] = on
        if on:
            self.v[i] = 0.0
            self.errors[i].add("emergencyStop")
        else:
            self.errors[i].discard("emergencyStop")
            self.resume(i, now)
        self.dirty[i] = True

    def drain_flat(self, i: int) -> None:
        self.battery[i] = 0.0

    def fail_charger(self, station_id: str, on: bool) -> None:
        if on:
            self.failed_chargers.add(station_id)
            node = next((n for n, s in self._chargers.items() if s == station_id), None)
            for i in range(len(self.ids)):
                if self.charging[i] and self.last_node[i] == node:
                    self.charging[i] = False
                    self.errors[i].add(f"chargerFault:{station_id}")
                    self.dirty[i] = True
        else:
            self.failed_chargers.discard(station_id)
            for i in range(len(self.ids)):
                if f"chargerFault:{station_id}" in self.errors[i]:
                    self.errors[i].discard(f"chargerFault:{station_id}")
                    self.dirty[i] = True

    # --- reporting -------------------------------------------------------------------

    def describe(self, i: int) -> dict[str, Any]:
        """Where vehicle i is in its order and what holds it: for a person (or a test)
        finding out why a vehicle stands still."""
        r = self.routes[i]
        out: dict[str, Any] = {"machine_id": self.ids[i], "mode": self.mode(i), "node": self.last_node[i],
                               "moving": bool(self.moving[i]), "v_mps": round(float(self.v[i]), 3),
                               "timer": self.timer_kind[i], "busy_until_s": float(self.busy_until[i]),
                               "errors": sorted(self.errors[i])}
        if r is not None:
            out.update(order_id=r.order_id, update_id=r.update_id, at=r.at, last=len(r.nodes) - 1,
                       released_end=r.released_end(), pending=[a.action_id for a in r.pending],
                       running=r.running.action_id if r.running else None,
                       next_nodes=[n.node_id + ("" if n.released else "?") for n in r.nodes[r.at:r.at + 4]],
                       open_actions=[(a.action_id, a.status.value) for a in r.actions.values()
                                     if a.status not in (ActionStatus.FINISHED, ActionStatus.FAILED)])
        return out

    def mode(self, i: int) -> str:
        if self.estop[i]:
            return "estopped"
        if self.fault[i] or self.flat[i]:
            return "fault"
        if self.paused[i]:
            return "paused"
        return "auto"

    def state(self, i: int, now: float, received_s: float | None = None) -> MachineState:
        route = self.routes[i]
        if route is not None:
            remaining = tuple(n.node_id for n in route.nodes[route.at + 1:])
            actions = tuple(route.actions.values()) + tuple(self.instant[i].values())
            order_id, update_id = route.order_id, route.update_id
        else:
            remaining, actions, order_id, update_id = (), tuple(self.instant[i].values()), "", 0
        return MachineState(
            machine_id=self.ids[i],
            stamp_s=now,
            order_id=order_id,
            order_update_id=update_id,
            last_node_id=self.last_node[i],
            last_node_sequence_id=self.last_seq[i],
            driving=bool(self.v[i] > 0.0),
            paused=bool(self.paused[i]),
            x=float(self.x[i]),
            y=float(self.y[i]),
            theta=float(self.theta[i]),
            battery=float(self.battery[i]),
            charging=bool(self.charging[i]),
            load_id=self.load_id[i],
            mode=self.mode(i),
            errors=tuple(sorted(self.errors[i])),
            action_states=actions,
            remaining_node_ids=remaining,
            received_s=received_s,
        )

    def travel_heading(self, i: int) -> float:
        """The way vehicle i moves (its body heading, turned round when it drives backwards)."""
        return _wrap(float(self.theta[i]) + (math.pi if self.backward[i] else 0.0))

    def signed_speed(self) -> np.ndarray:
        """Speed along each body's heading, as its wheel odometry measures it (negative backwards)."""
        return np.where(self.backward, -self.v, self.v)

    def next_node_index(self, i: int) -> str | None:
        """The node the vehicle is heading to or waiting to enter (for deadlock checks)."""
        route = self.routes[i]
        if route is None or route.at + 1 >= len(route.nodes):
            return None
        return route.nodes[route.at + 1].node_id

    def lane_of(self, u: str, v: str) -> tuple[object, bool] | None:
        """(site lane, driven in an allowed direction) for an edge, None if no lane."""
        key = _lane_key(u, v)
        return self._lanes.get(key) if key is not None else None


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def _with_no_actions(n: RouteNode) -> RouteNode:
    from dataclasses import replace

    return replace(n, actions=())
