"""The simulated 5G link: latency, jitter, loss, outages, order, determinism."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sim.agv import AgvSpec
from sim.network import Link, LinkProfile, Outage
from sim.world import World
from tests.sim.builders import line_site, route


def _link(seed: int = 1, **kw) -> Link:
    return Link(LinkProfile(**kw), np.random.default_rng(seed))


def test_latency_is_base_plus_jitter_and_states_stay_in_order() -> None:
    link = _link(latency_ms=10.0, jitter_ms=5.0)
    sent = np.arange(0, 20, 0.01)
    arrive = [link.up("a1", float(t), 0.0, 0.0) for t in sent]
    delay = np.array(arrive) - sent
    assert delay.min() >= 0.010 - 1e-12
    assert 0.012 < float(np.median(delay)) < 0.02
    assert all(b >= a for a, b in itertools.pairwise(arrive))  # FIFO per machine


def test_state_loss_share_and_determinism() -> None:
    la, lb = _link(seed=5, state_loss=0.2), _link(seed=5, state_loss=0.2)
    a = [la.up("m", float(t), 0, 0) for t in range(2000)]
    b = [lb.up("m", float(t), 0, 0) for t in range(2000)]
    assert a == b
    lost = sum(x is None for x in a) / len(a)
    assert lost == pytest.approx(0.2, abs=0.03)


def test_lost_commands_are_retransmitted_not_dropped() -> None:
    link = _link(latency_ms=0.0, jitter_ms=0.0, command_loss=0.5, retransmit_ms=300.0)
    delays = [link.down("m", float(t)) - t for t in range(0, 400, 2)]
    assert all(d >= 0 for d in delays)
    assert link.retransmits > 50
    assert max(delays) >= 0.3


def test_outage_of_one_machine_and_of_an_area() -> None:
    outages = (Outage(10.0, 20.0, machines=("a1",)), Outage(30.0, 40.0, area=(0, 0, 5, 5)))
    link = _link(latency_ms=1.0, jitter_ms=0.0, outages=outages)
    assert link.up("a1", 15.0, 100.0, 100.0) is None  # its own outage
    assert link.up("a2", 15.0, 100.0, 100.0) is not None
    assert link.up("a2", 35.0, 1.0, 1.0) is None  # inside the area
    assert link.up("a2", 35.0, 10.0, 10.0) is not None
    assert link.down("a1", 12.0, 100.0, 100.0) == pytest.approx(20.001)  # held until the link is back


def test_a_command_in_an_outage_reaches_the_vehicle_after_it() -> None:
    site = line_site()
    profile = LinkProfile(latency_ms=5.0, jitter_ms=0.0, outages=(Outage(0.0, 30.0, machines=("a1",)),))
    w = World(site, [AgvSpec("a1", "N0")], link=profile)
    w.apply(route(site, "a1", ["N0", "N1"]))
    got = []
    for _ in range(80):
        got += [s for s in w.step(0.5) if s.machine_id == "a1"]
        if w.now < 29.0:
            assert w.agvs.routes[0] is None
    assert w.agvs.routes[0] is not None
    assert got and min(s.stamp_s for s in got) >= 30.0  # no state came through the outage
    assert all(s.received_s >= s.stamp_s for s in got)
