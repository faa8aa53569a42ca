"""Fixtures of the service tests: stores on SQLite and a real PostgreSQL, cores, API clients."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.core.strategies import LegProgress
from fleet.domain import Leg
from fleet.domain.commands import Command, MachineState
from fleet.store import Store
from tests.service.pg import PgServer, pg_bin


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    if pg_bin() is None:
        pytest.skip("PostgreSQL is not installed")
    try:
        server = PgServer().start()
    except Exception as exc:
        pytest.skip(f"PostgreSQL could not start: {exc}")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/fleet.db"
    return request.getfixturevalue("pg_server").new_database()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()


class ScriptedTraffic:
    """A Traffic whose progress the test scripts: `push(progress)`, then a state of that machine."""

    def __init__(self) -> None:
        self.assigned: dict[str, str] = {}
        self.withdrawn: list[str] = []
        self.blocked: frozenset[str] = frozenset()
        self._script: dict[str, collections.deque[LegProgress]] = collections.defaultdict(collections.deque)
        self.commands: list[Command] = []

    def assign(self, leg: Leg, machine_id: str, now_s: float) -> None:
        self.assigned[leg.id] = machine_id

    def withdraw(self, leg_id: str, now_s: float) -> None:
        self.withdrawn.append(leg_id)
        self.assigned.pop(leg_id, None)

    def push(self, progress: LegProgress) -> None:
        self._script[progress.machine_id].append(progress)

    def on_state(self, state: MachineState) -> list[LegProgress]:
        q = self._script[state.machine_id]
        out = list(q)
        q.clear()
        return out

    def tick(self, now_s: float, budget_s: float) -> list[Command]:
        out, self.commands = self.commands, []
        return out

    def set_blocked_zones(self, zone_ids: frozenset[str]) -> None:
        self.blocked = zone_ids

    def planned_path(self, machine_id: str) -> list[str]:
        return []
