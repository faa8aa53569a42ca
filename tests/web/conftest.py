"""One service (the simulator-backed demo stack by default) and one chromium for every browser test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.service import Service, start_service
from tests.web.serving import chromium


@pytest.fixture(scope="session")
def service() -> Iterator[Service]:
    with start_service() as svc:
        yield svc


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b
