"""Every answer and every event of the fake Stripe passes Stripe's own OpenAPI schema.

One scenario drives every `/v1` route the fake serves (create, retrieve, list, expand,
expire, confirm, capture, cancel, refund, dispute, events, webhook endpoints, the products,
prices and customers of `stripe trigger`'s fixtures, errors; all but the routes the spec leaves
out, `UNPUBLISHED` in `tests/support/stripe_openapi.py`) and records each answer; each is then validated against the response schema `spec3.json` gives that operation
and status, and each event's `data.object` against its object's schema. Needs Stripe's spec
(`../shared/vendor/stripe-openapi/`, or `$STRIPE_OPENAPI_DIR`).
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import tempfile
from typing import Any

import httpx
import pytest

from harness.fake_stripe import FakeStripe
from harness.fake_stripe.journal import put_line
from harness.fake_stripe.params import SCHEMA_FILE
from harness.fake_stripe.state import STATE_FILE, StripeState
from tests.support.stripe_openapi import (
    component_validator,
    load_fixtures,
    params_file_text,
    request_schemas,
    response_validator,
    served_operations,
    spec_dir,
    spec_path,
    violations,
)

from .conftest import session_params

pytestmark = pytest.mark.skipif(spec_dir() is None, reason="Stripe's spec3.json is not here")

# Label -> what the scenario asks: the answer to each is validated.
ROUTES = (
    "create webhook_endpoint",
    "retrieve webhook_endpoint",
    "update webhook_endpoint",
    "list webhook_endpoints",
    "delete webhook_endpoint",
    "create checkout.session",
    "create checkout.session expand line_items",
    "retrieve checkout.session",
    "retrieve checkout.session expand line_items,payment_intent",
    "list checkout.sessions",
    "list checkout.sessions expand data.payment_intent",
    "list line_items",
    "expire checkout.session",
    "retrieve paid checkout.session",
    "create payment_intent",
    "create payment_intent confirm",
    "confirm payment_intent",
    "confirm payment_intent declined",
    "retrieve declined payment_intent",
    "cancel payment_intent",
    "retrieve payment_intent expand latest_charge",
    "list payment_intents",
    "create refund partial",
    "create refund rest by charge",
    "retrieve refund",
    "list refunds",
    "retrieve charge",
    "list charges",
    "retrieve dispute",
    "list disputes",
    "retrieve event",
    "list events",
    "error resource_missing",
    "error parameter_unknown",
    "error unknown route",
    "error authentication",
    "error payment_intent_unexpected_state",
)
ROUTES += ("create payment_method", "retrieve payment_method", "list payment_methods")
# What `stripe trigger`'s fixtures call (the Stripe CLI against the fake).
ROUTES += (
    "create product",
    "retrieve product",
    "list products",
    "create price",
    "retrieve price",
    "list prices",
    "create customer",
    "update customer",
    "retrieve customer",
    "list customers",
    "attach payment_method",
    "fund_cash_balance customer",
    "create payment_intent manual capture",
    "capture payment_intent",
    "update refund",
    "update dispute",
    "close dispute",
)

EVENT_TYPES = (
    "checkout.session.completed",
    "checkout.session.expired",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "charge.succeeded",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
    "charge.dispute.closed",
    # what the calls of `stripe trigger`'s fixtures emit besides
    "payment_intent.created",
    "payment_intent.amount_capturable_updated",
    "charge.captured",
    "charge.failed",
    "charge.refund.updated",
    "refund.updated",
    "charge.dispute.updated",
)


def form(params: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding of nested params (`a[b][0][c]=x`), as the SDK sends them."""
    pairs: list[tuple[str, str]] = []
    items = params.items() if isinstance(params, dict) else enumerate(params)
    for key, value in items:
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict | list):
            pairs += form(value, name)  # type: ignore[arg-type]
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        else:
            pairs.append((name, str(value)))
    return pairs


class Scenario:
    """Drives the fake over HTTP and records `(method, path, status, body)` per label."""

    def __init__(self, fake: FakeStripe, http: httpx.AsyncClient) -> None:
        self.fake, self.http = fake, http
        self.answers: dict[str, tuple[str, str, int, Any]] = {}

    async def call(
        self, label: str, method: str, path: str, params: dict[str, Any] | None = None, **kw: Any
    ) -> Any:
        data = form(params or {})
        if method == "GET":
            response = await self.http.get(path, params=data, **kw)
        else:
            response = await self.http.request(method, path, data=dict(data) or None, **kw)
        self.answers[label] = (method, path, response.status_code, response.json())
        return response.json()

    async def control(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self.http.post(path, json=body or {})
        assert response.status_code == 200, response.text
        return response.json()


async def _drive(data_dir: pathlib.Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    fake = FakeStripe(data_dir=data_dir, retry_delays=(0.05,))
    await fake.start()
    headers = {"Authorization": f"Bearer {fake.secret_key}"}
    try:
        async with httpx.AsyncClient(base_url=fake.url, headers=headers) as http:
            run = Scenario(fake, http)
            await _webhook_endpoints(run)
            await _checkout_sessions(run)
            await _payment_intents(run)
            await _money_back(run)
            await _errors(run)
            await _payment_methods(run)
            await _cli_fixtures(run)
            events = await _all_events(run)
        await fake.drain()
    finally:
        await fake.stop()
    return run.answers, events


async def _webhook_endpoints(run: Scenario) -> None:
    params = {"url": "https://shop.example/hook", "enabled_events": ["charge.succeeded"]}
    endpoint = await run.call("create webhook_endpoint", "POST", "/v1/webhook_endpoints", params)
    path = f"/v1/webhook_endpoints/{endpoint['id']}"
    await run.call("retrieve webhook_endpoint", "GET", path)
    await run.call("update webhook_endpoint", "POST", path, {"disabled": True})
    await run.call("list webhook_endpoints", "GET", "/v1/webhook_endpoints")
    await run.call("delete webhook_endpoint", "DELETE", path)


async def _checkout_sessions(run: Scenario) -> None:
    url = "/v1/checkout/sessions"
    first = await run.call("create checkout.session", "POST", url, session_params())
    await run.call(
        "create checkout.session expand line_items",
        "POST",
        url,
        {**session_params(), "expand": ["line_items"]},
    )
    await run.call("retrieve checkout.session", "GET", f"{url}/{first['id']}")
    await run.call("list line_items", "GET", f"{url}/{first['id']}/line_items")
    await run.call("expire checkout.session", "POST", f"{url}/{first['id']}/expire")

    paid = await run.call("create paid session", "POST", url, session_params())
    await run.control(f"/_harness/checkout/sessions/{paid['id']}/complete", {"outcome": "declined"})
    await run.control(f"/_harness/checkout/sessions/{paid['id']}/complete", {"outcome": "paid"})
    await run.call("retrieve paid checkout.session", "GET", f"{url}/{paid['id']}")
    await run.call(
        "retrieve checkout.session expand line_items,payment_intent",
        "GET",
        f"{url}/{paid['id']}",
        {"expand": ["line_items", "payment_intent"]},
    )
    await run.call("list checkout.sessions", "GET", url)
    await run.call(
        "list checkout.sessions expand data.payment_intent",
        "GET",
        url,
        {"expand": ["data.payment_intent"]},
    )


async def _payment_intents(run: Scenario) -> None:
    url = "/v1/payment_intents"
    base = {"amount": 2000, "currency": "jpy", "metadata": {"user_id": "42"}}
    intent = await run.call("create payment_intent", "POST", url, base)
    await run.call(
        "create payment_intent confirm",
        "POST",
        url,
        {**base, "payment_method": "pm_card_visa", "confirm": True},
    )
    await run.call(
        "confirm payment_intent declined",
        "POST",
        f"{url}/{intent['id']}/confirm",
        {"payment_method": "pm_card_chargeDeclined"},
    )
    await run.call("retrieve declined payment_intent", "GET", f"{url}/{intent['id']}")
    await run.call(
        "confirm payment_intent",
        "POST",
        f"{url}/{intent['id']}/confirm",
        {"payment_method": "pm_card_visa"},
    )
    await run.call(
        "retrieve payment_intent expand latest_charge",
        "GET",
        f"{url}/{intent['id']}",
        {"expand": ["latest_charge"]},
    )
    other = await run.call("create payment_intent to cancel", "POST", url, base)
    await run.call(
        "cancel payment_intent",
        "POST",
        f"{url}/{other['id']}/cancel",
        {"cancellation_reason": "abandoned"},
    )
    await run.call("list payment_intents", "GET", url)


async def _money_back(run: Scenario) -> None:
    intents = (await run.http.get("/v1/payment_intents")).json()["data"]
    refunded, disputed, won = [i for i in intents if i["status"] == "succeeded"][:3]
    refund = await run.call(
        "create refund partial",
        "POST",
        "/v1/refunds",
        {"payment_intent": refunded["id"], "amount": 500, "reason": "requested_by_customer"},
    )
    await run.call(
        "create refund rest by charge", "POST", "/v1/refunds", {"charge": refunded["latest_charge"]}
    )
    await run.call("retrieve refund", "GET", f"/v1/refunds/{refund['id']}")
    await run.call("list refunds", "GET", "/v1/refunds")
    await run.call("retrieve charge", "GET", f"/v1/charges/{refunded['latest_charge']}")
    await run.call("list charges", "GET", "/v1/charges")
    lost = await run.control(f"/_harness/payment_intents/{disputed['id']}/dispute")
    await run.control(f"/_harness/disputes/{lost['id']}/close", {"outcome": "lost"})
    kept = await run.control(f"/_harness/payment_intents/{won['id']}/dispute")
    await run.control(f"/_harness/disputes/{kept['id']}/close", {"outcome": "won"})
    await run.call("retrieve dispute", "GET", f"/v1/disputes/{lost['id']}")
    await run.call("list disputes", "GET", "/v1/disputes")


async def _payment_methods(run: Scenario) -> None:
    card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}
    method = await run.call(
        "create payment_method", "POST", "/v1/payment_methods", {"type": "card", "card": card}
    )
    await run.call("retrieve payment_method", "GET", f"/v1/payment_methods/{method['id']}")
    await run.call("list payment_methods", "GET", "/v1/payment_methods")


async def _cli_fixtures(run: Scenario) -> None:
    """The calls `stripe trigger`'s fixtures make beyond a plain payment."""
    product = await run.call("create product", "POST", "/v1/products", {"name": "Starter"})
    await run.call("retrieve product", "GET", f"/v1/products/{product['id']}")
    await run.call("list products", "GET", "/v1/products")
    price_params = {"product": product["id"], "unit_amount": 1500, "currency": "jpy"}
    price = await run.call("create price", "POST", "/v1/prices", price_params)
    await run.call("retrieve price", "GET", f"/v1/prices/{price['id']}")
    await run.call("list prices", "GET", "/v1/prices", {"product": product["id"]})
    customer = await run.call(
        "create customer", "POST", "/v1/customers", {"email": "buyer@example.com"}
    )
    path = f"/v1/customers/{customer['id']}"
    await run.call("update customer", "POST", path, {"name": "Buyer", "metadata": {"k": "v"}})
    await run.call("retrieve customer", "GET", path)
    await run.call("list customers", "GET", "/v1/customers")
    await run.call(
        "attach payment_method",
        "POST",
        "/v1/payment_methods/pm_card_visa/attach",
        {"customer": customer["id"]},
    )
    await run.call(
        "fund_cash_balance customer",
        "POST",
        f"/v1/test_helpers/customers/{customer['id']}/fund_cash_balance",
        {"amount": 1000, "currency": "jpy"},
    )
    held = await run.call(
        "create payment_intent manual capture",
        "POST",
        "/v1/payment_intents",
        {
            "amount": 2000,
            "currency": "jpy",
            "payment_method": "pm_card_visa",
            "capture_method": "manual",
            "confirm": True,
        },
    )
    await run.call(
        "capture payment_intent",
        "POST",
        f"/v1/payment_intents/{held['id']}/capture",
        {"amount_to_capture": 1500},
    )
    refund = await run.call(
        "refund captured", "POST", "/v1/refunds", {"payment_intent": held["id"]}
    )
    await run.call("update refund", "POST", f"/v1/refunds/{refund['id']}", {"metadata": {"k": "v"}})
    disputed = await run.call(
        "create payment_intent disputed",
        "POST",
        "/v1/payment_intents",
        {
            "amount": 2000,
            "currency": "jpy",
            "payment_method": "pm_card_createDispute",
            "confirm": True,
        },
    )
    listed = (await run.http.get("/v1/disputes", params={"payment_intent": disputed["id"]})).json()
    dispute = listed["data"][0]["id"]
    await run.call("update dispute", "POST", f"/v1/disputes/{dispute}", {"metadata": {"k": "v"}})
    await run.call("close dispute", "POST", f"/v1/disputes/{dispute}/close")


async def _errors(run: Scenario) -> None:
    await run.call("error resource_missing", "GET", "/v1/payment_intents/pi_missing")
    await run.call("error parameter_unknown", "POST", "/v1/refunds", {"colour": "blue"})
    await run.call("error unknown route", "GET", "/v1/payment_intents/pi_1/nowhere")
    await run.call(
        "error authentication",
        "GET",
        "/v1/charges",
        headers={"Authorization": "Bearer sk_test_wrong"},
    )
    intents = (await run.http.get("/v1/payment_intents", params={"limit": 100})).json()["data"]
    succeeded = next(i for i in intents if i["status"] == "succeeded")
    await run.call(
        "error payment_intent_unexpected_state",
        "POST",
        f"/v1/payment_intents/{succeeded['id']}/confirm",
        {"payment_method": "pm_card_visa"},
    )


async def _all_events(run: Scenario) -> list[dict[str, Any]]:
    first = await run.call("list events", "GET", "/v1/events", {"limit": 100})
    assert first["has_more"] is False
    await run.call("retrieve event", "GET", f"/v1/events/{first['data'][0]['id']}")
    return first["data"]


@pytest.fixture(scope="module")
def recorded() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The scenario's answers by label, and every event the fake emitted."""
    with tempfile.TemporaryDirectory() as data_dir:
        return asyncio.run(_drive(pathlib.Path(data_dir)))


@pytest.mark.parametrize("label", ROUTES)
def test_answer_passes_stripes_schema(recorded, label: str) -> None:
    answers, _ = recorded
    method, path, status, body = answers[label]
    unfixed = violations(response_validator(path, method, status), body)
    assert unfixed == [], f"{method} {path} -> {status}"


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_event_and_its_object_pass_stripes_schema(recorded, event_type: str) -> None:
    _, events = recorded
    sent = [e for e in events if e["type"] == event_type]
    assert sent, f"the scenario sent no {event_type}"
    for event in sent:
        assert violations(component_validator("event"), event) == []
        obj = event["data"]["object"]
        assert violations(component_validator(obj["object"]), obj) == []


def test_every_route_the_fake_serves_is_driven(recorded) -> None:
    answers, _ = recorded
    asked = [answer for label, answer in answers.items() if label != "error unknown route"]
    driven = {(method, spec_path(path, method)) for method, path, *_ in asked}
    assert set(served_operations()) - driven == set()


# Fields Stripe leaves out unless expanded (`charge.refunds` since API version 2022-11-15).
OMITTED = {"charge": {"refunds"}}


def _objects(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [obj for item in node for obj in _objects(item)]
    if not isinstance(node, dict):
        return []
    inner = [obj for value in node.values() for obj in _objects(value)]
    return ([node] if "id" in node and isinstance(node.get("object"), str) else []) + inner


def test_objects_have_every_field_of_stripes_example_object(recorded) -> None:
    answers, events = recorded
    found = _objects([body for *_, body in answers.values()] + events)
    found = [obj for obj in found if not obj.get("deleted")]
    fixtures = load_fixtures()
    missing = {
        (obj["object"], field)
        for obj in found
        if obj["object"] in fixtures
        for field in set(fixtures[obj["object"]]) - set(obj) - OMITTED.get(obj["object"], set())
    }
    assert {obj["object"] for obj in found} >= {"checkout.session", "item", "price", "dispute"}
    assert missing == set()


def test_objects_stored_by_an_older_fake_load_in_stripes_shape(tmp_path) -> None:
    """A journal written before the defaults existed (no `automatic_tax`, a bare price)."""
    session = {"id": "cs_test_old", "object": "checkout.session", "created": 1, "livemode": False}
    session |= {"expires_at": 2, "mode": "payment", "payment_method_types": ["card"]}
    session |= {"payment_status": "unpaid", "success_url": "https://a.example/", "status": "open"}
    price = {"id": "price_old", "object": "price", "active": True, "currency": "jpy"}
    price |= {"created": 1, "livemode": False, "product": "prod_old", "type": "one_time"}
    price |= {"unit_amount": 1500}
    item = {"id": "li_old", "object": "item", "amount_discount": 0, "amount_subtotal": 1500}
    item |= {"amount_tax": 0, "amount_total": 1500, "currency": "jpy", "description": "x"}
    item |= {"price": price, "quantity": 1}
    lines = [
        put_line("tables/checkout.session", session["id"], json.dumps(session)),
        put_line("line_items", session["id"], json.dumps([item])),
    ]
    (tmp_path / STATE_FILE).write_text("".join(lines), encoding="utf-8")

    state = StripeState(tmp_path)

    loaded = state.tables["checkout.session"]["cs_test_old"]
    assert violations(component_validator("checkout.session"), loaded) == []
    assert violations(component_validator("item"), state.line_items["cs_test_old"][0]) == []
    assert loaded["automatic_tax"] == {
        "enabled": False,
        "liability": None,
        "provider": None,
        "status": None,
    }


def test_the_vendored_request_schemas_are_stripes() -> None:
    """`stripe_params.json` is what `python -m tests.support.stripe_openapi` extracts from
    spec3.json for the routes the fake serves (rerun it after adding a route)."""
    expected = params_file_text(request_schemas(served_operations()))
    assert SCHEMA_FILE.read_text(encoding="utf-8") == expected
