"""The one vocabulary between the core and every machine, whatever the transport.

Commands are shaped like VDA 5050 (an order of nodes and edges, each released or in
the horizon, with actions; instant actions) so MQTT, ROS 2 and the simulator all map
from the same values. The core never speaks a protocol; adapters do the mapping.

Sequence ids follow VDA 5050: nodes even (0, 2, 4, ...), edges odd in between.
`command_id` makes every command idempotent: a gateway that sees the same id twice
applies it once.

Order updates follow VDA 5050 stitching: a `MovementCommand` with the same `order_id`
and a higher `order_update_id` starts with the last released node of the previous one
(same node id and sequence id, released) and continues with the newly released nodes,
then the horizon (unreleased nodes, a preview only). A machine drives only along
released nodes; a new `order_id` starts a new order from the node the machine stands
on (its first node, released). Node actions (pick, drop, startCharging) run when the
machine reaches that node; it reports them in `MachineState.action_states`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class BlockingType(StrEnum):
    NONE = "NONE"
    SOFT = "SOFT"
    HARD = "HARD"


class ActionType(StrEnum):
    PICK = "pick"
    DROP = "drop"
    START_CHARGING = "startCharging"
    STOP_CHARGING = "stopCharging"
    START_PAUSE = "startPause"
    STOP_PAUSE = "stopPause"
    CANCEL_ORDER = "cancelOrder"
    INIT_POSITION = "initPosition"
    EMERGENCY_STOP = "emergencyStop"  # a fleet5g action; VDA 5050 maps it to startPause + error
    RELEASE_EMERGENCY_STOP = "releaseEmergencyStop"
    STATE_REQUEST = "stateRequest"


class ActionStatus(StrEnum):
    WAITING = "WAITING"
    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class Action:
    action_id: str
    action_type: ActionType
    blocking: BlockingType = BlockingType.HARD
    params: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class RouteNode:
    node_id: str
    sequence_id: int
    x: float
    y: float
    released: bool  # base (True) or horizon (False)
    theta: float | None = None
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True)
class RouteEdge:
    edge_id: str
    sequence_id: int
    start_node_id: str
    end_node_id: str
    released: bool
    max_speed_mps: float | None = None
    length_m: float | None = None
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True)
class MovementCommand:
    """Drive along nodes and edges; an update (same order_id, higher order_update_id)
    extends the base as the execution graph releases more steps."""

    command_id: str
    machine_id: str
    order_id: str
    order_update_id: int
    nodes: tuple[RouteNode, ...]
    edges: tuple[RouteEdge, ...]
    issued_s: float = 0.0

    @property
    def base_end(self) -> RouteNode | None:
        released = [n for n in self.nodes if n.released]
        return released[-1] if released else None


@dataclass(frozen=True)
class InstantAction:
    command_id: str
    machine_id: str
    actions: tuple[Action, ...]
    issued_s: float = 0.0


class CraneMoveKind(StrEnum):
    BRIDGE = "bridge"  # travel along the runway
    TROLLEY = "trolley"  # travel across the bay
    HOIST = "hoist"  # hook up or down
    PICK = "pick"
    DROP = "drop"


@dataclass(frozen=True)
class CraneMove:
    kind: CraneMoveKind
    target_m: float | None = None  # axis target for bridge/trolley/hoist
    not_before_s: float | None = None  # release time from the runway schedule
    load_id: str | None = None


@dataclass(frozen=True)
class CraneCommand:
    """Moves a crane runs one after another, each not before its `not_before_s`.

    The crane reports each move k as an action state with id `f"{command_id}:{k}"`
    (RUNNING, FINISHED or FAILED), so pick and drop are confirmed by the crane itself.
    Commands queue: a crane runs them in the order received.
    """

    command_id: str
    machine_id: str
    order_id: str
    moves: tuple[CraneMove, ...]
    issued_s: float = 0.0


@dataclass(frozen=True)
class ActionState:
    action_id: str
    action_type: str
    status: ActionStatus
    result: str | None = None


# What a vehicle reports when it refuses an order message (the simulator's `orderError:...`
# and VDA 5050's own error types for an order, an update or a message it will not take).
ORDER_REFUSALS = ("orderError", "orderUpdateError", "noRouteError", "validationError")


def stopping_errors(errors: Iterable[str]) -> list[str]:
    """The errors that stop a machine: all but order refusals (`ORDER_REFUSALS`). A refused
    order leaves the vehicle on its previous one, able to drive it; faulting it for that
    would leave it standing in a lane until someone clears the error by hand (over VDA 5050
    a re-published, already superseded update is refused with `orderUpdateError`)."""
    return [e for e in errors if not e.startswith(ORDER_REFUSALS)]


@dataclass(frozen=True)
class MachineState:
    """What a machine reports (VDA 5050 `state`-shaped; cranes add their axes)."""

    machine_id: str
    stamp_s: float  # when the machine measured it (its clock, synchronised)
    order_id: str = ""
    order_update_id: int = 0
    last_node_id: str = ""
    last_node_sequence_id: int = 0
    driving: bool = False
    paused: bool = False
    x: float | None = None
    y: float | None = None
    theta: float | None = None
    battery: float | None = None  # 0..1
    charging: bool = False
    load_id: str | None = None
    mode: str = "auto"
    errors: tuple[str, ...] = ()
    action_states: tuple[ActionState, ...] = ()
    remaining_node_ids: tuple[str, ...] = ()
    bridge_m: float | None = None
    trolley_m: float | None = None
    hoist_m: float | None = None
    received_s: float | None = None  # set by the receiving side (link latency)


Command = MovementCommand | InstantAction | CraneCommand


@dataclass(frozen=True)
class Reading:
    """One raw positioning measurement in a transport-neutral form.

    `kind` names the sensor: odometry (values: speed, yaw rate, their sigmas), uwb
    (x, y, cov_xx, cov_xy, cov_yy in the site frame), uwb_ranges (ids: anchors;
    values: sigma, tag height, then one range per anchor), rfid (ids: the tag;
    values: reader range), beidou (values: lat, lon, height, hdop, optionally the
    east/north covariance; quality: the solution type). `fleet.core.poses` turns
    readings into the typed measurements of `fleet.localization` and back.
    """

    kind: str
    stamp_s: float  # when it was measured (the machine's synchronised clock)
    values: tuple[float, ...] = ()
    ids: tuple[str, ...] = ()
    quality: str = ""


@dataclass(frozen=True)
class Measurements:
    """What one machine's sensors measured since its last report (gateway -> core).

    Sent alongside `MachineState`, typically every 0.2-1 s; `sent_s` is when the
    machine sent the batch (its clock), the time the core's fusion treats as arrival.
    """

    machine_id: str
    sent_s: float
    readings: tuple[Reading, ...] = ()
