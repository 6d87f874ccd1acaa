"""The fake Stripe.js (`static/stripe-v3.js`) at `/v3/` and its 3-D Secure page at
`/v3/authenticate/{id}`.

Invariant: the authentication page acts on an intent only with that intent's client_secret,
and only while it `requires_action`; a page in Stripe.js's modal reports back to its parent
window, a redirected customer is sent to the `return_url` the intent was confirmed with.
"""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from aiohttp import web

from . import payment_intents
from .context import context
from .errors import StripeError
from .money import format_amount
from .resources import PAYMENT_INTENT
from .templating import render

routes = web.RouteTableDef()

SCRIPT = "stripe-v3.js"
OUTCOMES = {"complete": True, "fail": False}


@cache
def script_text() -> str:
    """The fake Stripe.js source."""
    return resources.files(__package__).joinpath("static", SCRIPT).read_text(encoding="utf-8")


@routes.get("/v3/")
@routes.get("/v3")
async def stripe_js(request: web.Request) -> web.Response:
    """Serve the fake Stripe.js (what `<script src="https://js.stripe.com/v3/">` loads)."""
    return web.Response(
        text=script_text(),
        content_type="application/javascript",
        headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"},
    )


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html")


def _intent_or_404(request: web.Request, client_secret: Any) -> dict[str, Any]:
    intent = context(request).state.find(PAYMENT_INTENT, request.match_info["id"])
    if (
        intent is None
        or not isinstance(client_secret, str)
        or client_secret != intent["client_secret"]
    ):
        raise web.HTTPNotFound(text="No such authentication.", content_type="text/plain")
    return intent


def render_page(
    intent: dict[str, Any], *, framed: bool, message: str | None = None, error: bool = False
) -> str:
    """The 3-D Secure page: the amount and two buttons while the intent requires_action."""
    waiting = intent["status"] == "requires_action"
    if message is None and not waiting:
        message = f"This payment is {intent['status'].replace('_', ' ')}."
    return render(
        "authenticate.html",
        total=format_amount(intent["amount"], intent["currency"]),
        intent_id=intent["id"],
        status=intent["status"],
        message_html=_message(message, error),
        actions_html=_actions(intent, framed) if waiting else "",
        notify_html=_notify(intent) if framed and not waiting else "",
    )


def _message(message: str | None, error: bool) -> str:
    if not message:
        return ""
    kind = "error" if error else "info"
    return f'<p id="message" role="alert" class="message {kind}">{html.escape(message)}</p>'


def _actions(intent: dict[str, Any], framed: bool) -> str:
    action = html.escape(f"/v3/authenticate/{intent['id']}")
    secret = html.escape(intent["client_secret"])
    return (
        f'<form method="post" action="{action}">'
        f'<input type="hidden" name="client_secret" value="{secret}">'
        f'<input type="hidden" name="frame" value="{1 if framed else 0}">'
        '<button id="authenticate-complete" name="action" value="complete" type="submit">'
        "Complete authentication</button>"
        '<button id="authenticate-fail" name="action" value="fail" type="submit">'
        "Fail authentication</button>"
        "</form>"
    )


def _notify(intent: dict[str, Any]) -> str:
    # The intent id is no secret; Stripe.js reads the outcome from the API itself.
    return (
        "<script>window.parent.postMessage("
        f'{{"type": "fake-stripe-3ds-complete", "payment_intent": "{intent["id"]}"}}, "*");'
        "</script>"
    )


def return_url_of(intent: dict[str, Any]) -> str | None:
    """The `return_url` the intent was confirmed with, while it waits for authentication."""
    next_action = intent.get("next_action") or {}
    return (next_action.get("redirect_to_url") or {}).get("return_url")


def return_redirect(intent: dict[str, Any], return_url: str) -> str:
    """`return_url` with Stripe's query params: the intent, its secret, how it ended."""
    parts = urlsplit(return_url)
    query = urlencode(
        {
            "payment_intent": intent["id"],
            "payment_intent_client_secret": intent["client_secret"],
            "redirect_status": "succeeded" if intent["status"] == "succeeded" else "failed",
        }
    )
    return urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query else query))


@routes.get("/v3/authenticate/{id}")
async def show_authentication(request: web.Request) -> web.Response:
    """The page a 3-D Secure card sends the customer to (`next_action`)."""
    intent = _intent_or_404(request, request.query.get("client_secret"))
    return _html(render_page(intent, framed=request.query.get("frame") == "1"))


@routes.post("/v3/authenticate/{id}")
async def submit_authentication(request: web.Request) -> web.StreamResponse:
    """Complete or fail the authentication; framed, tell Stripe.js; redirected, go back."""
    try:
        form = await request.post()
    except (UnicodeDecodeError, ValueError):
        raise web.HTTPBadRequest(text="Malformed form.", content_type="text/plain") from None
    intent = _intent_or_404(request, form.get("client_secret"))
    framed = form.get("frame") == "1"
    action = form.get("action")
    if action not in OUTCOMES:
        return _html(render_page(intent, framed=framed, message="Unknown action.", error=True), 400)
    return_url = return_url_of(intent)  # read before the outcome clears next_action
    try:
        payment_intents.finish_authentication(
            context(request).state, intent, authenticated=OUTCOMES[str(action)]
        )
    except StripeError as error:
        return _html(render_page(intent, framed=framed, message=error.message, error=True), 400)
    if return_url and not framed:
        raise web.HTTPSeeOther(return_redirect(intent, return_url))
    return _html(render_page(intent, framed=framed))
