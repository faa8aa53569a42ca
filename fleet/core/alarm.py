"""Alarms: what a dispatcher must look at (faults, lost links, failed orders, e-stops)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlarmKind(StrEnum):
    ESTOP = "estop"
    FAULT = "fault"
    LINK_LOST = "link_lost"
    ORDER_FAILED = "order_failed"
    LOAD_STRANDED = "load_stranded"
    UNKNOWN_MACHINE = "unknown_machine"
    LOCALIZATION_DEGRADED = "localization_degraded"  # pose LOST: the machine is stopped
    TALLY_MISMATCH = "tally_mismatch"  # a label read at pick or drop does not match the order


def new_alarm(alarm_id: str, kind: AlarmKind, severity: Severity, message: str, at_s: float,
              machine_id: str | None = None, order_id: str | None = None) -> dict[str, Any]:
    """An alarm as stored and emitted (a plain dict: it goes straight to JSON)."""
    return {
        "id": alarm_id,
        "kind": kind.value,
        "severity": severity.value,
        "message": message,
        "machine_id": machine_id,
        "order_id": order_id,
        "raised_s": at_s,
        "acknowledged_s": None,
        "acknowledged_by": None,
    }
