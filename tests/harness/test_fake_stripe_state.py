"""State survives restarts through data_dir, and the fake runs in a thread for sync callers."""

from __future__ import annotations

import shutil

import httpx
import stripe

from harness.fake_stripe import FakeStripe, run_fake_stripe_in_thread
from harness.fake_stripe.resources import CHECKOUT_SESSION
from harness.fake_stripe.state import STATE_FILE, StripeState

from .conftest import FAST_RETRIES, session_params, stripe_signature


def sdk(fake_url: str, http_client: stripe.HTTPXClient, key: str = "sk_test_harness"):
    return stripe.StripeClient(key, base_addresses={"api": fake_url}, http_client=http_client)


async def test_state_is_saved_after_each_change(fake_stripe, stripe_client, tmp_path) -> None:
    session = await stripe_client.v1.checkout.sessions.create_async(params=session_params())

    # What a restart would load, read from a copy: opening a data dir compacts its journal.
    (tmp_path / "copy").mkdir()
    shutil.copy(tmp_path / STATE_FILE, tmp_path / "copy" / STATE_FILE)
    saved = StripeState(tmp_path / "copy")

    assert saved.find(CHECKOUT_SESSION, session.id)["url"] == session.url
    assert not list(tmp_path.glob(".fake-stripe.*.tmp"))  # written via a temp file, then replaced
    # It holds webhook endpoint secrets: readable by its owner only, whatever the umask.
    assert (tmp_path / STATE_FILE).stat().st_mode & 0o777 == 0o600


async def test_restart_from_data_dir_keeps_objects_endpoints_and_idempotency(tmp_path) -> None:
    http_client = stripe.HTTPXClient()
    first = FakeStripe(data_dir=tmp_path, retry_delays=FAST_RETRIES)
    await first.start()
    endpoint = first.add_webhook_endpoint("http://127.0.0.1:9/hook")
    client = sdk(first.url, http_client)
    session = await client.v1.checkout.sessions.create_async(
        params=session_params(), options={"idempotency_key": "k-1"}
    )
    async with httpx.AsyncClient(base_url=first.url) as http:
        await http.post(
            f"/_harness/checkout/sessions/{session.id}/complete", json={"outcome": "expired"}
        )
    await first.stop()

    second = FakeStripe(data_dir=tmp_path, retry_delays=FAST_RETRIES)
    await second.start()
    try:
        client = sdk(second.url, http_client)
        restored = await client.v1.checkout.sessions.retrieve_async(session.id)
        replayed = await client.v1.checkout.sessions.create_async(
            params=session_params(), options={"idempotency_key": "k-1"}
        )
        events = await client.v1.events.list_async()
        same_endpoint = second.add_webhook_endpoint("http://127.0.0.1:9/hook")
    finally:
        await second.stop()
        await http_client.close_async()

    assert restored.status == "expired"
    assert replayed.id == session.id
    assert [e.type for e in events.data] == ["checkout.session.expired"]
    assert (same_endpoint["id"], same_endpoint["secret"]) == (endpoint["id"], endpoint["secret"])


def test_fake_runs_in_a_thread_for_synchronous_code(webhook_receiver) -> None:
    url = webhook_receiver.url
    with run_fake_stripe_in_thread(
        secret_key="sk_test_thread", retry_delays=FAST_RETRIES
    ) as handle:
        endpoint = handle.add_webhook_endpoint(url)
        http_client = stripe.HTTPXClient(allow_sync_methods=True)
        client = sdk(handle.url, http_client, "sk_test_thread")
        session = client.v1.checkout.sessions.create(params=session_params())
        answer = httpx.post(
            f"{handle.url}/_harness/checkout/sessions/{session.id}/complete",
            json={"outcome": "paid"},
        )
        handle.drain(5)

        assert answer.json()["session"]["payment_status"] == "paid"
        events = [
            stripe.Webhook.construct_event(r.body, stripe_signature(r), endpoint["secret"])
            for r in webhook_receiver.received
        ]
        assert [e.type for e in events][0] == "checkout.session.completed"
        assert len(events) == 3
        assert handle.fake.url == handle.url
        http_client.close()
    handle.stop()  # stopping twice is harmless
