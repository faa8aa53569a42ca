"""The store: one small interface over SQLite (embedded default) and PostgreSQL.

Writes go through `transaction()` (one writer at a time, a lock in this process; the
core's command thread is the main writer and batches many commands per commit, which
is what makes "durable before acknowledged" cheap). Reads use a connection per thread
and may run concurrently with the writer (SQLite WAL, PostgreSQL MVCC).

SQL is written once with `?` placeholders; the PostgreSQL dialect rewrites them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from fleet.domain import Crane, Leg, Order, Vehicle
from fleet.errors import FleetError
from fleet.store import records


class StoreError(FleetError):
    status = 503
    kind = "store-unavailable"


@dataclass(frozen=True)
class Dialect:
    name: str
    serial: str
    real: str
    bigint: str

    def sql(self, text: str) -> str:
        return text if self.name == "sqlite" else text.replace("?", "%s")


SQLITE = Dialect("sqlite", "INTEGER PRIMARY KEY AUTOINCREMENT", "REAL", "INTEGER")
POSTGRES = Dialect("postgres", "BIGSERIAL PRIMARY KEY", "DOUBLE PRECISION", "BIGINT")

# The events of a batch in one statement: ids from the sequence in the order given, each
# returned with the event's position (1-based), so the mapping never depends on row order.
_EVENTS_INSERT = (
    "WITH given AS (SELECT nextval('events_id_seq') AS id, t, a, p, n"
    " FROM unnest(%b::text[], %b::double precision[], %b::text[]) WITH ORDINALITY AS u(t, a, p, n)),"
    " ins AS (INSERT INTO events (id, type, at_s, payload) SELECT id, t, a, p FROM given)"
    " SELECT id, n FROM given ORDER BY n"
)
_CLIENTS_LOOKUP = "SELECT client_id, body, body_hash FROM orders WHERE client_id = ANY(%s)"
_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+(?:\.(sqlite|postgres))?\.sql$")


def migrations(dialect: Dialect) -> list[tuple[int, str, str]]:
    """(version, file name, SQL) for this dialect, in order."""
    out = []
    folder = resources.files("fleet.store") / "migrations"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        m = _MIGRATION.match(entry.name)
        if not m or (m.group(2) and m.group(2) != dialect.name):
            continue
        text = entry.read_text(encoding="utf-8")
        text = text.replace("{serial}", dialect.serial).replace("{real}", dialect.real)
        text = text.replace("{bigint}", dialect.bigint)
        out.append((int(m.group(1)), entry.name, text))
    return out


def _split_statements(sql: str) -> list[str]:
    """Split a migration into statements; `$$ ... $$` and BEGIN ... END; bodies stay whole."""
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    text = "\n".join(lines)
    out, buf, in_dollar, in_begin = [], [], False, False
    for part in re.split(r"(\$\$|;|\bBEGIN\b|\bEND\b)", text):
        buf.append(part)
        if part == "$$":
            in_dollar = not in_dollar
        elif part == "BEGIN" and not in_dollar:
            in_begin = True
        elif part == "END" and not in_dollar:
            in_begin = False
        elif part == ";" and not in_dollar and not in_begin:
            stmt = "".join(buf).strip()
            if stmt and stmt != ";":
                out.append(stmt)
            buf = []
    rest = "".join(buf).strip()
    if rest:
        out.append(rest)
    return out


class Tx:
    """One write transaction; every method writes, nothing is visible until commit."""

    def __init__(self, store: Store, conn: Any) -> None:
        self._store = store
        self._conn = conn
        self.events: list[dict[str, Any]] = []  # events written in this transaction
        # PostgreSQL: the typed writes wait here and go in one pipeline at commit (one round
        # trip for a whole batch instead of one per statement); SQLite runs them at once.
        self._buffer: list[tuple[str, Any]] | None = [] if store.dialect is POSTGRES else None
        self._new_clients: dict[str, tuple[Order, str]] = {}
        self._marks: list[tuple[int, int, int, int]] = []
        self._flushes = 0
        self._events_sent = 0
        # PostgreSQL: where a new order's INSERT waits in the buffer, so the update that
        # queues it in the same command folds into it (one statement, not two)
        self._order_rows: dict[str, tuple[int, int]] = {}
        # PostgreSQL: client ids found stored by this transaction's lookups
        self._clients_found: dict[str, tuple[Order, str]] = {}

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run a statement now (after any buffered writes, so the order of effects holds)."""
        self.flush()
        return self._conn.execute(self._store.dialect.sql(sql), tuple(params))

    def _write(self, sql: str, params: Sequence[Any]) -> None:
        if self._buffer is None:
            self._conn.execute(sql, tuple(params))
        else:
            self._buffer.append((self._store.dialect.sql(sql), tuple(params)))

    # Savepoints: SQL on SQLite; on PostgreSQL a mark in the buffer (nothing was sent yet).
    def savepoint(self) -> None:
        """Mark a point to undo to (one level; the core uses one per command)."""
        self._marks.append((len(self._buffer or ()), self._flushes, len(self.events), len(self._new_clients)))
        if self._buffer is None:
            self._conn.execute("SAVEPOINT cmd")

    def rollback_savepoint(self) -> None:
        """Undo every write and event since the savepoint."""
        mark, flushes, n_events, n_clients = self._marks[-1]
        del self.events[n_events:]
        for client_id in list(self._new_clients)[n_clients:]:  # the command's new orders are gone too
            del self._new_clients[client_id]
        if self._buffer is None:
            self._conn.execute("ROLLBACK TO SAVEPOINT cmd")
            return
        if flushes != self._flushes:
            raise StoreError("a savepoint cannot be rolled back after its writes were sent")
        del self._buffer[mark:]

    def release_savepoint(self) -> None:
        if self._marks:
            self._marks.pop()
        if self._buffer is None:
            self._conn.execute("RELEASE SAVEPOINT cmd")

    def flush(self, commit: bool = False) -> None:
        """Send the buffered writes (PostgreSQL) in one pipeline, so a whole batch costs one
        round trip: statements grouped by text, each group with `executemany`; then the
        events in one statement that takes their ids from the sequence and returns them
        with each event's position; with `commit`, the COMMIT too. Grouping keeps the order
        within a group and puts each group where its first statement was, which is all the
        core relies on (an order's insert before its updates)."""
        if self._buffer is None:
            return
        events = self.events[self._events_sent:]
        conn = self._conn
        if not self._buffer and not events:
            if commit:
                conn.commit()
            return
        groups: dict[str, list[tuple[Any, ...]]] = {}
        for sql, params in self._buffer:
            groups.setdefault(sql, []).append(params)
        self._buffer = []
        self._flushes += 1
        with conn.pipeline() as pipe, conn.cursor() as cur, conn.cursor() as ecur:
            for sql, batch in groups.items():
                cur.executemany(sql, batch)
            if events:
                ecur.execute(_EVENTS_INSERT, ([e["type"] for e in events], [e["at_s"] for e in events],
                                              [e["_body"] for e in events]))
            if commit:
                conn.commit()  # queues COMMIT and syncs: the one round trip
            else:
                pipe.sync()
            rows = ecur.fetchall() if events else []
        for row in rows:
            event = events[int(row["n"]) - 1]
            self._finish_event(event, int(row["id"]), event.pop("_body"))
            event.pop("_json_body", None)
        if any(a["id"] > b["id"] for a, b in itertools.pairwise(events)):  # never seen; live streams need id order
            self.events[self._events_sent:] = sorted(events, key=lambda e: e["id"])
        self._events_sent = len(self.events)

    @staticmethod
    def _finish_event(event: dict[str, Any], event_id: int, body: str) -> None:
        event["id"] = event_id
        event["_json_body"] = body
        # the whole event as JSON, built once here for every live stream that sends it
        event["_json"] = (f'{{"id":{event_id},"type":{json.dumps(event["type"])},'
                          f'"at_s":{event["at_s"]!r},"payload":{body}}}')

    def _upsert(self, table: str, cols: Sequence[str], values: Sequence[Any]) -> None:
        names = ", ".join(cols)
        marks = ", ".join("?" for _ in cols)
        updates = ", ".join(f"{c} = excluded.{c}" for c in cols[1:])
        self._write(
            f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT ({cols[0]}) DO UPDATE SET {updates}",
            values,
        )

    def put_order(self, order: Order, body_hash: str | None = None) -> None:
        if body_hash is None:
            if self._fold_into_insert(order):
                return
            self._write(
                "UPDATE orders SET state = ?, priority = ?, updated_s = ?, body = ? WHERE id = ?",
                (order.state.value, order.priority, order.updated_s, records.order_body(order), order.id),
            )
            return
        if order.client_id:
            self._new_clients[order.client_id] = (order, body_hash)
        if self._buffer is not None:
            self._order_rows[order.id] = (len(self._buffer), self._flushes)
        self._write(
            "INSERT INTO orders (id, client_id, body_hash, state, priority, source, destination,"
            " created_s, updated_s, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (order.id, order.client_id, body_hash, order.state.value, order.priority, order.source,
             order.destination, order.created_s, order.updated_s, records.order_body(order)),
        )

    def _fold_into_insert(self, order: Order) -> bool:
        """PostgreSQL: write an update of an order inserted earlier in the same command into
        its buffered INSERT. Only within one command (after its savepoint), so a rollback of
        a later command can never leave an insert changed by it."""
        where = self._order_rows.get(order.id)
        if self._buffer is None or where is None or where[1] != self._flushes:
            return False
        index = where[0]
        if self._marks and index < self._marks[-1][0]:
            return False
        sql, params = self._buffer[index]
        self._buffer[index] = (sql, (*params[:3], order.state.value, order.priority, *params[5:8],
                                     order.updated_s, records.order_body(order)))
        return True

    def put_leg(self, leg: Leg) -> None:
        self._upsert(
            "legs",
            ("id", "order_id", "state", "machine_id", "updated_s", "body"),
            (leg.id, leg.order_id, leg.state.value, leg.machine_id, leg.updated_s, records.leg_body(leg)),
        )

    def add_timeline(self, order_id: str, at_s: float, state: str, stage: str | None = None,
                     leg_id: str | None = None, machine_id: str | None = None,
                     detail: str | None = None) -> None:
        self._write(
            "INSERT INTO order_timeline (order_id, at_s, state, stage, leg_id, machine_id, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (order_id, at_s, state, stage, leg_id, machine_id, detail),
        )

    def put_machine(self, machine: Vehicle | Crane, held_mode: str | None) -> None:
        kind = "crane" if isinstance(machine, Crane) else "agv"
        self._upsert(
            "machines",
            ("id", "kind", "held_mode", "updated_s", "body"),
            (machine.id, kind, held_mode, machine.last_state_s, records.machine_body(machine)),
        )

    def put_zone(self, zone_id: str, closed: bool, at_s: float, by: str | None) -> None:
        self._upsert("zones", ("id", "closed", "updated_s", "by_actor"), (zone_id, int(closed), at_s, by))

    def put_alarm(self, alarm: dict[str, Any]) -> None:
        self._upsert(
            "alarms",
            ("id", "raised_s", "acknowledged", "body"),
            (alarm["id"], alarm["raised_s"], int(bool(alarm.get("acknowledged_s"))), json.dumps(alarm)),
        )

    def add_event(self, type_: str, at_s: float, payload: dict[str, Any]) -> dict[str, Any]:
        """Store an event; returns it (on PostgreSQL its `id` is set when the batch is sent)."""
        body = json.dumps(payload, separators=(",", ":"))
        event: dict[str, Any] = {"id": 0, "type": type_, "at_s": at_s, "payload": payload}
        if self._buffer is not None:
            event["_body"] = body  # inserted with the batch, after the savepoints have settled
        else:
            cur = self._conn.execute("INSERT INTO events (type, at_s, payload) VALUES (?, ?, ?)", (type_, at_s, body))
            self._finish_event(event, int(cur.lastrowid), body)
            event.pop("_json_body")
        self.events.append(event)
        return event

    def add_audit(self, at_s: float, actor: str, role: str | None, token_id: str | None,
                  action: str, target: str | None, source: str | None, outcome: str,
                  detail: str | None = None) -> None:
        self._write(
            "INSERT INTO audit (at_s, actor, role, token_id, action, target, source, outcome, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (at_s, actor, role, token_id, action, target, source, outcome, detail),
        )

    def order_by_client(self, client_id: str) -> tuple[Order, str] | None:
        """Also sees orders written earlier in this transaction (still buffered)."""
        if client_id in self._new_clients:
            return self._new_clients[client_id]
        if self._buffer is not None:  # PostgreSQL: one query for every submission the API has in flight
            if client_id in self._clients_found:
                return self._clients_found[client_id]
            if self._store._known_absent(client_id):
                return None
            self._clients_found.update(self._store._lookup_clients(self._conn, [client_id]))
            return self._clients_found.get(client_id)
        row = self._conn.execute(self._store.dialect.sql("SELECT body, body_hash FROM orders WHERE client_id = ?"),
                                 (client_id,)).fetchone()
        if row is None:
            return None
        return records.order_from_body(row["body"]), row["body_hash"]


class Store:
    """SQLite or PostgreSQL behind the same methods. Thread-safe."""

    def __init__(self, url: str, *, sqlite_sync: str = "FULL") -> None:
        """`sqlite_sync`: FULL survives power loss; NORMAL survives a process crash (kill -9) only."""
        if sqlite_sync.upper() not in ("FULL", "NORMAL"):
            raise StoreError(f"sqlite_sync {sqlite_sync!r}: use FULL or NORMAL")
        self.sqlite_sync = sqlite_sync.upper()
        self.url = url
        if url.startswith(("postgresql://", "postgres://")):
            self.dialect = POSTGRES
        elif url.startswith("sqlite:///") or url == "sqlite://:memory:":
            self.dialect = SQLITE
        else:
            raise StoreError(f"store url {url!r}: use sqlite:///PATH or postgresql://...")
        self._write_lock = threading.RLock()
        self._expected: set[str] = set()  # client ids of submissions in flight (see `expect_client`)
        self._expected_lock = threading.Lock()
        self._absent: set[str] = set()  # expected client ids known not stored (see `_mark_absent`)
        self._local = threading.local()
        self._all_conns: list[Any] = []
        self._conns_lock = threading.Lock()
        self._writer = self._connect(write=True)
        self.migrate()
        self._checkpointer: threading.Thread | None = None
        self._closing = threading.Event()
        if self.dialect is SQLITE and self.url != "sqlite://:memory:":
            self._checkpointer = threading.Thread(target=self._checkpoints, name="wal-checkpoint", daemon=True)
            self._checkpointer.start()

    def _checkpoints(self) -> None:
        """Fold the WAL into the database every second without blocking the writer (PASSIVE)."""
        conn = None
        while not self._closing.wait(1.0):
            try:
                if conn is None:
                    conn = sqlite3.connect(self.url[len("sqlite:///"):], check_same_thread=False, timeout=5)
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                conn = None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                conn.close()

    # connections
    def _connect(self, write: bool) -> Any:
        try:
            if self.dialect is SQLITE:
                path = self.url[len("sqlite:///"):]
                if path:
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA journal_mode=WAL")
                if write:
                    conn.execute(f"PRAGMA synchronous={self.sqlite_sync}")
                    conn.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints run off the commit path
                else:
                    conn.execute("PRAGMA query_only=1")
                conn.execute("PRAGMA busy_timeout=30000")
            else:
                import psycopg
                from psycopg.rows import dict_row

                conn = psycopg.connect(self.url, row_factory=dict_row, autocommit=not write,
                                       connect_timeout=5)
        except Exception as exc:
            raise StoreError(f"cannot open store {self.safe_url}: {exc}") from exc
        with self._conns_lock:
            self._all_conns.append(conn)
        return conn

    @property
    def safe_url(self) -> str:
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", self.url)

    def _reader(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect(write=False)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        self._closing.set()
        with self._conns_lock:
            for conn in self._all_conns:
                with contextlib.suppress(Exception):
                    conn.close()
            self._all_conns.clear()

    # schema
    def migrate(self) -> int:
        """Apply the migration files not yet applied (tracked by name); returns the version."""
        with self._write_lock:
            conn = self._writer
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (name TEXT PRIMARY KEY, version INTEGER NOT NULL)")
            if self.dialect is POSTGRES:
                conn.commit()
                conn.execute("SELECT pg_advisory_lock(7305001)")  # two instances migrating at once
            try:
                done = {r["name"] for r in conn.execute("SELECT name FROM schema_version").fetchall()}
                version = 0
                for number, name, sql in migrations(self.dialect):
                    if name not in done:
                        self._apply(conn, number, name, sql)
                    version = max(version, number)
                return version
            finally:
                if self.dialect is POSTGRES:
                    conn.commit()
                    conn.execute("SELECT pg_advisory_unlock(7305001)")
                    conn.commit()

    def _apply(self, conn: Any, version: int, name: str, sql: str) -> None:
        if self.dialect is SQLITE:
            conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _split_statements(sql):
                conn.execute(stmt)
            conn.execute(self.dialect.sql("INSERT INTO schema_version (name, version) VALUES (?, ?)"),
                         (name, version))
            conn.execute("COMMIT") if self.dialect is SQLITE else conn.commit()
        except Exception:
            conn.execute("ROLLBACK") if self.dialect is SQLITE else conn.rollback()
            raise

    # writing
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One atomic write; committed (fsynced on SQLite) when the block ends without error."""
        with self._write_lock:
            conn = self._writer
            try:
                if self.dialect is SQLITE:
                    conn.execute("BEGIN IMMEDIATE")
                tx = Tx(self, conn)
                yield tx
                if self.dialect is SQLITE:
                    conn.execute("COMMIT")
                else:
                    tx.flush(commit=True)
                    if tx._new_clients:
                        self._inserted(tx._new_clients)
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.execute("ROLLBACK") if self.dialect is SQLITE else conn.rollback()
                raise

    # idempotency lookups
    def expect_client(self, client_id: str) -> None:
        """The API is about to submit an order with this client id. On PostgreSQL the
        idempotency lookups then go in bulk: a lookup that has to go out takes every other
        unresolved submission in flight with it, so a batch needs one query, not one per
        order. Call `forget_client` once the request is answered."""
        with self._expected_lock:
            self._expected.add(client_id)

    def forget_client(self, client_id: str) -> None:
        with self._expected_lock:
            self._expected.discard(client_id)
            self._absent.discard(client_id)

    def _unresolved(self) -> list[str]:
        """Expected client ids not yet known to be absent."""
        with self._expected_lock:
            return list(self._expected - self._absent)

    def _known_absent(self, client_id: str) -> bool:
        with self._expected_lock:
            return client_id in self._absent

    def _resolved(self, asked: list[str], found: set[str]) -> None:
        """After a lookup: the ids found stored are no longer expected (their answer is a
        replay, read when asked); the others are known absent. That stays true until this
        writer commits an order with the id (`_inserted` drops it): only the leader's writer
        inserts orders, and were two leaders ever to overlap, the unique client id would
        refuse the duplicate (that batch fails). Only ids still expected are kept, so the
        set is bounded by what is in flight."""
        with self._expected_lock:
            self._expected.difference_update(found)
            self._absent.update(c for c in asked if c not in found and c in self._expected)

    def _inserted(self, client_ids: Iterable[str]) -> None:
        with self._expected_lock:
            self._absent.difference_update(client_ids)

    def _lookup_clients(self, conn: Any, client_ids: list[str]) -> dict[str, tuple[Order, str]]:
        """Stored (order, body hash) of these and every other unresolved client id, by id."""
        ids = list({*client_ids, *self._unresolved()})
        found: dict[str, tuple[Order, str]] = {}
        for row in conn.execute(_CLIENTS_LOOKUP, (ids,)).fetchall():
            found[row["client_id"]] = (records.order_from_body(row["body"]), row["body_hash"])
        self._resolved(ids, set(found))
        return found

    # reading
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._reader().execute(self.dialect.sql(sql), tuple(params)).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"store read failed: {exc}") from exc
        except Exception as exc:
            if self.dialect is POSTGRES:
                import psycopg

                if isinstance(exc, psycopg.OperationalError):
                    self._local.conn = None
                    raise StoreError(f"store read failed: {exc}") from exc
            raise

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def get_order(self, order_id: str) -> Order | None:
        row = self.one("SELECT body FROM orders WHERE id = ?", (order_id,))
        return records.order_from_body(row["body"]) if row else None

    def order_by_client(self, client_id: str) -> tuple[Order, str] | None:
        row = self.one("SELECT body, body_hash FROM orders WHERE client_id = ?", (client_id,))
        return (records.order_from_body(row["body"]), row["body_hash"]) if row else None

    def list_orders(self, *, states: Sequence[str] = (), priority: int | None = None,
                    station: str | None = None, created_from: float | None = None,
                    created_to: float | None = None, client_id: str | None = None,
                    limit: int = 100, offset: int = 0) -> tuple[list[Order], int]:
        """Orders matching every filter given, newest first, and how many match in all."""
        where, params = [], []
        if states:
            where.append("state IN (" + ", ".join("?" for _ in states) + ")")
            params += list(states)
        if priority is not None:
            where.append("priority = ?")
            params.append(priority)
        if station:
            where.append("(source = ? OR destination = ?)")
            params += [station, station]
        if created_from is not None:
            where.append("created_s >= ?")
            params.append(created_from)
        if created_to is not None:
            where.append("created_s < ?")
            params.append(created_to)
        if client_id is not None:
            where.append("client_id = ?")
            params.append(client_id)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        total = int(self.one(f"SELECT COUNT(*) AS n FROM orders{clause}", params)["n"])
        rows = self.query(
            f"SELECT body FROM orders{clause} ORDER BY created_s DESC, id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [records.order_from_body(r["body"]) for r in rows], total

    def active_orders(self) -> list[Order]:
        rows = self.query("SELECT body FROM orders WHERE state NOT IN ('done', 'failed', 'cancelled')")
        return [records.order_from_body(r["body"]) for r in rows]

    def legs_of(self, order_id: str) -> list[Leg]:
        rows = self.query("SELECT body FROM legs WHERE order_id = ?", (order_id,))
        return sorted((records.leg_from_body(r["body"]) for r in rows), key=lambda leg: leg.seq)

    def active_legs(self) -> list[Leg]:
        rows = self.query("SELECT body FROM legs WHERE state NOT IN ('done', 'failed', 'cancelled')")
        return [records.leg_from_body(r["body"]) for r in rows]

    def timeline(self, order_id: str) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT at_s, state, stage, leg_id, machine_id, detail FROM order_timeline"
            " WHERE order_id = ? ORDER BY id", (order_id,))
        return [dict(r) for r in rows]

    def machines(self) -> list[tuple[Vehicle | Crane, str | None]]:
        rows = self.query("SELECT kind, held_mode, body FROM machines ORDER BY id")
        return [(records.machine_from_body(r["kind"], r["body"]), r["held_mode"]) for r in rows]

    def zones(self) -> dict[str, bool]:
        return {r["id"]: bool(r["closed"]) for r in self.query("SELECT id, closed FROM zones")}

    def alarms(self, *, open_only: bool = False, limit: int = 200) -> list[dict[str, Any]]:
        clause = " WHERE acknowledged = 0" if open_only else ""
        rows = self.query(f"SELECT body FROM alarms{clause} ORDER BY raised_s DESC LIMIT ?", (limit,))
        return [json.loads(r["body"]) for r in rows]

    def events_after(self, after_id: int, limit: int = 500) -> list[dict[str, Any]]:
        rows = self.query("SELECT id, type, at_s, payload FROM events WHERE id > ? ORDER BY id LIMIT ?",
                          (after_id, limit))
        return [{"id": int(r["id"]), "type": r["type"], "at_s": r["at_s"],
                 "payload": json.loads(r["payload"])} for r in rows]

    def last_event_id(self) -> int:
        row = self.one("SELECT MAX(id) AS m FROM events")
        return int(row["m"] or 0) if row else 0

    def audit(self, *, after_id: int = 0, limit: int = 200) -> list[dict[str, Any]]:
        rows = self.query("SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit))
        return [dict(r) for r in rows]

    def order_counts(self) -> dict[str, int]:
        return {r["state"]: int(r["n"]) for r in self.query("SELECT state, COUNT(*) AS n FROM orders GROUP BY state")}

    def done_between(self, t0: float, t1: float) -> list[Order]:
        rows = self.query(
            "SELECT body FROM orders WHERE state = 'done' AND updated_s >= ? AND updated_s < ?", (t0, t1))
        return [records.order_from_body(r["body"]) for r in rows]
