import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maps.checks import check_site
from maps.errors import SiteFileError, SiteModelError
from maps.loader import bundled_sites, load_site, parse_site, site_from_dict
from tests.builders import tiny_site


@pytest.mark.parametrize("name", ["warehouse", "coil_yard", "port_yard"])
def test_bundled_sites_load_and_pass_checks(name):
    site = load_site(bundled_sites()[name])
    report = check_site(site)
    assert report.ok, report.problems
    assert report.summary["stations_connected"]
    assert site.geodetic_anchor is not None


def test_bundled_sites_are_what_they_claim():
    wh = load_site(bundled_sites()["warehouse"])
    assert len(wh.racks) >= 100 and len(wh.stations_of("charger")) >= 3
    cy = load_site(bundled_sites()["coil_yard"])
    (bay,) = cy.crane_bays
    assert len(bay.cranes) == 2 and len(bay.handoffs) >= 2 and all(s.tiers == 2 for s in bay.slots)
    py = load_site(bundled_sites()["port_yard"])
    assert any(z.kind == "outdoor" for z in py.zones)
    x0, y0, x1, y1 = py.bounds
    assert py.is_outdoor((x0 + x1) / 2, (y0 + y1) / 2)


def test_tiny_site_loads():
    site = site_from_dict(tiny_site(), "tiny.yaml")
    assert len(site.nodes) == 6 and check_site(site).ok


def _fail(d, where_part, problem_part):
    with pytest.raises(SiteFileError) as info:
        site_from_dict(d, "bad.yaml")
    msg = str(info.value)
    assert msg.startswith("bad.yaml"), msg
    assert where_part in info.value.where, (info.value.where, msg)
    assert problem_part in info.value.problem, msg
    return info.value


def test_lane_to_unknown_node():
    d = tiny_site()
    d["lanes"][2]["to"] = "nowhere"
    _fail(d, "lanes[2].to", "unknown node 'nowhere'")


def test_station_off_every_lane():
    d = tiny_site()
    d["nodes"].append({"id": "lonely", "x": 50, "y": 50})
    d["stations"][1]["node"] = "lonely"
    _fail(d, "stations[1].node", "off every lane")


def test_zone_not_a_valid_polygon():
    d = tiny_site(zones=[{"id": "Z", "kind": "no_go", "polygon": [[0, 0], [2, 2], [2, 0], [0, 2]]}])
    _fail(d, "zones[0].polygon", "not a valid polygon")


def test_crane_bay_whose_cranes_overlap():
    bay = {
        "id": "B", "runway": {"start": [0, 10], "end": [50, 10]}, "span_m": 20, "safety_gap_m": 5,
        "cranes": [
            {"id": "c1", "home_m": 10, "width_m": 8, "payload_kg": 1000},
            {"id": "c2", "home_m": 20, "width_m": 8, "payload_kg": 1000},
        ],
    }
    _fail(tiny_site(crane_bays=[bay]), "crane_bays[0].cranes", "closer than the safety gap")


def test_schema_error_names_the_path():
    d = tiny_site()
    d["lanes"][0]["max_speed_mps"] = -1
    _fail(d, "lanes[0].max_speed_mps", "")


def test_duplicate_ids():
    d = tiny_site()
    d["nodes"].append(dict(d["nodes"][0]))
    _fail(d, "nodes[6].id", "duplicate id")


def test_unreachable_station_and_dead_end_are_reported():
    d = tiny_site()
    d["nodes"].append({"id": "trap", "x": 9, "y": 0})
    d["lanes"].append({"from": "n20", "to": "trap"})  # one-way into a dead end
    d["stations"].append({"id": "T", "kind": "drop", "node": "trap"})
    report = check_site(site_from_dict(d))
    assert not report.ok
    assert any("'T'" in p and "not reachable" in p for p in report.problems)
    assert any("dead end at node 'trap'" in p for p in report.problems)


def test_lane_through_no_go_zone_is_reported():
    d = tiny_site(zones=[{"id": "NG", "kind": "no_go", "polygon": [[1, -1], [2, -1], [2, 1], [1, 1]]}])
    report = check_site(site_from_dict(d))
    assert any("no-go zone 'NG'" in p for p in report.problems)


def test_invalid_yaml_names_the_line():
    with pytest.raises(SiteFileError) as info:
        parse_site("format: fleet5g-site\nnodes: [\n  - {id: a", "x.yaml")
    assert "line" in info.value.where


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=4),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(_json)
def test_random_documents_never_crash_the_loader(doc):
    with pytest.raises(SiteModelError):
        site_from_dict(doc, "random.yaml")


_paths = st.sampled_from(["nodes", "lanes", "stations"])


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(section=_paths, index=st.integers(0, 5), key=st.sampled_from(["id", "x", "y", "from", "to", "node", "kind", "two_way", "max_speed_mps"]), value=_json)
def test_mutated_sites_load_or_fail_clearly(section, index, key, value):
    d = copy.deepcopy(tiny_site())
    items = d[section]
    items[index % len(items)][key] = value
    try:
        site = site_from_dict(d, "mutated.yaml")
    except SiteModelError as exc:
        assert str(exc).startswith("mutated.yaml")
    else:
        check_site(site)  # must not raise either
