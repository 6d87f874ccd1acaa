"""The fake Stripe refuses what Stripe refuses, with Stripe's codes, and loses nothing.

State refusals (refund of a disputed charge, dispute of a refunded one, ...) and request
params checked against Stripe's request schemas (unknown, missing, wrong type), as
stripe-mock does; each refusal leaves every stored object and event as it was.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from harness.fake_stripe import FakeStripe
from harness.fake_stripe.params import SCHEMA_FILE

from .test_fake_stripe_schema import form


@pytest.fixture
async def api(fake_stripe: FakeStripe) -> AsyncIterator[httpx.AsyncClient]:
    """Raw HTTP to the fake's `/v1` API with the secret key (the SDK sends only valid params)."""
    headers = {"Authorization": f"Bearer {fake_stripe.secret_key}"}
    async with httpx.AsyncClient(base_url=fake_stripe.url, headers=headers) as http:
        yield http


def snapshot(fake: FakeStripe) -> str:
    """Everything the fake stores, to show a refusal changed nothing."""
    state = fake.state
    return json.dumps([state.tables, state.line_items, state.payment_intent_data], sort_keys=True)


async def paid_intent(api: httpx.AsyncClient, amount: int = 3000) -> dict[str, Any]:
    params = {"amount": amount, "currency": "jpy", "payment_method": "pm_card_visa"}
    answer = await api.post("/v1/payment_intents", data=dict(form({**params, "confirm": True})))
    assert answer.status_code == 200, answer.text
    return answer.json()


def assert_refused(answer: httpx.Response, status: int, code: str | None, param=None) -> None:
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error.get("code") == code
    assert error.get("param") == param
    assert error["message"]


# -- state refusals ---------------------------------------------------------------------------


async def test_refund_of_a_disputed_charge_is_refused_with_charge_disputed(
    api, fake_stripe, harness_http
) -> None:
    intent = await paid_intent(api)
    assert (await harness_http.post(f"/_harness/payment_intents/{intent['id']}/dispute")).is_success
    before = snapshot(fake_stripe)

    by_intent = await api.post("/v1/refunds", data={"payment_intent": intent["id"]})
    by_charge = await api.post("/v1/refunds", data={"charge": intent["latest_charge"]})
    by_control = await harness_http.post(f"/_harness/payment_intents/{intent['id']}/refund")

    for answer in (by_intent, by_charge, by_control):
        assert_refused(answer, 400, "charge_disputed")
    assert snapshot(fake_stripe) == before


@pytest.mark.parametrize("refunded", ["fully", "fully in two refunds"])
async def test_dispute_of_a_fully_refunded_charge_is_refused(
    api, fake_stripe, harness_http, refunded
) -> None:
    intent = await paid_intent(api)
    amounts = [None] if refunded == "fully" else [1000, 2000]
    for amount in amounts:
        params = {"payment_intent": intent["id"], **({"amount": amount} if amount else {})}
        assert (await api.post("/v1/refunds", data=params)).status_code == 200
    before = snapshot(fake_stripe)

    answer = await harness_http.post(f"/_harness/payment_intents/{intent['id']}/dispute")

    assert_refused(answer, 400, "charge_already_refunded")
    assert snapshot(fake_stripe) == before


async def test_a_charge_is_disputed_once(api, fake_stripe, harness_http) -> None:
    intent = await paid_intent(api)
    url = f"/_harness/payment_intents/{intent['id']}/dispute"
    first = await harness_http.post(url)
    await harness_http.post(
        f"/_harness/disputes/{first.json()['id']}/close", json={"outcome": "won"}
    )
    before = snapshot(fake_stripe)

    assert_refused(await harness_http.post(url), 400, "charge_disputed")
    assert snapshot(fake_stripe) == before


async def test_a_partly_refunded_charge_can_still_be_disputed_for_the_rest(
    api, harness_http
) -> None:
    intent = await paid_intent(api)
    await api.post("/v1/refunds", data={"payment_intent": intent["id"], "amount": 1000})

    dispute = await harness_http.post(f"/_harness/payment_intents/{intent['id']}/dispute")

    assert dispute.status_code == 200
    assert dispute.json()["amount"] == 2000


async def test_refund_beyond_what_remains_is_amount_too_large(api, fake_stripe) -> None:
    intent = await paid_intent(api)
    await api.post("/v1/refunds", data={"payment_intent": intent["id"], "amount": 2000})
    before = snapshot(fake_stripe)

    answer = await api.post("/v1/refunds", data={"payment_intent": intent["id"], "amount": 1001})

    assert_refused(answer, 400, "amount_too_large", "amount")
    assert snapshot(fake_stripe) == before


async def test_refund_of_a_refunded_charge_is_charge_already_refunded(api, fake_stripe) -> None:
    intent = await paid_intent(api)
    await api.post("/v1/refunds", data={"payment_intent": intent["id"]})
    before = snapshot(fake_stripe)

    answer = await api.post("/v1/refunds", data={"charge": intent["latest_charge"]})

    assert_refused(answer, 400, "charge_already_refunded")
    assert snapshot(fake_stripe) == before


async def test_refund_of_an_unpaid_intent_is_charge_not_refundable(api, fake_stripe) -> None:
    created = await api.post("/v1/payment_intents", data={"amount": "500", "currency": "jpy"})
    before = snapshot(fake_stripe)

    answer = await api.post("/v1/refunds", data={"payment_intent": created.json()["id"]})

    assert_refused(answer, 400, "charge_not_refundable", "payment_intent")
    assert snapshot(fake_stripe) == before


@pytest.mark.parametrize("action", ["confirm", "cancel"])
async def test_confirm_or_cancel_of_a_finished_intent_is_unexpected_state(
    api, fake_stripe, action
) -> None:
    succeeded = await paid_intent(api)
    created = await api.post("/v1/payment_intents", data={"amount": "500", "currency": "jpy"})
    canceled = await api.post(f"/v1/payment_intents/{created.json()['id']}/cancel")
    before = snapshot(fake_stripe)

    for intent in (succeeded, canceled.json()):
        answer = await api.post(f"/v1/payment_intents/{intent['id']}/{action}")
        assert_refused(answer, 400, "payment_intent_unexpected_state")
    assert snapshot(fake_stripe) == before


async def test_expire_of_a_completed_session_is_refused(
    api, fake_stripe, harness_http, open_session
) -> None:
    await harness_http.post(f"/_harness/checkout/sessions/{open_session.id}/complete")
    before = snapshot(fake_stripe)

    answer = await api.post(f"/v1/checkout/sessions/{open_session.id}/expire")

    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert snapshot(fake_stripe) == before


# -- request params against Stripe's request schemas --------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "params", "code", "param"),
    [
        ("POST", "/v1/refunds", {"colour": "blue"}, "parameter_unknown", "colour"),
        (
            "POST",
            "/v1/checkout/sessions",
            {"mode": "payment", "success_url": "https://a.example/", "shipping[x]": "1"},
            "parameter_unknown",
            "shipping",
        ),
        ("POST", "/v1/payment_intents", {"amount": "500"}, "parameter_missing", "currency"),
        (
            "POST",
            "/v1/payment_intents",
            {"amount": "lots", "currency": "jpy"},
            "parameter_invalid_integer",
            "amount",
        ),
        (
            "POST",
            "/v1/webhook_endpoints",
            {"url": "https://a.example/"},
            "parameter_missing",
            "enabled_events",
        ),
        ("POST", "/v1/refunds", {"reason": "bored"}, None, "reason"),
        (
            "POST",
            "/v1/payment_intents",
            {"amount": "1", "currency": "jpy", "confirm": "maybe"},
            None,
            "confirm",
        ),
        ("POST", "/v1/refunds", {"amount[x]": "1"}, "parameter_invalid_integer", "amount"),
        ("GET", "/v1/charges", {"colour": "blue"}, "parameter_unknown", "colour"),
        (
            "GET",
            "/v1/payment_intents/pi_unknown",
            {"colour": "blue"},
            "parameter_unknown",
            "colour",
        ),
        ("GET", "/v1/events", {"limit": "ten"}, "parameter_invalid_integer", "limit"),
    ],
)
async def test_params_stripe_refuses_are_refused_before_anything_happens(
    api, fake_stripe, method, path, params, code, param
) -> None:
    before = snapshot(fake_stripe)

    if method == "GET":
        answer = await api.get(path, params=params)
    else:
        answer = await api.post(path, data=params)

    assert_refused(answer, 400, code, param)
    assert snapshot(fake_stripe) == before


async def test_a_refused_request_stores_no_idempotent_result(api) -> None:
    key = {"Idempotency-Key": "retry-after-a-typo"}
    refused = await api.post(
        "/v1/payment_intents", data={"amount": "5OO", "currency": "jpy"}, headers=key
    )
    fixed = await api.post(
        "/v1/payment_intents", data={"amount": "500", "currency": "jpy"}, headers=key
    )

    assert refused.status_code == 400
    assert fixed.status_code == 200
    assert fixed.json()["amount"] == 500


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    schemas = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return [(*key.split(" ", 1), schema) for key, schema in schemas.items()]


def _wrong(schema: dict[str, Any]) -> tuple[str, str, str | None] | None:
    """A form value of the wrong type for `schema`, its key suffix and Stripe's code."""
    kind = schema.get("type")
    if kind == "integer":
        return "", "x", "parameter_invalid_integer"
    if kind == "boolean":
        return "", "x", None
    if kind == "string" and "enum" not in schema:
        return "[nested]", "x", None
    return None


@pytest.mark.parametrize(
    ("method", "template", "schema"), _operations(), ids=[f"{m} {t}" for m, t, _ in _operations()]
)
async def test_every_param_of_every_operation_refuses_an_unknown_sibling_and_a_wrong_type(
    api, fake_stripe, method, template, schema
) -> None:
    """Full enumeration of the top-level params the spec gives each route the fake serves."""
    path = template.replace("{", "x_").replace("}", "")

    async def call(params: dict[str, str]) -> httpx.Response:
        if method == "GET":
            return await api.get(path, params=params)
        return await api.request(method, path, data=params)

    answer = await call({"no_such_param": "1"})
    assert_refused(answer, 400, "parameter_unknown", "no_such_param")
    for name, sub in schema["properties"].items():
        wrong = _wrong(sub)
        if wrong is None or name == "client_secret":  # checked against its intent, with the key
            continue
        suffix, value, code = wrong
        answer = await call({f"{name}{suffix}": value})
        assert answer.status_code == 400, (name, answer.text)
        assert answer.json()["error"]["param"] == name, (name, answer.text)
        assert answer.json()["error"].get("code") == code, (name, answer.text)
    assert "payment_intent" not in fake_stripe.state.tables


async def test_params_the_pinned_sdk_knows_and_the_spec_lacks_pass(
    stripe_client, open_session
) -> None:
    """The spec lags the SDK: `status` on the Checkout Sessions list is in the SDK only."""
    listed = await stripe_client.v1.checkout.sessions.list_async(params={"status": "open"})

    assert [s.id for s in listed.data] == [open_session.id]


async def test_a_body_that_is_not_utf8_is_a_400_that_changes_nothing(api, fake_stripe) -> None:
    before = snapshot(fake_stripe)

    answer = await api.post(
        "/v1/payment_intents",
        content=b"amount=500&currency=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert_refused(answer, 400, None)
    assert snapshot(fake_stripe) == before


async def test_stripe_js_key_param_is_a_credential_not_an_unknown_param(api) -> None:
    answer = await api.get("/v1/payment_intents/pi_missing", params={"key": "pk_test_harness"})

    assert answer.json()["error"].get("code") == "resource_missing", answer.text
