"""Graph checks a site must pass before a fleet runs on it (networkx).

- every station reachable from every other over the lanes AGVs may use
  (one strongly connected component holds them all);
- no dead end: no node that a vehicle can enter from the stations' component
  but never leave again;
- no lane through a no-go zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from maps.compile import lane_crosses
from maps.site import Site, StationKind, ZoneKind


def lane_digraph(site: Site, closed_zones: frozenset[str] = frozenset(), hazardous: bool = True) -> nx.DiGraph:
    """Directed graph of site nodes over usable lanes, weighted by length in metres.

    Lanes through no-go zones and through `closed_zones` are left out; with
    `hazardous=False`, lanes through hazardous-goods zones are left out too.
    """
    barred = [
        z.polygon
        for z in site.zones
        if z.kind == ZoneKind.NO_GO or z.id in closed_zones or (not hazardous and z.kind == ZoneKind.HAZARDOUS)
    ]
    g = nx.DiGraph()
    g.add_nodes_from(n.id for n in site.nodes)
    for lane in site.lanes:
        if not lane.agv or any(lane_crosses(site, lane, p) for p in barred):
            continue
        g.add_edge(lane.start, lane.end, length=lane.length_m, lane=lane.id)
        if lane.two_way:
            g.add_edge(lane.end, lane.start, length=lane.length_m, lane=lane.id)
    return g


@dataclass
class CheckReport:
    site: str
    problems: list[str] = field(default_factory=list)
    summary: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_site(site: Site) -> CheckReport:
    report = CheckReport(site=site.name)
    for lane in site.lanes:
        for zone in site.zones:
            if zone.kind == ZoneKind.NO_GO and lane_crosses(site, lane, zone.polygon):
                report.problems.append(f"lane {lane.id!r} runs through no-go zone {zone.id!r}")
    g = lane_digraph(site, closed_zones=frozenset(z.id for z in site.zones if z.closed))
    station_nodes = {s.node for s in site.stations}
    components = sorted(nx.strongly_connected_components(g), key=len, reverse=True)
    main: set[str] = set()
    if station_nodes:
        # the component that holds most stations is the site's road network
        main = max(components, key=lambda c: (len(c & station_nodes), len(c)))
        for st in site.stations:
            if st.node not in main:
                report.problems.append(
                    f"station {st.id!r} (node {st.node!r}) is not reachable from and back to the other stations"
                )
        trapped = set(nx.descendants(g, next(iter(main)))) - main if main else set()
        for node in sorted(trapped):
            report.problems.append(f"dead end at node {node!r}: a vehicle can drive in but never out")
    x0, y0, x1, y1 = site.bounds
    report.summary = {
        "name": site.name,
        "nodes": len(site.nodes),
        "lanes": len(site.lanes),
        "lane_length_m": round(sum(lane.length_m for lane in site.lanes), 1),
        "stations": {k.value: len(site.stations_of(k)) for k in StationKind if site.stations_of(k)},
        "zones": len(site.zones),
        "crane_bays": len(site.crane_bays),
        "cranes": sum(len(b.cranes) for b in site.crane_bays),
        "slots": len(site.slot_by_id),
        "rfid_tags": len(site.rfid_tags),
        "uwb_anchors": len(site.uwb_anchors),
        "area_m2": round((x1 - x0) * (y1 - y0), 1),
        "extent_m": [round(x1 - x0, 1), round(y1 - y0, 1)],
        "strongly_connected_components": len(components),
        "stations_connected": bool(station_nodes) and station_nodes <= main,
    }
    return report
