"""A throwaway PostgreSQL server for tests: the benchmarks' private server (Debian's
binaries, a temp dir, a free loopback port), without fsync, one database per test."""

from __future__ import annotations

import os

from bench._pg_server import BenchPostgres, pg_bin

__all__ = ["PgServer", "pg_bin"]


class PgServer:
    def __init__(self) -> None:
        self._server = BenchPostgres(fsync=False)
        self._n = 0

    def start(self) -> PgServer:
        self._server.start()
        return self

    def url(self, db: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self._server.port}/{db}"

    def new_database(self) -> str:
        import psycopg

        self._n += 1
        name = f"fleet_t{self._n}_{os.getpid()}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        self._server.stop()
