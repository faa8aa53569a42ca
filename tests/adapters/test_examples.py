"""The example configurations work: they parse, and the VDA 5050 one runs an order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from adapters.bus import BusHub
from fleet.cli.gateway import build
from fleet.plant import free_port
from sim.vda5050_vehicle import SimVda5050Vehicle
from tests.adapters.conftest import movement, wait_until

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "adapters" / "examples"


@pytest.mark.parametrize(("name", "adapter"), [("vda5050", "vda5050"), ("ros2", "ros2"),
                                               ("crane", "ros2"), ("loopback", "loopback")])
def test_examples_build(name: str, adapter: str) -> None:
    data = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    gw = build(adapter, data)  # not started: only the config is checked
    assert gw.machine_ids


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("bus: tcp://x:1\nvehicles: [{machine_id: a}]\n")
    out = subprocess.run([sys.executable, "-m", "fleet", "gateway", "--adapter", "vda5050",
                          "--config", str(cfg)], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "manufacturer" in out.stderr


@pytest.mark.mqtt
def test_vda5050_gateway_process_from_the_example(broker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = yaml.safe_load((EXAMPLES / "vda5050.yaml").read_text())
    port = free_port()
    data["bus"] = f"tcp://127.0.0.1:{port}"
    data["mqtt"].update(host=broker.host, port=broker.port)
    cfg = tmp_path / "vda.yaml"
    cfg.write_text(yaml.safe_dump(data))
    hub = BusHub(f"tcp://127.0.0.1:{port}", heartbeat_s=0.2)
    hub.start()
    vehicle = SimVda5050Vehicle("acme", "A-0001", broker.host, broker.port, version="2.0.0",
                                speed_mps=20, state_period_s=0.2, map_id="hall1")
    vehicle.start()
    proc = subprocess.Popen([sys.executable, "-m", "fleet", "gateway", "--adapter", "vda5050",
                             "--config", str(cfg), "--status-every", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    states = []
    hub.subscribe(on_state=states.append)
    try:
        ok = wait_until(lambda: any(s.machine_id == "agv-1" for s in states), timeout_s=20)
        if not ok:
            proc.terminate()
            pytest.fail(f"no state; hub {hub.counters}; gateway said: {proc.communicate(timeout=10)[0]}")
        hub.send(movement("agv-1", order_id="cli", n=4))
        assert wait_until(lambda: vehicle.m.last_node_id == "n3" and vehicle.idle, timeout_s=20)
        assert wait_until(lambda: states[-1].last_node_id == "n3")
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        vehicle.stop()
        hub.stop()
    assert "gateway gw-vda5050-hall1 (vda5050): 2 machines" in out
