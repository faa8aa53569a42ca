"""`fleet demo --transport ...` (issue 12 item 3): on each transport the demo starts, every
machine reports over it, the AGVs move (over ROS 2 a robot also picks and drops a load), and
Ctrl-C/SIGTERM stops it cleanly (exit 0)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from fleet.plant import find_mosquitto, free_port
from tests.e2e.demo_process import Demo


def _positions(c: httpx.Client) -> dict[str, tuple[float, float]]:
    return {m["machine_id"]: (m["x"], m["y"]) for m in c.get("/api/v1/vehicles").json()}


def _a_robot_picks_and_drops(c: httpx.Client, timeout_s: float = 90.0) -> None:
    """A ROS 2 robot carries a load and sets it down: its pick and drop ran as node actions
    and came back as action states (a robot reports a load only from a pick of its own)."""
    loaded: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for v in c.get("/api/v1/vehicles").json():
            if v["load_id"]:
                loaded[v["machine_id"]] = v["load_id"]
            elif v["machine_id"] in loaded:
                return
        time.sleep(0.5)
    raise AssertionError(f"no ROS 2 robot picked and dropped within {timeout_s} s (loaded: {loaded})")


@pytest.mark.parametrize("transport", [
    "tcp",
    pytest.param("vda5050", marks=[pytest.mark.mqtt, pytest.mark.slow]),
    "ros2",  # ~25 s: link, movement, and one pick and drop over DDS
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
            if transport == "ros2":
                _a_robot_picks_and_drops(c)
    finally:
        code = demo.stop()
    assert code == 0, "\n".join(demo.lines[-20:])
    assert any(line.startswith("stopped:") for line in demo.lines)
