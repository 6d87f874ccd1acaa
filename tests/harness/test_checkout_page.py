"""The hosted checkout page, over plain HTTP: what it shows and where its buttons lead."""

from __future__ import annotations

import pytest

from .conftest import session_params


async def page_for(harness_http, session) -> str:
    answer = await harness_http.get(f"/checkout/pay/{session.id}")
    assert answer.status_code == 200
    return answer.text


async def press(harness_http, session, action: str):
    return await harness_http.post(f"/checkout/pay/{session.id}", data={"action": action})


async def test_page_shows_product_quantity_amount_and_email(harness_http, open_session) -> None:
    html = await page_for(harness_http, open_session)

    for text in ("100 article credits", "Qty 2", "¥3,000", "buyer@example.com"):
        assert text in html
    for button in ('id="pay"', 'id="decline"', 'id="cancel"'):
        assert button in html


@pytest.mark.parametrize(
    ("currency", "unit_amount", "shown"),
    [("usd", 1999, "$39.98"), ("krw", 5000, "₩10,000"), ("eur", 250, "€5.00")],
)
async def test_amounts_respect_zero_decimal_currencies(
    stripe_client, harness_http, currency, unit_amount, shown
) -> None:
    params = session_params()
    params["line_items"][0]["price_data"].update(currency=currency, unit_amount=unit_amount)
    session = await stripe_client.v1.checkout.sessions.create_async(params=params)

    assert shown in await page_for(harness_http, session)


async def test_page_escapes_html(stripe_client, harness_http) -> None:
    params = session_params()
    params["line_items"][0]["price_data"]["product_data"]["name"] = "<script>x</script>"
    session = await stripe_client.v1.checkout.sessions.create_async(params=params)

    html = await page_for(harness_http, session)

    assert "<script>" not in html and "&lt;script&gt;" in html


async def test_pay_redirects_to_success_url_with_the_session_id(
    harness_http, stripe_client, open_session
) -> None:
    answer = await press(harness_http, open_session, "pay")

    assert answer.status_code == 303
    assert answer.headers["location"] == (
        f"https://shop.example/success?session_id={open_session.id}"
    )
    paid = await stripe_client.v1.checkout.sessions.retrieve_async(open_session.id)
    assert paid.payment_status == "paid"


async def test_decline_rerenders_with_the_message(
    harness_http, stripe_client, open_session
) -> None:
    answer = await press(harness_http, open_session, "decline")

    assert answer.status_code == 200
    assert "Your card was declined" in answer.text
    session = await stripe_client.v1.checkout.sessions.retrieve_async(open_session.id)
    assert (session.status, session.payment_status) == ("open", "unpaid")


async def test_cancel_redirects_to_cancel_url(harness_http, open_session) -> None:
    answer = await press(harness_http, open_session, "cancel")

    assert answer.status_code == 303
    assert answer.headers["location"] == "https://shop.example/cancel"


async def test_paid_session_page_has_no_pay_button(harness_http, open_session) -> None:
    await press(harness_http, open_session, "pay")

    html = await page_for(harness_http, open_session)
    again = await press(harness_http, open_session, "pay")

    assert "payment is complete" in html and 'id="pay"' not in html
    assert again.status_code == 400


async def test_expired_session_page_says_so(harness_http, stripe_client, open_session) -> None:
    await stripe_client.v1.checkout.sessions.expire_async(open_session.id)

    html = await page_for(harness_http, open_session)

    assert "expired" in html and 'id="pay"' not in html


async def test_unknown_session_page_is_404(harness_http) -> None:
    assert (await harness_http.get("/checkout/pay/cs_test_nope")).status_code == 404
