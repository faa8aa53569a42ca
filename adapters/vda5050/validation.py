"""Every VDA 5050 message, in and out, is checked against the official JSON schema.

The schemas ship in `adapters/vda5050/schemas/<version>/<topic>.schema` (copies of
the VDA's files; licence next to them). They are draft 2020-12; `date-time` is
checked too (ISO 8601 / RFC 3339), which jsonschema only does with a format checker.
The yes/no check runs on jsonschema-rs (a few microseconds per message instead of
milliseconds); the readable reasons for a rejected message come from jsonschema.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from jsonschema.validators import validator_for

from adapters.errors import SchemaViolation

VERSIONS = ("2.0.0", "2.1.0")
TOPICS = ("order", "instantActions", "state", "connection", "factsheet", "visualization")

_formats = jsonschema.FormatChecker(formats=())


@_formats.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def schema_text(version: str, topic: str) -> str:
    if version not in VERSIONS or topic not in TOPICS:
        raise SchemaViolation(topic, version, "no schema for this version/topic")
    return (resources.files("adapters.vda5050") / "schemas" / version / f"{topic}.schema").read_text(
        encoding="utf-8")


@cache
def _validator(version: str, topic: str) -> Any:
    schema = json.loads(schema_text(version, topic))
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=_formats)


@cache
def _fast(version: str, topic: str) -> Any:
    try:
        import jsonschema_rs
    except ImportError:  # optional speed-up
        return None
    return jsonschema_rs.validator_for(json.loads(schema_text(version, topic)),
                                       validate_formats=True)


def problems(version: str, topic: str, message: Any) -> list[str]:
    """Every schema violation of `message`, each as 'path: reason' (empty when valid)."""
    fast = _fast(version, topic)
    if fast is not None and fast.is_valid(message):
        return []
    out = []
    for err in _validator(version, topic).iter_errors(message):
        path = "/".join(str(p) for p in err.absolute_path) or "(root)"
        out.append(f"{path}: {err.message[:200]}")
    if not out and fast is not None:
        out.append("(root): rejected by jsonschema-rs")
    return out


def validate(version: str, topic: str, message: Any) -> None:
    """Raise `SchemaViolation` (naming the first failing path) unless `message` is valid."""
    found = problems(version, topic, message)
    if found:
        where, _, detail = found[0].partition(": ")
        more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
        raise SchemaViolation(topic, version, detail + more, where)
