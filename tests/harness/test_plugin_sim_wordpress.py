"""The WordPress stand-in answers webhooks like the plugin, acts as the admin via /_sim/, and
shows people its pages (root, purchase page, webhook list) in the checkout page's look."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness.fake_stripe.templating import stylesheet
from harness.plugin_sim import PluginSimulator, sign_body
from tests.support.capture import CaptureServer

API_TOKEN = "rk_test_token_1234"
WEBHOOK_SECRET = "whsec_plugin_secret_5678"


@pytest.fixture
async def dashboard() -> AsyncIterator[CaptureServer]:
    """A tiny service: registration hands out credentials, every other call says success."""
    async with CaptureServer() as fake:
        fake.answer(
            "/api/v1/plugins/register",
            json={"success": True, "api_token": API_TOKEN, "webhook_secret": WEBHOOK_SECRET},
        )
        fake.answer(
            "/api/v1/checkout/verify",
            json={"success": True, "credits_added": 10, "credit_type": "article"},
        )
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def simulator(dashboard: CaptureServer, tmp_path: Path) -> AsyncIterator[PluginSimulator]:
    sim = PluginSimulator(dashboard.url, data_dir=tmp_path)
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def registered(simulator: PluginSimulator, http: aiohttp.ClientSession) -> PluginSimulator:
    async with http.post(f"{simulator.url}/_sim/register") as response:
        assert response.status == 200, await response.text()
    return simulator


def webhook_body(event: str, data: dict[str, Any]) -> bytes:
    return json.dumps({"event": event, "data": data, "timestamp": 1762400000}).encode()


async def post_webhook(
    http: aiohttp.ClientSession,
    sim: PluginSimulator,
    body: bytes,
    *,
    secret: str = WEBHOOK_SECRET,
    signature: str | None = None,
) -> tuple[int, Any]:
    headers = {
        "Content-Type": "application/json",
        "X-Rakubun-Signature": signature if signature is not None else sign_body(secret, body),
    }
    url = f"{sim.url}/wp-admin/admin-ajax.php?action=rakubun_webhook"
    async with http.post(url, data=body, headers=headers) as response:
        text = await response.text()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


async def received(
    http: aiohttp.ClientSession, sim: PluginSimulator, query: str = ""
) -> list[dict]:
    async with http.get(f"{sim.url}/_sim/webhooks{query}") as response:
        return (await response.json())["webhooks"]


# -- the webhook endpoint -----------------------------------------------------------------------


async def test_signed_credits_updated_is_processed(registered, http):
    body = webhook_body("credits_updated", {"user_email": "editor@example.com", "user_id": 1})

    status, answer = await post_webhook(http, registered, body)

    assert status == 200
    assert answer == {"success": True, "data": {"message": "Webhook processed"}}
    [record] = await received(http, registered)
    assert record["event"] == "credits_updated"
    assert record["data"]["user_email"] == "editor@example.com"
    assert record["signature_valid"] is True
    assert record["status"] == 200
    assert record["raw_body"] == body.decode()
    assert record["headers"]["X-Rakubun-Signature"] == sign_body(WEBHOOK_SECRET, body)


async def test_wrong_secret_is_401(registered, http):
    body = webhook_body("credits_updated", {"user_email": "editor@example.com"})

    status, answer = await post_webhook(http, registered, body, secret="whsec_someone_else")

    assert status == 401
    assert answer == {"success": False, "data": {"message": "Invalid signature"}}
    [record] = await received(http, registered)
    assert record["signature_valid"] is False


async def test_old_dashboard_prefixed_signature_is_401(registered, http):
    body = webhook_body("test_webhook", {})
    prefixed = "sha256=" + sign_body(WEBHOOK_SECRET, body)

    status, _ = await post_webhook(http, registered, body, signature=prefixed)

    assert status == 401


async def test_missing_signature_is_401(registered, http):
    status, _ = await post_webhook(http, registered, webhook_body("test_webhook", {}), signature="")

    assert status == 401


async def test_signature_of_reserialised_json_is_401(registered, http):
    body = webhook_body("test_webhook", {"note": "café"})
    reserialised = json.dumps(json.loads(body), ensure_ascii=False).encode()

    status, _ = await post_webhook(
        http, registered, body, signature=sign_body(WEBHOOK_SECRET, reserialised)
    )

    assert status == 401


async def test_unregistered_plugin_rejects_every_webhook(simulator, http):
    status, _ = await post_webhook(http, simulator, webhook_body("test_webhook", {}))

    assert status == 401


async def test_invalid_json_is_400(registered, http):
    status, answer = await post_webhook(http, registered, b"{not json")

    assert status == 400
    assert answer["data"]["message"] == "Invalid JSON"


async def test_empty_object_counts_as_invalid_json(registered, http):
    status, answer = await post_webhook(http, registered, b"{}")

    assert (status, answer["data"]["message"]) == (400, "Invalid JSON")


async def test_unknown_event_is_400(registered, http):
    status, answer = await post_webhook(http, registered, webhook_body("credits_granted", {}))

    assert status == 400
    assert answer["data"]["message"] == "Unknown event"
    [record] = await received(http, registered)
    assert (record["event"], record["signature_valid"]) == ("credits_granted", True)


async def test_credits_updated_without_user_email_fails_with_500(registered, http):
    body = webhook_body("credits_updated", {"user_id": 1, "credit_type": "article"})

    status, answer = await post_webhook(http, registered, body)

    assert status == 500
    assert answer == {"success": False, "data": {"message": "Failed to process webhook"}}


@pytest.mark.parametrize(
    "event", ["config_updated", "package_updated", "plugin_enabled", "test_webhook"]
)
async def test_every_handled_event_is_processed(registered, http, event):
    status, _ = await post_webhook(http, registered, webhook_body(event, {}))

    assert status == 200


async def test_plugin_disabled_and_enabled_change_the_plugin_status(registered, http):
    await post_webhook(http, registered, webhook_body("plugin_disabled", {"reason": "unpaid"}))
    async with http.get(f"{registered.url}/_sim/state") as response:
        disabled = await response.json()
    await post_webhook(http, registered, webhook_body("plugin_enabled", {}))
    async with http.get(f"{registered.url}/_sim/state") as response:
        enabled = await response.json()

    assert (disabled["status"], disabled["disabled_reason"]) == ("disabled", "unpaid")
    assert (enabled["status"], enabled["disabled_reason"]) == ("enabled", None)


async def test_down_answers_503_until_up(registered, http):
    body = webhook_body("credits_updated", {"user_email": "editor@example.com"})

    async with http.post(f"{registered.url}/_sim/down") as response:
        assert response.status == 200
    down_status, _ = await post_webhook(http, registered, body)
    async with http.post(f"{registered.url}/_sim/up") as response:
        assert response.status == 200
    up_status, _ = await post_webhook(http, registered, body)

    assert (down_status, up_status) == (503, 200)
    records = await received(http, registered)
    assert [(r["status"], r["signature_valid"]) for r in records] == [(503, True), (200, True)]


async def test_other_ajax_actions_get_wordpress_zero(registered, http):
    url = f"{registered.url}/wp-admin/admin-ajax.php?action=heartbeat"
    async with http.post(url, data=b"{}") as response:
        assert (response.status, await response.text()) == (400, "0")


# -- /_sim/webhooks -----------------------------------------------------------------------------


async def test_webhooks_listing_filters_by_event_and_seq(registered, http):
    await post_webhook(http, registered, webhook_body("test_webhook", {}))
    await post_webhook(
        http, registered, webhook_body("credits_updated", {"user_email": "a@example.com"})
    )
    await post_webhook(
        http, registered, webhook_body("credits_updated", {"user_email": "b@example.com"})
    )

    credits = await received(http, registered, "?event=credits_updated")
    after_second = await received(http, registered, "?after=2")

    assert [r["data"]["user_email"] for r in credits] == ["a@example.com", "b@example.com"]
    assert all(r["signature_valid"] for r in credits)
    assert [r["seq"] for r in after_second] == [3]


async def test_waiting_listing_answers_when_the_webhook_arrives(registered, http):
    await post_webhook(http, registered, webhook_body("test_webhook", {}))
    # Whichever comes first, the long-poll or the webhook, the answer holds the new one only.
    waiting = asyncio.create_task(
        received(http, registered, "?event=credits_updated&after=1&wait=30&count=1")
    )
    body = webhook_body("credits_updated", {"user_email": "editor@example.com"})
    await post_webhook(http, registered, body)

    records = await asyncio.wait_for(waiting, 10)

    assert [r["event"] for r in records] == ["credits_updated"]


async def test_waiting_listing_gives_up_after_its_timeout(registered, http):
    records = await received(http, registered, "?event=credits_updated&wait=0.2")

    assert records == []


# -- acting as the WordPress admin --------------------------------------------------------------


async def test_register_is_idempotent_and_keeps_secrets_inside(registered, dashboard, http):
    async with http.post(f"{registered.url}/_sim/register") as response:
        again = await response.json()
    async with http.get(f"{registered.url}/_sim/state") as response:
        state_text = await response.text()

    assert again["already_registered"] is True
    assert again["instance_id"] == registered.options.instance_id
    assert len(dashboard.calls_to("/api/v1/plugins/register")) == 1
    state = json.loads(state_text)
    assert state["registered"] is True
    assert state["instance_id"] == registered.options.instance_id
    assert state["api_url"] == dashboard.url
    assert API_TOKEN not in state_text and WEBHOOK_SECRET not in state_text
    assert API_TOKEN not in json.dumps(again) and WEBHOOK_SECRET not in json.dumps(again)


async def test_registration_reports_the_simulator_as_site_url(registered, dashboard):
    [register] = dashboard.calls_to("/api/v1/plugins/register")

    assert register.json()["site_url"] == registered.url
    assert register.json()["instance_id"] == registered.options.instance_id


async def test_forced_registration_starts_a_new_instance(registered, dashboard, http):
    first_instance = registered.options.instance_id

    async with http.post(f"{registered.url}/_sim/register", json={"force": True}) as response:
        outcome = await response.json()

    assert outcome["success"] is True
    assert outcome["instance_id"] != first_instance
    assert len(dashboard.calls_to("/api/v1/plugins/register")) == 2


async def test_options_survive_a_restart(registered, dashboard, tmp_path):
    restarted = PluginSimulator(dashboard.url, data_dir=tmp_path)

    assert restarted.options.instance_id == registered.options.instance_id
    assert restarted.options.api_token == API_TOKEN
    assert restarted.options.webhook_secret == WEBHOOK_SECRET


async def test_call_uses_the_stored_credentials(registered, dashboard, http):
    async with http.post(
        f"{registered.url}/_sim/call/credits", json={"user_id": 7, "user_email": "x@example.com"}
    ) as response:
        outcome = await response.json()

    assert outcome == {"call": "credits", "status": 200, "body": {"success": True}}
    [request] = dashboard.calls_to("/api/v1/users/credits")
    assert request.headers["Authorization"] == f"Bearer {API_TOKEN}"
    assert request.headers["X-Instance-ID"] == registered.options.instance_id
    assert request.query == {
        "user_id": "7",
        "user_email": "x@example.com",
        "site_url": registered.url,
    }


async def test_call_register_redacts_the_secrets_it_stores(simulator, http):
    async with http.post(f"{simulator.url}/_sim/call/register") as response:
        text = await response.text()

    assert json.loads(text)["status"] == 200
    assert API_TOKEN not in text and WEBHOOK_SECRET not in text
    assert simulator.options.api_token == API_TOKEN


async def test_unknown_call_is_404(registered, http):
    async with http.post(f"{registered.url}/_sim/call/refund-everything") as response:
        assert response.status == 404


async def test_call_without_a_required_value_is_400(registered, http):
    async with http.post(f"{registered.url}/_sim/call/verify", json={}) as response:
        assert response.status == 400


async def test_call_with_a_non_object_body_is_400(registered, http):
    async with http.post(f"{registered.url}/_sim/call/credits", json=[1, 2]) as response:
        assert response.status == 400


async def test_call_to_an_unreachable_service_is_502(tmp_path, http):
    sim = PluginSimulator("http://127.0.0.1:9", data_dir=tmp_path)
    await sim.start()
    try:
        async with http.post(f"{sim.url}/_sim/register") as response:
            assert response.status == 502
    finally:
        await sim.stop()


# -- the purchase page --------------------------------------------------------------------------


async def test_successful_return_shows_the_session_and_verifies_it(registered, dashboard, http):
    url = f"{registered.url}/wp-admin/admin.php?page=rakubun-ai-purchase&session_id=cs_test_1&status=success"

    async with http.get(url) as response:
        page = await response.text()
    async with http.get(f"{registered.url}/_sim/landings") as response:
        landings = (await response.json())["landings"]

    assert response.status == 200
    assert "cs_test_1" in page and "success" in page
    [verify] = dashboard.calls_to("/api/v1/checkout/verify")
    assert verify.json() == {"session_id": "cs_test_1"}
    assert landings[0]["verification"]["body"]["credits_added"] == 10


async def test_cancelled_return_does_not_verify(registered, dashboard, http):
    url = f"{registered.url}/wp-admin/admin.php?page=rakubun-ai-purchase&status=cancel"

    async with http.get(url) as response:
        page = await response.text()

    assert "cancel" in page
    assert dashboard.calls_to("/api/v1/checkout/verify") == []


async def test_page_escapes_what_it_shows(registered, http):
    url = f"{registered.url}/wp-admin/admin.php?page=rakubun-ai-purchase&status=<script>"

    async with http.get(url) as response:
        page = await response.text()

    assert "<script>" not in page and "&lt;script&gt;" in page


async def test_saved_options_are_private(registered, tmp_path):
    saved = tmp_path / "plugin-sim.json"

    assert saved.stat().st_mode & 0o077 == 0
    assert WEBHOOK_SECRET in saved.read_text()


async def moved_site(dashboard: CaptureServer, data_dir: Path) -> PluginSimulator:
    """The simulator of a site registered at :1111 that WordPress now serves at :2222."""
    first = PluginSimulator(dashboard.url, data_dir=data_dir, site_url="http://127.0.0.1:1111")
    assert (await first.register())["success"]
    await first.stop()
    return PluginSimulator(dashboard.url, data_dir=data_dir, site_url="http://127.0.0.1:2222")


async def test_a_moved_site_puts_its_new_url_once_and_keeps_it(
    dashboard: CaptureServer, tmp_path: Path
):
    moved = await moved_site(dashboard, tmp_path)

    answer = await moved.follow_site_url()
    again = await moved.follow_site_url()
    await moved.stop()

    assert answer is not None and answer.status == 200
    [put] = [r for r in dashboard.requests if r.method == "PUT"]
    assert put.path == f"/api/v1/instances/{moved.options.instance_id}"
    assert put.json() == {"site_url": "http://127.0.0.1:2222"}
    assert put.headers["Authorization"] == f"Bearer {API_TOKEN}"
    assert again is None  # nothing moved since
    assert moved.options.registered_site_url == "http://127.0.0.1:2222"


async def test_a_refused_move_is_answered_and_the_old_url_kept(
    dashboard: CaptureServer, tmp_path: Path
):
    moved = await moved_site(dashboard, tmp_path)
    refusal = {"success": False, "error": "invalid_credentials", "message": "Unknown token"}
    dashboard.answer(f"/api/v1/instances/{moved.options.instance_id}", 401, json=refusal)

    answer = await moved.follow_site_url()
    await moved.stop()

    assert answer is not None and (answer.status, answer.body) == (401, refusal)
    assert moved.options.registered_site_url == "http://127.0.0.1:1111"


async def test_an_unregistered_or_unmoved_site_puts_nothing(simulator, dashboard):
    assert await simulator.follow_site_url() is None  # not registered
    await simulator.register()
    assert await simulator.follow_site_url() is None  # registered here, as it is now

    assert not [r for r in dashboard.requests if r.method == "PUT"]


# -- the pages for people: root, purchase page, webhook list ------------------------------------

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


class Links(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [v for k, v in attrs if tag == "a" and k == "href" and v]


async def test_the_root_lists_the_simulators_urls_and_every_link_answers(registered, http):
    async with http.get(f"{registered.url}/") as response:
        text = await response.text()

    assert response.status == 200 and response.content_type == "text/html"
    assert stylesheet() in text
    assert registered.options.instance_id in text
    assert registered.options.api_token not in text  # never a secret on a page
    local = [href for href in Links(text).hrefs if href.startswith("/")]
    assert {"/_sim/state", "/_sim/webhooks", "/_sim/landings"} <= set(local)
    for href in local:
        async with http.get(f"{registered.url}{href}") as linked:
            assert linked.status == 200, href


async def test_the_successful_return_page_wears_the_checkout_stylesheet(registered, http):
    url = f"{registered.url}/wp-admin/admin.php?page=rakubun-ai-purchase&session_id=cs_test_1&status=success"

    async with http.get(url) as response:
        text = await response.text()

    assert response.status == 200 and response.content_type == "text/html"
    assert stylesheet() in text
    assert 'class="message info"' in text and "10 credits added" in text
    assert "<pre id='verification'>" in text  # the raw answer stays, below the message


async def test_a_return_the_service_does_not_verify_says_so(registered, dashboard, http):
    dashboard.answer("/api/v1/checkout/verify", status=400, json={"success": False})
    url = f"{registered.url}/wp-admin/admin.php?page=rakubun-ai-purchase&session_id=cs_x&status=success"

    async with http.get(url) as response:
        text = await response.text()

    assert 'class="message error"' in text and "did not verify" in text


async def test_the_webhook_list_is_a_page_for_a_browser_and_json_for_tools(registered, http):
    body = webhook_body("credits_updated", {"user_email": "<b>a@example.com</b>"})
    status, _ = await post_webhook(http, registered, body)
    assert status == 200

    async with http.get(f"{registered.url}/_sim/webhooks", headers=BROWSER) as response:
        page = await response.text()
    async with http.get(f"{registered.url}/_sim/webhooks") as response:
        listed = await response.json()
    async with http.get(f"{registered.url}/_sim/webhooks?format=json", headers=BROWSER) as response:
        asked = await response.json()

    assert stylesheet() in page and '<tr id="webhook-1">' in page
    assert "credits_updated" in page and "<b>" not in page and "&lt;b&gt;" in page
    assert [w["event"] for w in listed["webhooks"]] == ["credits_updated"]
    assert asked == listed


@pytest.mark.parametrize("query", ["after=nan", "after=inf", "count=-inf&wait=1", "after=x"])
async def test_a_number_that_is_no_number_is_a_400(registered, http, query):
    async with http.get(f"{registered.url}/_sim/webhooks?{query}") as response:
        body = await response.json()

    assert response.status == 400
    assert body["success"] is False and "must be a number" in body["error"]
