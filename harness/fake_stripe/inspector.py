"""The `/_harness/` HTML page: sessions, intents, refunds, disputes, events and deliveries,
newest first, with buttons that post to the control API; it reloads itself on any change.

Invariant: every button is a form posting to a `/_harness/` control route, which answers a
form with a redirect back here (see `control.py`); the page itself changes nothing.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from .money import format_amount
from .resources import (
    CHECKOUT_SESSION,
    DISPUTE,
    EVENT,
    PAYMENT_INTENT,
    REFUND,
    SERVED,
    WEBHOOK_ENDPOINT,
    Resource,
)
from .state import StripeState
from .templating import render
from .webhooks import WebhookDispatcher

ROW_LIMIT = 200  # the page is for eyes; the JSON routes have everything
REFRESH_MS = 2000  # how often the page asks /_harness/state whether anything changed
#: Where a rakubun service takes Stripe's events, and where it serves its API reference.
SERVICE_WEBHOOK_PATH = "/api/v1/webhooks/stripe"
SERVICE_DOCS_PATH = "/api/v1/docs"


@dataclass(frozen=True)
class Button:
    """One form with one button: POST `action` (a control route) with `fields`."""

    label: str
    action: str
    fields: tuple[tuple[str, str], ...] = ()
    secondary: bool = False

    def to_html(self) -> str:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
            for name, value in self.fields
        )
        kind = ' class="secondary"' if self.secondary else ""
        return (
            f'<form method="post" action="{html.escape(self.action)}">{hidden}'
            f'<button type="submit"{kind}>{html.escape(self.label)}</button></form>'
        )


@dataclass(frozen=True)
class Row:
    """One object's row: its id (the row's `id`), its cells and its buttons."""

    object_id: str
    cells: Sequence[Any]
    buttons: Sequence[Button] = ()


def _when(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def _table(headers: Sequence[str], rows: Iterable[Row], *, actions: bool = False) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in (*headers, *(["actions"] * actions)))
    body = "".join(
        f'<tr id="{html.escape(row.object_id)}">'
        + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row.cells)
        + ("<td>" + "".join(b.to_html() for b in row.buttons) + "</td>" if actions else "")
        + "</tr>"
        for row in islice(rows, ROW_LIMIT)
    )
    return f'<table class="list"><tr>{head}</tr>{body or "<tr><td>none yet</td></tr>"}</table>'


def harness_counts(state: StripeState, webhooks: WebhookDispatcher) -> dict[str, int]:
    """How many of each object, events and deliveries exist (`GET /_harness/state`)."""
    return {
        **{r.count: state.count(r) for r in SERVED if r.count},
        "deliveries": len(webhooks.attempts),
        "pending_deliveries": webhooks.pending,
    }


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


def _session_buttons(session: dict[str, Any]) -> list[Button]:
    if session["status"] != "open":
        return []
    complete = f"/_harness/checkout/sessions/{session['id']}/complete"
    return _outcome_buttons(complete, ("Pay", "paid"), ("Expire", "expired"))


def _intent_buttons(intent: dict[str, Any]) -> list[Button]:
    if intent["status"] != "succeeded":
        return []
    base = f"/_harness/payment_intents/{intent['id']}"
    return [
        Button("Refund", f"{base}/refund"),
        Button("Dispute", f"{base}/dispute", secondary=True),
    ]


def _dispute_buttons(dispute: dict[str, Any]) -> list[Button]:
    if dispute["status"] not in ("needs_response", "under_review"):
        return []
    close = f"/_harness/disputes/{dispute['id']}/close"
    return _outcome_buttons(close, ("Won", "won"), ("Lost", "lost"))


def _outcome_buttons(action: str, *choices: tuple[str, str]) -> list[Button]:
    """A button per (label, outcome) that posts the outcome to `action`; the first stands out."""
    return [
        Button(label, action, (("outcome", outcome),), secondary=n > 0)
        for n, (label, outcome) in enumerate(choices)
    ]


def _event_buttons(event: dict[str, Any]) -> list[Button]:
    return [Button("Resend", f"/_harness/events/{event['id']}/resend", secondary=True)]


def _event_object_id(event: dict[str, Any]) -> Any:
    return event["data"]["object"].get("id", "")


#: A column: a field shown under its own name, or (header, field or how to read the cell).
Column = str | tuple[str, str | Callable[[dict[str, Any]], Any]]
MONEY_FIELDS = ("amount", "amount_total", "amount_received")


def _cell(obj: dict[str, Any], field: str | Callable[[dict[str, Any]], Any]) -> Any:
    if callable(field):
        return field(obj)
    if field == "created":
        return _when(obj["created"])
    if field in MONEY_FIELDS:
        return format_amount(obj[field], obj["currency"])
    value = obj.get(field)
    return "" if value is None else value


def _object_table(
    state: StripeState,
    resource: Resource,
    columns: Sequence[Column],
    buttons: Callable[[dict[str, Any]], list[Button]] | None = None,
) -> str:
    """One row per stored object, newest first; with `buttons`, an actions column."""
    named = [(c, c) if isinstance(c, str) else c for c in columns]
    return _table(
        [header for header, _ in named],
        (
            Row(
                obj["id"],
                [_cell(obj, field) for _, field in named],
                buttons(obj) if buttons else (),
            )
            for obj in state.newest_first(resource)
        ),
        actions=buttons is not None,
    )


def inspector_page(state: StripeState, webhooks: WebhookDispatcher) -> str:
    """Render the inspector HTML."""
    sessions = _object_table(
        state,
        CHECKOUT_SESSION,
        (
            "created",
            "id",
            "status",
            ("payment", "payment_status"),
            ("amount", "amount_total"),
            ("email", "customer_email"),
            "payment_intent",
        ),
        buttons=_session_buttons,
    )
    intents = _object_table(
        state,
        PAYMENT_INTENT,
        ("created", "id", "status", "amount", ("received", "amount_received"), "latest_charge"),
        buttons=_intent_buttons,
    )
    refunds = _object_table(
        state, REFUND, ("created", "id", "amount", "status", "charge", "payment_intent", "reason")
    )
    disputes = _object_table(
        state,
        DISPUTE,
        ("created", "id", "amount", "status", "reason", "charge", "payment_intent"),
        buttons=_dispute_buttons,
    )
    events = _object_table(
        state,
        EVENT,
        ("created", "id", "type", ("object", _event_object_id), "pending_webhooks"),
        buttons=_event_buttons,
    )
    deliveries = _table(
        ("at", "event", "type", "url", "attempt", "status", "fault"),
        (
            Row(
                f"attempt-{n}",
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
                ),
            )
            for n, a in zip(
                range(len(webhooks.attempts), 0, -1), reversed(webhooks.attempts), strict=True
            )
        ),
    )
    return render(
        "inspector.html",
        faults=json.dumps(webhooks.faults.to_json()),
        pending=webhooks.pending,
        api_reference_html=api_reference_links(state),
        sessions_html=sessions,
        intents_html=intents,
        refunds_html=refunds,
        disputes_html=disputes,
        events_html=events,
        deliveries_html=deliveries,
        state=json.dumps(harness_counts(state, webhooks)),
        refresh_ms=REFRESH_MS,
    )


def error_page(error_body: dict[str, Any], status: int, action: str) -> str:
    """What a button's form gets back when the control API refuses: the Stripe error."""
    message = str(error_body.get("error", {}).get("message", "refused"))
    return render(
        "inspector_error.html",
        status=status,
        action=action,
        message=message,
        error_json=json.dumps(error_body, indent=2, ensure_ascii=False),
    )
