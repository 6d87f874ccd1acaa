"""One `rakubun-harness up` per test (real processes, real HTTP), and the plugin on its
WordPress stand-in registered with the service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .harness_up import HarnessUp
from .wordpress import WordPressSite


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[HarnessUp]:
    """A running `up` on a fresh data dir; stopped at teardown, which must exit cleanly."""
    up = await HarnessUp.start(tmp_path / "harness")
    try:
        yield up
    finally:
        status = await up.stop()
    assert status == 0, up.output


@pytest.fixture
async def wordpress(harness: HarnessUp) -> WordPressSite:
    return await WordPressSite.activate(harness)
