"""Where a station or slot id is, for the machine that serves it."""

from __future__ import annotations

from dataclasses import dataclass

from fleet.errors import FleetError
from maps.site import Site, StationKind


class UnknownPlace(FleetError):
    status = 422
    kind = "unknown-place"

    def __init__(self, place: str) -> None:
        self.place = place
        super().__init__(f"{place!r} is neither a station nor a slot of this site")


@dataclass(frozen=True)
class BayPlace:
    """A place under a crane bay: runway and cross positions (metres)."""

    bay: str
    runway_m: float
    cross_m: float
    station: str | None = None  # handoff station id when it is one


def agv_node(site: Site, place: str) -> str:
    """The lane-graph node an AGV stands on to serve a station or a rack slot."""
    st = site.station_by_id.get(place)
    if st is not None:
        return st.node
    slot = site.slot_by_id.get(place)
    if slot is not None and slot.node is not None:
        return slot.node
    if place in site.node_by_id:
        return place
    raise UnknownPlace(place)


def bay_place(site: Site, place: str) -> BayPlace:
    """Where in its bay a crane serves a slot or a handoff station."""
    st = site.station_by_id.get(place)
    if st is not None and st.kind == StationKind.HANDOFF and st.bay:
        bay = site.bay_by_id[st.bay]
        node = site.node_by_id[st.node]
        along = st.runway_m if st.runway_m is not None else _project(bay, node.x, node.y)[0]
        cross = st.cross_m if st.cross_m is not None else _project(bay, node.x, node.y)[1]
        return BayPlace(st.bay, float(along), float(cross), station=st.id)
    slot = site.slot_by_id.get(place)
    if slot is not None and slot.bay is not None and slot.runway_m is not None and slot.cross_m is not None:
        return BayPlace(slot.bay, slot.runway_m, slot.cross_m)
    raise UnknownPlace(place)


def _project(bay, x: float, y: float) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    (x0, y0), (x1, y1) = bay.runway_start, bay.runway_end
    length = bay.runway_length_m or 1.0
    ux, uy = (x1 - x0) / length, (y1 - y0) / length
    dx, dy = x - x0, y - y0
    return (dx * ux + dy * uy, -dx * uy + dy * ux)
