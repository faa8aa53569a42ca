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

# How each type becomes plain JSON values, worked out once per type: the store writes an
# order or leg body at every transition, so this is on the command thread's hot path.
_LEAF, _SEQ, _MAP = 0, 1, 2
_KINDS: dict[type, int | tuple[str, ...]] = {str: _LEAF, int: _LEAF, float: _LEAF, bool: _LEAF,
                                             type(None): _LEAF, tuple: _SEQ, list: _SEQ, dict: _MAP}


def _kind(cls: type) -> int | tuple[str, ...]:
    if dataclasses.is_dataclass(cls):
        kind: int | tuple[str, ...] = tuple(f.name for f in dataclasses.fields(cls))
    elif issubclass(cls, tuple | list):
        kind = _SEQ
    elif issubclass(cls, dict):
        kind = _MAP
    else:
        kind = _LEAF  # str enums and the like: json writes them as they are
    _KINDS[cls] = kind
    return kind


def _plain(value: Any) -> Any:
    kind = _KINDS.get(type(value))
    if kind is None:
        kind = _kind(type(value))
    if isinstance(kind, tuple):  # a dataclass: its field names
        return {name: _plain(getattr(value, name)) for name in kind}
    if kind == _LEAF:
        return value
    if kind == _SEQ:
        return [_plain(v) for v in value]
    return {k: _plain(v) for k, v in value.items()}


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
