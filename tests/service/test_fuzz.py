"""Fuzz the published OpenAPI spec: no 5xx, every answer matches the spec (bounded run)."""

from __future__ import annotations

import os
import tempfile

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from fleet.api.service import Service
from fleet.config import load_settings

_DB = tempfile.mkdtemp(prefix="fleet-fuzz-")
_service = Service(load_settings(None, env={}, db_url=f"sqlite:///{_DB}/fuzz.db", loopback_vehicles=2,
                                 rate_limit_per_s=0, log_json=False)).start()
_TOKENS = {role: _service.accounts.create_token(role)[1] for role in ("dispatcher", "admin")}

schema = schemathesis.openapi.from_asgi("/openapi.json", _service.app).exclude(path_regex=r"/(events|live)")
MAX_EXAMPLES = int(os.environ.get("FLEET_FUZZ_EXAMPLES", "8"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_spec_as_dispatcher(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {_TOKENS['dispatcher']}"}, checks=CHECKS)


@schema.include(path_regex=r"/(users|tokens|audit|webhooks)").parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_spec_as_admin(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {_TOKENS['admin']}"}, checks=CHECKS)


def test_spec_is_published() -> None:
    spec = _service.app.openapi()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/orders" in spec["paths"] and "/api/v1/orders/{order_id}/timeline" in spec["paths"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
