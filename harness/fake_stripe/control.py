"""The harness control API under `/_harness/`: drive outcomes, inject faults, watch deliveries.

Each action takes a JSON body and answers JSON (errors in Stripe's shape); the inspector's
buttons post the same actions as HTML forms, answered with a redirect back to the inspector
(or, when refused, a page showing the Stripe error with its status).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from . import charges, checkout_sessions, disputes, payment_intents, refunds
from .context import context
from .errors import StripeError, invalid_request
from .inspector import error_page, harness_counts, inspector_page
from .resources import CHECKOUT_SESSION, DISPUTE, EVENT, PAYMENT_INTENT, REFUND, Resource
from .state import StripeState

routes = web.RouteTableDef()

OUTCOMES = ("paid", "declined", "canceled", "expired")
FORM = "application/x-www-form-urlencoded"
INTEGER_FIELDS = ("amount",)
MAX_DRAIN_SECONDS = 3600

ControlHandler = Callable[[web.Request], Awaitable[web.Response]]


def _is_form(request: web.Request) -> bool:
    return request.content_type == FORM


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    if _is_form(request):
        return _form_fields(await request.post())
    try:
        body = await request.json()
    except json.JSONDecodeError:
        raise invalid_request("Body must be JSON.") from None
    if not isinstance(body, dict):
        raise invalid_request("Body must be a JSON object.")
    return body


def _form_fields(form: Any) -> dict[str, Any]:
    """An inspector form's fields as the JSON body would hold them (empty fields left out)."""
    fields: dict[str, Any] = {}
    for name, value in form.items():
        if not isinstance(value, str):
            raise invalid_request(f"{name} must be text", param=name)
        if value == "":
            continue
        if name in INTEGER_FIELDS:
            if not value.isascii() or not value.isdigit():
                raise invalid_request(f"{name} must be an integer", param=name)
            fields[name] = int(value)
        else:
            fields[name] = value
    return fields


def _refuse_other_origins(request: web.Request) -> None:
    """A form posted from another site's page is not the inspector's (cross-site requests)."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        raise StripeError(
            403, f"Forms are accepted from the inspector's origin only, not {origin}."
        )


def from_inspector(section: str) -> Callable[[ControlHandler], ControlHandler]:
    """Let an action answer the inspector's forms: 303 back to its `section`, or the refusal."""

    def wrap(handler: ControlHandler) -> ControlHandler:
        @functools.wraps(handler)
        async def answer(request: web.Request) -> web.Response:
            if not _is_form(request):
                return await handler(request)
            try:
                _refuse_other_origins(request)
                await handler(request)
            except StripeError as error:
                page = error_page(error.to_json(), error.status, request.path)
                return web.Response(text=page, status=error.status, content_type="text/html")
            raise web.HTTPSeeOther(f"/_harness/#{section}")

        return answer

    return wrap


def _addressed(request: web.Request, resource: Resource) -> tuple[StripeState, dict[str, Any]]:
    """The fake's state and the object the path's `{id}` names (Stripe's 404 when none)."""
    state = context(request).state
    return state, state.get(resource, request.match_info["id"])


def _answer(obj: Any, status: int = 200) -> web.Response:
    return web.json_response(obj, status=status)


@routes.post("/_harness/checkout/sessions/{id}/complete")
@from_inspector("sessions")
async def complete_session(request: web.Request) -> web.Response:
    """Finish a session as the customer would: outcome paid, declined, canceled or expired."""
    state, session = _addressed(request, CHECKOUT_SESSION)
    outcome = (await _json_body(request)).get("outcome", "paid")
    if outcome not in OUTCOMES:
        raise invalid_request(f"outcome must be one of {', '.join(OUTCOMES)}", param="outcome")
    checkout_sessions.expire_if_due(state, session)
    redirect_url = None
    if outcome == "paid":
        checkout_sessions.pay_session(state, session)
        redirect_url = checkout_sessions.success_redirect(session)
    elif outcome == "declined":
        checkout_sessions.decline_session(state, session)
        redirect_url = session["url"]
    elif outcome == "canceled":
        redirect_url = session.get("cancel_url")
    else:
        checkout_sessions.expire_session(state, session)
    return _answer({"session": session, "redirect_url": redirect_url})


@routes.post("/_harness/payment_intents/{id}/succeed")
@from_inspector("intents")
async def succeed_intent(request: web.Request) -> web.Response:
    """Make an unfinished intent succeed with the test card (charge + events)."""
    state, intent = _addressed(request, PAYMENT_INTENT)
    return _answer(payment_intents.succeed_intent(state, intent))


@routes.post("/_harness/payment_intents/{id}/fail")
@from_inspector("intents")
async def fail_intent(request: web.Request) -> web.Response:
    """Decline an unfinished intent (payment_intent.payment_failed); answers the intent."""
    state, intent = _addressed(request, PAYMENT_INTENT)
    return _answer(payment_intents.decline_intent(state, intent))


@routes.post("/_harness/payment_intents/{id}/refund")
@from_inspector("refunds")
async def refund_intent(request: web.Request) -> web.Response:
    """Refund an intent's charge, fully or `{"amount": n}`; sends charge.refunded."""
    state, intent = _addressed(request, PAYMENT_INTENT)
    amount = _optional_amount(await _json_body(request))
    charge = charges.charge_of_intent(state, intent)
    return _answer(refunds.refund_charge(state, charge, amount))


@routes.post("/_harness/refunds/{id}/fail")
async def fail_refund(request: web.Request) -> web.Response:
    """The refund fails after it succeeded, as a closed card's does: its money goes back to
    the charge; sends charge.refund.updated and refund.updated (status failed)."""
    state, refund = _addressed(request, REFUND)
    return _answer(refunds.fail_refund(state, refund))


def _optional_amount(body: dict[str, Any]) -> int | None:
    amount = body.get("amount")
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)):
        raise invalid_request("amount must be an integer", param="amount")
    return amount


@routes.post("/_harness/payment_intents/{id}/dispute")
@from_inspector("disputes")
async def dispute_intent(request: web.Request) -> web.Response:
    """Open a fraud dispute on an intent's charge, for `{"amount": n}` or what is not
    refunded; sends charge.dispute.created and charge.dispute.funds_withdrawn."""
    state, intent = _addressed(request, PAYMENT_INTENT)
    amount = _optional_amount(await _json_body(request))
    charge = charges.charge_of_intent(state, intent)
    return _answer(disputes.dispute_charge(state, charge, amount))


@routes.post("/_harness/disputes/{id}/close")
@from_inspector("disputes")
async def close_dispute(request: web.Request) -> web.Response:
    """Close a dispute `{"outcome": "won"}` (funds_reinstated + closed) or `"lost"` (closed)."""
    state, dispute = _addressed(request, DISPUTE)
    outcome = (await _json_body(request)).get("outcome")
    return _answer(disputes.close_dispute(state, dispute, str(outcome)))


@routes.post("/_harness/events/{id}/resend")
@from_inspector("deliveries")
async def resend_event(request: web.Request) -> web.Response:
    """Deliver a stored event again to its endpoints (pending faults apply)."""
    ctx = context(request)
    event = ctx.state.get(EVENT, request.match_info["id"])
    ctx.webhooks.resend(event)
    return _answer(event)


@routes.get("/_harness/faults")
async def get_faults(request: web.Request) -> web.Response:
    """The faults waiting for the next deliveries."""
    return _answer(context(request).webhooks.faults.to_json())


@routes.post("/_harness/faults")
async def set_faults(request: web.Request) -> web.Response:
    """Add faults, e.g. `{"duplicate": 1, "bad_signature": true}`; they combine."""
    faults = context(request).webhooks.faults
    faults.update(await _json_body(request))
    return _answer(faults.to_json())


@routes.delete("/_harness/faults")
async def clear_faults(request: web.Request) -> web.Response:
    """Forget all pending faults."""
    faults = context(request).webhooks.faults
    faults.clear()
    return _answer(faults.to_json())


@routes.get("/_harness/deliveries")
async def list_deliveries(request: web.Request) -> web.Response:
    """Every delivery attempt, oldest first; filter with `?event_id=` or `?type=`."""
    attempts = context(request).webhooks.attempts
    for field in ("event_id", "type"):
        if field in request.query:
            attempts = [a for a in attempts if a[field] == request.query[field]]
    return _answer(attempts)


@routes.post("/_harness/drain")
async def drain(request: web.Request) -> web.Response:
    """Wait until no delivery is queued, delayed or in flight (`timeout` seconds, default 10)."""
    body = await _json_body(request)
    timeout = body.get("timeout", request.query.get("timeout", 10))
    try:
        timeout = float(timeout)
    except (TypeError, ValueError):
        timeout = math.nan
    if not 0 <= timeout <= MAX_DRAIN_SECONDS:  # NaN fails this too
        raise invalid_request(
            f"timeout must be a number of seconds, 0 to {MAX_DRAIN_SECONDS}", param="timeout"
        )
    try:
        await context(request).webhooks.drain(timeout)
    except TimeoutError as error:
        return _answer({"idle": False, "message": str(error)}, status=504)
    return _answer({"idle": True})


@routes.get("/_harness/state")
async def state_counts(request: web.Request) -> web.Response:
    """How many sessions, intents, charges, refunds, disputes, events and deliveries exist."""
    ctx = context(request)
    return _answer(harness_counts(ctx.state, ctx.webhooks))


@routes.get("/_harness/")
async def inspector(request: web.Request) -> web.Response:
    """An HTML page listing sessions, intents, refunds, disputes, events and deliveries, newest
    first, with buttons for the actions above."""
    ctx = context(request)
    return web.Response(text=inspector_page(ctx.state, ctx.webhooks), content_type="text/html")
