"""Shared fixtures: a real service on 127.0.0.1 (in this process, on a temp SQLite file),
a registered site, and a browser page. The service itself comes from `tests/support/`."""

from __future__ import annotations

import secrets

import pytest

from tests.support.fixtures import (  # noqa: F401 - fixtures by name
    make_service,
    service,
    site,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def random_secret() -> str:
    return secrets.token_hex(8)


@pytest.fixture
async def page():
    """A Chromium page driven by Playwright (never downloads a browser)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page()
        yield page
        await browser.close()
