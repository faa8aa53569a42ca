"""A throwaway PostgreSQL server for tests: Debian's binaries, a temp dir, a free loopback port."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin() -> Path | None:
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(cand, "initdb").exists() and Path(cand, "postgres").exists():
            return Path(cand)
    return None


class PgServer:
    def __init__(self) -> None:
        bindir = pg_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL binaries not found")
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="fleet-pg-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._n = 0
        root = os.geteuid() == 0
        self._as = ["runuser", "-u", "postgres", "--"] if root else []
        if root:
            shutil.chown(self.dir, "postgres", "postgres")

    def start(self) -> PgServer:
        data = self.dir / "data"
        subprocess.run([*self._as, str(self.bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                        "--no-sync"], check=True, capture_output=True)
        self.proc = subprocess.Popen(
            [*self._as, str(self.bindir / "postgres"), "-D", str(data), "-p", str(self.port), "-k", str(self.dir),
             "-h", "127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                import psycopg

                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return self
            except Exception:
                time.sleep(0.2)
        raise RuntimeError("PostgreSQL did not start")

    def url(self, db: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def new_database(self) -> str:
        import psycopg

        self._n += 1
        name = f"fleet_t{self._n}_{os.getpid()}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        if self.proc is not None:
            # immediate shutdown: clients left connected must not hold up the test run
            subprocess.run([*self._as, str(self.bindir / "pg_ctl"), "stop", "-D", str(self.dir / "data"),
                            "-m", "immediate", "-W"], capture_output=True, timeout=30)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
