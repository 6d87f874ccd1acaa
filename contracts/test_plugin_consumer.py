"""The plugin's consumer contract: its calls, replayed in order against `rakubun-harness up`.

`plugin-calls.json` (the vendored copy of the shared contract) lists what the WordPress plugin
v2.2.0 sends, header for header, and what it reads back. The replay sends each call exactly
so (bodies encoded like PHP's json_encode), performs the `between` payment steps through the
fake Stripe's control API, and checks status, every read field with its JSON type,
`must_not_contain` and `expect`. Then the WordPress stand-in must have received a validly
signed `credits_updated` carrying `data.user_email` for each purchase.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from harness.plugin_sim import OptionsStore, PluginOptions, php_json_encode, sign_body
from harness.testing import HarnessProcess
from tests.support.plugin_calls import fill_placeholders, load_plugin_calls

USER_EMAIL = "editor@example.com"

JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}
MISSING = object()


@pytest.fixture
def harness(rakubun_harness: HarnessProcess) -> HarnessProcess:
    """`rakubun-harness up` as a subprocess (the harness's pytest plugin); SIGTERM at
    teardown must exit cleanly."""
    return rakubun_harness


def read_path(body: Any, path: str) -> Any:
    """The value at a dotted path (`credits.article_credits`), or MISSING."""
    value = body
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
    return value


def keys_anywhere(value: Any) -> set[str]:
    """Every object key at any depth of a JSON value."""
    if isinstance(value, dict):
        return set(value).union(*(keys_anywhere(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_anywhere(v) for v in value))
    return set()


@dataclass
class Replay:
    """Sends the contract's calls with `{{name}}` filled from what earlier answers gave."""

    up: HarnessProcess
    contract: dict[str, Any]
    values: dict[str, str] = field(default_factory=dict)

    def fill(self, value: Any) -> Any:
        return fill_placeholders(value, self.values)

    def headers(self, call: dict[str, Any]) -> dict[str, str]:
        headers = call["headers"]
        return self.fill(
            self.contract["header_sets"][headers] if isinstance(headers, str) else headers
        )

    async def send(self, call: dict[str, Any]) -> httpx.Response:
        body = php_json_encode(self.fill(call["body"])) if "body" in call else None
        return await self.up.http.request(
            call["method"],
            self.up.api_url + call["path"],
            headers=self.headers(call),
            params=self.fill(call.get("query")),
            content=body,
        )

    async def between(self, step: str) -> None:
        """A payment-side step the contract names, done through the fake Stripe."""
        steps: dict[str, Callable[[], Awaitable[Any]]] = {
            "pay the checkout session": lambda: self.up.stripe.pay(self.values["session_id"]),
            "make the payment intent succeed": lambda: self.up.stripe.control(
                f"payment_intents/{self.values['payment_intent_id']}/succeed"
            ),
        }
        assert step in steps, f"the replayer does not know how to {step!r}"
        await steps[step]()
        await self.up.stripe.drain()

    def check(self, call: dict[str, Any], response: httpx.Response) -> dict[str, Any]:
        """Everything the plugin relies on in one answer; returns the parsed body."""
        name = call["name"]
        assert response.status_code == call["status"], f"{name}: {response.text}"
        body = response.json()
        assert isinstance(body, dict), f"{name}: not a JSON object: {response.text}"
        for path, json_type in call["reads"].items():
            value = read_path(body, path)
            assert value is not MISSING, f"{name}: the plugin reads {path}: {body}"
            assert JSON_TYPES[json_type](value), f"{name}: {path} is not {json_type}: {value!r}"
        if "success" in call["reads"]:  # the plugin treats a falsy success as failure
            assert body["success"] is (response.status_code < 400), f"{name}: {body}"
        for key, expected in call.get("expect", {}).items():
            assert read_path(body, key) == expected, f"{name}: {key}: {body}"
        for key in call.get("must_not_contain", []):
            assert key not in keys_anywhere(body), f"{name}: answered {key}: {body}"
            secret = self.values.get(key)
            assert not secret or secret not in response.text, f"{name}: leaked the {key}"
        return body


async def keep_credentials_in_wordpress(up: HarnessProcess, values: dict[str, str]) -> None:
    """The plugin stores its token and secret as WordPress options after registering.

    The stand-in reads its options when it starts, so restart `up` (same data dir, same
    ports) for it to check the service's webhooks with this registration's secret.
    """
    OptionsStore(up.data_dir).save(
        PluginOptions(
            instance_id=values["instance_id"],
            api_token=values["api_token"],
            webhook_secret=values["webhook_secret"],
            registered_site_url=values["site_url"],
        )
    )
    await up.restart()


async def test_the_plugin_calls_replayed_in_order_keep_working(harness):
    contract = load_plugin_calls()
    replay = Replay(
        harness, contract, {"instance_id": str(uuid.uuid4()), "site_url": harness.plugin_url}
    )

    for call in contract["calls"]:
        if "between" in call:
            await replay.between(call["between"])
        body = replay.check(call, await replay.send(call))
        for name, path in call.get("captures", {}).items():
            replay.values[name] = read_path(body, path)
        if call["name"] == "register":
            replay.values.update(api_token=body["api_token"], webhook_secret=body["webhook_secret"])
            await keep_credentials_in_wordpress(harness, replay.values)

    flushed = await harness.admin.flush_webhooks()
    assert flushed["pending"] == 0, flushed
    received = await harness.plugin.webhooks("credits_updated")
    for key in ("session_id", "payment_intent_id"):
        purchase = [w for w in received if w["data"].get(key) == replay.values[key]]
        assert len(purchase) == 1, (key, received)
        webhook = purchase[0]
        assert webhook["signature_valid"] and webhook["status"] == 200, webhook
        assert webhook["data"]["user_email"] == USER_EMAIL, webhook
        # The plugin's own check, done here too: hex HMAC-SHA256 of the raw body.
        assert webhook["signature"] == sign_body(
            replay.values["webhook_secret"], webhook["raw_body"].encode()
        )
        assert json.loads(webhook["raw_body"])["instance_id"] == replay.values["instance_id"]
