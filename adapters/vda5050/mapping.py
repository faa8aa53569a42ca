"""Core commands to VDA 5050 messages and VDA 5050 state back to `MachineState`.

Versions 2.0 and 2.1 share these shapes; where they differ the `Profile` of the
vehicle's version says so (adapters/vda5050/v2_0, v2_1). VDA 5050 words (node,
edge, action, blocking type, header) stay inside this package.

Emergency stop: VDA 5050 has no standard e-stop instant action, so the core's
`emergencyStop` is sent as a HARD `startPause` (the standard way to halt at once)
and the gateway reports the machine as e-stopped until `releaseEmergencyStop`
(sent as `stopPause`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fleet.domain.commands import (
    Action,
    ActionState,
    ActionStatus,
    ActionType,
    InstantAction,
    MachineState,
    MovementCommand,
)

INTERFACE_NAME = "uagv"


@dataclass(frozen=True)
class Profile:
    """What differs between protocol versions, as data."""

    version: str  # full version written in every header, "2.0.0"
    major: str  # the topic's version level, "v2"
    action_statuses: frozenset[str]
    battery_health_integer: bool


@dataclass(frozen=True)
class VehicleRef:
    """One vehicle as VDA 5050 names it, and the fleet's id for it."""

    machine_id: str
    manufacturer: str
    serial_number: str
    version: str = "2.0.0"
    map_id: str = "site"
    interface_name: str = INTERFACE_NAME

    def topic(self, name: str, major: str = "v2") -> str:
        """`interfaceName/majorVersion/manufacturer/serialNumber/topic`."""
        return f"{self.interface_name}/{major}/{self.manufacturer}/{self.serial_number}/{name}"


def timestamp(t_s: float) -> str:
    """ISO 8601 UTC with milliseconds and a Z, as the spec's examples write it."""
    return datetime.fromtimestamp(t_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_timestamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def header(ref: VehicleRef, profile: Profile, header_id: int, t_s: float) -> dict[str, Any]:
    return {
        "headerId": header_id,
        "timestamp": timestamp(t_s),
        "version": profile.version,
        "manufacturer": ref.manufacturer,
        "serialNumber": ref.serial_number,
    }


_INSTANT = {
    ActionType.EMERGENCY_STOP: "startPause",
    ActionType.RELEASE_EMERGENCY_STOP: "stopPause",
}


def action_message(action: Action) -> dict[str, Any]:
    out: dict[str, Any] = {
        "actionId": action.action_id,
        "actionType": _INSTANT.get(action.action_type, action.action_type.value),
        "blockingType": action.blocking.value,
    }
    params = [{"key": str(k), "value": v} for k, v in sorted(action.params.items())
              if isinstance(v, str | int | float | bool | list | dict)]
    if action.action_type is ActionType.EMERGENCY_STOP:
        params.append({"key": "reason", "value": "emergencyStop"})
    if params:
        out["actionParameters"] = params
    return out


def order_message(cmd: MovementCommand, ref: VehicleRef, profile: Profile, header_id: int,
                  t_s: float) -> dict[str, Any]:
    """An `order` (new order or update) with base and horizon as the command says."""
    nodes = []
    for n in sorted(cmd.nodes, key=lambda n: n.sequence_id):
        pos: dict[str, Any] = {"x": n.x, "y": n.y, "mapId": ref.map_id}
        if n.theta is not None:
            pos["theta"] = n.theta
        nodes.append({
            "nodeId": n.node_id,
            "sequenceId": n.sequence_id,
            "released": n.released,
            "nodePosition": pos,
            "actions": [action_message(a) for a in n.actions],
        })
    edges = []
    for e in sorted(cmd.edges, key=lambda e: e.sequence_id):
        edge: dict[str, Any] = {
            "edgeId": e.edge_id,
            "sequenceId": e.sequence_id,
            "released": e.released,
            "startNodeId": e.start_node_id,
            "endNodeId": e.end_node_id,
            "actions": [action_message(a) for a in e.actions],
        }
        if e.max_speed_mps is not None:
            edge["maxSpeed"] = e.max_speed_mps
        if e.length_m is not None:
            edge["length"] = e.length_m
        edges.append(edge)
    return {
        **header(ref, profile, header_id, t_s),
        "orderId": cmd.order_id,
        "orderUpdateId": cmd.order_update_id,
        "nodes": nodes,
        "edges": edges,
    }


def instant_actions_message(cmd: InstantAction, ref: VehicleRef, profile: Profile,
                            header_id: int, t_s: float) -> dict[str, Any]:
    return {**header(ref, profile, header_id, t_s),
            "actions": [action_message(a) for a in cmd.actions]}


_MODES = {"AUTOMATIC": "auto", "SEMIAUTOMATIC": "auto", "MANUAL": "manual",
          "SERVICE": "out_of_service", "TEACHIN": "manual"}


def machine_state(msg: dict[str, Any], ref: VehicleRef, received_s: float,
                  estopped: bool = False) -> MachineState:
    """A schema-valid `state` as the core's `MachineState` (call `validate` first)."""
    pos = msg.get("agvPosition") or {}
    battery = msg.get("batteryState") or {}
    safety = msg.get("safetyState") or {}
    errors = tuple(str(e.get("errorType", "")) for e in msg.get("errors", []))
    mode = _MODES.get(str(msg.get("operatingMode")), "auto")
    if estopped or safety.get("eStop", "NONE") != "NONE":
        mode = "estopped"
        if "emergencyStop" not in errors:
            errors = (*errors, "emergencyStop")
    elif any(e.get("errorLevel") == "FATAL" for e in msg.get("errors", [])):
        mode = "fault"
    statuses = {s.value for s in ActionStatus}
    actions = tuple(
        ActionState(
            a["actionId"], str(a.get("actionType", "")),
            ActionStatus(a["actionStatus"]) if a["actionStatus"] in statuses else ActionStatus.WAITING,
            a.get("resultDescription"),
        )
        for a in msg.get("actionStates", [])
    )
    loads = msg.get("loads") or []
    charge = battery.get("batteryCharge")
    return MachineState(
        machine_id=ref.machine_id,
        stamp_s=parse_timestamp(msg["timestamp"]),
        order_id=msg.get("orderId", ""),
        order_update_id=int(msg.get("orderUpdateId", 0)),
        last_node_id=msg.get("lastNodeId", ""),
        last_node_sequence_id=int(msg.get("lastNodeSequenceId", 0)),
        driving=bool(msg.get("driving", False)),
        paused=bool(msg.get("paused", False)),
        x=pos.get("x"),
        y=pos.get("y"),
        theta=pos.get("theta"),
        battery=None if charge is None else max(0.0, min(1.0, float(charge) / 100.0)),
        charging=bool(battery.get("charging", False)),
        load_id=(loads[0].get("loadId") if loads else None),
        mode=mode,
        errors=errors,
        action_states=actions,
        remaining_node_ids=tuple(n["nodeId"] for n in sorted(
            msg.get("nodeStates", []), key=lambda n: n["sequenceId"])),
        received_s=received_s,
    )


def stitch(previous: MovementCommand | None, cmd: MovementCommand) -> MovementCommand:
    """Check an order update against the last order sent, and trim what the vehicle has.

    VDA 5050 stitching: an update (same orderId, higher orderUpdateId) must start at
    the last base node of the previous message; nodes and edges before it are not
    sent again. A new orderId starts a new order. Raises `ValueError` when the update
    does not stitch (the gateway refuses it, and the core re-plans).
    """
    if previous is None or previous.order_id != cmd.order_id:
        return cmd
    if cmd.order_update_id <= previous.order_update_id:
        raise ValueError(f"order {cmd.order_id!r}: update {cmd.order_update_id} is not after "
                         f"{previous.order_update_id}")
    base_end = previous.base_end
    if base_end is None:
        return cmd
    first = [n for n in cmd.nodes if n.sequence_id == base_end.sequence_id]
    if not first and cmd.nodes:
        cmd = _fill_from_horizon(previous, base_end.sequence_id, cmd)
        first = [n for n in cmd.nodes if n.sequence_id == base_end.sequence_id]
    if not first or first[0].node_id != base_end.node_id:
        raise ValueError(f"order {cmd.order_id!r} update {cmd.order_update_id} does not start at "
                         f"the last base node {base_end.node_id!r} (sequence {base_end.sequence_id})")
    keep_from = base_end.sequence_id
    return MovementCommand(
        cmd.command_id, cmd.machine_id, cmd.order_id, cmd.order_update_id,
        tuple(n for n in cmd.nodes if n.sequence_id >= keep_from),
        tuple(e for e in cmd.edges if e.sequence_id > keep_from),
        cmd.issued_s,
    )


def _fill_from_horizon(previous: MovementCommand, from_seq: int,
                       cmd: MovementCommand) -> MovementCommand:
    """An update that starts beyond the vehicle's base end (the base was cut shorter than
    the core released, e.g. by the link rules): take the missing nodes and edges from
    the previous message's horizon, released, when they lead to the update's first node."""
    import dataclasses

    start = min(n.sequence_id for n in cmd.nodes)
    gap_nodes = [n for n in previous.nodes if from_seq <= n.sequence_id < start]
    gap_edges = [e for e in previous.edges if from_seq < e.sequence_id < start]
    joined = {n.sequence_id: n.node_id for n in previous.nodes}
    first = next(n for n in cmd.nodes if n.sequence_id == start)
    if joined.get(start) != first.node_id or len(gap_nodes) != (start - from_seq) // 2:
        return cmd  # it does not continue the previous order: the caller refuses it
    return dataclasses.replace(
        cmd,
        nodes=tuple(dataclasses.replace(n, released=True) for n in gap_nodes) + cmd.nodes,
        edges=tuple(dataclasses.replace(e, released=True) for e in gap_edges) + cmd.edges,
    )
