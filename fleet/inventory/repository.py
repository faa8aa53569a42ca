"""Durable inventory and tally records on any DB-API connection (sqlite3 first).

Every write method commits before it returns, so what a caller acknowledges has
reached the database file (and with `open_sqlite`'s WAL + synchronous=FULL, the
disk); a kill -9 after the return loses nothing. Several changes that belong
together go in one `with repo.batch():` block (one commit). Transactions are explicit
(`BEGIN IMMEDIATE` ... `COMMIT` on SQLite, commit/rollback on psycopg), so the class
works on the store's own writer connection (autocommit mode, `isolation_level=None`)
as well as on a default sqlite3 connection.

The tables carry an `inv_` / `tally_` prefix and their own versioned CREATE TABLE
statements (`MIGRATIONS`, placeholders `{serial}` and `{real}` as in
`fleet/store/migrations`), so `fleet.store` can run them in its own database later:
`InventoryRepository(store_connection, dialect="postgres")` or copy the statements
into a store migration. SQL is portable: `?` placeholders are rewritten to `%s`
for PostgreSQL, inserts use `RETURNING id`, no SQLite-only functions.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from fleet.inventory.errors import InventoryError
from fleet.inventory.load import Load

SCHEMA_VERSION = 2
COMPONENT = "inventory"

#: (version, statements); each version is applied once, in order, in one transaction.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (1, (
        """CREATE TABLE inv_stock (
  position TEXT PRIMARY KEY,
  slot_id TEXT NOT NULL,
  load_id TEXT NOT NULL UNIQUE,
  body TEXT NOT NULL,
  placed_s {real} NOT NULL
)""",
        "CREATE INDEX inv_stock_slot ON inv_stock (slot_id)",
        """CREATE TABLE inv_moves (
  id {serial},
  at_s {real} NOT NULL,
  kind TEXT NOT NULL,
  load_id TEXT NOT NULL,
  source TEXT,
  destination TEXT,
  machine_id TEXT,
  leg_id TEXT
)""",
        "CREATE INDEX inv_moves_load ON inv_moves (load_id, id)",
        """CREATE TABLE tally_records (
  id {serial},
  at_s {real} NOT NULL,
  stage TEXT NOT NULL,
  leg_id TEXT,
  machine_id TEXT,
  place TEXT,
  expected TEXT NOT NULL,
  read_label TEXT,
  read_texts TEXT,
  read_format TEXT,
  rfid_read TEXT,
  outcome TEXT NOT NULL,
  action TEXT NOT NULL,
  image_id TEXT,
  attempt INTEGER NOT NULL,
  detail TEXT
)""",
        "CREATE INDEX tally_leg ON tally_records (leg_id, id)",
        "CREATE INDEX tally_place ON tally_records (place, id)",
        "CREATE INDEX tally_expected ON tally_records (expected, id)",
    )),
    (2, (
        """CREATE TABLE tally_alarms (
  id TEXT PRIMARY KEY,
  raised_s {real} NOT NULL,
  leg_id TEXT,
  load_id TEXT,
  state TEXT NOT NULL,
  resolution TEXT,
  resolved_s {real},
  resolved_by TEXT,
  body TEXT NOT NULL
)""",
        "CREATE INDEX tally_alarms_state ON tally_alarms (state, raised_s)",
    )),
)

_DIALECTS = {
    "sqlite": {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "real": "REAL"},
    "postgres": {"serial": "BIGSERIAL PRIMARY KEY", "real": "DOUBLE PRECISION"},
}

TALLY_COLUMNS = ("id", "at_s", "stage", "leg_id", "machine_id", "place", "expected", "read_label",
                 "read_texts", "read_format", "rfid_read", "outcome", "action", "image_id", "attempt",
                 "detail")


class RepositoryError(InventoryError):
    status = 503
    kind = "inventory-store-unavailable"


def statements(dialect: str = "sqlite", since: int = 0) -> list[tuple[int, str]]:
    """The CREATE statements after version `since`, with the dialect's types filled in."""
    types = _DIALECTS[dialect]
    return [(v, s.format(**types)) for v, stmts in MIGRATIONS if v > since for s in stmts]


def open_sqlite(path: str | Path) -> sqlite3.Connection:
    """A sqlite3 connection for durable writes: WAL, synchronous=FULL, rows as dicts."""
    conn = sqlite3.connect(str(path), timeout=10.0, check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


class InventoryRepository:
    """Reads and writes stock, moves, tally records and alarms on one connection.

    One writer at a time (the inventory service's); `batch()` groups writes.
    """

    def __init__(self, conn: Any, dialect: str = "sqlite", lock: Any = None) -> None:
        """`conn`: a DB-API connection (sqlite3 in any isolation mode, or psycopg 3 without
        autocommit); `lock`: the owner's write lock when the connection is shared."""
        if dialect not in _DIALECTS:
            raise RepositoryError(f"unknown SQL dialect {dialect!r} (sqlite or postgres)")
        self.conn = conn
        self.dialect = dialect
        self._lock = lock or threading.RLock()
        self._depth = 0
        self.migrate()

    # ----- plumbing
    def _sql(self, text: str) -> str:
        return text if self.dialect == "sqlite" else text.replace("?", "%s")

    def _exec(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            return self.conn.execute(self._sql(sql), tuple(params))
        except Exception as exc:
            raise RepositoryError(f"inventory store: {type(exc).__name__}: {exc}") from exc

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._exec(sql, params)
            rows = cur.fetchall()
            names = [d[0] for d in cur.description] if cur.description else []
            if self.dialect == "postgres" and self._depth == 0:
                self.conn.commit()  # do not leave the connection idle in a transaction
        return [dict(r) if hasattr(r, "keys") else dict(zip(names, r, strict=True)) for r in rows]

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Writes inside commit together when the block ends, or not at all."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._begin()
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outer:
                    self._end(commit=False)
                raise
            self._depth -= 1
            if outer:
                self._end(commit=True)

    def _begin(self) -> None:
        if self.dialect == "sqlite":
            self._exec("BEGIN IMMEDIATE")  # takes the write lock now: no deadlock on upgrade

    def _end(self, commit: bool) -> None:
        try:
            if self.dialect == "sqlite":
                self.conn.execute("COMMIT" if commit else "ROLLBACK")
            elif commit:
                self.conn.commit()
            else:
                self.conn.rollback()
        except Exception as exc:
            if commit:
                raise RepositoryError(f"inventory store: commit failed: {exc}") from exc

    def migrate(self) -> int:
        """Create or upgrade the tables; returns the schema version now in place."""
        with self.batch():
            self._exec("CREATE TABLE IF NOT EXISTS inv_schema (component TEXT PRIMARY KEY,"
                       " version INTEGER NOT NULL)")
        rows = self._rows("SELECT version FROM inv_schema WHERE component = ?", (COMPONENT,))
        have = int(rows[0]["version"]) if rows else 0
        todo = statements(self.dialect, have)
        if not todo:
            return have
        with self.batch():  # one transaction: a half-applied version rolls back (DDL too)
            for _, stmt in todo:
                self._exec(stmt)
            if rows:
                self._exec("UPDATE inv_schema SET version = ? WHERE component = ?", (SCHEMA_VERSION, COMPONENT))
            else:
                self._exec("INSERT INTO inv_schema (component, version) VALUES (?, ?)", (COMPONENT, SCHEMA_VERSION))
        return SCHEMA_VERSION

    # ----- stock
    def put(self, position: str, slot_id: str, load: Load, at_s: float, *, kind: str = "store",
            source: str | None = None, machine_id: str | None = None, leg_id: str | None = None) -> None:
        """A load now lies at `position` (it came from `source`, None: from outside)."""
        with self.batch():
            if source is not None:
                self._exec("DELETE FROM inv_stock WHERE position = ?", (source,))
            self._exec("INSERT INTO inv_stock (position, slot_id, load_id, body, placed_s) VALUES (?, ?, ?, ?, ?)",
                       (position, slot_id, load.id, json.dumps(load.to_dict()), at_s))
            self._log(at_s, kind, load.id, source, position, machine_id, leg_id)

    def take(self, position: str, load_id: str, at_s: float, *, destination: str | None = None,
             machine_id: str | None = None, leg_id: str | None = None) -> None:
        """The load left the inventory (to a dock, a handoff or a check station)."""
        with self.batch():
            self._exec("DELETE FROM inv_stock WHERE position = ?", (position,))
            self._log(at_s, "take", load_id, position, destination, machine_id, leg_id)

    def _log(self, at_s: float, kind: str, load_id: str, source: str | None, destination: str | None,
             machine_id: str | None, leg_id: str | None) -> None:
        self._exec("INSERT INTO inv_moves (at_s, kind, load_id, source, destination, machine_id, leg_id)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?)", (at_s, kind, load_id, source, destination, machine_id, leg_id))

    def stock(self) -> list[tuple[str, Load, float]]:
        """(position, load, placed_s) of everything stored."""
        return [(r["position"], Load.from_dict(json.loads(r["body"])), float(r["placed_s"]))
                for r in self._rows("SELECT position, body, placed_s FROM inv_stock ORDER BY position")]

    def moves(self, load_id: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        if load_id is None:
            return self._rows("SELECT * FROM inv_moves ORDER BY id DESC LIMIT ?", (int(limit),))
        return self._rows("SELECT * FROM inv_moves WHERE load_id = ? ORDER BY id DESC LIMIT ?", (load_id, int(limit)))

    # ----- tally
    def add_tally(self, record: dict[str, Any]) -> int:
        cols = [c for c in TALLY_COLUMNS if c != "id"]
        values = [record.get(c) for c in cols]
        values[cols.index("read_texts")] = json.dumps(list(record.get("read_texts") or ()))
        sql = (f"INSERT INTO tally_records ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
               " RETURNING id")
        with self.batch():
            row = self._exec(sql, values).fetchone()
        return int(row["id"] if hasattr(row, "keys") else row[0])

    def tally(self, *, leg_id: str | None = None, place: str | None = None, load_id: str | None = None,
              outcome: str | None = None, after_id: int = 0, limit: int = 200) -> list[dict[str, Any]]:
        where, params = ["id > ?"], [int(after_id)]
        for col, val in (("leg_id", leg_id), ("place", place), ("expected", load_id), ("outcome", outcome)):
            if val is not None:
                where.append(f"{col} = ?")
                params.append(val)
        params.append(max(1, min(int(limit), 5000)))
        rows = self._rows(f"SELECT * FROM tally_records WHERE {' AND '.join(where)} ORDER BY id LIMIT ?", params)
        for r in rows:
            r["read_texts"] = json.loads(r["read_texts"] or "[]")
        return rows

    # ----- alarms
    def put_alarm(self, alarm: dict[str, Any]) -> None:
        with self.batch():
            self._exec("DELETE FROM tally_alarms WHERE id = ?", (alarm["id"],))
            self._exec("INSERT INTO tally_alarms (id, raised_s, leg_id, load_id, state, resolution, resolved_s,"
                   " resolved_by, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (alarm["id"], alarm["raised_s"], alarm.get("leg_id"), alarm.get("load_id"), alarm["state"],
                        alarm.get("resolution"), alarm.get("resolved_s"), alarm.get("resolved_by"),
                        json.dumps(alarm)))

    def alarms(self, open_only: bool = False, limit: int = 200) -> list[dict[str, Any]]:
        sql = "SELECT body FROM tally_alarms"
        params: list[Any] = []
        if open_only:
            sql += " WHERE state = ?"
            params.append("open")
        sql += " ORDER BY raised_s DESC, id LIMIT ?"
        params.append(max(1, min(int(limit), 5000)))
        return [json.loads(r["body"]) for r in self._rows(sql, params)]
