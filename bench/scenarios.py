"""The measured scenarios: which requests wrk replays, which answers are expected, and what
each successful answer must do to the balances. Requests are shaped like the plugin's own
calls (contracts/plugin-calls.json): same headers, query and body fields.

A purchase scenario is compared with the fake Stripe, not bare Sanic: its `stripe_reference`
is the call the service makes for each request (built by `service.flows.purchases`, form-encoded as
the SDK encodes it), sent straight to the fake. The service cannot answer faster than the
Stripe it calls, so the ratio says how much of its Stripe's rate it keeps."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from harness.fake_stripe import stripe_signature
from service.domain.catalogue import DEFAULT_PACKAGES
from service.domain.models import Package, Site
from service.domain.users import user_key
from service.flows import purchases

from .service_api import BenchSite, user_email
from .wrk import HttpRequest

API = "/api/v1"
JSON = {"Content-Type": "application/json"}
#: The package every purchase scenario buys (in the default catalogue).
PURCHASED = "article_starter"
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
    #: The Stripe call each request makes, sent to the fake Stripe as the pair's second
    #: load in place of bare Sanic's (empty: bare Sanic).
    stripe_reference: tuple[HttpRequest, ...] = ()
    #: What the second load is, for the report.
    reference_title: str = "bare Sanic"

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


def stripe_form(params: Mapping[str, Any]) -> bytes:
    """Nested params as Stripe's form encoding (`a[b][0][c]=v`), as the SDK sends them."""

    def fields(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
        if isinstance(value, Mapping):
            for key, item in value.items():
                yield from fields(f"{prefix}[{key}]" if prefix else str(key), item)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                yield from fields(f"{prefix}[{index}]", item)
        elif isinstance(value, bool):
            yield prefix, "true" if value else "false"
        elif value is not None:
            yield prefix, str(value)

    return urlencode(list(fields("", params))).encode()


def stripe_call(path: str, params: Mapping[str, Any], stripe_key: str) -> HttpRequest:
    """One Stripe API call as the service's SDK makes it (form body, secret key)."""
    headers = {
        "Authorization": f"Bearer {stripe_key}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return HttpRequest("POST", path, headers, stripe_form(params))


def purchase_package() -> Package:
    return next(p for p in DEFAULT_PACKAGES if p.package_id == PURCHASED)


def service_site(site: BenchSite) -> Site:
    """The bench's site as the service holds it (what its Stripe calls' metadata read)."""
    return Site(site.site_id, site.instance_id, site.site_url, "bench@example.com", "", "")


def _purchase_body(site: BenchSite, user_id: int) -> dict[str, Any]:
    package = purchase_package()
    page = f"{site.site_url}/wp-admin/admin.php?page=rakubun-ai-purchase"
    return {
        "user_id": user_id,
        "user_email": user_email(user_id),
        "credit_type": package.credit_type,
        "package_id": package.package_id,
        "amount": package.price,
        "currency": package.currency,
        "return_url": page + "&session_id={CHECKOUT_SESSION_ID}&status=success",
        "cancel_url": page + "&status=cancel",
    }


def checkout_sessions(site: BenchSite, user_ids: Sequence[int], stripe_key: str) -> Scenario:
    """`POST /checkout/sessions`, against the fake Stripe's own `POST /v1/checkout/sessions`
    with the params the service sends for the same requests."""
    headers = site.wordpress_headers()
    bodies = [_purchase_body(site, u) for u in user_ids]
    requests = tuple(
        HttpRequest("POST", f"{API}/checkout/sessions", headers, _body(b)) for b in bodies
    )
    held, package = service_site(site), purchase_package()
    reference = tuple(
        stripe_call(
            "/v1/checkout/sessions",
            purchases.checkout_session_params(
                held, user_key(b["user_id"]), b["user_email"], package, b
            ),
            stripe_key,
        )
        for b in bodies
    )
    return Scenario(
        "checkout",
        "POST /checkout/sessions vs fake Stripe",
        requests,
        stripe_reference=reference,
        reference_title="fake Stripe's POST /v1/checkout/sessions",
    )


def payment_intents(site: BenchSite, user_ids: Sequence[int], stripe_key: str) -> Scenario:
    """`POST /payments/create-intent`, against the fake Stripe's own `POST /v1/payment_intents`
    with the params the service sends for the same requests."""
    headers = site.plugin_headers()
    bodies = [
        {**_purchase_body(site, u), "site_url": site.site_url, "instance_id": site.instance_id}
        for u in user_ids
    ]
    for body in bodies:
        del body["return_url"], body["cancel_url"]
    requests = tuple(
        HttpRequest("POST", f"{API}/payments/create-intent", headers, _body(b)) for b in bodies
    )
    held, package = service_site(site), purchase_package()
    reference = tuple(
        stripe_call(
            "/v1/payment_intents",
            purchases.payment_intent_params(held, user_key(b["user_id"]), b["user_email"], package),
            stripe_key,
        )
        for b in bodies
    )
    return Scenario(
        "create_intent",
        "POST /payments/create-intent vs fake Stripe",
        requests,
        stripe_reference=reference,
        reference_title="fake Stripe's POST /v1/payment_intents",
    )


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
