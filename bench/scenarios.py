"""The measured scenarios: which requests wrk replays, which answers are expected, and what
each successful answer must do to the balances. Requests are shaped like the plugin's own
calls (contracts/plugin-calls.json): same headers, query and body fields."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from harness.fake_stripe import stripe_signature

from .service_api import BenchSite, user_email
from .wrk import HttpRequest

API = "/api/v1"
JSON = {"Content-Type": "application/json"}
STRIPE_USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


@dataclass(frozen=True)
class Deduction:
    """Each 200 of the scenario removes `amount` credits of `credit_type`."""

    credit_type: str
    amount: int


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    requests: tuple[HttpRequest, ...]
    expected: frozenset[int] = frozenset({200})
    deduction: Deduction | None = None
    #: Checked after the load: the user who must end at exactly zero.
    exhausts_user: str | None = None

    @property
    def credits_removed_per_success(self) -> int:
        return self.deduction.amount if self.deduction else 0


def _body(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def list_packages(site: BenchSite) -> Scenario:
    """Public, but the plugin sends its usual headers anyway."""
    request = HttpRequest("GET", f"{API}/packages", site.plugin_headers())
    return Scenario("packages", "GET /packages", (request,))


def user_credits(site: BenchSite, user_ids: Sequence[int]) -> Scenario:
    headers = site.plugin_headers()
    requests = tuple(
        HttpRequest(
            "GET",
            f"{API}/users/credits?"
            + urlencode({"user_id": u, "user_email": user_email(u), "site_url": site.site_url}),
            headers,
        )
        for u in user_ids
    )
    return Scenario("credits", f"GET /users/credits, {len(user_ids)} users", requests)


def deduct_credits(
    site: BenchSite,
    user_ids: Sequence[int],
    *,
    key: str,
    title: str,
    amount: int = 1,
    credit_type: str = "article",
    expected: frozenset[int] = frozenset({200}),
    exhausts_user: str | None = None,
) -> Scenario:
    """Each success also enqueues a `credits_updated` webhook to the site (the user has an
    email), delivered by the service to the baseline's sink."""
    headers = site.plugin_headers()
    requests = tuple(
        HttpRequest(
            "POST",
            f"{API}/users/deduct-credits",
            headers,
            _body(
                {
                    "user_id": u,
                    "user_email": user_email(u),
                    "site_url": site.site_url,
                    "credit_type": credit_type,
                    "amount": amount,
                }
            ),
        )
        for u in user_ids
    )
    return Scenario(key, title, requests, expected, Deduction(credit_type, amount), exhausts_user)


def checkout_sessions(site: BenchSite, user_ids: Sequence[int]) -> Scenario:
    headers = site.wordpress_headers()
    page = f"{site.site_url}/wp-admin/admin.php?page=rakubun-ai-purchase"
    requests = tuple(
        HttpRequest(
            "POST",
            f"{API}/checkout/sessions",
            headers,
            _body(
                {
                    "user_id": u,
                    "user_email": user_email(u),
                    "credit_type": "article",
                    "package_id": "article_starter",
                    "amount": 750,
                    "currency": "JPY",
                    "return_url": page + "&session_id={CHECKOUT_SESSION_ID}&status=success",
                    "cancel_url": page + "&status=cancel",
                }
            ),
        )
        for u in user_ids
    )
    return Scenario("checkout", "POST /checkout/sessions (fake Stripe)", requests)


def stripe_events(count: int, prefix: str) -> list[bytes]:
    """Events of a type the service ignores: valid, signed, and cheap to handle."""
    created = int(time.time())
    return [
        _body(
            {
                "id": f"evt_{prefix}_{i}",
                "object": "event",
                "type": "bench.ping",
                "created": created,
                "livemode": False,
                "data": {"object": {"id": f"bench_{i}", "object": "bench"}},
            }
        )
        for i in range(count)
    ]


def signed_event_requests(events: Sequence[bytes], secret: str) -> tuple[HttpRequest, ...]:
    """The events with `Stripe-Signature` made now (Stripe's tolerance is 300 s)."""
    timestamp = int(time.time())
    return tuple(
        HttpRequest(
            "POST",
            f"{API}/webhooks/stripe",
            {
                **JSON,
                "User-Agent": STRIPE_USER_AGENT,
                "Stripe-Signature": stripe_signature(event.decode(), secret, timestamp),
            },
            event,
        )
        for event in events
    )


def stripe_webhooks(requests: tuple[HttpRequest, ...]) -> Scenario:
    return Scenario("webhooks", "POST /webhooks/stripe (signed, duplicate)", requests)
