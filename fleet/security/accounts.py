"""Users, tokens and login, kept in the store (hashed), with a short cache for lookups."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from fleet.errors import ConflictError, FleetError, NotFoundError
from fleet.security.passwords import hash_password, verify_password
from fleet.security.roles import Role
from fleet.security.tokens import hash_token, new_token
from fleet.store import Store

_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


class Unauthorized(FleetError):
    status = 401
    kind = "unauthorized"


class Forbidden(FleetError):
    status = 403
    kind = "forbidden"


class BadAccount(FleetError):
    status = 422
    kind = "invalid-value"

    def __init__(self, field: str, detail: str) -> None:
        self.field = field
        super().__init__(detail)


@dataclass(frozen=True)
class Principal:
    """Who a request is: resolved from its bearer token."""

    name: str
    role: str
    token_id: str


def _role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise BadAccount("role", f"role {role!r} is none of {', '.join(r.value for r in Role)}") from None


class Accounts:
    def __init__(self, store: Store, cache_s: float = 5.0) -> None:
        self.store = store
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def add_user(self, name: str, role: str, password: str, *, actor: str = "cli", replace: bool = False) -> None:
        if not _NAME.match(name):
            raise BadAccount("name", f"user name {name!r} must be 1-64 letters, digits or _.@-")
        _role(role)
        if len(password) < 8:
            raise BadAccount("password", "password must have at least 8 characters")
        now = time.time()
        with self.store.transaction() as tx:
            exists = tx.execute("SELECT name FROM users WHERE name = ?", (name,)).fetchone()
            if exists and not replace:
                raise ConflictError(f"user {name!r} exists")
            if exists:
                tx.execute("UPDATE users SET role = ?, password_hash = ?, disabled = 0 WHERE name = ?",
                           (role, hash_password(password), name))
            else:
                tx.execute("INSERT INTO users (name, role, password_hash, created_s) VALUES (?, ?, ?, ?)",
                           (name, role, hash_password(password), now))
            tx.add_audit(now, actor, None, None, "user.add", name, None, "ok", f"role {role}")

    def users(self) -> list[dict[str, Any]]:
        rows = self.store.query("SELECT name, role, created_s, disabled FROM users ORDER BY name")
        return [{"name": r["name"], "role": r["role"], "created_s": r["created_s"], "disabled": bool(r["disabled"])}
                for r in rows]

    def create_token(self, role: str, *, user: str | None = None, label: str | None = None,
                     ttl_s: float | None = None, actor: str = "cli") -> tuple[str, str]:
        """(token id, token) — the token is shown once; only its hash is stored."""
        _role(role)
        token_id, token = new_token()
        now = time.time()
        with self.store.transaction() as tx:
            tx.execute("INSERT INTO tokens (id, token_hash, role, user_name, label, created_s, expires_s)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (token_id, hash_token(token), role, user, label, now, now + ttl_s if ttl_s else None))
            tx.add_audit(now, actor, None, None, "token.create", token_id, None, "ok", f"role {role}")
        return token_id, token

    def tokens(self) -> list[dict[str, Any]]:
        rows = self.store.query("SELECT id, role, user_name, label, created_s, expires_s, revoked FROM tokens ORDER BY created_s")
        return [{"id": r["id"], "role": r["role"], "user": r["user_name"], "label": r["label"],
                 "created_s": r["created_s"], "expires_s": r["expires_s"], "revoked": bool(r["revoked"])} for r in rows]

    def revoke(self, token_id: str, *, actor: str = "cli") -> None:
        with self.store.transaction() as tx:
            cur = tx.execute("UPDATE tokens SET revoked = 1 WHERE id = ?", (token_id,))
            if cur.rowcount == 0:
                raise NotFoundError("token", token_id)
            tx.add_audit(time.time(), actor, None, None, "token.revoke", token_id, None, "ok")
        with self._lock:
            self._cache.clear()

    def login(self, name: str, password: str, ttl_s: float) -> tuple[str, str, float]:
        """(token, role, expires) for a right user and password; Unauthorized otherwise."""
        row = self.store.one("SELECT role, password_hash, disabled FROM users WHERE name = ?", (name,))
        if row is None or row["disabled"] or not verify_password(password, row["password_hash"]):
            raise Unauthorized("wrong user name or password")
        _, token = self.create_token(row["role"], user=name, label="login", ttl_s=ttl_s, actor=name)
        return token, row["role"], time.time() + ttl_s

    def resolve(self, token: str) -> Principal | None:
        """The principal of a valid, unexpired, unrevoked token (cached a few seconds)."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(token)
        if hit is not None and now - hit[0] < self.cache_s:
            return hit[1]
        row = self.store.one("SELECT id, role, user_name, expires_s, revoked FROM tokens WHERE token_hash = ?",
                             (hash_token(token),))
        principal = None
        if row is not None and not row["revoked"] and (row["expires_s"] is None or row["expires_s"] > time.time()):
            principal = Principal(row["user_name"] or f"token:{row['id']}", row["role"], row["id"])
        if principal is not None:  # a refusal is not cached: a token just issued may not be visible yet
            with self._lock:
                if len(self._cache) > 10000:
                    self._cache.clear()
                self._cache[token] = (now, principal)
        return principal


DEMO_USERS = (("dispatcher", "dispatcher", "dispatch-demo"), ("viewer", "viewer", "viewer-demo"),
              ("admin", "admin", "admin-demo"))


def ensure_demo_users(accounts: Accounts) -> dict[str, Any]:
    """Create the demo logins (if missing) and a WMS token; returns what to print at start."""
    existing = {u["name"] for u in accounts.users()}
    for name, role, password in DEMO_USERS:
        if name not in existing:
            accounts.add_user(name, role, password, actor="demo")
    _, wms_token = accounts.create_token("wms", label="demo wms", actor="demo")
    return {"logins": [{"user": n, "password": p, "role": r} for n, r, p in DEMO_USERS], "wms_token": wms_token}
