"""VDA 5050 2.1: no PAUSED action status; edge corridors; batteryHealth a number."""

from adapters.vda5050.mapping import Profile

PROFILE = Profile(
    version="2.1.0",
    major="v2",
    action_statuses=frozenset({"WAITING", "INITIALIZING", "RUNNING", "FINISHED", "FAILED"}),
    battery_health_integer=False,
)
