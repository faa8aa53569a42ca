"""Small sites and commands for the simulator's tests."""

from __future__ import annotations

from typing import Any

from fleet.domain.commands import Action, ActionType, MovementCommand, RouteEdge, RouteNode
from maps.loader import site_from_dict
from maps.site import Site


def line_site(n: int = 6, spacing: float = 5.0, speed: float = 1.5, crane: bool = True) -> Site:
    """A straight two-way corridor N0..N{n-1} with a right-angle spur and a crane bay."""
    nodes = [{"id": f"N{k}", "x": k * spacing, "y": 0.0} for k in range(n)]
    nodes.append({"id": "S", "x": (n - 1) * spacing, "y": spacing})
    lanes: list[dict[str, Any]] = [
        {"from": f"N{k}", "to": f"N{k + 1}", "two_way": True, "max_speed_mps": speed} for k in range(n - 1)
    ]
    lanes.append({"from": f"N{n - 1}", "to": "S", "max_speed_mps": speed})  # one way
    stations = [
        {"id": "P1", "kind": "pickup", "node": "N0"},
        {"id": "D1", "kind": "drop", "node": f"N{n - 1}"},
        {"id": "C1", "kind": "charger", "node": "N1"},
    ]
    data: dict[str, Any] = {
        "format": "fleet5g-site", "version": 1, "name": "line", "nodes": nodes, "lanes": lanes,
        "stations": stations,
    }
    if crane:
        stations.append({"id": "H1", "kind": "handoff", "node": "N2", "bay": "B1", "runway_m": 10.0, "cross_m": 5.0})
        data["crane_bays"] = [{
            "id": "B1", "runway": {"start": [0, 20], "end": [60, 20]}, "span_m": 20.0,
            "safety_gap_m": 2.0, "hook_height_m": 10.0,
            "cranes": [
                {"id": "K1", "home_m": 10.0, "width_m": 6.0, "payload_kg": 30000},
                {"id": "K2", "home_m": 40.0, "width_m": 6.0, "payload_kg": 30000},
            ],
            "slots": [{"id": "SL1", "runway_m": 25.0, "cross_m": 10.0}],
        }]
    return site_from_dict(data, "<line>")


def route(site: Site, machine: str, path: list[str], *, order: str = "o1", update: int = 0,
          released: int | None = None, actions: dict[str, list[Action]] | None = None,
          first_seq: int = 0, cid: str | None = None) -> MovementCommand:
    """A movement command along node ids; the first `released` nodes are the base."""
    released = len(path) if released is None else released
    actions = actions or {}
    nodes = []
    edges = []
    for k, nid in enumerate(path):
        n = site.node_by_id[nid]
        nodes.append(RouteNode(nid, first_seq + 2 * k, n.x, n.y, k < released, actions=tuple(actions.get(nid, ()))))
        if k:
            edges.append(RouteEdge(f"{path[k - 1]}-{nid}", first_seq + 2 * k - 1, path[k - 1], nid, k < released))
    return MovementCommand(cid or f"{order}-{update}", machine, order, update, tuple(nodes), tuple(edges))


def pick(aid: str = "a-pick", load: str = "L1") -> Action:
    return Action(aid, ActionType.PICK, params={"load_id": load})


def drop(aid: str = "a-drop") -> Action:
    return Action(aid, ActionType.DROP)
