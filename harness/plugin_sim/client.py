"""The real plugin's calls to the dashboard API, header for header and body for body.

Source of truth: `plugin-calls.json` (the plugin v2.2.0's requests). `CALLS` declares each call
once, its fields the contract's example values, so calling one with no overrides replays it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import aiohttp

API_PREFIX = "/api/v1"
DEFAULT_USER_EMAIL = "editor@example.com"


class ApiAnswer(NamedTuple):
    """What the dashboard answered: the status and the parsed JSON (raw text if not JSON)."""

    status: int
    body: Any


class UnknownCall(LookupError):
    """The call name is not one the plugin makes."""


class BadCallArguments(ValueError):
    """The overrides for a call are missing a required value or have the wrong shape."""


def php_json_encode(value: Any) -> bytes:
    """Encode like PHP's json_encode with default flags: escaped slashes and \\u escapes."""
    # "/" only ever appears inside JSON strings, so the replacement cannot touch syntax.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode()


def api_base_of(url: str) -> str:
    """The plugin's base URL (`.../api/v1`) for either the base itself or the service's origin."""
    base = url.rstrip("/")
    return base if base.endswith(API_PREFIX) else base + API_PREFIX


class PluginClient:
    """Makes the plugin's HTTP calls; `call` returns an ApiAnswer and never raises on 4xx/5xx.

    `api_base` is the plugin's base (`https://app.rakubun.com/api/v1` in production) or the
    harness's api_url, to which `/api/v1` is added.
    """

    def __init__(
        self,
        api_base: str,
        *,
        instance_id: str,
        site_url: str,
        api_token: str | None = None,
        wp_version: str = "6.8.1",
        plugin_version: str = "2.2.0",
        timeout: float = 30.0,
    ) -> None:
        self.api_base = api_base_of(api_base)
        self.instance_id = instance_id
        self.site_url = site_url.rstrip("/")
        self.api_token = api_token
        self.wp_version = wp_version
        self.plugin_version = plugin_version
        self.plugin_user_agent = f"Rakubun-WordPress-Plugin/{plugin_version}"
        self.wordpress_user_agent = f"WordPress/{wp_version}; {self.site_url}"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PluginClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the underlying HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- header sets, as in plugin-calls.json ------------------------------------------------

    def _authenticated_headers(self, user_agent: str) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.api_token:
            headers["Authorization"] = f"Bearer {self.api_token}"
        headers["Content-Type"] = "application/json"
        headers["X-Instance-ID"] = self.instance_id
        headers["User-Agent"] = user_agent
        return headers

    def plugin_headers(self) -> dict[str, str]:
        """Headers of the plugin's API client class (most calls)."""
        return self._authenticated_headers(self.plugin_user_agent)

    def wordpress_headers(self) -> dict[str, str]:
        """Headers of the checkout AJAX handler's bare wp_remote_post: WordPress's own UA."""
        return self._authenticated_headers(self.wordpress_user_agent)

    def registration_headers(self) -> dict[str, str]:
        """Registration goes out before there is a token, and without X-Instance-ID."""
        return {"Content-Type": "application/json", "User-Agent": self.plugin_user_agent}

    # -- transport ----------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        *,
        body: Mapping[str, Any] | None = None,
        query: Mapping[str, Any] | None = None,
    ) -> ApiAnswer:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        params = {name: _query_value(value) for name, value in (query or {}).items()}
        data = php_json_encode(body) if body is not None else None
        async with self._session.request(
            method, self.api_base + path, headers=dict(headers), params=params, data=data
        ) as response:
            text = await response.text()
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = text
        return ApiAnswer(response.status, parsed)

    # -- the calls ----------------------------------------------------------------------------

    def purchase_page_url(self, query: str) -> str:
        """The plugin's purchase page, where Stripe sends the browser back."""
        return f"{self.site_url}/wp-admin/admin.php?page=rakubun-ai-purchase&{query}"

    async def call(self, name: str, overrides: Mapping[str, Any] | None = None) -> ApiAnswer:
        """Run the call named as in plugin-calls.json, its example values replaced by `overrides`.

        Extra fields travel along after the plugin's own, as the plugin's array merges do.
        """
        try:
            call = CALLS[name]
        except KeyError:
            raise UnknownCall(f"unknown plugin call {name!r}; known: {', '.join(CALLS)}") from None
        fields = {
            key: value.fill(self) if isinstance(value, FromSite) else value
            for key, value in {**call.fields, **(overrides or {})}.items()
        }
        if missing := [key for key, value in fields.items() if value is REQUIRED]:
            raise BadCallArguments(f"{name}: missing {', '.join(missing)}")
        try:
            fields = call.finish(fields)
        except (TypeError, AttributeError) as error:
            raise BadCallArguments(f"{name}: {error}") from None
        headers = call.headers(self)
        path = call.path.format(instance_id=self.instance_id)
        if call.method == "GET":
            return await self._send(call.method, path, headers, query=fields)
        return await self._send(call.method, path, headers, body=fields)


@dataclass(frozen=True)
class FromSite:
    """A call's value that the client fills from its own site: URL, instance id, versions."""

    fill: Callable[[PluginClient], Any]


SITE_URL = FromSite(lambda client: client.site_url)
INSTANCE_ID = FromSite(lambda client: client.instance_id)
PLUGIN_VERSION = FromSite(lambda client: client.plugin_version)
WP_VERSION = FromSite(lambda client: client.wp_version)
#: A value the caller must give (the plugin got it from an earlier answer).
REQUIRED: Any = object()


def _as_sent(fields: dict[str, Any]) -> dict[str, Any]:
    return fields


@dataclass(frozen=True)
class PluginCall:
    """One call of the plugin: where it goes, with which header set, and its fields in the
    plugin's order, each the contract's example value. GET fields travel as the query."""

    method: str
    path: str
    headers: Callable[[PluginClient], dict[str, str]]
    fields: Mapping[str, Any] = field(default_factory=dict)
    #: The plugin's own shaping of the merged fields before they are encoded.
    finish: Callable[[dict[str, Any]], dict[str, Any]] = _as_sent


def _cut_prompt(fields: dict[str, Any]) -> dict[str, Any]:
    return {**fields, "prompt": fields["prompt"][:500]}


def _usage_rows_as_strings(fields: dict[str, Any]) -> dict[str, Any]:
    rows = {name: _rows_as_strings(fields[name]) for name in ("generations", "transactions")}
    return {**fields, "sync_period": dict(fields["sync_period"]), **rows}


def _config(path: str, **fields: Any) -> PluginCall:
    return PluginCall("GET", path, PluginClient.plugin_headers, fields)


def _verify(session_id: Any = REQUIRED) -> PluginCall:
    return PluginCall(
        "POST", "/checkout/verify", PluginClient.wordpress_headers, {"session_id": session_id}
    )


_USER = {"user_id": 1, "user_email": DEFAULT_USER_EMAIL}
_REGISTER = ("POST", "/plugins/register", PluginClient.registration_headers)

# Contract call name -> the call, as plugin-calls.json records it.
CALLS: dict[str, PluginCall] = {
    "register": PluginCall(
        *_REGISTER,
        {
            "instance_id": INSTANCE_ID,
            "site_url": SITE_URL,
            "site_title": "テストブログ",
            "admin_email": "admin@example.com",
            "wordpress_version": WP_VERSION,
            "plugin_version": PLUGIN_VERSION,
            "php_version": "8.2.28",
            "theme": "Twenty Twenty-Five",
            "timezone": "Asia/Tokyo",
            "language": "ja",
            "post_count": 42,
            "page_count": 3,
            "activation_date": "2025-11-06 09:15:45",
            "last_activity": "2025-11-06 09:15:45",
        },
    ),
    # A re-activation sends the short body (the service says 409).
    "register-again": PluginCall(
        *_REGISTER,
        {
            "instance_id": INSTANCE_ID,
            "site_url": SITE_URL,
            "admin_email": "admin@example.com",
            "plugin_version": PLUGIN_VERSION,
        },
    ),
    # Not a call the plugin v2.2.0 makes; the contract allows it to any registered site.
    "update-instance": PluginCall("PUT", "/instances/{instance_id}", PluginClient.plugin_headers),
    "packages": _config("/packages"),
    "credits": _config("/users/credits", **_USER, site_url=SITE_URL),
    "deduct": PluginCall(
        "POST",
        "/users/deduct-credits",
        PluginClient.plugin_headers,
        {**_USER, "site_url": SITE_URL, "credit_type": "article", "amount": 1},
    ),
    # The checkout AJAX handler's bare wp_remote_post: WordPress's own User-Agent.
    "checkout": PluginCall(
        "POST",
        "/checkout/sessions",
        PluginClient.wordpress_headers,
        {
            **_USER,
            "credit_type": "article",
            "package_id": "article_starter",
            "amount": 750,
            "currency": "JPY",
            # add_query_arg() does not percent-encode: the template travels literally.
            "return_url": FromSite(
                lambda client: client.purchase_page_url(
                    "session_id={CHECKOUT_SESSION_ID}&status=success"
                )
            ),
            "cancel_url": FromSite(lambda client: client.purchase_page_url("status=cancel")),
        },
    ),
    "verify": _verify(),
    "verify-before-payment": _verify(),
    "verify-again": _verify(),
    "verify-unknown": _verify("cs_test_does_not_exist"),
    "create-intent": PluginCall(
        "POST",
        "/payments/create-intent",
        PluginClient.plugin_headers,
        {
            **_USER,
            "site_url": SITE_URL,
            "credit_type": "image",
            "package_id": "image_starter",
            "amount": 300,
            "currency": "JPY",
            "instance_id": INSTANCE_ID,
        },
    ),
    # The real plugin sends no user_email here.
    "confirm": PluginCall(
        "POST",
        "/payments/confirm",
        PluginClient.plugin_headers,
        {
            "payment_intent_id": REQUIRED,
            "user_id": 1,
            "credit_type": "image",
            "site_url": SITE_URL,
            "instance_id": INSTANCE_ID,
        },
    ),
    "config-stripe": _config("/config/stripe"),
    "config-provider": _config("/config/provider", provider="openai"),
    "config-article": _config("/config/article"),
    "config-image": _config("/config/image"),
    "config-rewrite": _config("/config/rewrite"),
    # Fire-and-forget in the plugin; the prompt is cut at 500 characters.
    "analytics-generation": PluginCall(
        "POST",
        "/analytics/generation",
        PluginClient.plugin_headers,
        {
            **_USER,
            "site_url": SITE_URL,
            "content_type": "article",
            "prompt": "京都の紅葉スポットについて",
            "result_length": 4210,
            "credits_used": 1,
            "timestamp": "2025-11-06 09:20:01",
        },
        finish=_cut_prompt,
    ),
    # Hourly; row values are strings, as $wpdb returns them.
    "analytics-usage": PluginCall(
        "POST",
        "/analytics/usage",
        PluginClient.plugin_headers,
        {
            "site_url": SITE_URL,
            "instance_id": INSTANCE_ID,
            "sync_period": {"from": "2025-11-06 08:20:01", "to": "2025-11-06 09:20:01"},
            "generations": [
                {
                    "user_id": 1,
                    "content_type": "article",
                    "prompt": "京都の紅葉スポットについて",
                    "result_length": 4210,
                    "created_at": "2025-11-06 09:20:01",
                }
            ],
            "transactions": [
                {
                    "user_id": 1,
                    "transaction_type": "purchase",
                    "credit_type": "article",
                    "amount": 10,
                    "created_at": "2025-11-06 09:19:00",
                }
            ],
            "total_users": 2,
            "plugin_version": PLUGIN_VERSION,
        },
        finish=_usage_rows_as_strings,
    ),
}


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else ""  # how PHP prints booleans into a query string
    return str(value)


def _rows_as_strings(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {key: value if value is None else str(value) for key, value in row.items()} for row in rows
    ]
