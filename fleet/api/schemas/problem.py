"""RFC 9457 problem details."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    field: str | None = None
    errors: list[FieldError] | None = None


PROBLEM = {"model": Problem, "content": {"application/problem+json": {}}, "description": "problem details (RFC 9457)"}


def problems(*codes: int) -> dict[int | str, dict]:
    return {c: PROBLEM for c in codes}


COMMON = problems(400, 401, 403, 413, 422, 429, 503)
