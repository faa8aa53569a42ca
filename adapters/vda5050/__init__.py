"""VDA 5050 (2.0 and 2.1) over MQTT, master-control side.

`MasterControl` (master.py) does the protocol, `Vda5050Gateway` (gateway.py) puts it
on the vehicle bus, `mapping` turns core commands into messages and back,
`validation` checks every message against the official schemas shipped in schemas/.
"""

from adapters.errors import SchemaViolation
from adapters.vda5050.gateway import Vda5050Config, Vda5050Gateway
from adapters.vda5050.mapping import VehicleRef
from adapters.vda5050.master import MasterControl, MasterCounters
from adapters.vda5050.transport import MqttLink

__all__ = [
    "MasterControl",
    "MasterCounters",
    "MqttLink",
    "SchemaViolation",
    "Vda5050Config",
    "Vda5050Gateway",
    "VehicleRef",
]
