"""`fleet demo` as a child process, for the tests that kill it or try its transports."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
SPEED = 20.0
OPEN = ("created", "queued", "assigned", "in_progress", "handed_off")


class Demo:
    """`fleet demo` as a child process; its stdout kept, its URL and WMS token parsed."""

    def __init__(self, data_dir: Path, port: int, *, fresh: bool, orders_per_hour: float,
                 transport: str = "inproc", speed: float = SPEED) -> None:
        args = [sys.executable, "-c", "import sys; from fleet.cli import main; sys.exit(main(sys.argv[1:]))",
                "demo", "--speed", str(speed), "--data-dir", str(data_dir), "--port", str(port),
                "--orders-per-hour", str(orders_per_hour), "--transport", transport, "--quiet"]
        if fresh:
            args.append("--fresh")
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.token = ""
        self.login: tuple[str, str] = ("", "")
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(240):  # a cold numba cache: the planners compile at start (~80 s)
            self.proc.kill()
            raise AssertionError("fleet demo did not start:\n" + "\n".join(self.lines[-30:]))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            who = re.search(r"login (\S+) / (\S+)", line)
            if who:
                self.login = (who.group(1), who.group(2))
            found = re.search(r"WMS token: (\S+)", line)
            if found:
                self.token = found.group(1)
                self.ready.set()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10.0)

    def dispatcher(self) -> httpx.Client:
        """A client logged in as the dispatcher the demo printed."""
        r = httpx.post(f"{self.url}/api/v1/auth/login", json={"username": self.login[0], "password": self.login[1]},
                       timeout=10.0)
        r.raise_for_status()
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {r.json()['token']}"}, timeout=10.0)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(10)


def answer_as_dispatcher(c: httpx.Client) -> list[str]:
    """What a dispatcher does about the demo's deliberate faults: accept each open tally
    alarm (the swapped camera label) and resume the machines it paused. Returns what was done."""
    done = []
    for alarm in c.get("/api/v1/inventory/alarms", params={"open_only": True}).json():
        if c.post(f"/api/v1/inventory/alarms/{alarm['id']}/resolve", json={"action": "accept"}).status_code == 200:
            done.append(f"accepted {alarm['id']}")
    for kind in ("vehicles", "cranes"):
        for m in c.get(f"/api/v1/{kind}").json():
            if m.get("held") == "paused" and c.post(f"/api/v1/{kind}/{m['machine_id']}/resume").status_code == 200:
                done.append(f"resumed {m['machine_id']}")
    return done


def wait_for(pred, timeout_s: float, step_s: float = 0.5) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if pred():
                return True
        except httpx.HTTPError:
            pass
        time.sleep(step_s)
    return False
