"""`fleet demo --transport ...` (issue 12 item 3): on each transport the demo starts, every
machine reports over it, the AGVs move, and Ctrl-C/SIGTERM stops it cleanly (exit 0)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from fleet.plant import find_mosquitto, free_port
from tests.e2e.demo_process import Demo


def _positions(c: httpx.Client) -> dict[str, tuple[float, float]]:
    return {m["machine_id"]: (m["x"], m["y"]) for m in c.get("/api/v1/vehicles").json()}


@pytest.mark.parametrize("transport", [
    "tcp",
    pytest.param("vda5050", marks=[pytest.mark.mqtt, pytest.mark.slow]),
    pytest.param("ros2", marks=pytest.mark.slow),
])
def test_demo_runs_its_machines_over_the_transport(tmp_path: Path, transport: str) -> None:
    if transport == "vda5050" and find_mosquitto() is None:
        pytest.skip("mosquitto is not installed")
    if transport == "ros2":
        pytest.importorskip("cyclonedds")
    demo = Demo(tmp_path, free_port(), fresh=True, orders_per_hour=120, transport=transport)
    try:
        assert any(transport in line or "process" in line for line in demo.lines if "machines:" in line), demo.lines
        with demo.client() as c:
            deadline = time.monotonic() + 45
            linked = False
            while time.monotonic() < deadline and not linked:
                machines = c.get("/api/v1/vehicles").json() + c.get("/api/v1/cranes").json()
                linked = bool(machines) and all(m["link_ok"] for m in machines)
                time.sleep(0.5)
            assert linked, f"not every machine reports over {transport}: {machines}"
            start = _positions(c)
            moved = False
            while time.monotonic() < deadline + 30 and not moved:
                time.sleep(1.0)
                now = _positions(c)
                moved = any(abs(now[k][0] - start[k][0]) + abs(now[k][1] - start[k][1]) > 0.5 for k in start)
            assert moved, f"no AGV moved over {transport}"
    finally:
        code = demo.stop()
    assert code == 0, "\n".join(demo.lines[-20:])
    assert any(line.startswith("stopped:") for line in demo.lines)
