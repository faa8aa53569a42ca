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
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(90):
            self.proc.kill()
            raise AssertionError("fleet demo did not start:\n" + "\n".join(self.lines[-30:]))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            found = re.search(r"WMS token: (\S+)", line)
            if found:
                self.token = found.group(1)
                self.ready.set()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10.0)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(10)


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
