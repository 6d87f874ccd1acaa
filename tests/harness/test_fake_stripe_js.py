"""What the fake Stripe.js calls: the publishable key's few endpoints, test cards, 3-D Secure.

These drive the fake over HTTP as Stripe.js does (form bodies with `key=pk_...` and the
intent's `client_secret`); `test_fake_stripe_js_browser.py` runs the script itself.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.fake_stripe import FakeStripe, payment_methods
from harness.fake_stripe.errors import StripeError
from harness.fake_stripe.payment_methods import TEST_CARDS
from harness.fake_stripe.state import StripeState

VISA, DECLINED, THREE_D_SECURE = "4242424242424242", "4000000000000002", "4000002500003155"


@pytest.fixture
def browser(fake_stripe: FakeStripe, harness_http: httpx.AsyncClient):
    """Calls as Stripe.js makes them: the publishable key in a `key` param, no Authorization."""

    async def call(method: str, path: str, **params: Any) -> httpx.Response:
        params["key"] = params.get("key", fake_stripe.publishable_key)
        if method == "GET":
            return await harness_http.get(path, params=params)
        return await harness_http.post(path, data=params)

    return call


def card(number: str = VISA, **overrides: str) -> dict[str, str]:
    fields = {"type": "card", "card[number]": number, "card[exp_month]": "12"}
    fields.update({"card[exp_year]": "2040", "card[cvc]": "123"})
    fields.update(overrides)
    return fields


@pytest.fixture
async def intent(stripe_client) -> dict[str, Any]:
    """A ¥3,000 PaymentIntent the service made (secret key), awaiting a payment method."""
    created = await stripe_client.v1.payment_intents.create_async(
        params={"amount": 3000, "currency": "jpy", "metadata": {"user_id": "42"}}
    )
    return created.to_dict()


async def payment_method(browser, number: str) -> str:
    answer = await browser("POST", "/v1/payment_methods", **card(number))
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


async def confirm(browser, intent: dict[str, Any], number: str, **extra: str) -> httpx.Response:
    method = await payment_method(browser, number)
    return await browser(
        "POST",
        f"/v1/payment_intents/{intent['id']}/confirm",
        client_secret=intent["client_secret"],
        payment_method=method,
        **extra,
    )


# The fake's tables, read by object name: what it stored, oldest first.
def table(state: StripeState, kind: str) -> dict[str, Any]:
    return dict(state.tables.get(kind, {}))


def stored(fake_stripe: FakeStripe, intent: dict[str, Any]) -> dict[str, Any]:
    return table(fake_stripe.state, "payment_intent")[intent["id"]]


def event_types(fake_stripe: FakeStripe, intent: dict[str, Any]) -> list[str]:
    """The intent's events since it was made (the `intent` fixture's payment_intent.created
    is the service's doing, not Stripe.js's)."""
    events = table(fake_stripe.state, "event").values()
    types = [e["type"] for e in events if e["data"]["object"]["id"] == intent["id"]]
    assert types[:1] == ["payment_intent.created"]
    return types[1:]


# -- the script --------------------------------------------------------------------------------


async def test_v3_serves_the_script_that_defines_stripe(harness_http) -> None:
    for path in ("/v3/", "/v3"):
        answer = await harness_http.get(path)

        assert answer.status_code == 200
        assert answer.headers["Content-Type"].startswith("application/javascript")
        assert "window.Stripe = Stripe" in answer.text


# -- PaymentMethods from test cards -------------------------------------------------------------


async def test_a_test_card_becomes_a_payment_method_that_keeps_no_card_number(
    browser, fake_stripe: FakeStripe, stripe_client, tmp_path
) -> None:
    answer = await browser("POST", "/v1/payment_methods", **card(VISA))

    method = answer.json()
    assert answer.status_code == 200
    assert method["id"].startswith("pm_") and method["object"] == "payment_method"
    assert {k: method["card"][k] for k in ("brand", "last4", "exp_month", "exp_year")} == {
        "brand": "visa",
        "last4": "4242",
        "exp_month": 12,
        "exp_year": 2040,
    }
    again = (await browser("POST", "/v1/payment_methods", **card(VISA))).json()
    assert again["card"]["fingerprint"] == method["card"]["fingerprint"]
    assert again["id"] != method["id"]
    assert VISA not in str(table(fake_stripe.state, "payment_method"))
    assert VISA not in (tmp_path / "fake-stripe.jsonl").read_text()  # the fake's journal
    retrieved = await stripe_client.raw_request_async("get", f"/v1/payment_methods/{method['id']}")
    assert stripe_client.deserialize(retrieved, api_mode="V1").id == method["id"]
    assert answer.headers["Access-Control-Allow-Origin"] == "*"


BAD_CARDS = [
    ({"type": ""}, 400, None, "type"),
    ({"type": "alipay"}, 400, None, "type"),
    ({"card[number]": ""}, 400, "parameter_missing", "card[number]"),
    ({"card[number]": "4242424242424241"}, 402, "incorrect_number", "card[number]"),
    ({"card[number]": "4242 4242 4242 4242"}, 402, "incorrect_number", "card[number]"),
    ({"card[number]": "4916338506082832"}, 402, "card_declined", "card[number]"),
    ({"card[exp_month]": ""}, 400, "parameter_missing", "card[exp_month]"),
    ({"card[exp_month]": "13"}, 402, "invalid_expiry_month", "card[exp_month]"),
    (
        {"card[exp_month]": "1", "card[exp_year]": "2020"},
        402,
        "invalid_expiry_year",
        "card[exp_year]",
    ),
    ({"card[exp_year]": "20x0"}, 400, "parameter_invalid_integer", "card[exp_year]"),
    ({"card[cvc]": "12"}, 402, "invalid_cvc", "card[cvc]"),
    ({"card[cvc]": "１２３"}, 402, "invalid_cvc", "card[cvc]"),
    ({"card[number][x]": "1"}, 400, None, "card[number]"),
    ({"colour": "red"}, 400, "parameter_unknown", "colour"),
]


@pytest.mark.parametrize(("change", "status", "code", "param"), BAD_CARDS)
async def test_bad_card_details_get_stripes_error_and_store_nothing(
    browser, fake_stripe: FakeStripe, change: dict[str, str], status: int, code, param: str
) -> None:
    """Stripe first reads the params by its request schema, then the card: a missing, unknown
    or mistyped param (`card[exp_year]=20x0` is no integer: the spec types it `integer`) is a
    400 `invalid_request_error` with `parameter_missing`, `parameter_unknown` or
    `parameter_invalid_integer`; only details of the right type that no card can have
    (`exp_month=13`, a bad Luhn sum, a short CVC) are a 402 `card_error`."""
    fields = card()
    if "card[number][x]" in change:
        del fields["card[number]"]
    fields.update(change)

    answer = await browser("POST", "/v1/payment_methods", **fields)

    error = answer.json()["error"]
    assert answer.status_code == status, answer.text
    assert error["type"] == ("card_error" if status == 402 else "invalid_request_error")
    assert (error.get("code"), error["param"]) == (code, param)
    assert error["message"]
    assert len(table(fake_stripe.state, "payment_method")) == 0


# -- what the publishable key may do ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/payment_intents"),
        ("GET", "/v1/payment_intents"),
        ("POST", "/v1/checkout/sessions"),
        ("GET", "/v1/events"),
        ("POST", "/v1/refunds"),
    ],
)
async def test_the_publishable_key_cannot_make_server_calls(
    browser, fake_stripe: FakeStripe, method: str, path: str
) -> None:
    answer = await browser(method, path, amount="100", currency="jpy")

    assert answer.status_code == 401
    assert "cannot be made with a publishable API key" in answer.json()["error"]["message"]
    assert len(table(fake_stripe.state, "payment_intent")) == 0


async def test_another_publishable_key_is_refused(browser) -> None:
    answer = await browser("POST", "/v1/payment_methods", key="pk_test_other", **card())

    assert answer.status_code == 401
    assert "Invalid API Key provided" in answer.json()["error"]["message"]
    assert "pk_test_other" not in answer.text


@pytest.mark.parametrize(("secret", "status"), [(None, 400), ("pi_x_secret_y", 400), ("", 400)])
async def test_the_intent_needs_its_own_client_secret(
    browser, fake_stripe: FakeStripe, intent, secret, status: int
) -> None:
    params = {} if secret is None else {"client_secret": secret}
    method = await payment_method(browser, VISA)

    read = await browser("GET", f"/v1/payment_intents/{intent['id']}", **params)
    confirmed = await browser(
        "POST", f"/v1/payment_intents/{intent['id']}/confirm", payment_method=method, **params
    )

    for answer in (read, confirmed):
        assert answer.status_code == status
        assert answer.json()["error"]["param"] == "client_secret"
    assert stored(fake_stripe, intent)["status"] == "requires_payment_method"
    assert event_types(fake_stripe, intent) == []


async def test_a_wrong_client_secret_is_refused_with_the_secret_key_too(
    stripe_client, fake_stripe: FakeStripe, intent
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        await stripe_client.v1.payment_intents.confirm_async(
            intent["id"],
            params={"payment_method": "pm_card_visa", "client_secret": "pi_x_secret_y"},  # type: ignore[typeddict-unknown-key]
        )

    assert refused.value.http_status == 400
    assert stored(fake_stripe, intent)["status"] == "requires_payment_method"


async def test_an_unknown_intent_is_404_for_the_browser(browser) -> None:
    answer = await browser("GET", "/v1/payment_intents/pi_nope", client_secret="pi_nope_secret_x")

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "resource_missing"


async def test_the_browser_reads_its_intent_with_the_client_secret(browser, intent) -> None:
    answer = await browser(
        "GET", f"/v1/payment_intents/{intent['id']}", client_secret=intent["client_secret"]
    )

    assert answer.status_code == 200
    assert answer.json()["status"] == "requires_payment_method"
    assert answer.headers["Access-Control-Allow-Origin"] == "*"


# -- confirming with test cards -----------------------------------------------------------------


async def test_4242_pays(browser, fake_stripe: FakeStripe, intent) -> None:
    answer = await confirm(browser, intent, VISA)

    assert answer.status_code == 200
    assert answer.json()["status"] == "succeeded"
    assert stored(fake_stripe, intent)["latest_charge"]
    assert event_types(fake_stripe, intent) == ["payment_intent.succeeded"]


async def test_0002_is_declined_and_can_be_paid_again(
    browser, fake_stripe: FakeStripe, intent
) -> None:
    declined = await confirm(browser, intent, DECLINED)

    error = declined.json()["error"]
    assert declined.status_code == 402
    assert (error["type"], error["code"], error["decline_code"]) == (
        "card_error",
        "card_declined",
        "generic_decline",
    )
    assert error["payment_intent"]["status"] == "requires_payment_method"
    assert declined.headers["Access-Control-Allow-Origin"] == "*"

    paid = await confirm(browser, intent, VISA)

    assert paid.json()["status"] == "succeeded"
    assert event_types(fake_stripe, intent) == [
        "payment_intent.payment_failed",
        "payment_intent.succeeded",
    ]


async def test_3155_requires_action_with_the_authentication_page(
    browser, fake_stripe: FakeStripe, intent
) -> None:
    answer = await confirm(browser, intent, THREE_D_SECURE)

    body = answer.json()
    assert (answer.status_code, body["status"]) == (200, "requires_action")
    assert body["next_action"]["type"] == "use_stripe_sdk"
    url = body["next_action"]["use_stripe_sdk"]["stripe_js"]
    assert url == (
        f"{fake_stripe.url}/v3/authenticate/{intent['id']}?client_secret={intent['client_secret']}"
    )
    assert stored(fake_stripe, intent)["latest_charge"] is None
    assert event_types(fake_stripe, intent) == ["payment_intent.requires_action"]


async def test_the_test_payment_method_for_3_d_secure_requires_action(
    stripe_client, intent
) -> None:
    confirmed = await stripe_client.v1.payment_intents.confirm_async(
        intent["id"],
        params={
            "payment_method": "pm_card_authenticationRequired",
            "return_url": "https://shop.example/back",
        },
    )

    assert confirmed.status == "requires_action"
    assert confirmed.next_action.type == "redirect_to_url"
    assert confirmed.next_action.redirect_to_url.return_url == "https://shop.example/back"


async def authenticate(harness_http, intent: dict[str, Any], action: str, **form: str):
    return await harness_http.post(
        f"/v3/authenticate/{intent['id']}",
        data={"client_secret": intent["client_secret"], "action": action, **form},
    )


async def test_completing_authentication_pays_once(
    browser, harness_http, fake_stripe: FakeStripe, intent
) -> None:
    await confirm(browser, intent, THREE_D_SECURE)
    page = await harness_http.get(
        f"/v3/authenticate/{intent['id']}", params={"client_secret": intent["client_secret"]}
    )
    assert 'id="authenticate-complete"' in page.text and 'id="authenticate-fail"' in page.text

    done = await authenticate(harness_http, intent, "complete", frame="1")
    again = await authenticate(harness_http, intent, "complete", frame="1")

    assert done.status_code == 200
    assert "fake-stripe-3ds-complete" in done.text
    assert again.status_code == 400
    assert stored(fake_stripe, intent)["status"] == "succeeded"
    assert len(table(fake_stripe.state, "charge")) == 1
    assert event_types(fake_stripe, intent) == [
        "payment_intent.requires_action",
        "payment_intent.succeeded",
    ]


async def test_failing_authentication_leaves_the_intent_for_another_card(
    browser, harness_http, fake_stripe: FakeStripe, intent
) -> None:
    await confirm(browser, intent, THREE_D_SECURE)

    await authenticate(harness_http, intent, "fail", frame="1")

    read = await browser(
        "GET", f"/v1/payment_intents/{intent['id']}", client_secret=intent["client_secret"]
    )
    body = read.json()
    assert body["status"] == "requires_payment_method"
    assert body["next_action"] is None
    assert body["last_payment_error"]["code"] == "payment_intent_authentication_failure"
    assert len(table(fake_stripe.state, "charge")) == 0
    assert (await confirm(browser, intent, VISA)).json()["status"] == "succeeded"


async def test_a_redirected_customer_returns_to_the_return_url(
    browser, harness_http, intent
) -> None:
    await confirm(browser, intent, THREE_D_SECURE, return_url="https://shop.example/back?x=1")

    back = await authenticate(harness_http, intent, "complete")

    assert back.status_code == 303
    target = urlsplit(back.headers["Location"])
    assert (target.netloc, target.path) == ("shop.example", "/back")
    assert parse_qs(target.query) == {
        "x": ["1"],
        "payment_intent": [intent["id"]],
        "payment_intent_client_secret": [intent["client_secret"]],
        "redirect_status": ["succeeded"],
    }


@pytest.mark.parametrize(
    "form",
    [
        {"client_secret": "pi_x_secret_y", "action": "complete"},
        {"action": "complete"},
        {"client_secret": "", "action": "complete"},
    ],
)
async def test_the_authentication_page_needs_the_intents_secret(
    browser, harness_http, fake_stripe: FakeStripe, intent, form: dict[str, str]
) -> None:
    await confirm(browser, intent, THREE_D_SECURE)

    shown = await harness_http.get(f"/v3/authenticate/{intent['id']}", params=form)
    posted = await harness_http.post(f"/v3/authenticate/{intent['id']}", data=form)

    assert (shown.status_code, posted.status_code) == (404, 404)
    assert stored(fake_stripe, intent)["status"] == "requires_action"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"client_secret=\xff\xfe&action=complete", "application/x-www-form-urlencoded"),
        (b"\x00\x01garbage", "multipart/form-data; boundary=zz"),
    ],
)
async def test_a_malformed_form_is_400_and_changes_nothing(
    browser, harness_http, fake_stripe: FakeStripe, intent, body: bytes, content_type: str
) -> None:
    await confirm(browser, intent, THREE_D_SECURE)

    answer = await harness_http.post(
        f"/v3/authenticate/{intent['id']}", content=body, headers={"Content-Type": content_type}
    )

    assert answer.status_code == 400
    assert stored(fake_stripe, intent)["status"] == "requires_action"


async def test_an_unknown_action_changes_nothing(
    browser, harness_http, fake_stripe: FakeStripe, intent
) -> None:
    await confirm(browser, intent, THREE_D_SECURE)

    answer = await authenticate(harness_http, intent, "maybe")

    assert answer.status_code == 400
    assert stored(fake_stripe, intent)["status"] == "requires_action"


async def test_an_intent_not_waiting_for_authentication_shows_no_buttons(
    harness_http, intent
) -> None:
    page = await harness_http.get(
        f"/v3/authenticate/{intent['id']}", params={"client_secret": intent["client_secret"]}
    )

    assert page.status_code == 200
    assert 'id="authenticate-complete"' not in page.text
    assert "requires payment method" in page.text


# -- any card details -----------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    number=st.one_of(st.sampled_from(sorted(TEST_CARDS)), st.text(max_size=20)),
    exp_month=st.one_of(st.sampled_from(["1", "07", "12"]), st.text(max_size=3)),
    exp_year=st.one_of(st.sampled_from(["40", "2040"]), st.text(max_size=5)),
    cvc=st.one_of(st.sampled_from(["", "123", "1234"]), st.text(max_size=5)),
)
def test_any_card_details_make_a_payment_method_or_stripes_error_and_nothing_else(
    number: str, exp_month: str, exp_year: str, cvc: str
) -> None:
    state = StripeState()
    card = {"number": number, "exp_month": exp_month, "exp_year": exp_year, "cvc": cvc}

    try:
        method = payment_methods.create_payment_method(state, {"type": "card", "card": card})
    except StripeError as error:
        assert error.status in (400, 402)
        assert error.param and error.param.startswith("card[")
        assert len(table(state, "payment_method")) == 0
    else:
        assert number in TEST_CARDS
        assert method["card"]["last4"] == number[-4:]
        assert len(table(state, "payment_method")) == 1


# -- one PaymentMethod for Stripe.js's cards and the Stripe CLI's test ids ----------------------


async def test_a_test_token_and_its_card_number_make_the_same_card(browser, stripe_client) -> None:
    from_number = (await browser("POST", "/v1/payment_methods", **card("4000000000000259"))).json()
    from_token = await stripe_client.v1.payment_methods.create_async(
        params={"type": "card", "card": {"token": "tok_createDispute"}}
    )

    assert from_token.card.fingerprint == from_number["card"]["fingerprint"]
    for method in (from_number["id"], from_token.id, "pm_card_createDispute"):
        paid = await stripe_client.v1.payment_intents.create_async(
            params={"amount": 100, "currency": "usd", "confirm": True, "payment_method": method}
        )
        assert paid.status == "succeeded"
        assert (await stripe_client.v1.charges.retrieve_async(paid.latest_charge)).disputed


async def test_an_authenticated_manual_capture_intent_holds_the_funds(
    browser, harness_http, fake_stripe: FakeStripe, stripe_client
) -> None:
    created = await stripe_client.v1.payment_intents.create_async(
        params={"amount": 3000, "currency": "jpy", "capture_method": "manual"}
    )
    intent = created.to_dict()
    assert (await confirm(browser, intent, THREE_D_SECURE)).json()["status"] == "requires_action"

    await authenticate(harness_http, intent, "complete")

    held = stored(fake_stripe, intent)
    assert (held["status"], held["amount_capturable"], held["amount_received"]) == (
        "requires_capture",
        3000,
        0,
    )
    assert event_types(fake_stripe, intent)[-1] == "payment_intent.amount_capturable_updated"
