"""Core commands to standard ROS 2 messages and ROS 2 state back to `MachineState`.

AMR: the released base as `nav_msgs/Path` on `fleet_path` (horizon is not sent: a
ROS 2 robot drives what it is given) and its end as `geometry_msgs/PoseStamped` on
`goal_pose` (what Nav2's simple goal listens to); state from `nav_msgs/Odometry`
(`odom`), `geometry_msgs/PoseWithCovarianceStamped` (`amcl_pose`, preferred for
position when present) and `sensor_msgs/BatteryState` (`battery_state`). ROS 2 has
no node ids, so the adapter infers the last node reached from the position.
Crane: axes as `sensor_msgs/JointState` (`joint_states`: bridge, trolley, hoist and
`hook_load`, 1.0 when a load hangs on the hook) and motion as
`trajectory_msgs/JointTrajectory` (`joint_trajectory`). Instant actions and crane
pick/drop are `std_msgs/String` words on `fleet_command` ("startPause", "stopPause",
"cancelOrder", "emergencyStop", "releaseEmergencyStop", "pick <load>", "drop").
"""

from __future__ import annotations

import math

from adapters.ros2 import messages as m
from fleet.domain.commands import CraneMove, CraneMoveKind, MovementCommand

CRANE_JOINTS = ("bridge", "trolley", "hoist")
HOOK_LOAD = "hook_load"


def quaternion(yaw: float) -> m.Quaternion:
    return m.Quaternion(0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0))


def yaw(q: m.Quaternion) -> float:
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


def base_path(cmd: MovementCommand, frame_id: str, t_s: float) -> m.Path:
    header = m.Header(m.stamp(t_s), frame_id)
    base = [n for n in sorted(cmd.nodes, key=lambda n: n.sequence_id) if n.released]
    poses = []
    for i, n in enumerate(base):
        heading = n.theta
        if heading is None:
            nxt = base[i + 1] if i + 1 < len(base) else None
            prv = base[i - 1] if i > 0 else None
            a, b = (n, nxt) if nxt else (prv, n) if prv else (n, n)
            heading = math.atan2(b.y - a.y, b.x - a.x)
        poses.append(m.PoseStamped(header, m.Pose(m.Point(n.x, n.y, 0.0), quaternion(heading))))
    return m.Path(header, poses)


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
