"""Scenario files: the bundled ones load; bad ones fail naming file, place and problem."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maps.loader import bundled_sites
from sim.scenario import (
    ScenarioFileError,
    bundled_scenarios,
    load_scenario,
    resolve_scenario,
    scenario_from_dict,
)

BASE = {
    "format": "fleet5g-scenario", "version": 1, "name": "t", "site": "warehouse", "seed": 3, "duration_h": 1,
    "fleet": {"agvs": [{"prefix": "agv", "count": 4}]},
    "orders": [{"kind": "poisson", "rate_per_h": 30, "sources": "kind:pickup", "destinations": "racks"}],
}


def test_one_scenario_per_bundled_site() -> None:
    assert set(bundled_scenarios()) >= set(bundled_sites())


@pytest.mark.parametrize("name", sorted(bundled_scenarios()))
def test_bundled_scenarios_load_with_orders_and_faults(name: str) -> None:
    sc = load_scenario(resolve_scenario(name))
    assert sc.agvs and sc.orders() and sc.faults()
    starts = [a.start_node for a in sc.agvs]
    assert len(set(starts)) == len(starts)
    assert sc.orders() == sc.orders()  # fixed by the seed
    for _, o in sc.orders()[:50]:
        assert o["source"] in sc.site.station_by_id or o["source"] in sc.site.slot_by_id


def _fails(data, where: str, words: str) -> None:
    with pytest.raises(ScenarioFileError) as err:
        scenario_from_dict(data, "s.yaml")
    assert err.value.file == "s.yaml"
    assert err.value.where == where, str(err.value)
    assert words in err.value.problem, str(err.value)


def test_errors_name_the_place_and_the_problem() -> None:
    d = copy.deepcopy(BASE)
    d["fleet"]["agvs"][0]["count"] = 0
    _fails(d, "fleet.agvs[0].count", "less than the minimum")
    d = copy.deepcopy(BASE)
    d["site"] = "atlantis"
    _fails(d, "site", "no such file or bundled site")
    d = copy.deepcopy(BASE)
    d["fleet"]["agvs"][0]["start"] = ["PK1", "NOPE", "PK2", "PK3"]
    _fails(d, "fleet.agvs[0].start[1]", "no node 'NOPE'")
    d = copy.deepcopy(BASE)
    d["orders"][0]["destinations"] = "kind:spaceport"
    _fails(d, "orders[0].destinations", "no station kind")
    d = copy.deepcopy(BASE)
    d["faults"] = {"scheduled": [{"kind": "hoist_stall", "target": "agv-1", "at_s": 5, "duration_s": 5}]}
    _fails(d, "faults.scheduled[0].target", "needs a crane")
    d = copy.deepcopy(BASE)
    d["orders"][0].pop("rate_per_h")
    _fails(d, "orders[0]", "needs rate_per_h")
    d = copy.deepcopy(BASE)
    d["network"] = {"outages": [{"start_s": 1, "duration_s": 2, "machines": ["agv-99"]}]}
    _fails(d, "network.outages[0].machines", "no machine 'agv-99'")
    d = copy.deepcopy(BASE)
    d["fleet"]["agvs"][0]["count"] = 5000
    _fails(d, "fleet.agvs[0].count", "has room for")


def test_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("format: fleet5g-scenario\nversion: [1\n", encoding="utf-8")
    with pytest.raises(ScenarioFileError) as err:
        load_scenario(p)
    assert str(p) in str(err.value) and "line" in err.value.where
    with pytest.raises(ScenarioFileError):
        load_scenario(tmp_path / "missing.yaml")
    with pytest.raises(ScenarioFileError):
        resolve_scenario("no-such-scenario")


def test_site_path_relative_to_the_scenario(tmp_path: Path) -> None:
    site = Path(bundled_sites()["warehouse"]).read_text(encoding="utf-8")
    (tmp_path / "mysite.yaml").write_text(site, encoding="utf-8")
    d = copy.deepcopy(BASE)
    d["site"] = "mysite.yaml"
    p = tmp_path / "sc.yaml"
    p.write_text(yaml.safe_dump(d), encoding="utf-8")
    assert load_scenario(p).site.name == "Warehouse A"


_values = st.one_of(st.none(), st.integers(-5, 10**6), st.floats(allow_nan=True), st.text(max_size=8),
                    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from([("seed",), ("duration_h",), ("fleet", "agvs"), ("orders",), ("network",),
                             ("fleet", "agvs", 0, "count"), ("fleet", "agvs", 0, "start"), ("orders", 0, "kind"),
                             ("orders", 0, "sources"), ("faults",), ("site",), ("dt_s",)]),
       value=_values)
def test_mutated_scenarios_load_or_fail_cleanly(path: tuple, value) -> None:
    d = copy.deepcopy(BASE)
    node = d
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    try:
        sc = scenario_from_dict(d, "m.yaml")
    except ScenarioFileError as exc:
        assert exc.file == "m.yaml" and exc.problem
    else:
        assert sc.agvs
