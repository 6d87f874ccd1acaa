"""A person reads and tries the API on the service's own reference page, in a real browser."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest

from service.http.contract import Contract
from tests.conftest import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian chromium at /usr/bin"),
]

LOOPBACK = {"127.0.0.1"}


@pytest.fixture
async def docs_page(page, service):
    """The reference page of a running service, every request outside 127.0.0.1 refused and
    noted, every console complaint (a CSP refusal, a script error) noted too."""
    offsite: list[str] = []
    complaints: list[str] = []

    async def only_loopback(route) -> None:
        url = route.request.url
        if urlsplit(url).scheme in ("data", "blob") or urlsplit(url).hostname in LOOPBACK:
            await route.continue_()
        else:
            offsite.append(url)
            await route.abort()

    await page.route("**/*", only_loopback)
    page.on("console", lambda m: complaints.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: complaints.append(str(e)))
    await page.goto(f"{service.url}/api/v1/docs")
    await page.wait_for_selector(".opblock", timeout=30_000)
    yield page
    assert offsite == [], offsite
    assert complaints == [], complaints


async def test_the_page_lists_every_operation_of_the_spec(docs_page) -> None:
    listed = set(await docs_page.eval_on_selector_all(".opblock", "els => els.map(e => e.id)"))

    expected = {
        f"operations-{tag}-{op['operationId']}"
        for item in Contract.load().spec["paths"].values()
        for method, op in item.items()
        if method in ("get", "put", "post", "delete")
        for tag in op["tags"]
    }
    assert listed == expected
    assert len(expected) == len(Contract.load().operations)


async def test_try_it_out_runs_a_plugin_call_with_the_sites_credentials(
    docs_page, site, service
) -> None:
    page = docs_page
    assert await service.store.get_user(site.site_id, "7") is None
    await page.click("button.authorize")
    for scheme, value in (("pluginBearer", site.token), ("instanceId", site.instance_id)):
        form = page.locator(".auth-container").filter(has=page.locator("h4", has_text=scheme))
        await form.locator("input").fill(value)
        await form.locator("button.authorize").click()
    await page.locator(".modal-ux button.close-modal").click()

    operation = page.locator("#operations-credits-getUserCredits")
    await operation.locator(".opblock-summary").first.click()
    await operation.locator("button.try-out__btn").click()
    await operation.locator('tr[data-param-name="user_id"] input').fill("7")
    await operation.locator("button.execute").click()

    answer = operation.locator(".live-responses-table .response")
    await answer.locator(".response-col_status").wait_for(timeout=15_000)
    assert (await answer.locator(".response-col_status").inner_text()).strip() == "200"
    body = await answer.locator(".response-col_description pre").first.inner_text()
    assert '"user_id": "7"' in body and '"article_credits": 5' in body
    # The call reached this service as the site's user 7, who now exists.
    assert await service.store.get_user(site.site_id, "7") is not None
