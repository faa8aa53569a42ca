"""The ways to reach machines: the vehicle bus, VDA 5050 over MQTT, ROS 2, cranes, the 5G link.

Only this package (and the simulated machines in `sim/` that speak real protocols)
imports zmq, paho or cyclonedds. The core speaks `fleet.domain.commands` and nothing else.
"""

from adapters.errors import AdapterError, BusMessageError, LinkLostError, SchemaViolation

__all__ = ["AdapterError", "BusMessageError", "LinkLostError", "SchemaViolation"]
