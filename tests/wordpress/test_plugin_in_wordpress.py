"""The real plugin in a real WordPress buys credits through the harness, as a person would.

Debian's WordPress and chromium, the plugin from RAKUBUN_PLUGIN_DIR, the must-use plugin
from harness/wordpress/, and two `rakubun-harness up` dashboards. The tests share one site
and run in file order; each reads the state it starts from instead of assuming it.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from harness.testing import HarnessProcess

from .conftest import toggle_plugin
from .stack import WordPress

pytestmark = [pytest.mark.wordpress, pytest.mark.asyncio(loop_scope="module")]

PACKAGE = "article_starter"
PACKAGE_CREDITS = 10
PURCHASE_PAGE = "/wp-admin/admin.php?page=rakubun-ai-purchase"


# -- what a person sees --------------------------------------------------------------------------


async def open_purchase_page(page, wordpress: WordPress) -> None:
    await page.goto(wordpress.url + PURCHASE_PAGE)


async def shown_article_balance(page) -> int:
    return int((await page.inner_text(".credits-count-articles")).strip())


async def start_checkout(page, wordpress: WordPress, dashboard: HarnessProcess) -> None:
    """Buy → Checkout: the browser lands on the fake Stripe's hosted page."""
    await open_purchase_page(page, wordpress)
    await page.click(f"button[onclick*=\"'{PACKAGE}'\"]")
    await page.click("#rakubun-checkout-button")
    await page.wait_for_url(f"{dashboard.stripe_url}/**")


async def buy(page, wordpress: WordPress, dashboard: HarnessProcess) -> tuple[str, str]:
    """Buy a package and pay; answers the return URL WordPress showed and the session id."""
    await start_checkout(page, wordpress, dashboard)
    await page.click("#pay")
    await page.wait_for_url(f"{wordpress.url}/wp-admin/admin.php?*status=success*")
    session_id = parse_qs(urlsplit(page.url).query)["session_id"][0]
    return page.url, session_id


# -- what the dashboard recorded -----------------------------------------------------------------


async def site_of(dashboard: HarnessProcess, wordpress: WordPress) -> list[dict[str, Any]]:
    """The dashboard's sites registered from this WordPress."""
    sites = (await dashboard.admin.get("sites", limit=200))["sites"]
    return [site for site in sites if site.get("site_url") == wordpress.url]


async def purchases(dashboard: HarnessProcess, wordpress: WordPress) -> list[dict[str, Any]]:
    [site] = await site_of(dashboard, wordpress)
    return [
        entry
        for entry in await dashboard.admin.ledger(site["site_id"])
        if entry["kind"] == "purchase"
    ]


@dataclass(frozen=True)
class Holdings:
    """What a person holds: the article balance their purchase page shows, the purchases the
    dashboard's ledger has for their site."""

    balance: int
    purchases: int

    def plus_one_package(self) -> Holdings:
        return Holdings(self.balance + PACKAGE_CREDITS, self.purchases + 1)


async def holdings(page, wordpress: WordPress, dashboard: HarnessProcess) -> Holdings:
    """Open the purchase page and read what the person holds."""
    await open_purchase_page(page, wordpress)
    return Holdings(await shown_article_balance(page), len(await purchases(dashboard, wordpress)))


async def ledger_article_balance(dashboard: HarnessProcess, wordpress: WordPress) -> int:
    """The article credits the dashboard's ledger holds for this WordPress (all users)."""
    [site] = await site_of(dashboard, wordpress)
    return sum(
        entry["delta"]
        for entry in await dashboard.admin.ledger(site["site_id"])
        if entry["credit_type"] == "article"
    )


async def credits_updated_for(
    dashboard: HarnessProcess, wordpress: WordPress, session_id: str
) -> list[dict[str, Any]]:
    """The service's credits_updated deliveries to WordPress for one checkout session."""
    await dashboard.admin.flush_webhooks()
    [site] = await site_of(dashboard, wordpress)
    return [
        delivery
        for delivery in await dashboard.admin.site_webhooks(site["site_id"])
        if delivery["event"] == "credits_updated"
        and delivery.get("body", {}).get("data", {}).get("session_id") == session_id
    ]


async def printed(dashboard: HarnessProcess, pattern: str, timeout: float = 15.0) -> bool:
    """Whether `up` prints a line matching `pattern` within `timeout` (it polls once a second)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not re.search(pattern, dashboard.output, re.M):
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


# -- the tests -----------------------------------------------------------------------------------


async def test_activating_by_click_registers_the_site(activated, dashboard, page):
    [site] = await site_of(dashboard, activated)

    assert site["instance_id"]
    await open_purchase_page(page, activated)
    assert await shown_article_balance(page) == await ledger_article_balance(dashboard, activated)
    assert await page.locator(".notice-error:visible").count() == 0


async def test_buying_a_package_through_the_hosted_checkout(activated, dashboard, page):
    before = await holdings(page, activated, dashboard)

    return_url, session_id = await buy(page, activated, dashboard)

    assert str(PACKAGE_CREDITS) in await page.inner_text(".notice-success")
    assert await holdings(page, activated, dashboard) == before.plus_one_package()
    entries = await purchases(dashboard, activated)
    assert [e["delta"] for e in entries if e["source_ref"] == f"checkout:{session_id}"] == [
        PACKAGE_CREDITS
    ]
    [delivery] = await credits_updated_for(dashboard, activated, session_id)
    assert (delivery["status"], delivery["last_status_code"]) == ("delivered", 200)
    webhook_url = f"{activated.url}/wp-admin/admin-ajax.php?action=rakubun_webhook"
    assert await printed(dashboard, rf"  <--  \[200\] POST {re.escape(webhook_url)}$"), (
        dashboard.output
    )

    await page.goto(return_url)

    assert await holdings(page, activated, dashboard) == before.plus_one_package()


async def test_cancel_grants_nothing(activated, dashboard, page):
    before = await holdings(page, activated, dashboard)

    await start_checkout(page, activated, dashboard)
    await page.click("#cancel")
    await page.wait_for_url(f"{activated.url}/wp-admin/admin.php?*status=cancel*")

    assert "キャンセル" in await page.inner_text(".notice-warning")
    assert await holdings(page, activated, dashboard) == before


async def test_switching_dashboards_and_back_needs_no_new_registration(
    activated, dashboard, other_dashboard, page
):
    await open_purchase_page(page, activated)
    balance_on_first = await shown_article_balance(page)
    [first_site] = await site_of(dashboard, activated)

    # Another dashboard: reactivating registers this WordPress there too.
    activated.set_option("rakubun_harness_api_url", other_dashboard.api_url)
    await toggle_plugin(page, activated, "deactivate")
    await toggle_plugin(page, activated, "activate")
    assert len(await site_of(other_dashboard, activated)) == 1
    await open_purchase_page(page, activated)
    on_other = await ledger_article_balance(other_dashboard, activated)
    assert on_other != balance_on_first
    assert await shown_article_balance(page) == on_other

    # Production: its options never received a harness's credentials.
    activated.set_option("rakubun_harness_api_url", None)
    assert (
        activated.database.rows(
            "SELECT option_name FROM wp_options WHERE option_name IN "
            "('rakubun_ai_api_token', 'rakubun_ai_webhook_secret')"
        )
        == []
    )

    # Back to the first dashboard: its credentials still work, and buying does too.
    activated.set_option("rakubun_harness_api_url", dashboard.api_url)
    await open_purchase_page(page, activated)
    assert await shown_article_balance(page) == balance_on_first
    _, session_id = await buy(page, activated, dashboard)
    await open_purchase_page(page, activated)
    assert await shown_article_balance(page) == balance_on_first + PACKAGE_CREDITS
    assert await site_of(dashboard, activated) == [first_site]
    [delivery] = await credits_updated_for(dashboard, activated, session_id)
    assert delivery["last_status_code"] == 200
