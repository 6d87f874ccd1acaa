"""The simulator's control API under /_sim/: lets tools act as the WordPress admin; and its
root page, listing these URLs for a person.

No answer here ever contains the api_token or the webhook_secret.
"""

from __future__ import annotations

import json
import math
from typing import Any

import aiohttp
from aiohttp import web

from harness.plugin_sim.app_state import simulator_of
from harness.plugin_sim.client import BadCallArguments, UnknownCall
from harness.plugin_sim.pages import root_page, webhooks_page

MAX_WAIT_SECONDS = 120.0


async def _json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise _bad_request("the body is not JSON") from None
    if not isinstance(body, dict):
        raise _bad_request("the body must be a JSON object")
    return body


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(
        text=json.dumps({"success": False, "error": message}), content_type="application/json"
    )


def _number(request: web.Request, name: str, default: float) -> float:
    value = request.query.get(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise _bad_request(f"{name} must be a number")
    return number


async def get_state(request: web.Request) -> web.Response:
    """GET /_sim/state: instance id, registration, api_url, site_url; never secrets."""
    return web.json_response(simulator_of(request).public_state())


async def post_register(request: web.Request) -> web.Response:
    """POST /_sim/register {"force"?: bool}: register with the service unless already done."""
    body = await _json_object(request)
    simulator = simulator_of(request)
    try:
        outcome = await simulator.register(force=bool(body.get("force")))
    except aiohttp.ClientError as error:
        return web.json_response(
            {"success": False, "error": f"the service is unreachable: {error}"}, status=502
        )
    return web.json_response(outcome, status=200 if outcome["success"] else 502)


async def post_down(request: web.Request) -> web.Response:
    """POST /_sim/down: the webhook endpoint answers 503 (maintenance) until /_sim/up."""
    simulator_of(request).webhooks_down = True
    return web.json_response({"success": True, "webhooks": "down"})


async def post_up(request: web.Request) -> web.Response:
    """POST /_sim/up: the webhook endpoint answers like the plugin again."""
    simulator_of(request).webhooks_down = False
    return web.json_response({"success": True, "webhooks": "up"})


async def get_webhooks(request: web.Request) -> web.Response:
    """GET /_sim/webhooks[?event=&after=SEQ&wait=SECONDS&count=N]: what the stand-in received.

    With `wait`, the answer waits (at most that long) until `count` (default 1) match. A
    browser (Accept: text/html, no `format=json`) gets the list as a page.
    """
    inbox = simulator_of(request).inbox
    event = request.query.get("event") or None
    after = int(_number(request, "after", 0))
    wait = min(_number(request, "wait", 0), MAX_WAIT_SECONDS)
    if wait > 0:
        count = int(_number(request, "count", 1))
        webhooks = await inbox.wait_for(event=event, after=after, count=count, timeout=wait)
    else:
        webhooks = inbox.select(event=event, after=after)
    if _wants_html(request):
        return web.Response(text=webhooks_page(webhooks), content_type="text/html")
    return web.json_response(
        {"webhooks": [webhook.to_json() for webhook in webhooks], "last_seq": inbox.last_seq}
    )


def _wants_html(request: web.Request) -> bool:
    """A browser asking for a page: text/html accepted, JSON not asked for by `format`."""
    return "text/html" in request.headers.get("Accept", "") and (
        request.query.get("format") != "json"
    )


async def get_root(request: web.Request) -> web.Response:
    """GET /: a page naming the simulator's instance and linking every URL it answers."""
    return web.Response(text=root_page(simulator_of(request)), content_type="text/html")


async def delete_webhooks(request: web.Request) -> web.Response:
    """DELETE /_sim/webhooks: forget what was received (seq numbers keep counting)."""
    simulator_of(request).inbox.clear()
    return web.json_response({"success": True})


async def get_landings(request: web.Request) -> web.Response:
    """GET /_sim/landings: every visit to the purchase page, with its verification answer."""
    return web.json_response({"landings": simulator_of(request).landings})


async def post_call(request: web.Request) -> web.Response:
    """POST /_sim/call/{name}: run one plugin call with the stored credentials.

    The body holds overrides for the call's defaults; the answer is
    {"call", "status", "body"} with the service's status and body (secrets redacted).
    """
    name = request.match_info["name"]
    overrides = await _json_object(request)
    simulator = simulator_of(request)
    try:
        answer = await simulator.call(name, overrides)
    except UnknownCall as error:
        raise web.HTTPNotFound(
            text=json.dumps({"success": False, "error": str(error)}),
            content_type="application/json",
        ) from None
    except BadCallArguments as error:
        raise _bad_request(str(error)) from None
    except aiohttp.ClientError as error:
        return web.json_response(
            {"call": name, "error": f"the service is unreachable: {error}"}, status=502
        )
    return web.json_response({"call": name, "status": answer.status, "body": answer.body})


def add_control_routes(app: web.Application) -> None:
    """Mount the /_sim/ control API on `app`."""
    app.router.add_get("/", get_root)
    app.router.add_get("/_sim/state", get_state)
    app.router.add_post("/_sim/register", post_register)
    app.router.add_post("/_sim/down", post_down)
    app.router.add_post("/_sim/up", post_up)
    app.router.add_get("/_sim/webhooks", get_webhooks)
    app.router.add_delete("/_sim/webhooks", delete_webhooks)
    app.router.add_get("/_sim/landings", get_landings)
    app.router.add_post("/_sim/call/{name}", post_call)
