"""A private PostgreSQL server for `fleet bench api --postgres` (and the tests): Debian's
binaries, a temp dir, a free loopback port, durable settings (fsync and synchronous_commit
on) unless asked.

As root the server runs as the `postgres` user (`runuser`), as Debian's packages expect.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from bench._procs import descendants


def pg_bin() -> Path | None:
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(cand, "initdb").exists() and Path(cand, "postgres").exists():
            return Path(cand)
    return None


class BenchPostgres:
    """`start()` returns the server; `url` names its database; `stop()` ends it (immediate)."""

    def __init__(self, *, fsync: bool = True) -> None:
        bindir = pg_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
        self.bindir = bindir
        self.fsync = fsync
        self.dir = Path(tempfile.mkdtemp(prefix="fleet-bench-pg-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        root = os.geteuid() == 0
        self._as = ["runuser", "-u", "postgres", "--"] if root else []
        if root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/fleet"

    def start(self) -> BenchPostgres:
        import psycopg

        data = self.dir / "data"
        sync = [] if self.fsync else ["--no-sync"]
        subprocess.run([*self._as, str(self.bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                        *sync], check=True, capture_output=True)
        opts = ["-c", f"fsync={'on' if self.fsync else 'off'}", "-c", "synchronous_commit=on",
                "-c", "max_connections=200", "-c", "shared_buffers=128MB"]
        self.proc = subprocess.Popen([*self._as, str(self.bindir / "postgres"), "-D", str(data), "-p", str(self.port),
                                      "-k", str(self.dir), "-h", "127.0.0.1", *opts],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        deadline = time.time() + 30
        while True:
            try:
                with psycopg.connect(admin, autocommit=True, connect_timeout=2) as conn:
                    conn.execute("CREATE DATABASE fleet")
                return self
            except psycopg.Error:
                if time.time() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("PostgreSQL did not start") from None
                time.sleep(0.2)

    def pids(self) -> list[int]:
        """The server's processes (postmaster and backends, below `runuser`), for CPU accounting."""
        if self.proc is None:
            return []
        return [self.proc.pid, *descendants(self.proc.pid)]

    def stop(self) -> None:
        if self.proc is not None:
            subprocess.run([*self._as, str(self.bindir / "pg_ctl"), "stop", "-D", str(self.dir / "data"),
                            "-m", "immediate", "-W"], capture_output=True, timeout=30)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
