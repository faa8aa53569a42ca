"""API tokens: random secrets shown once, stored as SHA-256 (they carry 256 bits of
entropy, so a fast hash is enough; passwords get scrypt)."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "f5g"


def new_token() -> tuple[str, str]:
    """(token id, the secret token string to hand out once)."""
    token_id = secrets.token_hex(6)
    return token_id, f"{PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
