"""`Stripe-Signature` test vectors against `POST /api/v1/webhooks/stripe`.

Every vector signs the same event: a paid checkout.session.completed that would grant 10
credits. Rejected vectors must answer the documented 400 `invalid_signature` and write
nothing (no processed-event row, no ledger entry, the session still pending); Stripe's own
SDK must reject them too. Accepted vectors are the ones Stripe's SDK accepts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import stripe
import yaml

from contracts.support import SPEC_PATH
from service.outbound.stripe_gateway import (
    SIGNATURE_FUTURE_SKEW_SECONDS,
    SIGNATURE_TOLERANCE_SECONDS,
)
from tests.support.stripe import (
    TOLERANCE_SECONDS,
    WEBHOOK_SECRET,
    event_body,
    signature_header,
    v1_signature,
)

Vector = Callable[[bytes, int], tuple[bytes, str | None]]


def _tampered(body: bytes, now: int) -> tuple[bytes, str | None]:
    header = signature_header(body, timestamp=now)
    return body.replace(b'"amount_total": 750', b'"amount_total": 75000', 1), header


REJECTED: dict[str, Vector] = {
    "wrong secret": lambda body, now: (body, signature_header(body, "whsec_wrong", now)),
    "stale timestamp": lambda body, now: (
        body,
        signature_header(body, timestamp=now - TOLERANCE_SECONDS - 30),
    ),
    # Time only moves on, so this stays stale wherever the check runs.
    "a second past the tolerance": lambda body, now: (
        body,
        signature_header(body, timestamp=now - TOLERANCE_SECONDS - 1),
    ),
    "tampered body": _tampered,
    "timestamp changed after signing": lambda body, now: (
        body,
        f"t={now + 1},v1={v1_signature(body, WEBHOOK_SECRET, now)}",
    ),
    "only a v0 signature": lambda body, now: (
        body,
        f"t={now},v0={v1_signature(body, WEBHOOK_SECRET, now)}",
    ),
    "missing header": lambda body, now: (body, None),
    "empty header": lambda body, now: (body, ""),
    "garbage header": lambda body, now: (body, "garbage"),
    "non-numeric timestamp": lambda body, now: (
        body,
        f"t=yesterday,v1={v1_signature(body, WEBHOOK_SECRET, now)}",
    ),
    "no timestamp": lambda body, now: (body, f"v1={v1_signature(body, WEBHOOK_SECRET, now)}"),
}

#: Dated ahead of this clock by more than the skew allowed: the SDK bounds only the past.
FUTURE: dict[str, Vector] = {
    "a minute ahead": lambda body, now: (body, signature_header(body, timestamp=now + 60)),
    "a day ahead": lambda body, now: (body, signature_header(body, timestamp=now + 86_400)),
    "just past the skew": lambda body, now: (
        body,
        signature_header(body, timestamp=now + SIGNATURE_FUTURE_SKEW_SECONDS + 2),
    ),
    "a future t before the signed one": lambda body, now: (
        body,
        f"t={now + 3600},t={now},v1={v1_signature(body, WEBHOOK_SECRET, now + 3600)}",
    ),
}

ACCEPTED: dict[str, Vector] = {
    "valid": lambda body, now: (body, signature_header(body, timestamp=now)),
    "several v1 values, one valid": lambda body, now: (
        body,
        f"t={now},v1={'0' * 64},v1={v1_signature(body, WEBHOOK_SECRET, now)},"
        f"v1={v1_signature(body, 'whsec_rolled_secret', now)}",
    ),
    "v0 and v1 side by side": lambda body, now: (
        body,
        f"t={now},v1={v1_signature(body, WEBHOOK_SECRET, now)},v0={'f' * 64}",
    ),
    "four minutes old": lambda body, now: (body, signature_header(body, timestamp=now - 240)),
    # The test's clock may run a second behind the service's when it reads `now`.
    "within the skew ahead": lambda body, now: (
        body,
        signature_header(body, timestamp=now + SIGNATURE_FUTURE_SKEW_SECONDS - 5),
    ),
}


def documented_responses() -> dict[str, Any]:
    spec = yaml.safe_load(SPEC_PATH.read_text())
    return dict(spec["paths"]["/api/v1/webhooks/stripe"]["post"]["responses"])


async def _paid_checkout_event(world) -> dict[str, Any]:
    session_id = await world.checkout("article_starter")
    return await world.event("checkout.session.completed", **await world.pay_for_ids(session_id))


async def _nothing_written(world, event: dict[str, Any]) -> None:
    session_id = event["data"]["object"]["id"]
    assert not await world.event_recorded(event["id"])
    assert await world.ledger("purchase") == []
    assert await world.session_status(session_id) == "pending"
    assert (await world.credits())["article_credits"] == 5


@pytest.mark.parametrize("name", list(REJECTED))
async def test_bad_signature_is_refused_and_writes_nothing(world, name):
    event = await _paid_checkout_event(world)
    body, header = REJECTED[name](event_body(event), int(time.time()))
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(
            body, header, WEBHOOK_SECRET, tolerance=TOLERANCE_SECONDS
        )

    response = await world.post(body, header)

    assert "400" in documented_responses()
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_signature"
    assert response.json()["success"] is False
    await _nothing_written(world, event)


@pytest.mark.parametrize("name", list(FUTURE))
async def test_signature_dated_in_the_future_is_refused_and_writes_nothing(world, name):
    event = await _paid_checkout_event(world)
    body, header = FUTURE[name](event_body(event), int(time.time()))

    response = await world.post(body, header)

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_signature"
    assert "future" in response.json()["message"]
    await _nothing_written(world, event)


@pytest.mark.parametrize("name", list(ACCEPTED))
async def test_signature_stripe_accepts_is_accepted(world, name):
    event = await _paid_checkout_event(world)
    body, header = ACCEPTED[name](event_body(event), int(time.time()))
    assert stripe.WebhookSignature.verify_header(
        body, header, WEBHOOK_SECRET, tolerance=TOLERANCE_SECONDS
    )

    response = await world.post(body, header)

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "granted"
    assert await world.event_recorded(event["id"])
    assert len(await world.ledger("purchase")) == 1


async def test_body_that_is_not_utf8_is_refused_and_writes_nothing(world):
    event = await _paid_checkout_event(world)
    body = event_body(event).replace(b'"livemode": false', b'"livemode": "\xff\xfe"', 1)

    response = await world.post(body, signature_header(body))

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_signature"
    await _nothing_written(world, event)


async def test_refused_vector_then_valid_delivery_grants_once(world):
    event = await _paid_checkout_event(world)
    body = event_body(event)
    now = int(time.time())

    for vector in REJECTED.values():
        assert (await world.post(*vector(body, now))).status_code == 400
    accepted = await world.post(body, signature_header(body))
    retried = await world.post(body, signature_header(body))

    assert accepted.json()["outcome"] == "granted"
    assert retried.json()["outcome"] == "duplicate"
    assert len(await world.ledger("purchase")) == 1


def test_the_spec_documents_both_bounds_of_the_signature_time():
    spec = yaml.safe_load(SPEC_PATH.read_text())
    scheme = spec["components"]["securitySchemes"]["stripeSignature"]["description"]
    assert f"{SIGNATURE_TOLERANCE_SECONDS} s old" in scheme
    assert f"{SIGNATURE_FUTURE_SKEW_SECONDS} s ahead" in scheme
