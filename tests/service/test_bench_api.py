"""`fleet bench api` end to end at a tiny scale: the service with the simulator, loopback load, SSE."""

from __future__ import annotations

import argparse

import pytest

from bench import api


def test_bench_stations_are_agv_stations_of_the_large_site() -> None:
    from bench._api_service import order_stations
    from maps.loader import site_from_dict
    from maps.sitegen import large_site

    site = site_from_dict(large_site(), "<large site>")
    sources, drops = order_stations(site)
    kinds = {s.id: s.kind.value for s in site.stations}
    assert sources and drops
    assert {kinds[s] for s in sources} == {"pickup"} and {kinds[d] for d in drops} == {"drop"}


@pytest.mark.slow
def test_a_short_run_with_the_simulator_reports_every_figure() -> None:
    parser = argparse.ArgumentParser()
    api.add_arguments(parser)
    args = parser.parse_args(["--rate", "40", "--seconds", "3", "--vehicles", "10", "--connections", "4"])
    args.quick = True
    out = api.run(args)
    assert out["instance"]["machines"] == "sim" and out["instance"]["agvs"] == 10
    assert out["submitted"] == 120 and out["errors"] == 0 and out["accepted"] == 120
    assert out["sse_order_events"] >= 2 * 120  # created and queued, at least, for every order
    assert out["submit_p99_ms"] > 0 and out["sse_p99_ms"] > 0
    assert out["core_commands"] >= 120
    assert isinstance(out["ok"], bool) and "orders/s" in out["summary"]
