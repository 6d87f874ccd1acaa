"""One `rakubun-harness up` per test (real processes, real HTTP), from the harness's pytest
plugin (`harness/pytest_plugin.py`), and the plugin on its WordPress stand-in registered with
the service."""

from __future__ import annotations

import os

import pytest

from harness.testing import HarnessProcess

from .wordpress import WordPressSite


@pytest.fixture
def rakubun_harness_options() -> list[str]:
    """The embedded SQLite store, or MongoDB when the run provides one (tox -e e2e-mongo)."""
    mongodb_url = os.environ.get("MONGODB_URL")
    return ["--mongodb-url", mongodb_url] if mongodb_url else []


@pytest.fixture
def harness(rakubun_harness: HarnessProcess) -> HarnessProcess:
    """The plugin's running `up`: stopped at teardown, which must exit cleanly."""
    return rakubun_harness


@pytest.fixture
async def wordpress(harness: HarnessProcess) -> WordPressSite:
    return await WordPressSite.activate(harness)
