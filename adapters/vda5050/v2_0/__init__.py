"""VDA 5050 2.0: what differs from 2.1 (action status PAUSED exists; batteryHealth integer)."""

from adapters.vda5050.mapping import Profile

PROFILE = Profile(
    version="2.0.0",
    major="v2",
    action_statuses=frozenset({"WAITING", "INITIALIZING", "RUNNING", "PAUSED", "FINISHED", "FAILED"}),
    battery_health_integer=True,
)
