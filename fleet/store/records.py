"""Domain values to stored rows and back (JSON bodies, so a new field needs no migration)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from fleet.domain import (
    Capabilities,
    Crane,
    Leg,
    LegKind,
    LegState,
    Mode,
    Order,
    OrderState,
    Vehicle,
)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def dumps(value: Any) -> str:
    return json.dumps(_plain(value), separators=(",", ":"), sort_keys=True)


def order_body(order: Order) -> str:
    return dumps(order)


def order_from_body(body: str) -> Order:
    d = json.loads(body)
    d["state"] = OrderState(d["state"])
    d["legs"] = tuple(d.get("legs") or ())
    return Order(**d)


def leg_body(leg: Leg) -> str:
    return dumps(leg)


def leg_from_body(body: str) -> Leg:
    d = json.loads(body)
    d["state"] = LegState(d["state"])
    d["kind"] = LegKind(d["kind"])
    d["extra"] = dict(d.get("extra") or {})
    return Leg(**d)


def _caps(d: dict[str, Any]) -> Capabilities:
    d = dict(d)
    d["load_types"] = tuple(d.get("load_types") or ())
    return Capabilities(**d)


def machine_body(machine: Vehicle | Crane) -> str:
    return dumps(machine)


def machine_from_body(kind: str, body: str) -> Vehicle | Crane:
    d = json.loads(body)
    d["mode"] = Mode(d["mode"])
    d["capabilities"] = _caps(d["capabilities"])
    if kind == "crane":
        return Crane(**d)
    return Vehicle(**d)
