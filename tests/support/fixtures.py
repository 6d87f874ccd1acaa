"""The fixtures both `tests/` and `contracts/` use; their conftests import them by name."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.service import RunningService, Site, start_service

# Services the suites start as processes (`rakubun-harness up`, `rakubun-service`) inherit it:
# whatever site URL a test or a fuzzer registers, no webhook leaves the machine.
os.environ.setdefault("WEBHOOK_LOOPBACK_ONLY", "1")


@pytest.fixture
async def make_service(tmp_path: Path):
    """Start services on real sockets; every one started is stopped at teardown."""
    started: list[RunningService] = []

    async def start(**overrides: Any) -> RunningService:
        running = await start_service(tmp_path, **overrides)
        started.append(running)
        return running

    yield start
    for running in reversed(started):
        await running.http.aclose()
        await running.stop()


@pytest.fixture
async def service(make_service) -> AsyncIterator[RunningService]:
    yield await make_service()


@pytest.fixture
async def site(service: RunningService) -> Site:
    return await service.register()


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    """pytest-httpserver's capturing server listens on 127.0.0.1 (any free port)."""
    return ("127.0.0.1", 0)
