"""The vehicle bus (pyzmq): one protocol between the core and its gateways.

`BusHub` is the core's end, `Gateway` the base class of every gateway, `codec` the
wire format. Transports: `inproc://NAME` (one process) and `tcp://HOST:PORT`.
"""

from adapters.bus.adapter import BusAdapterFactory, BusVehicleAdapter
from adapters.bus.gateway import CommandRefused, Gateway, GatewayCounters
from adapters.bus.hub import Ack, BusHub, HubCounters
from adapters.errors import BusMessageError

__all__ = [
    "Ack",
    "BusAdapterFactory",
    "BusHub",
    "BusMessageError",
    "BusVehicleAdapter",
    "CommandRefused",
    "Gateway",
    "GatewayCounters",
    "HubCounters",
]
