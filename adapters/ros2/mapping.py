"""Core commands to ROS 2 messages and ROS 2 state back to `MachineState`.

AMR: the released base up to the next node with a blocking action as `nav_msgs/Path`
on `fleet_path` (horizon is not sent: a ROS 2 robot drives what it is given) and its
end as `geometry_msgs/PoseStamped` on `goal_pose` (what Nav2's simple goal listens to);
node and instant actions as `fleet5g_msgs/ActionRequest` on `fleet_action`. State
from `nav_msgs/Odometry` (`odom`), `geometry_msgs/PoseWithCovarianceStamped`
(`amcl_pose`, preferred for position when present), `sensor_msgs/BatteryState`
(`battery_state`) and `fleet5g_msgs/RobotState` (`fleet_state`: action states, load,
pause, errors, and the node the robot knows it is on). ROS 2 has no node ids on a
path, so the gateway infers the last node reached from the position.
Crane: axes as `sensor_msgs/JointState` (`joint_states`: bridge, trolley, hoist and
`hook_load`, 1.0 when a load hangs on the hook) and motion as
`trajectory_msgs/JointTrajectory` (`joint_trajectory`). Instant actions (both kinds)
and crane pick/drop are also `std_msgs/String` words on `fleet_command` ("startPause",
"stopPause", "cancelOrder", "emergencyStop", "releaseEmergencyStop", "pick <load>",
"drop"), for robots without fleet5g_msgs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from adapters.ros2 import messages as m
from fleet.domain.commands import (
    Action,
    ActionState,
    ActionStatus,
    CraneMove,
    CraneMoveKind,
    MovementCommand,
    RouteNode,
)

CRANE_JOINTS = ("bridge", "trolley", "hoist")
HOOK_LOAD = "hook_load"


def quaternion(yaw: float) -> m.Quaternion:
    return m.Quaternion(0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0))


def yaw(q: m.Quaternion) -> float:
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


def base_path(cmd: MovementCommand, frame_id: str, t_s: float) -> m.Path:
    """The released base of `cmd` as a path (every released node, in sequence)."""
    return node_path([n for n in sorted(cmd.nodes, key=lambda n: n.sequence_id) if n.released],
                     frame_id, t_s)


def node_path(nodes: Sequence[RouteNode], frame_id: str, t_s: float,
              before: RouteNode | None = None) -> m.Path:
    """Nodes as a `nav_msgs/Path`; a node without a heading faces along the path
    (`before`: the node the robot comes from, for the first pose's heading)."""
    header = m.Header(m.stamp(t_s), frame_id)
    poses = []
    for i, n in enumerate(nodes):
        heading = n.theta
        if heading is None:
            nxt = nodes[i + 1] if i + 1 < len(nodes) else None
            prv = nodes[i - 1] if i > 0 else before
            a, b = (n, nxt) if nxt else (prv, n) if prv else (n, n)
            heading = math.atan2(b.y - a.y, b.x - a.x)
        poses.append(m.PoseStamped(header, m.Pose(m.Point(n.x, n.y, 0.0), quaternion(heading))))
    return m.Path(header, poses)


def action_request(action: Action, node_id: str, t_s: float) -> m.ActionRequest:
    params = [m.KeyValue(str(k), v if isinstance(v, str) else json.dumps(v))
              for k, v in sorted(action.params.items())]
    return m.ActionRequest(m.Header(m.stamp(t_s), ""), action.action_id, action.action_type.value,
                           action.blocking.value, node_id, params)


def action_state(msg: m.ActionState) -> ActionState | None:
    """A robot's action state, or None when its status is not one of ACTION_STATUS."""
    if not msg.action_id or not 0 <= msg.status < len(m.ACTION_STATUS):
        return None
    return ActionState(msg.action_id, msg.action_type, ActionStatus(m.ACTION_STATUS[msg.status]),
                       msg.result or None)


def crane_trajectory(move: CraneMove, at: tuple[float, float, float],
                     speeds_mps: tuple[float, float, float], t_s: float) -> m.JointTrajectory:
    """One axis move from the crane's current axes `at` (others held), timed by speed."""
    target = list(at)
    i = CRANE_JOINTS.index(move.kind.value)
    target[i] = float(move.target_m if move.target_m is not None else at[i])
    duration = abs(target[i] - at[i]) / max(1e-6, speeds_mps[i])
    sec = int(duration)
    point = m.JointTrajectoryPoint(positions=target, velocities=[0.0, 0.0, 0.0],
                                   time_from_start=m.Duration(sec, int((duration - sec) * 1e9)))
    return m.JointTrajectory(m.Header(m.stamp(t_s), "crane"), list(CRANE_JOINTS), [point])


def crane_word(move: CraneMove) -> str:
    if move.kind is CraneMoveKind.PICK:
        return f"pick {move.load_id or ''}".strip()
    return "drop"
