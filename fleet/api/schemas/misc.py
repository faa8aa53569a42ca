"""Zones, alarms, KPIs, auth, webhooks, accounts, health."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ZoneState(BaseModel):
    zone_id: str
    closed: bool
    by: str | None = None


class Alarm(BaseModel):
    id: str
    kind: str
    severity: str
    message: str
    machine_id: str | None
    order_id: str | None
    raised_s: float
    acknowledged_s: float | None
    acknowledged_by: str | None


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(..., min_length=1, max_length=64)
    password: str = Field(..., min_length=1, max_length=256)


class LoginResult(BaseModel):
    token: str
    role: str
    expires_s: float


class Me(BaseModel):
    name: str
    role: str
    token_id: str
    permissions: list[str]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(..., pattern=r"^https?://[^\s]{1,2000}$")
    secret: str = Field(..., min_length=16, max_length=256, description="shared secret for the HMAC-SHA256 signature")
    event_types: list[str] = Field(default_factory=lambda: ["order."], max_length=50,
                                   description="type prefixes to deliver (e.g. order., alarm.)")


class WebhookPublic(BaseModel):
    id: str
    url: str
    event_types: list[str]
    owner: str | None
    created_s: float
    cursor: int
    active: bool


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., pattern=r"^[A-Za-z0-9_.@-]{1,64}$")
    role: str = Field(..., pattern=r"^(viewer|dispatcher|wms|admin)$")
    password: str = Field(..., min_length=8, max_length=256)


class UserPublic(BaseModel):
    name: str
    role: str
    created_s: float
    disabled: bool


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str = Field(..., pattern=r"^(viewer|dispatcher|wms|admin)$")
    label: str | None = Field(None, max_length=200)
    ttl_s: float | None = Field(None, gt=0, le=10 * 365 * 86400)


class TokenCreated(BaseModel):
    id: str
    token: str
    role: str


class TokenPublic(BaseModel):
    id: str
    role: str
    user: str | None
    label: str | None
    created_s: float
    expires_s: float | None
    revoked: bool


class AuditEntry(BaseModel):
    id: int
    at_s: float
    actor: str
    role: str | None
    token_id: str | None
    action: str
    target: str | None
    source: str | None
    outcome: str
    detail: str | None


class Health(BaseModel):
    status: str
    instance: str
    leader: bool
    details: dict[str, Any] = {}


class Kpis(BaseModel):
    model_config = ConfigDict(extra="allow")
    at_s: float
    window_s: float
    throughput_per_h: float
    done_in_window: int
    waiting: int
    active: int
    oldest_waiting_s: float
    lead_time_mean_s: float | None
    lead_time_p50_s: float | None
    lead_time_p95_s: float | None
    utilisation_now: dict[str, float]
    utilisation_window: float
    orders_by_state: dict[str, int]
    throughput_hourly: list[dict[str, float]] = []  # [{hour_s, done}], the last 12 clock hours
