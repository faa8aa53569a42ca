"""The 5G link over a real network path: a gateway in its own network namespace.

Setup (root): a namespace and a veth pair; the gateway (`fleet gateway --adapter
loopback`) runs inside it and reaches the core's hub through a fault-injecting
relay on the host side of the veth (this kernel has no netem). Latency, jitter,
loss and a cut are injected on that path; the link rules must hold as with the
simulated link: figures measured, a lost machine gets no new steps, and after the
cut every command is applied exactly once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adapters.bus import BusAdapterFactory, BusHub
from adapters.errors import LinkLostError
from adapters.link import LinkRules, LinkStatus
from fleet.domain.commands import ActionType
from fleet.plant import free_port
from tests.adapters.conftest import instant, movement, wait_until
from tests.adapters.relay import Relay

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def netns():  # type: ignore[no-untyped-def]
    if shutil.which("ip") is None or os.geteuid() != 0:
        pytest.skip("needs root and iproute2 for `ip netns`")
    tag = f"{os.getpid() % 100000}"
    ns, host_if, ns_if = f"f5g{tag}", f"f5gh{tag}", f"f5gn{tag}"
    octet = os.getpid() % 250 + 1
    host_ip, ns_ip = f"10.213.{octet}.1", f"10.213.{octet}.2"
    try:
        _ip("netns", "add", ns)
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"`ip netns` is not available here: {exc}")
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", ns)
        _ip("addr", "add", f"{host_ip}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/30", "dev", ns_if)
        _ip("netns", "exec", ns, "ip", "link", "set", ns_if, "up")
        _ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield ns, host_ip
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def test_gateway_in_a_namespace_behind_a_faulty_link(netns, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ns, host_ip = netns
    hub_port = free_port()
    hub = BusHub(f"tcp://127.0.0.1:{hub_port}", heartbeat_s=0.1, resend_after_s=0.3,
                 link_rules=LinkRules(heartbeat_s=0.1, state_period_s=0.2, missed=3))
    hub.start()
    relay = Relay((host_ip, 0), ("127.0.0.1", hub_port), rto_s=0.6)
    record = tmp_path / "applied.jsonl"
    cfg = tmp_path / "gw.yaml"
    cfg.write_text(json.dumps({"gateway_id": "gw-ns", "bus": f"tcp://{host_ip}:{relay.port}",
                               "heartbeat_s": 0.1, "state_period_s": 0.2,
                               "machines": ["lb-1"], "record": str(record)}), encoding="utf-8")
    gw = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "fleet", "gateway",
                           "--adapter", "loopback", "--config", str(cfg), "--status-every", "0"],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    agv = BusAdapterFactory(hub).create("lb-1")
    agv.connect()
    try:
        assert wait_until(agv.can_accept, timeout_s=20), "the gateway in the namespace never came up"
        agv.send(movement("lb-1", command_id="first"))
        assert wait_until(lambda: agv.in_flight == ())
        base = hub.link("lb-1")
        # latency and jitter on the path
        relay.set_faults(latency_s=0.08, jitter_s=0.03)
        assert wait_until(lambda: (hub.link("lb-1").latency_ms or 0) > 50, timeout_s=15), hub.link("lb-1")
        assert (hub.link("lb-1").jitter_ms or 0) > (base.jitter_ms or 0)
        # loss (on TCP: segments re-sent after a timeout, seen as late, bunched states)
        relay.set_faults(latency_s=0.0, jitter_s=0.0, loss=0.3)
        assert wait_until(lambda: hub.link("lb-1").loss > 0.02, timeout_s=15), hub.link("lb-1")
        relay.set_faults(loss=0.0)
        # a cut: declared lost, no new steps; what was in flight arrives once afterwards
        relay.cut()
        assert wait_until(lambda: hub.link("lb-1").status is LinkStatus.LOST, timeout_s=10)
        assert not agv.can_accept()
        with pytest.raises(LinkLostError):
            agv.send(movement("lb-1", command_id="refused"))
        hub.send(movement("lb-1", command_id="in-flight"))
        agv.send(instant("lb-1", ActionType.START_PAUSE, command_id="pause"))
        time.sleep(0.5)
        relay.restore()
        assert wait_until(agv.can_accept, timeout_s=20)
        assert wait_until(lambda: hub.pending("lb-1") == 0, timeout_s=10)
        ids = [json.loads(x)["command_id"] for x in record.read_text().splitlines()]
        assert ids == ["first", "in-flight", "pause"]  # none lost, none doubled, in order
    finally:
        gw.terminate()
        try:
            out, _ = gw.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            gw.kill()
            out = ""
        relay.close()
        hub.stop()
    assert "gateway gw-ns (loopback)" in out
