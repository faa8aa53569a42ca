"""The WMS and dispatcher HTTP API (FastAPI, /api/v1)."""

from fleet.api.app import create_app

__all__ = ["create_app"]
