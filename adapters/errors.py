"""Errors of the adapters, one root (`AdapterError`) under `FleetError`."""

from __future__ import annotations

from fleet.errors import FleetError


class AdapterError(FleetError):
    """A machine or gateway could not be reached or spoke out of turn."""

    status = 503
    kind = "adapter-error"


class BusMessageError(AdapterError):
    """A bus message that cannot be decoded: bad JSON, wrong envelope, wrong field, too large.

    `reason` is a short machine-readable tag (`json`, `envelope`, `field`, `oversized`,
    `version`) used by the counters; `where` names the field path that failed.
    """

    kind = "bus-message"

    def __init__(self, reason: str, detail: str, where: str = "") -> None:
        self.reason = reason
        self.detail = detail
        self.where = where
        at = f" at {where}" if where else ""
        super().__init__(f"bus message rejected ({reason}){at}: {detail}")


class SchemaViolation(AdapterError):
    """A VDA 5050 message that does not pass the official JSON schema of its topic."""

    kind = "vda5050-schema"

    def __init__(self, topic: str, version: str, detail: str, where: str = "") -> None:
        self.topic = topic
        self.version = version
        self.detail = detail
        self.where = where
        at = f" at {where}" if where else ""
        super().__init__(f"VDA 5050 {version} {topic}{at}: {detail}")


class LinkLostError(AdapterError):
    """A command for a machine whose link is declared lost; it gets no new steps."""

    kind = "link-lost"

    def __init__(self, machine_id: str, silent_s: float) -> None:
        self.machine_id = machine_id
        self.silent_s = silent_s
        super().__init__(f"machine {machine_id!r}: link lost (silent for {silent_s:.1f} s)")
