"""A restarted demo's simulator starts where the store last saw the machines."""

from __future__ import annotations

from types import SimpleNamespace

from maps.loader import bundled_sites, load_site
from sim.agv import AgvSpec
from sim.world import World


def _world() -> World:
    site = load_site(bundled_sites()["coil_yard"])
    return World(site, [AgvSpec("cc-1", "R-0"), AgvSpec("cc-2", "R-60")])


def test_machines_resume_with_their_node_charge_and_load() -> None:
    w = _world()
    (bay,) = w.site.crane_bays
    cr1, cr2 = (c.spec.id for c in w.cranes.by_bay[bay.id])
    skipped = w.resume([
        SimpleNamespace(id="cc-1", node="R-60x", battery=0.4, load_id=None),  # no such node: stays
        SimpleNamespace(id="cc-2", node="ML1", battery=0.31, load_id="COIL-9", heading_rad=1.0),
        SimpleNamespace(id=cr1, bridge_m=30.0, trolley_m=4.0, load_id="COIL-3"),
    ])
    states = {s.machine_id: s for s in w.snapshot()}
    assert states["cc-2"].last_node_id == "ML1" and states["cc-2"].load_id == "COIL-9"
    assert abs(states["cc-2"].battery - 0.31) < 1e-9
    assert states["cc-1"].last_node_id == "R-0"  # its own start
    assert any("cc-1" in why for why in skipped)
    assert states[cr1].bridge_m == 30.0 and states[cr1].load_id == "COIL-3"
    assert states[cr2].load_id is None


def test_cranes_that_would_overlap_keep_their_places_but_not_their_loads() -> None:
    w = _world()
    (bay,) = w.site.crane_bays
    row = w.cranes.by_bay[bay.id]
    homes = [c.bridge_m for c in row]
    skipped = w.resume([SimpleNamespace(id=c.spec.id, bridge_m=50.0, trolley_m=1.0, load_id=f"L{k}")
                        for k, c in enumerate(row)])
    assert [c.bridge_m for c in row] == homes
    assert [c.load_id for c in row] == [f"L{k}" for k in range(len(row))]
    assert skipped == [f"bay {bay.id}: cranes would overlap, kept at home"]


def test_a_vehicle_last_seen_between_nodes_stands_on_its_lane() -> None:
    w = _world()
    skipped = w.resume([SimpleNamespace(id="cc-1", node="R-10>R-0#2"),  # waypoint of lane R-10 -> R-0
                        SimpleNamespace(id="cc-2", node="R-0")])
    states = {s.machine_id: s for s in w.snapshot()}
    assert states["cc-1"].last_node_id == "R-0" and states["cc-2"].last_node_id == "R-60"  # R-0 was taken
    assert len(skipped) == 2
