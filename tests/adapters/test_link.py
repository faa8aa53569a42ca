"""The 5G link rules: quality figures and the bounded base."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapters.link import LinkMonitor, LinkRules, LinkStatus, bound_base
from tests.adapters.conftest import movement


def test_quality_from_observations() -> None:
    mon = LinkMonitor(LinkRules(state_period_s=1.0, missed=3))
    assert mon.quality("a", 0.0).status is LinkStatus.UNKNOWN
    assert not mon.admits_new_steps("a", 0.0)
    for i in range(10):
        mon.observe("a", sent_s=float(i), received_s=i + 0.02 + (0.01 if i % 2 else 0.0))
    q = mon.quality("a", 9.5)
    assert q.status is LinkStatus.ONLINE and 15 < q.latency_ms < 35 and q.jitter_ms > 1
    assert q.loss == 0.0 and q.messages == 10
    assert mon.admits_new_steps("a", 11.9)
    assert mon.quality("a", 12.1).status is LinkStatus.LOST  # 3 periods of silence
    assert not mon.admits_new_steps("a", 12.1)
    assert mon.should_redispatch("a", 9.0 + 31) and not mon.should_redispatch("a", 20)


def test_loss_from_counter_gaps_and_missing_periods() -> None:
    mon = LinkMonitor(LinkRules(state_period_s=1.0))
    for i, c in enumerate([1, 2, 3, 6, 7, 10]):  # headerIds with gaps
        mon.observe("a", None, float(i), counter=c)
    assert mon.quality("a", 5.0).loss > 0.1
    mon2 = LinkMonitor(LinkRules(state_period_s=1.0))
    for t in [0, 1, 2, 5, 6, 9]:  # no counter: 2 missed periods twice
        mon2.observe("b", None, float(t))
    assert mon2.quality("b", 9.0).loss > 0.1


def test_marked_lost_until_heard_and_rtt_does_not_count_as_alive() -> None:
    mon = LinkMonitor()
    mon.observe("a", None, 100.0)
    mon.mark_lost("a")
    assert mon.quality("a", 100.1).status is LinkStatus.LOST
    mon.observe("a", None, 100.2, rtt_s=0.01)  # the gateway answers, not the machine
    assert mon.quality("a", 100.3).status is LinkStatus.LOST
    mon.observe("a", None, 100.4)
    assert mon.quality("a", 100.5).status is LinkStatus.ONLINE


def test_degraded_by_latency() -> None:
    mon = LinkMonitor(LinkRules(degraded_latency_ms=50))
    mon.observe("a", 0.0, 0.2)
    assert mon.quality("a", 0.3).status is LinkStatus.DEGRADED
    assert mon.admits_new_steps("a", 0.3)


def test_bound_base_cuts_by_nodes_and_metres() -> None:
    cmd = movement("a", n=10, spacing_m=5.0)  # all released
    cut = bound_base(cmd, LinkRules(max_base_nodes=4, max_base_m=100))
    assert [n.node_id for n in cut.nodes if n.released] == ["n0", "n1", "n2", "n3", "n4"]
    assert [e.edge_id for e in cut.edges if e.released] == ["e0", "e1", "e2", "e3"]
    cut = bound_base(cmd, LinkRules(max_base_nodes=40, max_base_m=12))
    assert [n.node_id for n in cut.nodes if n.released] == ["n0", "n1", "n2"]
    short = movement("a", n=5, released=2)
    assert bound_base(short, LinkRules()) is short  # already inside the bound


@given(st.integers(1, 12), st.integers(0, 12), st.integers(0, 6), st.floats(0, 60),
       st.floats(0.5, 10))
def test_bound_base_only_shortens(n: int, released: int, max_nodes: int, max_m: float,
                                  spacing: float) -> None:
    cmd = movement("a", n=n, released=min(released, n), spacing_m=spacing)
    cut = bound_base(cmd, LinkRules(max_base_nodes=max_nodes, max_base_m=max_m))
    before = [x.released for x in cmd.nodes]
    after = [x.released for x in cut.nodes]
    assert all(b or not a for a, b in zip(after, before, strict=True))  # never extends
    k = sum(after)
    assert after == [True] * k + [False] * (n - k)  # base is a prefix
    assert k <= max_nodes + 1 and (k <= 1 or (k - 1) * spacing <= max_m + 1e-6)
    assert all(e.released == (e.sequence_id < 2 * (k - 1)) for e in cut.edges)
