"""Durable inventory and tally records: round trip, migrations, and survival of kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fleet.inventory import InventoryRepository, open_sqlite
from fleet.inventory.repository import SCHEMA_VERSION, statements
from tests.inventory.yards import coil

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_round_trip_and_idempotent_migrations(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    repo = InventoryRepository(open_sqlite(db))
    repo.put("S1-01/T1", "S1-01", coil(1, tag="E1"), 5.0)
    repo.put("S1-02/T1", "S1-02", coil(1), 6.0, kind="move", source="S1-01/T1")
    rid = repo.add_tally({"at_s": 7.0, "stage": "drop", "expected": "C0001", "read_label": "C0001",
                          "read_texts": ["LD:C0001"], "outcome": "match", "action": "confirm", "attempt": 1,
                          "place": "S1-02/T1", "image_id": "CAM-1"})
    repo.put_alarm({"id": "A1", "raised_s": 8.0, "state": "open", "load_id": "C0001"})
    repo.conn.close()
    again = InventoryRepository(open_sqlite(db))
    assert again.migrate() == SCHEMA_VERSION
    (pos, load, at), = again.stock()
    assert pos == "S1-02/T1" and load == coil(1) and at == 6.0
    rec, = again.tally(place="S1-02/T1")
    assert rec["id"] == rid and rec["read_texts"] == ["LD:C0001"] and rec["image_id"] == "CAM-1"
    assert [m["kind"] for m in again.moves("C0001")] == ["move", "store"]
    assert again.alarms(open_only=True)[0]["id"] == "A1"


def test_postgres_statements_use_portable_types() -> None:
    pg = " ".join(s for _, s in statements("postgres"))
    assert "BIGSERIAL PRIMARY KEY" in pg and "DOUBLE PRECISION" in pg and "AUTOINCREMENT" not in pg
    assert "{" not in pg


def test_a_batch_commits_together_or_not_at_all(tmp_path: Path) -> None:
    repo = InventoryRepository(open_sqlite(tmp_path / "b.db"))
    try:
        with repo.batch():
            repo.put("S1-01/T1", "S1-01", coil(1), 1.0)
            repo.put("S1-01/T1", "S1-01", coil(2), 1.0)  # same position: fails
    except Exception:
        pass
    assert repo.stock() == []


WRITER = textwrap.dedent("""
    import sys
    from fleet.inventory import InventoryRepository, Load, open_sqlite
    repo = InventoryRepository(open_sqlite(sys.argv[1]))
    i = 0
    while True:
        i += 1
        repo.put(f"P{i}/T1", f"P{i}", Load(f"C{i}", "coil", 1000.0 + i), float(i))
        repo.add_tally({"at_s": float(i), "stage": "drop", "expected": f"C{i}", "read_label": f"C{i}",
                        "outcome": "match", "action": "confirm", "attempt": 1, "place": f"P{i}/T1"})
        print(i, flush=True)  # acknowledged only after both commits returned
""")


def test_everything_acknowledged_survives_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "kill.db"
    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, str(script), str(db)], stdout=subprocess.PIPE, env=env, text=True)
    acked = 0
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while acked < 40 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        acked = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert acked >= 40, "the writer did not get going"
    repo = InventoryRepository(open_sqlite(db))
    stored = {load.id for _, load, _ in repo.stock()}
    tallied = {r["expected"] for r in repo.tally(limit=5000)}
    for i in range(1, acked + 1):
        assert f"C{i}" in stored and f"C{i}" in tallied
    assert repo.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _exercise(repo: InventoryRepository) -> None:
    repo.put("S1-01/T1", "S1-01", coil(1), 1.0)
    repo.put("S1-02/T1", "S1-02", coil(1), 2.0, kind="move", source="S1-01/T1")
    rid = repo.add_tally({"at_s": 3.0, "stage": "drop", "expected": "C0001", "read_label": "C0001",
                          "outcome": "match", "action": "confirm", "attempt": 1, "place": "S1-02/T1"})
    repo.put_alarm({"id": "A1", "raised_s": 4.0, "state": "open"})
    assert [p for p, _, _ in repo.stock()] == ["S1-02/T1"]
    assert repo.tally(place="S1-02/T1")[0]["id"] == rid and repo.alarms(open_only=True)[0]["id"] == "A1"
    assert repo.migrate() == SCHEMA_VERSION


def test_runs_on_the_stores_own_sqlite_connection(tmp_path: Path) -> None:
    import sqlite3

    from fleet.store import Store

    store = Store(f"sqlite:///{tmp_path}/fleet.db")
    try:
        _exercise(InventoryRepository(store._writer, lock=store._write_lock))
        with store.transaction() as tx:  # the store's own writes still work beside ours
            tx.put_zone("Z1", True, 1.0, "test")
        assert store.zones() == {"Z1": True}
    finally:
        store.close()
    conn = sqlite3.connect(tmp_path / "fleet.db")  # a default-mode connection works as well
    conn.row_factory = sqlite3.Row
    assert [p for p, _, _ in InventoryRepository(conn).stock()] == ["S1-02/T1"]


@pytest.mark.postgres
def test_runs_on_postgresql() -> None:
    from tests.service.pg import PgServer, pg_bin

    if pg_bin() is None:
        pytest.skip("PostgreSQL is not installed")
    import psycopg
    from psycopg.rows import dict_row

    server = PgServer().start()
    try:
        conn = psycopg.connect(server.new_database(), row_factory=dict_row)
        _exercise(InventoryRepository(conn, dialect="postgres"))
        conn.close()
    finally:
        server.stop()
