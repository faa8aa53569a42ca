"""The standard ROS 2 messages this adapter uses, as cyclonedds IDL dataclasses.

Field names, order and types follow the .msg definitions of ROS 2 (common_interfaces,
rcl_interfaces), and each type carries its ROS 2 DDS type name
(`pkg::msg::dds_::Name_`), so real ROS 2 nodes on the same domain match them.
Beyond the standard types, `fleet5g_msgs` (ActionRequest, ActionState, RobotState, at the
end) carries what they cannot: node actions and their states (docs/adapters.md).
"""

# No `from __future__ import annotations`: cyclonedds resolves these hints at runtime.

from dataclasses import dataclass, field

from cyclonedds.idl import IdlStruct
from cyclonedds.idl.types import array, float32, float64, int32, sequence, uint8, uint32


@dataclass
class Time(IdlStruct, typename="builtin_interfaces::msg::dds_::Time_"):
    sec: int32 = 0
    nanosec: uint32 = 0


@dataclass
class Duration(IdlStruct, typename="builtin_interfaces::msg::dds_::Duration_"):
    sec: int32 = 0
    nanosec: uint32 = 0


@dataclass
class Header(IdlStruct, typename="std_msgs::msg::dds_::Header_"):
    stamp: Time = field(default_factory=Time)
    frame_id: str = ""


@dataclass
class String(IdlStruct, typename="std_msgs::msg::dds_::String_"):
    data: str = ""


@dataclass
class Point(IdlStruct, typename="geometry_msgs::msg::dds_::Point_"):
    x: float64 = 0.0
    y: float64 = 0.0
    z: float64 = 0.0


@dataclass
class Vector3(IdlStruct, typename="geometry_msgs::msg::dds_::Vector3_"):
    x: float64 = 0.0
    y: float64 = 0.0
    z: float64 = 0.0


@dataclass
class Quaternion(IdlStruct, typename="geometry_msgs::msg::dds_::Quaternion_"):
    x: float64 = 0.0
    y: float64 = 0.0
    z: float64 = 0.0
    w: float64 = 1.0


@dataclass
class Pose(IdlStruct, typename="geometry_msgs::msg::dds_::Pose_"):
    position: Point = field(default_factory=Point)
    orientation: Quaternion = field(default_factory=Quaternion)


@dataclass
class PoseStamped(IdlStruct, typename="geometry_msgs::msg::dds_::PoseStamped_"):
    header: Header = field(default_factory=Header)
    pose: Pose = field(default_factory=Pose)


@dataclass
class PoseWithCovariance(IdlStruct, typename="geometry_msgs::msg::dds_::PoseWithCovariance_"):
    pose: Pose = field(default_factory=Pose)
    covariance: array[float64, 36] = field(default_factory=lambda: [0.0] * 36)


@dataclass
class PoseWithCovarianceStamped(IdlStruct,
                                typename="geometry_msgs::msg::dds_::PoseWithCovarianceStamped_"):
    header: Header = field(default_factory=Header)
    pose: PoseWithCovariance = field(default_factory=PoseWithCovariance)


@dataclass
class Twist(IdlStruct, typename="geometry_msgs::msg::dds_::Twist_"):
    linear: Vector3 = field(default_factory=Vector3)
    angular: Vector3 = field(default_factory=Vector3)


@dataclass
class TwistWithCovariance(IdlStruct, typename="geometry_msgs::msg::dds_::TwistWithCovariance_"):
    twist: Twist = field(default_factory=Twist)
    covariance: array[float64, 36] = field(default_factory=lambda: [0.0] * 36)


@dataclass
class Path(IdlStruct, typename="nav_msgs::msg::dds_::Path_"):
    header: Header = field(default_factory=Header)
    poses: sequence[PoseStamped] = field(default_factory=list)


@dataclass
class Odometry(IdlStruct, typename="nav_msgs::msg::dds_::Odometry_"):
    header: Header = field(default_factory=Header)
    child_frame_id: str = ""
    pose: PoseWithCovariance = field(default_factory=PoseWithCovariance)
    twist: TwistWithCovariance = field(default_factory=TwistWithCovariance)


@dataclass
class BatteryState(IdlStruct, typename="sensor_msgs::msg::dds_::BatteryState_"):
    header: Header = field(default_factory=Header)
    voltage: float32 = 0.0
    temperature: float32 = 0.0
    current: float32 = 0.0
    charge: float32 = 0.0
    capacity: float32 = 0.0
    design_capacity: float32 = 0.0
    percentage: float32 = 0.0  # 0..1
    power_supply_status: uint8 = 0  # 1 charging, 2 discharging, 3 not charging, 4 full
    power_supply_health: uint8 = 0
    power_supply_technology: uint8 = 0
    present: bool = True
    cell_voltage: sequence[float32] = field(default_factory=list)
    cell_temperature: sequence[float32] = field(default_factory=list)
    location: str = ""
    serial_number: str = ""


POWER_SUPPLY_STATUS_CHARGING = 1


@dataclass
class JointState(IdlStruct, typename="sensor_msgs::msg::dds_::JointState_"):
    header: Header = field(default_factory=Header)
    name: sequence[str] = field(default_factory=list)
    position: sequence[float64] = field(default_factory=list)
    velocity: sequence[float64] = field(default_factory=list)
    effort: sequence[float64] = field(default_factory=list)


@dataclass
class JointTrajectoryPoint(IdlStruct, typename="trajectory_msgs::msg::dds_::JointTrajectoryPoint_"):
    positions: sequence[float64] = field(default_factory=list)
    velocities: sequence[float64] = field(default_factory=list)
    accelerations: sequence[float64] = field(default_factory=list)
    effort: sequence[float64] = field(default_factory=list)
    time_from_start: Duration = field(default_factory=Duration)


@dataclass
class JointTrajectory(IdlStruct, typename="trajectory_msgs::msg::dds_::JointTrajectory_"):
    header: Header = field(default_factory=Header)
    joint_names: sequence[str] = field(default_factory=list)
    points: sequence[JointTrajectoryPoint] = field(default_factory=list)


def stamp(t_s: float) -> Time:
    sec = int(t_s // 1)
    return Time(sec, round((t_s - sec) * 1e9) % 1_000_000_000)


def seconds(t: Time) -> float:
    return t.sec + t.nanosec * 1e-9


# --- diagnostic_msgs (standard) and fleet5g_msgs (this project's package) ------------------
# The fleet5g_msgs types are what ROS 2 generates from the .msg files in docs/adapters.md
# ("Connecting a ROS 2 robot"); a robot team builds that package and gets the same wire types.


@dataclass
class KeyValue(IdlStruct, typename="diagnostic_msgs::msg::dds_::KeyValue_"):
    key: str = ""
    value: str = ""


@dataclass
class ActionRequest(IdlStruct, typename="fleet5g_msgs::msg::dds_::ActionRequest_"):
    """fleet -> robot on `fleet_action`: run this action (now, or it is at `node_id`)."""

    header: Header = field(default_factory=Header)
    action_id: str = ""
    action_type: str = ""  # pick, drop, startCharging, stopCharging, initPosition, startPause, ...
    blocking_type: str = "HARD"  # NONE, SOFT, HARD (VDA 5050's meaning)
    node_id: str = ""  # the node it belongs to; "" for an instant action
    parameters: sequence[KeyValue] = field(default_factory=list)


# ActionState.status values (VDA 5050's action states, as ROS uint8 constants)
ACTION_STATUS = ("WAITING", "INITIALIZING", "RUNNING", "PAUSED", "FINISHED", "FAILED")


@dataclass
class ActionState(IdlStruct, typename="fleet5g_msgs::msg::dds_::ActionState_"):
    action_id: str = ""
    action_type: str = ""
    status: uint8 = 0  # index into ACTION_STATUS
    result: str = ""


@dataclass
class RobotState(IdlStruct, typename="fleet5g_msgs::msg::dds_::RobotState_"):
    """robot -> fleet on `fleet_state`: what the standard topics cannot say."""

    header: Header = field(default_factory=Header)
    last_node_id: str = ""  # the node the robot knows it is on ("" = unknown: the gateway infers)
    load_id: str = ""  # "" = no load
    paused: bool = False
    errors: sequence[str] = field(default_factory=list)
    action_states: sequence[ActionState] = field(default_factory=list)
