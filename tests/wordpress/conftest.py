"""One real WordPress per module, two harness dashboards, and a logged-in Chromium.

The plugin comes from RAKUBUN_PLUGIN_DIR (a plugin developer's checkout); without it the
tests skip. The browser reaches nothing but 127.0.0.1: every other request is aborted.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from harness.testing import HarnessProcess
from tests.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.support.service_process import free_port

from .stack import ADMIN_PASSWORD, ADMIN_USER, MariaDB, WordPress, missing_tools

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
REPO_ROOT = Path(__file__).resolve().parents[2]


def screenshot_dir() -> Path:
    return Path(os.environ.get("TOX_ENV_DIR", REPO_ROOT / ".tox" / "wordpress")) / "screenshots"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def plugin_dir() -> Path:
    configured = os.environ.get("RAKUBUN_PLUGIN_DIR", "")
    if not configured or not (Path(configured) / "rakubun-ai-content-generator.php").is_file():
        pytest.skip(f"RAKUBUN_PLUGIN_DIR is unset or holds no plugin ({configured!r})")
    return Path(configured).resolve()


@pytest.fixture(scope="module")
def wordpress(plugin_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WordPress]:
    """Installed and served, the plugin present but inactive, the must-use plugin in place."""
    missing = missing_tools()
    if missing:
        reason = f"needs Debian's wordpress, mariadb-server, php-cli, chromium: {missing}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("wordpress")
    database = MariaDB(root)
    site = WordPress(root, database, free_port())
    try:
        database.start()
        site.install(plugin_dir)
        site.serve()
        yield site
    finally:
        site.stop()
        database.stop()


async def _start_harness(path: Path) -> AsyncIterator[HarnessProcess]:
    up = await HarnessProcess.start(path)
    try:
        yield up
    finally:
        status = await up.stop()
    assert status == 0, up.output


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def dashboard(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[HarnessProcess]:
    """The harness WordPress registers with first."""
    async for up in _start_harness(tmp_path_factory.mktemp("dashboard-a")):
        yield up


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def other_dashboard(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[HarnessProcess]:
    """A second harness, as another developer's or another branch's."""
    async for up in _start_harness(tmp_path_factory.mktemp("dashboard-b")):
        yield up


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser_page(wordpress: WordPress, tmp_path_factory: pytest.TempPathFactory):
    """Debian's chromium with a new empty profile; requests off 127.0.0.1 are aborted."""
    from playwright.async_api import Route, async_playwright

    blocked: list[str] = []

    async def only_local(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            args=["--headless", *CHROMIUM_ARGS],
            headless=True,
        )
        try:
            await context.route("**/*", only_local)
            page = context.pages[0] if context.pages else await context.new_page()
            page.set_default_timeout(20_000)
            page.blocked = blocked  # type: ignore[attr-defined]
            yield page
        finally:
            await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser_page, request: pytest.FixtureRequest):
    """The module's page; a screenshot is kept under the env's folder when a test fails."""
    yield browser_page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        folder = screenshot_dir()
        folder.mkdir(parents=True, exist_ok=True)
        await browser_page.screenshot(path=str(folder / f"{request.node.name}.png"), full_page=True)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def activated(wordpress: WordPress, dashboard: HarnessProcess, browser_page) -> WordPress:
    """Point WordPress at the first dashboard, log in, and activate the plugin by clicking."""
    wordpress.set_option("rakubun_harness_api_url", dashboard.api_url)
    page = browser_page
    try:
        await page.goto(f"{wordpress.url}/wp-login.php")
        await page.fill("#user_login", ADMIN_USER)
        await page.fill("#user_pass", ADMIN_PASSWORD)
        await page.click("#wp-submit")
        await page.wait_for_url(f"{wordpress.url}/wp-admin/**")
        await toggle_plugin(page, wordpress, "activate")
    except Exception:
        await keep_what_wordpress_showed(page, wordpress, "activated")
        raise
    return wordpress


async def keep_what_wordpress_showed(page, wordpress: WordPress, name: str) -> None:
    """A failed fixture's evidence under the env's folder, as a failed test's screenshot is:
    the page (a screenshot, its URL and HTML) and the tails of WordPress's own logs."""
    folder = screenshot_dir()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
        (folder / f"{name}.html").write_text(f"<!-- {page.url} -->\n" + await page.content())
    except Exception as exc:  # the page itself may be what broke
        (folder / f"{name}.html").write_text(f"the page could not be read: {exc!r}")
    for log in (wordpress.debug_log, wordpress.root / "php-server.log"):
        if log.exists():
            tail = log.read_text(errors="replace")[-20_000:]
            (folder / f"{name}-{log.name}").write_text(tail)


async def toggle_plugin(page, wordpress: WordPress, action: str) -> None:
    """Click the plugin's Activate or Deactivate link on the Plugins screen."""
    await page.goto(f"{wordpress.url}/wp-admin/plugins.php")
    row = page.locator('tr[data-plugin^="rakubun-ai-content-generator/"]')
    await row.locator(f"span.{action} a").click()
    await page.wait_for_url(f"{wordpress.url}/wp-admin/plugins.php?*")
    wanted = "active" if action == "activate" else "inactive"
    await row.and_(page.locator(f"tr.{wanted}")).wait_for()
