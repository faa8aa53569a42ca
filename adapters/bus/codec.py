"""The bus wire format: the core's command/state dataclasses <-> versioned JSON envelopes.

One envelope per message::

    {"fleet5g_bus": 1, "type": "command", "seq": 17, "sender": "core", "ts": 1.7e9,
     "body": {...}}

`seq` counts messages per sender (transport order); commands carry their own
per-machine sequence number in the body. Decoding is strict: an unknown key, a
missing field, a wrong type or an oversized frame raises `BusMessageError` naming
the field path, so a bad frame is counted and dropped, never half-applied.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from functools import cache
from typing import Any, Union

from adapters.errors import BusMessageError
from fleet.domain.commands import (
    CraneCommand,
    InstantAction,
    MachineState,
    Measurements,
    MovementCommand,
)

WIRE_VERSION = 1
MAX_MESSAGE_BYTES = 256 * 1024  # a long order is a few kB; anything near this is an attack or a bug

# Message types on the bus. Core -> gateway: command, sync, heartbeat.
# Gateway -> core: hello, ack, state, measurements, heartbeat, bye.
MESSAGE_TYPES = frozenset({"hello", "sync", "command", "ack", "state", "measurements", "heartbeat", "bye"})
MAX_READINGS = 2000  # one batch of raw positioning readings (a few seconds of every sensor)

COMMAND_KINDS: dict[str, type] = {
    "movement": MovementCommand,
    "instant": InstantAction,
    "crane": CraneCommand,
}
KIND_OF_COMMAND: dict[type, str] = {v: k for k, v in COMMAND_KINDS.items()}


@dataclass(frozen=True)
class Envelope:
    type: str
    seq: int
    sender: str
    ts: float
    body: dict[str, Any] = field(default_factory=dict)


# --- dataclass <-> plain JSON values -------------------------------------------------


def to_plain(value: Any) -> Any:
    """A dataclass value as JSON-ready dicts/lists (enums by value, tuples as lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encoder(type(value))(value)
    return _plain_any(value)


def _plain_any(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encoder(type(value))(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain_any(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain_any(v) for k, v in value.items()}
    return value


def _is_plain(tp: Any) -> bool:
    """True for types whose values are already JSON values (str, int, float, bool, None)."""
    if tp in (str, int, float, bool, type(None)):
        return True
    if typing.get_origin(tp) in (Union, types.UnionType):
        return all(_is_plain(a) for a in typing.get_args(tp))
    return False


@cache
def _encoder(cls: type) -> Callable[[Any], dict[str, Any]]:
    """A specialised encoder for dataclass `cls`, built once from its type hints."""
    hints = _hints(cls)
    plain, other = [], []
    for f in dataclasses.fields(cls):
        (plain if _is_plain(hints[f.name]) else other).append(f.name)

    def encode_one(value: Any) -> dict[str, Any]:
        out = {name: getattr(value, name) for name in plain}
        for name in other:
            out[name] = _plain_any(getattr(value, name))
        return out

    return encode_one


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_plain(cls: type, data: Any, where: str = "") -> Any:
    """Build dataclass `cls` from plain JSON values, strictly (see module doc).

    A specialised decoder per type does the work; only when it fails does the slow,
    path-tracking walk run, to say exactly which field is wrong.
    """
    try:
        return _decoder(cls)(data)
    except (_Reject, TypeError, ValueError, KeyError, AttributeError):
        pass
    value = _convert(cls, data, where or cls.__name__)  # raises with the field path
    return value


class _Reject(Exception):
    pass


def _reject() -> typing.NoReturn:
    raise _Reject


@cache
def _decoder(tp: Any) -> Callable[[Any], Any]:
    origin = typing.get_origin(tp)
    if tp is Any:
        return lambda d: d
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(tp))
        decs = [_decoder(a) for a in args]

        def dec_union(d: Any) -> Any:
            if d is None:
                return None if nullable else _reject()
            for dec in decs:
                try:
                    return dec(d)
                except _Reject:
                    continue
            _reject()

        return dec_union
    if origin is tuple:
        item = _decoder(typing.get_args(tp)[0])
        return lambda d: tuple(item(v) for v in d) if type(d) is list else _reject()
    if origin is dict:
        vt = _decoder(typing.get_args(tp)[1])
        return lambda d: {k: vt(v) for k, v in d.items()} if type(d) is dict else _reject()
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        fields = [(f.name, _decoder(_hints(tp)[f.name]),
                   f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
                  for f in dataclasses.fields(tp)]
        names = {f[0] for f in fields}

        def dec_dataclass(d: Any) -> Any:
            if type(d) is not dict or not d.keys() <= names:
                _reject()
            kwargs = {}
            for name, dec, required in fields:
                if name in d:
                    kwargs[name] = dec(d[name])
                elif required:
                    _reject()
            return tp(**kwargs)

        return dec_dataclass
    if isinstance(tp, type) and issubclass(tp, Enum):
        def dec_enum(d: Any) -> Any:
            try:
                return tp(d)
            except ValueError:
                _reject()

        return dec_enum
    if tp is bool:
        return lambda d: d if type(d) is bool else _reject()
    if tp is int:
        return lambda d: d if type(d) is int else _reject()
    if tp is float:
        def dec_float(d: Any) -> float:
            if type(d) is float:
                return d if d - d == 0.0 else _reject()  # NaN and infinities fail this
            return float(d) if type(d) is int else _reject()

        return dec_float
    if tp is str:
        return lambda d: d if type(d) is str else _reject()
    raise TypeError(f"unsupported type {tp!r}")


def _fail(where: str, detail: str) -> typing.NoReturn:
    raise BusMessageError("field", detail, where)


def _convert(tp: Any, data: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return data
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if data is None:
            if type(None) in args:
                return None
            _fail(where, "must not be null")
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, data, where)
            except BusMessageError as exc:
                errors.append(exc.detail)
        _fail(where, "; ".join(errors))
    if origin is tuple:
        if not isinstance(data, list):
            _fail(where, f"expected a list, got {type(data).__name__}")
        (item, *_rest) = typing.get_args(tp)
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(data))
    if origin is dict:
        if not isinstance(data, dict):
            _fail(where, f"expected an object, got {type(data).__name__}")
        _k, vt = typing.get_args(tp)
        return {k: _convert(vt, v, f"{where}.{k}") for k, v in data.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _convert_dataclass(tp, data, where)
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(data)
        except ValueError:
            allowed = ", ".join(str(m.value) for m in tp)
            _fail(where, f"{data!r} is not one of {allowed}")
    if tp is bool:
        if not isinstance(data, bool):
            _fail(where, f"expected true/false, got {type(data).__name__}")
        return data
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            _fail(where, f"expected an integer, got {type(data).__name__}")
        return data
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            _fail(where, f"expected a number, got {type(data).__name__}")
        value = float(data)
        if value != value or value in (float("inf"), float("-inf")):
            _fail(where, "must be a finite number")
        return value
    if tp is str:
        if not isinstance(data, str):
            _fail(where, f"expected a string, got {type(data).__name__}")
        return data
    _fail(where, f"unsupported type {tp!r}")


def _convert_dataclass(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        _fail(where, f"expected an object for {cls.__name__}, got {type(data).__name__}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        _fail(where, f"unknown field(s) {', '.join(unknown)} for {cls.__name__}")
    kwargs = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                _fail(f"{where}.{name}", "missing required field")
            continue
        kwargs[name] = _convert(hints[name], data[name], f"{where}.{name}")
    return cls(**kwargs)


# --- envelopes -----------------------------------------------------------------------


def encode(msg_type: str, seq: int, sender: str, ts: float, body: dict[str, Any]) -> bytes:
    """One envelope as UTF-8 JSON; raises `BusMessageError` if it would exceed the limit."""
    if msg_type not in MESSAGE_TYPES:
        raise BusMessageError("envelope", f"unknown message type {msg_type!r}", "type")
    try:
        frame = json.dumps(
            {"fleet5g_bus": WIRE_VERSION, "type": msg_type, "seq": seq, "sender": sender,
             "ts": ts, "body": body},
            separators=(",", ":"), allow_nan=False,
        ).encode()
    except (TypeError, ValueError) as exc:  # NaN, infinity, a value JSON cannot hold
        raise BusMessageError("field", f"cannot encode: {exc}", msg_type) from None
    if len(frame) > MAX_MESSAGE_BYTES:
        raise BusMessageError("oversized", f"{len(frame)} bytes > {MAX_MESSAGE_BYTES}")
    return frame


def decode(frame: bytes, max_bytes: int = MAX_MESSAGE_BYTES) -> Envelope:
    """Parse and check one envelope; the body is checked by the `*_body` readers below."""
    if len(frame) > max_bytes:
        raise BusMessageError("oversized", f"{len(frame)} bytes > {max_bytes}")
    try:
        raw = json.loads(frame)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BusMessageError("json", str(exc)) from None
    if not isinstance(raw, dict):
        raise BusMessageError("envelope", f"expected an object, got {type(raw).__name__}")
    version = raw.get("fleet5g_bus")
    if version != WIRE_VERSION:
        raise BusMessageError("version", f"wire version {version!r}, this side speaks {WIRE_VERSION}",
                              "fleet5g_bus")
    expected = {"fleet5g_bus", "type", "seq", "sender", "ts", "body"}
    if set(raw) != expected:
        extra, missing = set(raw) - expected, expected - set(raw)
        raise BusMessageError("envelope", f"extra {sorted(extra)} missing {sorted(missing)}")
    if raw["type"] not in MESSAGE_TYPES:
        raise BusMessageError("envelope", f"unknown message type {raw['type']!r}", "type")
    seq, sender, ts, body = raw["seq"], raw["sender"], raw["ts"], raw["body"]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise BusMessageError("envelope", f"seq must be a non-negative integer, got {seq!r}", "seq")
    if not isinstance(sender, str) or not sender:
        raise BusMessageError("envelope", "sender must be a non-empty string", "sender")
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        raise BusMessageError("envelope", "ts must be a number", "ts")
    if not isinstance(body, dict):
        raise BusMessageError("envelope", "body must be an object", "body")
    return Envelope(raw["type"], seq, sender, float(ts), body)


def command_body(cmd: Any, machine_seq: int) -> dict[str, Any]:
    kind = KIND_OF_COMMAND.get(type(cmd))
    if kind is None:
        raise BusMessageError("field", f"not a command: {type(cmd).__name__}", "command")
    return {"machine_seq": machine_seq, "kind": kind, "command": to_plain(cmd)}


def read_command(body: dict[str, Any]) -> tuple[int, Any]:
    """(machine_seq, command) from a `command` body."""
    _require(body, {"machine_seq": int, "kind": str, "command": dict}, "command")
    cls = COMMAND_KINDS.get(body["kind"])
    if cls is None:
        raise BusMessageError("field", f"unknown command kind {body['kind']!r}", "body.kind")
    return body["machine_seq"], from_plain(cls, body["command"], f"body.command({body['kind']})")


def read_state(body: dict[str, Any]) -> MachineState:
    state: MachineState = from_plain(MachineState, body, "body(state)")
    return state


def read_measurements(body: dict[str, Any]) -> Measurements:
    """A `measurements` body (raw positioning readings of one machine), strictly checked."""
    readings = body.get("readings")
    if isinstance(readings, list) and len(readings) > MAX_READINGS:
        raise BusMessageError("field", f"{len(readings)} readings > {MAX_READINGS}", "body(measurements).readings")
    batch: Measurements = from_plain(Measurements, body, "body(measurements)")
    return batch


def read_map_of_seq(value: Any, where: str) -> dict[str, int]:
    if not isinstance(value, dict):
        raise BusMessageError("field", "expected an object of machine -> sequence", where)
    out = {}
    for k, v in value.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise BusMessageError("field", f"sequence must be a non-negative integer, got {v!r}",
                                  f"{where}.{k}")
        out[k] = v
    return out


def _require(body: dict[str, Any], spec: dict[str, type], what: str) -> None:
    for key, tp in spec.items():
        if key not in body:
            raise BusMessageError("field", "missing", f"body({what}).{key}")
        value = body[key]
        ok = isinstance(value, tp) and not (tp is int and isinstance(value, bool))
        if not ok:
            raise BusMessageError("field", f"expected {tp.__name__}, got {type(value).__name__}",
                                  f"body({what}).{key}")


def require(body: dict[str, Any], spec: dict[str, type], what: str) -> None:
    """Check that `body` has each key of `spec` with the given type (for the endpoints)."""
    _require(body, spec, what)
