"""The `/_harness/` HTML page: sessions, intents, events and deliveries, newest first."""

from __future__ import annotations

import html
import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from .money import format_amount
from .resources import CHECKOUT_SESSION, EVENT, PAYMENT_INTENT, WEBHOOK_ENDPOINT
from .state import StripeState
from .templating import render
from .webhooks import WebhookDispatcher

ROW_LIMIT = 200  # the page is for eyes; the JSON routes have everything
#: Where a rakubun service takes Stripe's events, and where it serves its API reference.
SERVICE_WEBHOOK_PATH = "/api/v1/webhooks/stripe"
SERVICE_DOCS_PATH = "/api/v1/docs"


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in list(rows)[:ROW_LIMIT]
    )
    return f"<table><tr>{head}</tr>{body or '<tr><td>none yet</td></tr>'}</table>"


def api_reference_links(state: StripeState) -> str:
    """Links to the API reference of each service this fake sends events to."""
    urls = sorted(
        {
            e["url"].removesuffix(SERVICE_WEBHOOK_PATH) + SERVICE_DOCS_PATH
            for e in state.newest_first(WEBHOOK_ENDPOINT)
            if e["url"].endswith(SERVICE_WEBHOOK_PATH)
        }
    )
    links = " · ".join(f'<a href="{html.escape(u)}">{html.escape(u)}</a>' for u in urls)
    return links or "no service receives this fake's events yet"


def inspector_page(state: StripeState, webhooks: WebhookDispatcher) -> str:
    """Render the inspector HTML."""
    sessions = _table(
        ("created", "id", "status", "payment", "amount", "email", "payment_intent"),
        (
            (
                _when(s["created"]),
                s["id"],
                s["status"],
                s["payment_status"],
                format_amount(s["amount_total"], s["currency"]),
                s["customer_email"] or "",
                s["payment_intent"] or "",
            )
            for s in state.newest_first(CHECKOUT_SESSION)
        ),
    )
    intents = _table(
        ("created", "id", "status", "amount", "received", "latest_charge"),
        (
            (
                _when(i["created"]),
                i["id"],
                i["status"],
                format_amount(i["amount"], i["currency"]),
                format_amount(i["amount_received"], i["currency"]),
                i["latest_charge"] or "",
            )
            for i in state.newest_first(PAYMENT_INTENT)
        ),
    )
    events = _table(
        ("created", "id", "type", "object", "pending_webhooks"),
        (
            (
                _when(e["created"]),
                e["id"],
                e["type"],
                e["data"]["object"].get("id", ""),
                e["pending_webhooks"],
            )
            for e in state.newest_first(EVENT)
        ),
    )
    deliveries = _table(
        ("at", "event", "type", "url", "attempt", "status", "fault"),
        (
            (
                _when(a["at"]),
                a["event_id"],
                a["type"],
                a["url"],
                a["attempt"],
                a["status_code"]
                if a["status_code"] is not None
                else f"no response ({a.get('error') or 'dropped'})",
                a["fault"] or "",
            )
            for a in reversed(webhooks.attempts)
        ),
    )
    return render(
        "inspector.html",
        faults=json.dumps(webhooks.faults.to_json()),
        pending=webhooks.pending,
        api_reference_html=api_reference_links(state),
        sessions_html=sessions,
        intents_html=intents,
        events_html=events,
        deliveries_html=deliveries,
    )
