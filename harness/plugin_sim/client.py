"""The real plugin's calls to the dashboard API, header for header and body for body.

Source of truth: `plugin-calls.json` (the plugin v2.2.0's requests). Every method's defaults
are the contract's example values, so calling one with no arguments replays that call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
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
    """Makes the plugin's HTTP calls; every method returns an ApiAnswer and never raises on 4xx/5xx.

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

    @property
    def plugin_user_agent(self) -> str:
        return f"Rakubun-WordPress-Plugin/{self.plugin_version}"

    @property
    def wordpress_user_agent(self) -> str:
        return f"WordPress/{self.wp_version}; {self.site_url}"

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

    async def register(
        self,
        *,
        site_title: str = "テストブログ",
        admin_email: str = "admin@example.com",
        **fields: Any,
    ) -> ApiAnswer:
        """POST /plugins/register with the full site description sent at activation."""
        body = {
            "instance_id": self.instance_id,
            "site_url": self.site_url,
            "site_title": site_title,
            "admin_email": admin_email,
            "wordpress_version": self.wp_version,
            "plugin_version": self.plugin_version,
            "php_version": "8.2.28",
            "theme": "Twenty Twenty-Five",
            "timezone": "Asia/Tokyo",
            "language": "ja",
            "post_count": 42,
            "page_count": 3,
            "activation_date": "2025-11-06 09:15:45",
            "last_activity": "2025-11-06 09:15:45",
            **fields,
        }
        return await self._send("POST", "/plugins/register", self.registration_headers(), body=body)

    async def register_again(
        self, *, admin_email: str = "admin@example.com", **fields: Any
    ) -> ApiAnswer:
        """POST /plugins/register with the short body of a re-activation (the service says 409)."""
        body = {
            "instance_id": self.instance_id,
            "site_url": self.site_url,
            "admin_email": admin_email,
            "plugin_version": self.plugin_version,
            **fields,
        }
        return await self._send("POST", "/plugins/register", self.registration_headers(), body=body)

    async def update_instance(self, **fields: Any) -> ApiAnswer:
        """PUT /instances/{instance_id}: the site's own record (the simulator moves its URL).

        Not a call the plugin v2.2.0 makes; the contract allows it to any registered site.
        """
        path = f"/instances/{self.instance_id}"
        return await self._send("PUT", path, self.plugin_headers(), body=fields)

    async def get_packages(self, **query: Any) -> ApiAnswer:
        """GET /packages."""
        return await self._send("GET", "/packages", self.plugin_headers(), query=query)

    async def get_credits(
        self, *, user_id: int | str = 1, user_email: str = DEFAULT_USER_EMAIL, **query: Any
    ) -> ApiAnswer:
        """GET /users/credits?user_id=..&user_email=..&site_url=.. (every value a string)."""
        params = {"user_id": user_id, "user_email": user_email, "site_url": self.site_url, **query}
        return await self._send("GET", "/users/credits", self.plugin_headers(), query=params)

    async def deduct_credits(
        self,
        *,
        user_id: int = 1,
        user_email: str = DEFAULT_USER_EMAIL,
        credit_type: str = "article",
        amount: int = 1,
        **fields: Any,
    ) -> ApiAnswer:
        """POST /users/deduct-credits."""
        body = {
            "user_id": user_id,
            "user_email": user_email,
            "site_url": self.site_url,
            "credit_type": credit_type,
            "amount": amount,
            **fields,
        }
        return await self._send("POST", "/users/deduct-credits", self.plugin_headers(), body=body)

    def purchase_page_url(self, query: str) -> str:
        """The plugin's purchase page, where Stripe sends the browser back."""
        return f"{self.site_url}/wp-admin/admin.php?page=rakubun-ai-purchase&{query}"

    async def create_checkout_session(
        self,
        *,
        user_id: int = 1,
        user_email: str = DEFAULT_USER_EMAIL,
        credit_type: str = "article",
        package_id: str = "article_starter",
        amount: int = 750,
        currency: str = "JPY",
        return_url: str | None = None,
        cancel_url: str | None = None,
        **fields: Any,
    ) -> ApiAnswer:
        """POST /checkout/sessions, sent with WordPress's User-Agent, not the plugin's."""
        body = {
            "user_id": user_id,
            "user_email": user_email,
            "credit_type": credit_type,
            "package_id": package_id,
            "amount": amount,
            "currency": currency,
            # add_query_arg() does not percent-encode: the template travels literally.
            "return_url": return_url
            or self.purchase_page_url("session_id={CHECKOUT_SESSION_ID}&status=success"),
            "cancel_url": cancel_url or self.purchase_page_url("status=cancel"),
            **fields,
        }
        return await self._send("POST", "/checkout/sessions", self.wordpress_headers(), body=body)

    async def verify_checkout_session(self, session_id: str, **fields: Any) -> ApiAnswer:
        """POST /checkout/verify, sent with WordPress's User-Agent, not the plugin's."""
        body = {"session_id": session_id, **fields}
        return await self._send("POST", "/checkout/verify", self.wordpress_headers(), body=body)

    async def create_payment_intent(
        self,
        *,
        user_id: int = 1,
        user_email: str = DEFAULT_USER_EMAIL,
        credit_type: str = "image",
        package_id: str = "image_starter",
        amount: int = 300,
        currency: str = "JPY",
        **fields: Any,
    ) -> ApiAnswer:
        """POST /payments/create-intent."""
        body = {
            "user_id": user_id,
            "user_email": user_email,
            "site_url": self.site_url,
            "credit_type": credit_type,
            "package_id": package_id,
            "amount": amount,
            "currency": currency,
            "instance_id": self.instance_id,
            **fields,
        }
        return await self._send("POST", "/payments/create-intent", self.plugin_headers(), body=body)

    async def confirm_payment(
        self,
        payment_intent_id: str,
        *,
        user_id: int = 1,
        credit_type: str = "image",
        **fields: Any,
    ) -> ApiAnswer:
        """POST /payments/confirm; the real plugin sends no user_email here."""
        body = {
            "payment_intent_id": payment_intent_id,
            "user_id": user_id,
            "credit_type": credit_type,
            "site_url": self.site_url,
            "instance_id": self.instance_id,
            **fields,
        }
        return await self._send("POST", "/payments/confirm", self.plugin_headers(), body=body)

    async def get_stripe_config(self, **query: Any) -> ApiAnswer:
        """GET /config/stripe."""
        return await self._send("GET", "/config/stripe", self.plugin_headers(), query=query)

    async def get_provider_config(self, *, provider: str = "openai", **query: Any) -> ApiAnswer:
        """GET /config/provider?provider=.."""
        params = {"provider": provider, **query}
        return await self._send("GET", "/config/provider", self.plugin_headers(), query=params)

    async def get_article_config(self, **query: Any) -> ApiAnswer:
        """GET /config/article."""
        return await self._send("GET", "/config/article", self.plugin_headers(), query=query)

    async def get_image_config(self, **query: Any) -> ApiAnswer:
        """GET /config/image."""
        return await self._send("GET", "/config/image", self.plugin_headers(), query=query)

    async def get_rewrite_config(self, **query: Any) -> ApiAnswer:
        """GET /config/rewrite."""
        return await self._send("GET", "/config/rewrite", self.plugin_headers(), query=query)

    async def report_generation(
        self,
        *,
        user_id: int = 1,
        user_email: str = DEFAULT_USER_EMAIL,
        content_type: str = "article",
        prompt: str = "京都の紅葉スポットについて",
        result_length: int = 4210,
        credits_used: int = 1,
        timestamp: str = "2025-11-06 09:20:01",
        **fields: Any,
    ) -> ApiAnswer:
        """POST /analytics/generation (fire-and-forget in the plugin); prompt cut at 500."""
        body = {
            "user_id": user_id,
            "user_email": user_email,
            "site_url": self.site_url,
            "content_type": content_type,
            "prompt": prompt[:500],
            "result_length": result_length,
            "credits_used": credits_used,
            "timestamp": timestamp,
            **fields,
        }
        return await self._send("POST", "/analytics/generation", self.plugin_headers(), body=body)

    async def sync_usage(
        self,
        *,
        sync_period: Mapping[str, str] | None = None,
        generations: list[Mapping[str, Any]] | None = None,
        transactions: list[Mapping[str, Any]] | None = None,
        total_users: int = 2,
        **fields: Any,
    ) -> ApiAnswer:
        """POST /analytics/usage (hourly); row values are strings, as $wpdb returns them."""
        body = {
            "site_url": self.site_url,
            "instance_id": self.instance_id,
            "sync_period": dict(sync_period or _EXAMPLE_SYNC_PERIOD),
            "generations": _rows_as_strings(
                _EXAMPLE_GENERATIONS if generations is None else generations
            ),
            "transactions": _rows_as_strings(
                _EXAMPLE_TRANSACTIONS if transactions is None else transactions
            ),
            "total_users": total_users,
            "plugin_version": self.plugin_version,
            **fields,
        }
        return await self._send("POST", "/analytics/usage", self.plugin_headers(), body=body)

    # -- calls by contract name ---------------------------------------------------------------

    async def call(self, name: str, overrides: Mapping[str, Any] | None = None) -> ApiAnswer:
        """Run the call named as in plugin-calls.json, its defaults replaced by `overrides`."""
        try:
            method_name, preset = CALLS[name]
        except KeyError:
            raise UnknownCall(f"unknown plugin call {name!r}; known: {', '.join(CALLS)}") from None
        arguments = {**preset, **(overrides or {})}
        method = getattr(self, method_name)
        try:
            return await method(**arguments)
        except TypeError as error:
            raise BadCallArguments(f"{name}: {error}") from None


# Contract call name -> (PluginClient method, preset arguments).
CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "register": ("register", {}),
    "register-again": ("register_again", {}),
    "packages": ("get_packages", {}),
    "credits": ("get_credits", {}),
    "deduct": ("deduct_credits", {}),
    "checkout": ("create_checkout_session", {}),
    "verify": ("verify_checkout_session", {}),
    "verify-before-payment": ("verify_checkout_session", {}),
    "verify-again": ("verify_checkout_session", {}),
    "verify-unknown": ("verify_checkout_session", {"session_id": "cs_test_does_not_exist"}),
    "create-intent": ("create_payment_intent", {}),
    "confirm": ("confirm_payment", {}),
    "config-stripe": ("get_stripe_config", {}),
    "config-provider": ("get_provider_config", {}),
    "config-article": ("get_article_config", {}),
    "config-image": ("get_image_config", {}),
    "config-rewrite": ("get_rewrite_config", {}),
    "analytics-generation": ("report_generation", {}),
    "analytics-usage": ("sync_usage", {}),
}

_EXAMPLE_SYNC_PERIOD = {"from": "2025-11-06 08:20:01", "to": "2025-11-06 09:20:01"}
_EXAMPLE_GENERATIONS = [
    {
        "user_id": 1,
        "content_type": "article",
        "prompt": "京都の紅葉スポットについて",
        "result_length": 4210,
        "created_at": "2025-11-06 09:20:01",
    }
]
_EXAMPLE_TRANSACTIONS = [
    {
        "user_id": 1,
        "transaction_type": "purchase",
        "credit_type": "article",
        "amount": 10,
        "created_at": "2025-11-06 09:19:00",
    }
]


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else ""  # how PHP prints booleans into a query string
    return str(value)


def _rows_as_strings(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {key: value if value is None else str(value) for key, value in row.items()} for row in rows
    ]
