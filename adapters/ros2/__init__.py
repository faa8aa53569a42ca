"""ROS 2: one interface, two back ends (rclpy where it imports, pure DDS on cyclonedds).

`Ros2Gateway` bridges the vehicle bus and ROS 2 robots/cranes; `transport` holds the
back ends, `messages` the standard ROS 2 types and `fleet5g_msgs` as IDL dataclasses,
`mapping` the conventions (topics per machine namespace), `route` how an AMR's order
is followed (nodes reached, holds for node actions).
"""

from adapters.ros2.gateway import Ros2Config, Ros2Gateway, Ros2Machine
from adapters.ros2.transport import DdsTransport, RclpyTransport, dds_topic, open_transport

__all__ = [
    "DdsTransport",
    "RclpyTransport",
    "Ros2Config",
    "Ros2Gateway",
    "Ros2Machine",
    "dds_topic",
    "open_transport",
]
