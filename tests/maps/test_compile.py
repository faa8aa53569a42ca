import numpy as np

from maps.compile import blocked_nodes, compile_site, lane_steps
from maps.loader import bundled_sites, load_site, site_from_dict
from tests.builders import tiny_site


def test_slow_lane_is_split_into_steps():
    d = tiny_site()
    d["lanes"][0]["max_speed_mps"] = 0.5  # 3 m at 0.5 m/s = 6 steps
    site = site_from_dict(d)
    assert lane_steps(site, site.lanes[0]) == 6
    g = compile_site(site)
    assert g.n_nodes == 6 + 5
    a, b = g.index("n00"), g.index("n10")
    assert b not in g.neighbours(a)
    # walk the chain of waypoints: exactly 6 one-step edges from a to b
    node, hops, prev = a, 0, -1
    while node != b:
        nxt = [int(j) for j in g.neighbours(node) if (g.is_waypoint[j] or j == b) and j != prev
               and (g.node_ids[j].startswith("n00>n10") or j == b)]
        prev, node, hops = node, nxt[0], hops + 1
    assert hops == 6


def test_speed_limit_zone_slows_lane():
    d = tiny_site(zones=[{"id": "S", "kind": "speed_limit", "speed_limit_mps": 1.0, "polygon": [[-1, -1], [7, -1], [7, 1], [-1, 1]]}])
    site = site_from_dict(d)
    assert lane_steps(site, site.lanes[0]) == 3


def test_close_nodes_conflict_far_nodes_do_not():
    d = tiny_site()
    d["nodes"].append({"id": "near", "x": 0.8, "y": 0.0})
    d["lanes"].append({"from": "n01", "to": "near", "two_way": True})
    g = compile_site(site_from_dict(d))
    near, origin, far = g.index("near"), g.index("n00"), g.index("n21")
    assert origin in g.conflicts(near) and near in g.conflicts(origin)
    assert far not in g.conflicts(near)
    for i in range(g.n_nodes):
        assert i not in g.conflicts(i)
        for j in g.conflicts(i):
            assert i in g.conflicts(j)


def test_bundled_warehouse_compiles_with_conflicts():
    g = compile_site(load_site(bundled_sites()["warehouse"]))
    assert g.indices.dtype == np.int32 and g.xy.dtype == np.float32
    assert g.conflict_indices.size > 0
    assert compile_site(load_site(bundled_sites()["warehouse"])).n_nodes == g.n_nodes


def test_blocked_nodes_of_a_zone():
    site = load_site(bundled_sites()["warehouse"])
    g = compile_site(site)
    mask = blocked_nodes(site, g, {"MAINT-A"})
    assert 0 < mask.sum() < g.n_nodes
    assert not blocked_nodes(site, g, set()).any()


def test_nodes_around_a_junction_are_one_block():
    # the warehouse's north corridor where aisle 7 comes up and work cell 4's spur leaves:
    # a vehicle coming up the aisle and one coming out of the spur both stand next to N-42
    # without touching each other; if both could wait there, neither could ever pass
    g = compile_site(load_site(bundled_sites()["warehouse"]))
    junction = g.index("N-42")
    block = [junction, *g.conflicts(junction).tolist()]
    assert {g.index("A7-10>N-42#2"), g.index("N-42>WC4#1")} <= set(block)
    for a in block:
        for b in block:
            assert a == b or b in g.conflicts(a)
    # away from junctions, conflicts stay the footprint's
    mid = g.index("A7-5")
    assert len(g.conflicts(mid)) == 2
