"""Webhooks: every matching event POSTed to each registered endpoint, signed, retried.

Delivery is at least once and in order per endpoint: each webhook keeps a cursor (the
last event id it acknowledged with a 2xx) in the store, so a restart or a takeover
resumes where it stopped; receivers deduplicate on `X-Fleet-Event-Id`.

Signature: `X-Fleet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
A failed POST is retried after `backoff_s * 2**attempt` (capped), up to `max_attempts`;
then the event is given up on (counted, logged) and the next one goes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from fleet.errors import NotFoundError
from fleet.store import Store

log = logging.getLogger(__name__)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, tolerance_s: float = 300.0, now: float | None = None) -> bool:
    """What a receiver does: check the signature and that it is fresh."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now or time.time()) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), header)


@dataclass
class _Retry:
    event_id: int
    attempt: int
    not_before: float


class Webhooks:
    """Registration (store) and the delivery thread (leader only)."""

    def __init__(self, store: Store, *, timeout_s: float = 5.0, max_attempts: int = 8, backoff_s: float = 0.5,
                 backoff_max_s: float = 60.0, metrics: Any = None, is_leader: Any = None) -> None:
        self.store = store
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.metrics = metrics
        self.is_leader = is_leader or (lambda: True)
        self._retry: dict[str, _Retry] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # registration
    def register(self, url: str, secret: str, event_types: list[str], owner: str | None) -> dict[str, Any]:
        hook_id = f"wh-{secrets.token_hex(6)}"
        now = time.time()
        cursor = self.store.last_event_id()
        with self.store.transaction() as tx:
            tx.execute("INSERT INTO webhooks (id, url, secret, event_types, owner, created_s, cursor)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?)", (hook_id, url, secret, json.dumps(event_types), owner, now, cursor))
            tx.add_audit(now, owner or "?", None, None, "webhook.register", hook_id, None, "ok", url)
        self._wake.set()
        return self.get(hook_id)

    def list(self) -> list[dict[str, Any]]:
        return [self._public(r) for r in self.store.query("SELECT * FROM webhooks WHERE active = 1 ORDER BY created_s")]

    def get(self, hook_id: str) -> dict[str, Any]:
        row = self.store.one("SELECT * FROM webhooks WHERE id = ? AND active = 1", (hook_id,))
        if row is None:
            raise NotFoundError("webhook", hook_id)
        return self._public(row)

    def delete(self, hook_id: str, actor: str) -> None:
        with self.store.transaction() as tx:
            cur = tx.execute("UPDATE webhooks SET active = 0 WHERE id = ? AND active = 1", (hook_id,))
            if cur.rowcount == 0:
                raise NotFoundError("webhook", hook_id)
            tx.add_audit(time.time(), actor, None, None, "webhook.delete", hook_id, None, "ok")

    @staticmethod
    def _public(row: Any) -> dict[str, Any]:
        return {"id": row["id"], "url": row["url"], "event_types": json.loads(row["event_types"]),
                "owner": row["owner"], "created_s": row["created_s"], "cursor": int(row["cursor"]),
                "active": bool(row["active"])}

    # delivery
    def start(self) -> Webhooks:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 2)

    def poke(self, _events: Any = None) -> None:
        self._wake.set()

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout_s) as client:
            while not self._stop.is_set():
                worked = False
                if self.is_leader():
                    try:
                        for row in self.store.query("SELECT * FROM webhooks WHERE active = 1"):
                            worked |= self._deliver_some(client, row)
                    except Exception:
                        log.exception("webhook delivery round failed")
                if not worked:
                    self._wake.wait(0.2)
                    self._wake.clear()

    def _deliver_some(self, client: httpx.Client, row: Any) -> bool:
        hook_id = row["id"]
        retry = self._retry.get(hook_id)
        now = time.time()
        if retry is not None and retry.not_before > now:
            return False
        types = json.loads(row["event_types"])
        cursor = int(row["cursor"])
        events = self.store.events_after(cursor, 100)
        if not events:
            return False
        for ev in events:
            if types and not any(ev["type"].startswith(t) for t in types):
                cursor = ev["id"]
                continue
            ok = self._post(client, row, ev)
            if ok:
                self._retry.pop(hook_id, None)
                cursor = ev["id"]
                continue
            attempt = (retry.attempt + 1) if retry and retry.event_id == ev["id"] else 1
            if attempt >= self.max_attempts:
                log.warning("webhook %s gave up on event %d after %d attempts", hook_id, ev["id"], attempt)
                if self.metrics is not None:
                    self.metrics.webhook_deliveries.labels("given_up").inc()
                self._retry.pop(hook_id, None)
                cursor = ev["id"]
                continue
            delay = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
            self._retry[hook_id] = _Retry(ev["id"], attempt, time.time() + delay)
            break
        if cursor != int(row["cursor"]):
            with self.store.transaction() as tx:
                tx.execute("UPDATE webhooks SET cursor = ? WHERE id = ? AND cursor < ?", (cursor, hook_id, cursor))
        return hook_id not in self._retry

    def _post(self, client: httpx.Client, row: Any, ev: dict[str, Any]) -> bool:
        body = json.dumps(ev, separators=(",", ":")).encode()
        ts = int(time.time())
        headers = {"Content-Type": "application/json", "X-Fleet-Event-Id": str(ev["id"]),
                   "X-Fleet-Event-Type": ev["type"], "X-Fleet-Signature": sign(row["secret"], ts, body),
                   "User-Agent": "fleet5g-webhooks/1"}
        try:
            resp = client.post(row["url"], content=body, headers=headers)
            ok = 200 <= resp.status_code < 300
        except httpx.HTTPError:
            ok = False
        if self.metrics is not None:
            self.metrics.webhook_deliveries.labels("ok" if ok else "failed").inc()
        return ok
