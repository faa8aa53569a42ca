"""What callers hand the core: an order request and who is asking."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Actor:
    """Who issues a command and from where (written to the audit log with it)."""

    name: str
    role: str | None = None
    token_id: str | None = None
    source: str | None = None


SYSTEM = Actor("system", "system")


@dataclass(frozen=True)
class OrderRequest:
    """An order as a WMS or dispatcher asks for it, before it has an id."""

    source: str
    destination: str
    load_type: str = "pallet"
    weight_kg: float = 0.0
    priority: int = 5
    deadline_s: float | None = None
    hazardous: bool = False
    client_id: str | None = None
    load_id: str | None = None

    def body_hash(self) -> str:
        """Fingerprint of the body: a retry with the same client id must carry the same one."""
        text = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


class MachineAction(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    ESTOP = "estop"
    CHARGE = "charge"
    OUT_OF_SERVICE = "out_of_service"
