"""The simulator's pages for people: its root, the purchase page Stripe returns to, and the
webhooks it received; all in the fake Stripe's look (`templates/harness.css`).

Invariant: every value shown is escaped; no page runs a script or changes anything.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from harness.fake_stripe.templating import stylesheet

if TYPE_CHECKING:
    from harness.plugin_sim.app_state import SimulatedSite
    from harness.plugin_sim.inbox import ReceivedWebhook

#: The simulator's URLs, for its root page: (method, path, what it is). GETs become links.
ENDPOINTS = (
    ("GET", "/_sim/state", "the plugin's options: instance id, registration (no secrets)"),
    ("GET", "/_sim/webhooks", "the webhooks received (JSON; this list as a page in a browser)"),
    ("GET", "/_sim/landings", "every return from Stripe to the purchase page, verified or not"),
    ("POST", "/_sim/register", 'register with the service ({"force": true} starts over)'),
    ("POST", "/_sim/call/{name}", "make one plugin call by its name (contracts/plugin-calls.json)"),
    ("POST", "/_sim/down", "the webhook endpoint answers 503 until /_sim/up"),
    ("POST", "/_sim/up", "the webhook endpoint answers like the plugin again"),
    ("POST", "/wp-admin/admin-ajax.php?action=rakubun_webhook", "the plugin's webhook endpoint"),
    (
        "GET",
        "/wp-admin/admin.php?page=rakubun-ai-purchase",
        "the purchase page Stripe sends the buyer back to",
    ),
)


def page(title: str, body_html: str, *, wide: bool = False) -> str:
    """A whole page around `body_html` (already escaped), with the harness's stylesheet."""
    main = '<main class="wide">' if wide else "<main>"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} · Plugin simulator</title>"
        f"<style>\n{stylesheet()}</style></head><body>{main}"
        '<p><span class="badge">SIMULATOR</span> WordPress with the Rakubun plugin</p>'
        f"{body_html}</main></body></html>"
    )


def root_page(simulator: SimulatedSite) -> str:
    """`/`: what this simulator is, its registration, and every URL it answers."""
    options = simulator.options
    registered = (
        f"registered as <code>{html.escape(options.registered_site_url or '')}</code>"
        if options.registered
        else "not registered yet (POST /_sim/register)"
    )
    rows = "".join(
        "<li><code>{}</code> {}: {}</li>".format(
            method,
            f'<a href="{html.escape(path)}">{html.escape(path)}</a>'
            if method == "GET"
            else f"<code>{html.escape(path)}</code>",
            html.escape(what),
        )
        for method, path, what in ENDPOINTS
    )
    body = (
        "<h1>Plugin simulator</h1>"
        f'<p class="lead">Instance <code id="instance-id">{html.escape(options.instance_id)}</code>,'
        f" {registered}; it calls the service at"
        f' <a href="{html.escape(simulator.api_url)}">{html.escape(simulator.api_url)}</a>.</p>'
        f'<ul class="links" id="endpoints">{rows}</ul>'
    )
    return page("Plugin simulator", body)


def purchase_page(status: str, session_id: str, verification: Any) -> str:
    """Where Stripe sends the buyer back: the outcome, and what verifying the session gave."""
    body = [
        "<h1>Purchase credits</h1>",
        f"<p>Status: <span id='status'>{html.escape(status)}</span></p>",
        f"<p>Session: <code id='session_id'>{html.escape(session_id)}</code></p>",
    ]
    if verification is not None:
        answer = verification.get("body") if isinstance(verification, dict) else None
        verified = isinstance(answer, dict) and answer.get("success") is True
        message = (
            _verified_message(answer)
            if isinstance(answer, dict) and verified
            else "The service did not verify it."
        )
        kind = "info" if verified else "error"
        body.append(
            f'<p id="message" role="alert" class="message {kind}">{html.escape(message)}</p>'
        )
        text = json.dumps(verification, ensure_ascii=False, indent=2)
        body.append(f"<pre id='verification'>{html.escape(text)}</pre>")
    elif status == "cancel":
        body.append('<p id="message" class="message info">The purchase was cancelled.</p>')
    body.append(
        '<p><a href="/">The simulator</a> · <a href="/_sim/webhooks">webhooks received</a></p>'
    )
    return page("Purchase credits", "".join(body))


def _verified_message(answer: dict[str, Any]) -> str:
    added = answer.get("credits_added")
    return f"Payment verified: {added} credits added." if added else "Payment verified."


def webhooks_page(webhooks: Iterable[ReceivedWebhook]) -> str:
    """`/_sim/webhooks` in a browser: each webhook, newest first, with the plugin's answer."""
    rows = "".join(
        f'<tr id="webhook-{w.seq}">'
        + "".join(
            f"<td>{html.escape(str(cell))}</td>"
            for cell in (
                w.seq,
                w.received_at,
                w.event or "",
                "valid" if w.signature_valid else "INVALID",
                w.status,
            )
        )
        + f"<td><pre>{html.escape(json.dumps(w.data, ensure_ascii=False, indent=1))}</pre></td>"
        + "</tr>"
        for w in sorted(webhooks, key=lambda w: w.seq, reverse=True)
    )
    head = "".join(
        f"<th>{h}</th>" for h in ("#", "received", "event", "signature", "answered", "data")
    )
    body = (
        "<h1>Webhooks received</h1>"
        '<p class="lead">What the service sent to this plugin, newest first'
        ' (<a href="?format=json">as JSON</a>; <a href="/">the simulator</a>).</p>'
        f'<table class="list" id="webhooks"><tr>{head}</tr>'
        f"{rows or '<tr><td>none yet</td></tr>'}</table>"
    )
    return page("Webhooks received", body, wide=True)
