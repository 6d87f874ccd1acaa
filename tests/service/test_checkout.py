"""Stripe Checkout through the real SDK against the fake Stripe: exactly one grant per payment."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import pytest

from service.flows.purchases import receipt_email
from tests.support.stripe import StripeWorld

SESSION_COMPLETED = "checkout.session.completed"
#: A well-formed request for the starter package, for the tests where Stripe cannot answer.
STARTER = {
    "user_id": 1,
    "user_email": "editor@example.com",
    "credit_type": "article",
    "package_id": "article_starter",
    "amount": 750,
}


async def test_checkout_happy_path_grants_the_package_once(world: StripeWorld):
    session_id = await world.checkout()
    assert (await world.verify(session_id)).json()["error"] == "payment_not_completed"

    paid = await world.pay(session_id)
    await world.fake.drain()
    response = await world.verify(session_id)

    assert response.status_code == 200
    body = response.json()
    assert body["credits_added"] == 10 and body["credit_type"] == "article"
    assert body["remaining_credits"]["article_credits"] == 5 + 10
    redirect = parse_qs(urlsplit(paid["redirect_url"]).query)
    assert redirect["session_id"] == [session_id] and redirect["status"] == ["success"]
    assert len(await world.purchases("checkout:")) == 1


async def test_verify_before_payment_answers_402_and_writes_nothing(world: StripeWorld):
    session_id = await world.checkout()
    response = await world.verify(session_id)
    assert response.status_code == 402
    assert response.json()["error"] == "payment_not_completed"
    assert await world.purchases("checkout:") == []


async def test_verify_then_webhook_grants_once(world: StripeWorld):
    session_id = await world.checkout()
    await world.faults(drop=1, event_type=SESSION_COMPLETED)
    await world.pay(session_id)
    await world.fake.drain()

    first = await world.verify(session_id)
    await world.control(f"events/{world.events(SESSION_COMPLETED)[-1]}/resend")
    await world.fake.drain()
    again = await world.verify(session_id)

    assert first.json()["status"] == "completed"
    assert again.json()["status"] == "already_completed"
    assert again.json()["credits_added"] == 10
    assert (await world.site.credits())["article_credits"] == 15
    assert len(await world.purchases("checkout:")) == 1


async def test_webhook_then_verify_answers_already_completed(world: StripeWorld):
    session_id = await world.checkout()
    await world.pay(session_id)
    await world.fake.drain()

    response = await world.verify(session_id)

    assert response.status_code == 200
    assert response.json()["status"] == "already_completed"
    assert response.json()["credits_added"] == 10
    assert (await world.site.credits())["article_credits"] == 15


async def test_duplicate_webhooks_grant_once(world: StripeWorld):
    session_id = await world.checkout()
    await world.faults(duplicate=4, event_type=SESSION_COMPLETED)
    await world.pay(session_id)
    await world.fake.drain()

    sent = [d for d in world.fake.deliveries if d["type"] == SESSION_COMPLETED]
    assert len(sent) == 5 and all(d["status_code"] == 200 for d in sent)
    assert (await world.site.credits())["article_credits"] == 15
    assert len(await world.purchases("checkout:")) == 1


async def test_twenty_concurrent_verifies_and_webhooks_grant_once(world: StripeWorld):
    session_id = await world.checkout()
    await world.faults(drop=1, event_type=SESSION_COMPLETED)
    await world.pay(session_id)
    await world.fake.drain()
    event_id = world.events(SESSION_COMPLETED)[-1]

    results = await asyncio.gather(
        *(world.verify(session_id) for _ in range(20)),
        *(world.control(f"events/{event_id}/resend") for _ in range(5)),
    )
    await world.fake.drain()

    statuses = [r.json()["status"] for r in results[:20]]
    assert all(r.status_code == 200 for r in results[:20])
    assert statuses.count("completed") <= 1
    assert (await world.site.credits())["article_credits"] == 15
    assert len(await world.purchases("checkout:")) == 1
    assert (await world.service.store.reconcile()).ok


async def test_price_tampering_is_rejected(world: StripeWorld):
    pro = {"package_id": "article_pro", "credit_type": "article", "amount": 3000}
    tampered = [  # (what the plugin sends besides the buyer, the status, the error)
        ({**pro, "amount": 1, "currency": "JPY"}, 400, "amount_mismatch"),
        ({**pro, "credit_type": "image", "currency": "JPY"}, 400, "credit_type_mismatch"),
        ({**pro, "currency": "USD"}, 400, "amount_mismatch"),
        ({**pro, "package_id": "article_mega", "amount": 750}, 404, "package_not_found"),
    ]
    for body, status, error in tampered:
        response = await world.site.post(
            "/checkout/sessions", json={"user_id": 1, "user_email": "editor@example.com", **body}
        )
        assert (response.status_code, response.json()["error"]) == (status, error), body
    state = (await world.http.get(f"{world.fake.url}/_harness/state")).json()
    assert state["sessions"] == 0, "nothing may reach Stripe for a rejected request"


async def test_the_stripe_session_carries_the_package_price_and_the_literal_template(
    world: StripeWorld,
):
    session_id = await world.checkout(
        "article_pro",
        return_url=(
            f"{world.wordpress.url}/wp-admin/admin.php?page=rakubun-ai-purchase"
            "&session_id=%7BCHECKOUT_SESSION_ID%7D&status=success"
        ),
    )
    response = await world.http.get(
        f"{world.fake.url}/v1/checkout/sessions/{session_id}",
        headers={"Authorization": "Bearer sk_test_service_suite"},
    )
    stripe_session = response.json()

    assert stripe_session["amount_total"] == 3000 and stripe_session["currency"] == "jpy"
    assert stripe_session["success_url"].count("{CHECKOUT_SESSION_ID}") == 1
    assert "session_id" not in stripe_session["success_url"].split("session_id=", 1)[1]
    assert stripe_session["metadata"]["package_id"] == "article_pro"
    assert stripe_session["customer_email"] == "editor@example.com"


async def test_another_sites_session_is_not_found(world: StripeWorld):
    session_id = await world.checkout()
    await world.pay(session_id)
    other = await world.service.register()

    verify = await other.post("/checkout/verify", json={"session_id": session_id})
    status = await other.get(f"/checkout/sessions/{session_id}")

    assert (verify.status_code, verify.json()["error"]) == (404, "session_not_found")
    assert (status.status_code, status.json()["error"]) == (404, "session_not_found")


async def test_unknown_session_is_not_found(world: StripeWorld):
    response = await world.verify("cs_test_does_not_exist")
    assert (response.status_code, response.json()["error"]) == (404, "session_not_found")


async def test_expired_session_cannot_be_verified_and_is_marked_expired(world: StripeWorld):
    session_id = await world.checkout()
    await world.control(f"checkout/sessions/{session_id}/complete", {"outcome": "expired"})
    await world.fake.drain()

    verify = await world.verify(session_id)
    status = await world.site.get(f"/checkout/sessions/{session_id}")

    assert verify.status_code == 402
    assert status.json()["status"] == "expired"
    assert await world.purchases("checkout:") == []


async def test_declined_then_paid_grants_once(world: StripeWorld):
    session_id = await world.checkout()
    await world.control(f"checkout/sessions/{session_id}/complete", {"outcome": "declined"})
    assert (await world.verify(session_id)).status_code == 402
    await world.pay(session_id)
    await world.fake.drain()

    assert (await world.verify(session_id)).json()["credits_added"] == 10
    assert (await world.site.credits())["article_credits"] == 15


async def test_session_status_reports_pending_then_completed(world: StripeWorld):
    session_id = await world.checkout()
    before = (await world.site.get(f"/checkout/sessions/{session_id}")).json()
    await world.pay(session_id)
    await world.fake.drain()
    after = (await world.site.get(f"/checkout/sessions/{session_id}")).json()

    assert (before["status"], before["payment_status"]) == ("pending", "unpaid")
    assert (after["status"], after["payment_status"]) == ("completed", "paid")
    assert after["credits"] == 10 and after["amount"] == 750


async def test_checkout_without_stripe_answers_payment_not_configured(make_service):
    service = await make_service()
    site = await service.register()
    response = await site.post("/checkout/sessions", json={**STARTER, "currency": "JPY"})
    assert (response.status_code, response.json()["error"]) == (500, "payment_not_configured")


async def test_stripe_unreachable_answers_502_retryable(make_service):
    service = await make_service(
        stripe_secret_key="sk_test_x", stripe_api_base="http://127.0.0.1:9"
    )
    site = await service.register()
    response = await site.post("/checkout/sessions", json=STARTER)
    assert response.status_code == 502
    assert response.json()["error"] == "stripe_unreachable"
    assert response.json()["retryable"] is True


async def test_text_that_is_not_unicode_creates_no_stripe_object(world: StripeWorld):
    """A lone surrogate or a non-UTF-8 header answers 400 before Stripe is called."""
    body = (
        '{"user_id": 1, "user_email": "%s", "credit_type": "article",'
        ' "package_id": "article_starter", "amount": 750, "currency": "JPY"}'
    )
    json_headers = {"Content-Type": "application/json"}
    for path in ("/checkout/sessions", "/payments/create-intent"):
        for email in ("\\ud800", "ed\\udfff@example.com"):
            response = await world.site.post(
                path, content=(body % email).encode(), headers=json_headers
            )
            assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
        response = await world.site.post(
            path,
            content=(body % "ed@example.com").encode(),
            headers={**json_headers, "X-Instance-ID": b"\xff"},
        )
        assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    state = (await world.http.get(f"{world.fake.url}/_harness/state")).json()
    assert (state["sessions"], state["intents"]) == (0, 0)
    assert await world.service.store.get_user(world.site.site_id, "1") is None


@pytest.mark.parametrize(
    ("email", "given"),
    [
        ("u@example.com", "u@example.com"),
        ("u@example.com\n", None),
        ("u@example.com\r\n", None),
        ("u@example", None),
        ("", None),
        (None, None),
    ],
)
def test_stripe_is_given_the_plugins_email_only_when_it_is_one(email, given):
    assert receipt_email(email) == given
