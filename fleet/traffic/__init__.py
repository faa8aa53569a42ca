"""Traffic: moving AGVs along lanes and cranes along runways, safely, whatever the delays.

`FleetTraffic` is the core's `Traffic` strategy: it sends each leg to the AGV side
(`LaneTraffic`: lifelong plan + execution graph) or the crane side (`RunwayTraffic`:
runway claims + handoffs) by the machine that has it.
"""

from fleet.traffic.fleet import FleetTraffic
from fleet.traffic.lanes import LaneTraffic
from fleet.traffic.runway import RunwayTraffic

__all__ = ["FleetTraffic", "LaneTraffic", "RunwayTraffic"]
