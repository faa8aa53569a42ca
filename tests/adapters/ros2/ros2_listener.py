"""A ROS 2-style subscriber written only with cyclonedds and ROS 2's type names.

It shares no code with the adapter: the types are declared here from the ROS 2 .msg
definitions, as any DDS program talking to ROS 2 would. It prints one JSON line per
message it decodes:  python tests/adapters/ros2/ros2_listener.py DOMAIN NAMESPACE
"""

import json
import sys
import time
from dataclasses import dataclass

from cyclonedds.core import Listener, Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.idl import IdlStruct
from cyclonedds.idl.types import float64, int32, sequence, uint32
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration


@dataclass
class Time(IdlStruct, typename="builtin_interfaces::msg::dds_::Time_"):
    sec: int32
    nanosec: uint32


@dataclass
class Header(IdlStruct, typename="std_msgs::msg::dds_::Header_"):
    stamp: Time
    frame_id: str


@dataclass
class Point(IdlStruct, typename="geometry_msgs::msg::dds_::Point_"):
    x: float64
    y: float64
    z: float64


@dataclass
class Quaternion(IdlStruct, typename="geometry_msgs::msg::dds_::Quaternion_"):
    x: float64
    y: float64
    z: float64
    w: float64


@dataclass
class Pose(IdlStruct, typename="geometry_msgs::msg::dds_::Pose_"):
    position: Point
    orientation: Quaternion


@dataclass
class PoseStamped(IdlStruct, typename="geometry_msgs::msg::dds_::PoseStamped_"):
    header: Header
    pose: Pose


@dataclass
class Path(IdlStruct, typename="nav_msgs::msg::dds_::Path_"):
    header: Header
    poses: sequence[PoseStamped]


def main() -> None:
    domain, ns = int(sys.argv[1]), sys.argv[2]
    qos = Qos(Policy.Reliability.Reliable(max_blocking_time=duration(milliseconds=100)),
              Policy.Durability.Volatile, Policy.History.KeepLast(10))
    dp = DomainParticipant(domain)

    def printer(kind):
        def on_data(reader):
            for s in reader.take(16):
                if kind == "path":
                    out = {"topic": "fleet_path", "frame": s.header.frame_id,
                           "xy": [[p.pose.position.x, p.pose.position.y] for p in s.poses]}
                else:
                    out = {"topic": "goal_pose", "xy": [s.pose.position.x, s.pose.position.y],
                           "qz": s.pose.orientation.z, "qw": s.pose.orientation.w}
                print(json.dumps(out), flush=True)
        return Listener(on_data_available=on_data)

    keep = [
        DataReader(dp, Topic(dp, f"rt/{ns}/fleet_path", Path, qos=qos), qos=qos,
                   listener=printer("path")),
        DataReader(dp, Topic(dp, f"rt/{ns}/goal_pose", PoseStamped, qos=qos), qos=qos,
                   listener=printer("goal")),
    ]
    print("ready", flush=True)
    time.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 60)
    del keep


if __name__ == "__main__":
    main()
