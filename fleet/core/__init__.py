"""The orchestrator core: the one owner of state and time (see `fleet.core.core`)."""

from fleet.core.core import CoreSettings, FleetCore, InvalidValue, NotLeader
from fleet.core.dispatcher import Assignment, Dispatcher, DispatchSnapshot
from fleet.core.greedy import GreedyDispatcher
from fleet.core.link import MachineLink, NullLink, RecordingLink
from fleet.core.requests import SYSTEM, Actor, MachineAction, OrderRequest

__all__ = [
    "SYSTEM",
    "Actor",
    "Assignment",
    "CoreSettings",
    "DispatchSnapshot",
    "Dispatcher",
    "FleetCore",
    "GreedyDispatcher",
    "InvalidValue",
    "MachineAction",
    "MachineLink",
    "NotLeader",
    "NullLink",
    "OrderRequest",
    "RecordingLink",
]
