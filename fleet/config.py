"""One Settings class: defaults, then a config file (YAML or JSON), then `FLEET_*` env vars.

`FLEET_DB_URL=postgresql://... fleet serve --config site.yaml` overrides the file's
`db_url`. Lists in the environment are comma-separated (`FLEET_CORS_ORIGINS=a,b`).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fleet.errors import FleetError


class ConfigError(FleetError):
    status = 500
    kind = "config-error"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    db_url: str = "sqlite:///fleet.db"
    sqlite_sync: str = Field("FULL", pattern="^(FULL|NORMAL|full|normal)$")  # FULL: durable across power loss
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    site: str | None = None  # bundled site name or a site file
    tls_cert: str | None = None
    tls_key: str | None = None
    cors_origins: list[str] = Field(default_factory=list)  # closed by default
    rate_limit_per_s: float = 100.0  # per token; 0 turns it off
    rate_limit_burst: float = 200.0
    max_body_bytes: int = 64 * 1024
    login_ttl_s: float = 12 * 3600.0
    metrics_public: bool = False  # let Prometheus scrape /metrics without a token
    instance_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    public_url: str | None = None  # how other instances reach this one (command forwarding)
    leader_retry_s: float = 1.0
    dispatch_period_s: float = 2.0
    tick_period_s: float = 0.25
    link_timeout_s: float = 5.0
    webhook_timeout_s: float = 5.0
    webhook_max_attempts: int = 8
    webhook_backoff_s: float = 0.5
    webhook_backoff_max_s: float = 60.0
    loopback_vehicles: int = 0  # machines answered in-process (no simulator attached)
    bus_endpoint: str | None = None  # vehicle bus hub (e.g. tcp://0.0.0.0:5560); bound by the leader
    vehicles: list[str] = Field(default_factory=list)  # vehicle ids expected on the bus
    demo_users: bool = False
    log_level: str = "INFO"
    log_json: bool = True


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        raw = env.get(f"FLEET_{name.upper()}")
        if raw is None:
            continue
        if field.annotation == list[str]:
            out[name] = [p.strip() for p in raw.split(",") if p.strip()]
        else:
            out[name] = raw
    return out


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None,
                  **overrides: Any) -> Settings:
    """Settings from defaults < file < environment < keyword overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
            loaded = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise ConfigError(f"config file {p}: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {p}: expected a mapping at the top")
        data.update(loaded or {})
    data.update(_from_env(os.environ if env is None else env))
    data.update(overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"setting {where}: {first['msg']}") from exc
