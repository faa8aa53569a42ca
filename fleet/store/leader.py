"""Leader election: exactly one instance dispatches and plans.

PostgreSQL: a session advisory lock held on a dedicated connection. The server frees it
the moment that connection dies (process killed, host gone: TCP reset or keepalive),
so a follower polling every `retry_s` takes over within seconds. The holder writes its
URL to the `leader` table so followers know where to forward commands; it also checks
its own connection every `retry_s` and steps down if it lost it.
SQLite: one process owns the file; it is always the leader.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from fleet.store.store import Store

log = logging.getLogger(__name__)

LOCK_KEY = 7305002


class Leadership:
    def __init__(self, store: Store, instance_id: str, url: str | None, *,
                 on_elected: Callable[[], None], on_lost: Callable[[], None], retry_s: float = 1.0) -> None:
        self.store = store
        self.instance_id = instance_id
        self.url = url
        self.on_elected = on_elected
        self.on_lost = on_lost
        self.retry_s = retry_s
        self.is_leader = False
        self._conn: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Leadership:
        if self.store.dialect.name == "sqlite":
            self._elected()
            return self
        self._attempt()  # the first try is synchronous: a lone instance leads once start() returns
        self._thread = threading.Thread(target=self._run, name="leadership", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.retry_s + 5)
        if self.is_leader:
            self._step_down()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()

    def leader_url(self) -> str | None:
        if self.is_leader:
            return self.url
        row = self.store.one("SELECT url FROM leader WHERE name = 'fleet'")
        return row["url"] if row else None

    def _elected(self) -> None:
        self.is_leader = True
        now = time.time()
        with self.store.transaction() as tx:
            tx.execute("INSERT INTO leader (name, holder, url, since_s, heartbeat_s) VALUES ('fleet', ?, ?, ?, ?)"
                       " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, url = excluded.url,"
                       " since_s = excluded.since_s, heartbeat_s = excluded.heartbeat_s",
                       (self.instance_id, self.url, now, now))
        log.info("instance %s is the leader", self.instance_id)
        self.on_elected()

    def _step_down(self) -> None:
        self.is_leader = False
        log.warning("instance %s is no longer the leader", self.instance_id)
        with contextlib.suppress(Exception):
            self.on_lost()

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.store.url, autocommit=True, connect_timeout=5,
                               keepalives=1, keepalives_idle=2, keepalives_interval=1, keepalives_count=3)

    def _run(self) -> None:
        while not self._stop.wait(self.retry_s):
            self._attempt()

    def _attempt(self) -> None:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
            if not self.is_leader:
                got = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]
                if got:
                    self._elected()
            else:
                self._conn.execute("SELECT 1")
                with self.store.transaction() as tx:
                    tx.execute("UPDATE leader SET heartbeat_s = ? WHERE name = 'fleet' AND holder = ?",
                               (time.time(), self.instance_id))
        except Exception as exc:
            log.warning("leadership check failed: %s", exc)
            with contextlib.suppress(Exception):
                if self._conn is not None:
                    self._conn.close()
            self._conn = None
            if self.is_leader:
                self._step_down()
