"""The fake Stripe's inspector (`/_harness/`): every list, its buttons, its self-refresh.

Each button is an HTML form; these tests post exactly what a browser would post for it
(its action, its hidden fields, form-encoded) and read the page the redirect leads to.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode

import httpx
import pytest

from harness.fake_stripe.templating import stylesheet


@dataclass
class Form:
    """One button's form on the page."""

    action: str
    label: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    row: str = ""


class InspectorPage(HTMLParser):
    """The forms of the page, each with the id of the row it sits in; the rows' ids."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.row_ids: list[str] = []
        self._row = ""
        self._form: Form | None = None
        self._in_button = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "tr" and values.get("id"):
            self._row = values["id"]
            self.row_ids.append(self._row)
        elif tag == "form":
            assert values["method"] == "post"
            self._form = Form(values["action"], row=self._row)
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None:
            self._form.fields[values["name"]] = values["value"]
        elif tag == "button":
            self._in_button = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "button":
            self._in_button = False

    def handle_data(self, data: str) -> None:
        if self._in_button and self._form is not None:
            self._form.label += data

    def button(self, row: str, label: str) -> Form:
        [form] = [f for f in self.forms if f.row == row and f.label == label]
        return form

    def labels(self, row: str) -> list[str]:
        return [f.label for f in self.forms if f.row == row]


async def inspector(http: httpx.AsyncClient) -> InspectorPage:
    page = await http.get("/_harness/")
    assert page.status_code == 200
    return InspectorPage(page.text)


async def click(http: httpx.AsyncClient, form: Form, **headers: str) -> httpx.Response:
    """Submit a button's form as a browser does (form-encoded, even when empty; the page's
    origin)."""
    return await http.post(
        form.action,
        content=urlencode(form.fields),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": str(http.base_url).rstrip("/"),
            **headers,
        },
    )


async def paid_intent(http: httpx.AsyncClient, session_id: str) -> str:
    paid = await http.post(
        f"/_harness/checkout/sessions/{session_id}/complete", json={"outcome": "paid"}
    )
    return str(paid.json()["session"]["payment_intent"])


async def counts(http: httpx.AsyncClient) -> dict[str, int]:
    return dict((await http.get("/_harness/state")).json())


async def test_the_refund_button_refunds_and_the_refund_is_listed(harness_http, open_session):
    intent_id = await paid_intent(harness_http, open_session.id)
    page = await inspector(harness_http)
    assert page.labels(intent_id) == ["Refund", "Dispute"]

    answer = await click(harness_http, page.button(intent_id, "Refund"))

    assert answer.status_code == 303 and answer.headers["location"] == "/_harness/#refunds"
    after = await harness_http.get("/_harness/")
    [refund_id] = re.findall(r'<tr id="(re_\w+)">', after.text)
    assert "¥3,000" in after.text.split(f'<tr id="{refund_id}">')[1].split("</tr>")[0]
    assert (await counts(harness_http))["refunds"] == 1


async def test_the_dispute_button_opens_one_and_won_closes_it(harness_http, open_session):
    intent_id = await paid_intent(harness_http, open_session.id)

    opened = await click(harness_http, (await inspector(harness_http)).button(intent_id, "Dispute"))
    page = await inspector(harness_http)
    [dispute_id] = [row for row in page.row_ids if row.startswith("dp_")]
    assert opened.status_code == 303
    assert page.labels(dispute_id) == ["Won", "Lost"]

    closed = await click(harness_http, page.button(dispute_id, "Won"))
    page = await inspector(harness_http)

    assert closed.status_code == 303 and closed.headers["location"] == "/_harness/#disputes"
    assert page.labels(dispute_id) == []  # a closed dispute has nothing left to do
    dispute = (await harness_http.get("/_harness/")).text.split(f'<tr id="{dispute_id}">')[1]
    assert "<td>won</td>" in dispute.split("</tr>")[0]


async def test_the_expire_button_expires_an_open_session(harness_http, open_session):
    page = await inspector(harness_http)
    assert page.labels(open_session.id) == ["Pay", "Expire"]

    answer = await click(harness_http, page.button(open_session.id, "Expire"))
    page = await inspector(harness_http)

    assert answer.status_code == 303
    assert page.labels(open_session.id) == []
    assert "<td>expired</td>" in (await harness_http.get("/_harness/")).text


async def test_the_resend_button_delivers_the_event_again(
    fake_stripe, harness_http, webhook_endpoint, webhook_receiver, open_session
):
    await paid_intent(harness_http, open_session.id)
    await fake_stripe.drain()
    page = await inspector(harness_http)
    first_event = next(row for row in page.row_ids if row.startswith("evt_"))
    before = webhook_receiver.event_ids().count(first_event)

    answer = await click(harness_http, page.button(first_event, "Resend"))
    await fake_stripe.drain()

    assert answer.status_code == 303
    assert webhook_receiver.event_ids().count(first_event) == before + 1


async def test_a_refused_button_shows_the_stripe_error_and_changes_nothing(
    harness_http, open_session
):
    intent_id = await paid_intent(harness_http, open_session.id)
    refund = (await inspector(harness_http)).button(intent_id, "Refund")
    await click(harness_http, refund)
    before = await counts(harness_http)

    again = await click(harness_http, refund)

    assert again.status_code == 400
    assert again.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in again.text and "has already been refunded" in again.text
    error_json = again.text.split('<pre id="stripe-error">')[1].split("</pre>")[0]
    error = json.loads(error_json.replace("&quot;", '"').replace("&#x27;", "'"))
    assert error["error"]["code"] == "charge_already_refunded"
    assert await counts(harness_http) == before


@pytest.mark.parametrize("amount", ["abc", "-5", "1.5", "٣"])
async def test_a_form_amount_that_is_no_integer_is_refused(harness_http, open_session, amount):
    intent_id = await paid_intent(harness_http, open_session.id)
    form = Form(f"/_harness/payment_intents/{intent_id}/refund", fields={"amount": amount})

    answer = await click(harness_http, form)

    assert answer.status_code == 400 and "amount must be an integer" in answer.text
    assert (await counts(harness_http))["refunds"] == 0


async def test_a_form_with_a_partial_amount_refunds_that_much(harness_http, open_session):
    intent_id = await paid_intent(harness_http, open_session.id)
    form = Form(f"/_harness/payment_intents/{intent_id}/refund", fields={"amount": "1000"})

    answer = await click(harness_http, form)

    assert answer.status_code == 303
    assert "¥1,000" in (await harness_http.get("/_harness/")).text


async def test_a_form_posted_from_another_site_is_refused(harness_http, open_session):
    intent_id = await paid_intent(harness_http, open_session.id)
    refund = (await inspector(harness_http)).button(intent_id, "Refund")

    answer = await click(harness_http, refund, Origin="http://evil.example")

    assert answer.status_code == 403
    assert (await counts(harness_http))["refunds"] == 0


async def test_an_unknown_id_in_a_form_is_a_404_page(harness_http):
    answer = await click(harness_http, Form("/_harness/payment_intents/pi_nothing/refund"))

    assert answer.status_code == 404 and "No such payment_intent" in answer.text


async def test_json_callers_keep_stripe_error_bodies(harness_http, open_session):
    intent_id = await paid_intent(harness_http, open_session.id)

    answer = await harness_http.post(
        f"/_harness/payment_intents/{intent_id}/refund", json={"amount": "abc"}
    )

    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "type": "invalid_request_error",
        "message": "amount must be an integer",
        "param": "amount",
    }


@pytest.mark.parametrize("timeout", ["soon", None, -1, "nan", 1e9, [1]])
async def test_drain_with_a_bad_timeout_is_a_stripe_400(harness_http, timeout):
    answer = await harness_http.post("/_harness/drain", json={"timeout": timeout})

    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "timeout"


async def test_the_page_refreshes_itself_from_the_state_counts(harness_http, open_session):
    page = (await harness_http.get("/_harness/")).text

    [state] = re.findall(r'<script id="self-refresh" data-state="([^"]*)">', page)
    assert json.loads(state.replace("&quot;", '"')) == await counts(harness_http)
    assert 'fetch("/_harness/state"' in page and "location.reload()" in page


async def test_the_page_wears_the_checkout_pages_stylesheet(harness_http, open_session):
    page = (await harness_http.get("/_harness/")).text
    checkout = (await harness_http.get(f"/checkout/pay/{open_session.id}")).text

    assert stylesheet() in page and stylesheet() in checkout
