"""The hosted checkout page at `/checkout/pay/{id}`: Pay, Decline and Cancel, without JavaScript."""

from __future__ import annotations

import html
from typing import Any

from aiohttp import web

from . import checkout_sessions
from .context import context
from .errors import StripeError
from .money import format_amount
from .resources import CHECKOUT_SESSION
from .state import StripeState
from .templating import render

routes = web.RouteTableDef()

DECLINED = "Your card was declined."


def render_page(
    state: StripeState, session: dict[str, Any], message: str | None = None, *, error: bool = False
) -> str:
    """The page for `session`, with an optional message (e.g. the decline)."""
    currency = session["currency"]
    rows = "\n".join(
        "<tr class='line-item'><td class='name'>{}</td><td class='quantity'>Qty {}</td>"
        "<td class='amount'>{}</td></tr>".format(
            html.escape(item["description"]),
            item["quantity"],
            html.escape(format_amount(item["amount_total"], currency)),
        )
        for item in checkout_sessions.line_items(state, session)
    )
    if message is None and session["status"] != "open":
        message = {
            "complete": "This payment is complete. Thank you!",
            "expired": "This checkout session has expired.",
        }[session["status"]]
    return render(
        "checkout.html",
        total=format_amount(session["amount_total"], currency),
        rows_html=rows,
        customer_email=session.get("customer_email") or "—",
        message_html=_message(message, error),
        actions_html=_actions(session) if session["status"] == "open" else "",
        session_id=session["id"],
        status=session["status"],
        payment_status=session["payment_status"],
    )


def _message(message: str | None, error: bool) -> str:
    if not message:
        return ""
    kind = "error" if error else "info"
    return f'<p id="message" role="alert" class="message {kind}">{html.escape(message)}</p>'


def _actions(session: dict[str, Any]) -> str:
    action = html.escape(f"/checkout/pay/{session['id']}")
    return (
        f'<form method="post" action="{action}">'
        '<button id="pay" name="action" value="pay" type="submit">Pay</button>'
        '<button id="decline" name="action" value="decline" type="submit">Decline</button>'
        '<button id="cancel" name="action" value="cancel" type="submit">Cancel</button>'
        "</form>"
    )


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html")


def _session_or_404(request: web.Request) -> dict[str, Any]:
    session = context(request).state.find(CHECKOUT_SESSION, request.match_info["id"])
    if session is None:
        raise web.HTTPNotFound(text="No such checkout session.", content_type="text/plain")
    return checkout_sessions.expire_if_due(context(request).state, session)


@routes.get("/checkout/pay/{id}")
async def show_page(request: web.Request) -> web.Response:
    """Show the session's items, total, email and the three buttons."""
    session = _session_or_404(request)
    return _html(render_page(context(request).state, session))


@routes.post("/checkout/pay/{id}")
async def submit_page(request: web.Request) -> web.StreamResponse:
    """Pay (303 to success_url), Decline (page with the decline) or Cancel (303 to cancel_url)."""
    state, session = context(request).state, _session_or_404(request)
    action = (await request.post()).get("action")
    try:
        if action == "pay":
            checkout_sessions.pay_session(state, session)
            target = checkout_sessions.success_redirect(session)
        elif action == "decline":
            checkout_sessions.decline_session(state, session)
            return _html(render_page(state, session, DECLINED, error=True))
        elif action == "cancel":
            target = session.get("cancel_url")
        else:
            return _html(render_page(state, session, "Unknown action.", error=True), 400)
    except StripeError as error:
        return _html(render_page(state, session, error.message, error=True), 400)
    if target:
        raise web.HTTPSeeOther(target)
    return _html(render_page(state, session))
