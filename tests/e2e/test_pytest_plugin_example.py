"""harness/README.md's example of the harness's pytest plugin, run as written (fixtures only)."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.e2e


async def test_a_paid_checkout_grants_its_credits(rakubun_urls, rakubun_plugin, rakubun_stripe):
    assert (await rakubun_plugin.register())["success"]
    status, body = await rakubun_plugin.call("checkout", package_id="article_starter")
    assert status == 200, body

    await rakubun_stripe.pay(body["session_id"])
    await rakubun_stripe.drain()

    status, body = await rakubun_plugin.call("credits")
    assert status == 200 and body["credits"]["article_credits"] == 5 + 10, body
    assert [w["event"] for w in await rakubun_plugin.webhooks("credits_updated")]
    assert httpx.get(rakubun_urls.docs).status_code == 200
