"""Buying credits: Checkout Sessions, PaymentIntents and Stripe's events, granting exactly once.

Whatever path learns of a payment first (the plugin's verify or confirm call, or Stripe's
signed event), it grants through `store.grant_once` with the same `source_ref`
(`checkout:<session id>` or `intent:<payment intent id>`), so the result is one grant.
The terms of the grant (user, credit type, credits) always come from our stored record,
which froze the package's terms at creation, never from the request or from metadata.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from stripe.params import PaymentIntentCreateParams
from stripe.params.checkout import SessionCreateParams

from ..context import Services
from ..domain import plugin_webhooks
from ..domain.checkout_urls import cancel_url, success_url
from ..domain.models import (
    CheckoutSession,
    LedgerEntry,
    MoneyResult,
    NotifyFn,
    Package,
    PaymentIntentRecord,
    PurchaseCompletion,
    Site,
    iso_from_unix,
)
from ..domain.pricing import PricingError, check_purchase_request, stripe_amount
from ..domain.users import user_key
from ..errors import (
    CreditTypeMismatch,
    PackageNotFound,
    PaymentIntentNotFound,
    PaymentNotCompleted,
    SessionNotFound,
    StripeNotFound,
    error_for,
)

log = logging.getLogger("rakubun.purchases")

SESSION_LIFETIME_SECONDS = 24 * 3600
#: An email Stripe is given as the receipt address (with `fullmatch`: `$` passes `a@b.c\n`).
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def receipt_email(email: str | None) -> str | None:
    """The address Stripe may send the receipt to: the plugin's email when it is one."""
    return email if email and EMAIL.fullmatch(email) else None


def checkout_ref(session_id: str) -> str:
    return f"checkout:{session_id}"


def intent_ref(payment_intent_id: str) -> str:
    return f"intent:{payment_intent_id}"


async def priced_package(services: Services, body: dict[str, Any]) -> Package:
    """The active package the request names, after checking the request agrees with it."""
    package = await services.store.get_package(body["package_id"])
    if package is None or not package.active:
        raise PackageNotFound(f"No active package {body['package_id']}")
    try:
        check_purchase_request(package, body)
    except PricingError as exc:
        raise error_for(exc.code, 400)(exc.message) from exc
    return package


def _metadata(site: Site, user_id: str, package: Package) -> dict[str, str]:
    return {
        "site_id": site.site_id,
        "instance_id": site.instance_id,
        "user_id": user_id,
        "package_id": package.package_id,
        "credit_type": package.credit_type,
        "credits": str(package.credits),
    }


# --------------------------------------------------------------------------- opening
@dataclass(frozen=True)
class _Order:
    """A purchase request checked against its package: who buys which package, on which site."""

    site: Site
    user_id: str
    email: str | None
    package: Package

    def terms(self) -> dict[str, Any]:
        """The terms a purchase record freezes at creation: who buys, and the package's price."""
        return {
            "site_id": self.site.site_id,
            "user_id": self.user_id,
            "user_email": self.email,
            "package_id": self.package.package_id,
            "credit_type": self.package.credit_type,
            "credits": self.package.credits,
            "amount": self.package.price,
            "currency": self.package.currency.upper(),
        }


#: Has Stripe open the payment of an order: the purchase record to store, and the ids the
#: plugin pays with.
_Opener = Callable[
    [Services, _Order, dict[str, Any]],
    Awaitable[tuple[CheckoutSession | PaymentIntentRecord, dict[str, Any]]],
]


async def create_checkout_session(
    services: Services, site: Site, body: dict[str, Any]
) -> dict[str, Any]:
    """A Checkout Session for the package the request names."""
    return await _open_purchase(services, site, body, _open_checkout_session)


async def create_payment_intent(
    services: Services, site: Site, body: dict[str, Any]
) -> dict[str, Any]:
    """A PaymentIntent for the package the request names."""
    return await _open_purchase(services, site, body, _open_payment_intent)


async def _open_purchase(
    services: Services, site: Site, body: dict[str, Any], open_at_stripe: _Opener
) -> dict[str, Any]:
    """Check the request against its package (and answer 500 before any write when Stripe is
    unset), have Stripe open the payment, then store the purchase, its buyer first (a new user
    gets the free credits): all before the plugin is answered, nothing held across the call."""
    package = await priced_package(services, body)
    services.stripe.require_configured()
    order = _Order(site, user_key(body["user_id"]), body.get("user_email") or None, package)
    record, stripe_ids = await open_at_stripe(services, order, body)
    await services.store.ensure_user(
        site.site_id, order.user_id, order.email, services.settings.free_credits
    )
    if isinstance(record, CheckoutSession):
        await services.store.create_checkout_session(record)
    else:
        await services.store.create_payment_intent(record)
    return {
        "success": True,
        **stripe_ids,
        "amount": package.price,
        "currency": package.currency.upper(),
        "credit_type": package.credit_type,
        "credits": package.credits,
        "package_id": package.package_id,
    }


async def _open_checkout_session(
    services: Services, order: _Order, body: dict[str, Any]
) -> tuple[CheckoutSession, dict[str, Any]]:
    session = await services.stripe.create_checkout_session(
        checkout_session_params(order.site, order.user_id, order.email, order.package, body)
    )
    url = session.get("url")
    expires_at = iso_from_unix(time.time() + SESSION_LIFETIME_SECONDS)
    record = CheckoutSession(
        session_id=session["id"], **order.terms(), url=url, expires_at=expires_at
    )
    return record, {"session_id": session["id"], "url": url, "checkout_url": url}


async def _open_payment_intent(
    services: Services, order: _Order, body: dict[str, Any]
) -> tuple[PaymentIntentRecord, dict[str, Any]]:
    intent = await services.stripe.create_payment_intent(
        payment_intent_params(order.site, order.user_id, order.email, order.package)
    )
    record = PaymentIntentRecord(payment_intent_id=intent["id"], **order.terms())
    return record, {"client_secret": intent["client_secret"], "payment_intent_id": intent["id"]}


def checkout_session_params(
    site: Site, user_id: str, email: str | None, package: Package, body: dict[str, Any]
) -> SessionCreateParams:
    """What Stripe is asked for: one line item at the package's price, the purchase's
    identity in the metadata of the session and of its payment intent."""
    metadata = _metadata(site, user_id, package)
    params: SessionCreateParams = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": package.currency.lower(),
                    "unit_amount": stripe_amount(package),
                    "product_data": {
                        "name": package.name,
                        "description": package.description or package.name,
                    },
                },
                "quantity": 1,
            }
        ],
        "success_url": success_url(body.get("return_url"), site.site_url),
        "cancel_url": cancel_url(body.get("cancel_url"), site.site_url),
        "client_reference_id": f"{site.site_id}:{user_id}",
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
    }
    if address := receipt_email(email):
        params["customer_email"] = address
    return params


def payment_intent_params(
    site: Site, user_id: str, email: str | None, package: Package
) -> PaymentIntentCreateParams:
    """What Stripe is asked for: the package's price, the purchase's identity in metadata."""
    params: PaymentIntentCreateParams = {
        "amount": stripe_amount(package),
        "currency": package.currency.lower(),
        "metadata": _metadata(site, user_id, package),
        "description": f"{package.name} ({package.credits} {package.credit_type} credits)",
        "automatic_payment_methods": {"enabled": True},
    }
    if address := receipt_email(email):
        params["receipt_email"] = address
    return params


# --------------------------------------------------------------------------- checkout
async def own_session(services: Services, site: Site, session_id: str) -> CheckoutSession:
    record = await services.store.get_checkout_session(session_id)
    if record is None or record.site_id != site.site_id:
        raise SessionNotFound()
    return record


async def _stripe_session(services: Services, session_id: str) -> dict[str, Any]:
    try:
        return await services.stripe.retrieve_checkout_session(session_id)
    except StripeNotFound as exc:
        raise SessionNotFound() from exc


async def verify_checkout_session(
    services: Services, site: Site, session_id: str
) -> dict[str, Any]:
    record = await own_session(services, site, session_id)
    first = await services.store.get_ledger_entry(checkout_ref(session_id))
    if first is not None:
        return await _already(services, first)
    stripe_session = await _stripe_session(services, session_id)
    if isinstance(stripe_session.get("payment_intent"), str):
        # Learnt now, so a refund or dispute of this payment finds its purchase.
        await services.store.link_checkout_payment_intent(
            session_id, stripe_session["payment_intent"]
        )
    if stripe_session.get("payment_status") not in ("paid", "no_payment_required"):
        if stripe_session.get("status") == "expired":
            await services.store.transition_checkout_session(session_id, "pending", "expired", {})
        raise PaymentNotCompleted(payment_status=stripe_session.get("payment_status") or "unpaid")
    result = await grant_checkout(services, site, record, stripe_session.get("payment_intent"))
    return grant_reply(result)


async def checkout_session_status(
    services: Services, site: Site, session_id: str
) -> dict[str, Any]:
    record = await own_session(services, site, session_id)
    payment_status = "paid" if record.status == "completed" else None
    if record.status == "pending":
        stripe_session = await _stripe_session(services, session_id)
        payment_status = stripe_session.get("payment_status")
        if stripe_session.get(
            "status"
        ) == "expired" and await services.store.transition_checkout_session(
            session_id, "pending", "expired", {}
        ):
            record = await own_session(services, site, session_id)
    return {
        "success": True,
        "session_id": record.session_id,
        "status": record.status,
        "payment_status": payment_status,
        "package_id": record.package_id,
        "credit_type": record.credit_type,
        "credits": record.credits,
        "amount": record.amount,
        "currency": record.currency,
        "user_id": record.user_id,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
        "completed_at": record.completed_at,
        "url": record.url,
    }


#: Per kind of purchase record: the `source_ref` its grant is made once under, and the name
#: of its id in the ledger entry's meta and in the plugin's webhook.
_GRANT_KEYS = {
    "checkout": (checkout_ref, "session_id"),
    "intent": (intent_ref, "payment_intent_id"),
}


async def _grant_purchase(
    services: Services,
    site: Site,
    record: CheckoutSession | PaymentIntentRecord,
    purchase: PurchaseCompletion,
) -> MoneyResult:
    """Grant a purchase record's frozen terms once under its `source_ref`, notifying the
    plugin; the record becomes `completed` in the same transaction."""
    make_ref, id_name = _GRANT_KEYS[purchase.kind]
    ref, identity = make_ref(purchase.record_id), {id_name: purchase.record_id}
    result = await services.store.grant_once(
        record.site_id,
        record.user_id,
        record.credit_type,
        record.credits,
        ref,
        kind="purchase",
        reason=ref.split(":", 1)[0],
        meta={
            **identity,
            "package_id": record.package_id,
            "amount": record.amount,
            "currency": record.currency,
        },
        notify=await credits_notice(
            services,
            site,
            record.user_id,
            record.user_email,
            "purchase",
            {"credits_added": record.credits, "package_id": record.package_id, **identity},
        ),
        purchase=purchase,
    )
    if result.applied:
        services.dispatcher.wake()
    return result


async def grant_checkout(
    services: Services, site: Site, record: CheckoutSession, payment_intent_id: Any
) -> MoneyResult:
    """Grant a paid session once and mark it completed (whatever its status, even expired)
    with its payment intent, together."""
    intent = payment_intent_id if isinstance(payment_intent_id, str) else None
    completion = PurchaseCompletion("checkout", record.session_id, intent)
    return await _grant_purchase(services, site, record, completion)


async def credits_notice(
    services: Services,
    site: Site,
    user_id: str,
    email: str | None,
    reason: str,
    extra: dict[str, Any] | None = None,
) -> NotifyFn:
    """The `credits_updated` builder for a user, with the stored email when the purchase
    carried none."""
    if not email:
        user = await services.store.get_user(site.site_id, user_id)
        email = user.email if user else None
    return plugin_webhooks.credits_updated(site, user_email=email, reason=reason, extra=extra)


def grant_reply(result: MoneyResult) -> dict[str, Any]:
    entry = result.entry
    assert entry is not None
    return {
        "success": True,
        "status": "completed" if result.applied else "already_completed",
        "credits_added": entry.delta,
        "credit_type": entry.credit_type,
        "transaction_id": entry.transaction_id,
        "remaining_credits": result.balances.to_api(),
    }


async def _already(services: Services, first: LedgerEntry) -> dict[str, Any]:
    """The answer to a repeat: the first grant, with the balances as they are now."""
    user = await services.store.get_user(first.site_id, first.user_id)
    assert user is not None, "a grant always creates its user"
    return grant_reply(MoneyResult(False, first, user.balances))


# --------------------------------------------------------------------------- intents
async def confirm_payment(services: Services, site: Site, body: dict[str, Any]) -> dict[str, Any]:
    intent_id = body["payment_intent_id"]
    record = await services.store.get_payment_intent(intent_id)
    if record is None or record.site_id != site.site_id:
        raise PaymentIntentNotFound()
    if body.get("credit_type") not in (None, record.credit_type):
        raise CreditTypeMismatch(
            f"This payment bought {record.credit_type} credits, not {body['credit_type']}"
        )
    first = await services.store.get_ledger_entry(intent_ref(intent_id))
    if first is not None:
        return await _already(services, first)
    intent = await services.stripe.retrieve_payment_intent(intent_id)
    if intent.get("status") != "succeeded":
        raise PaymentNotCompleted(payment_status=intent.get("status") or "unknown")
    return grant_reply(await grant_intent(services, site, record))


async def grant_intent(services: Services, site: Site, record: PaymentIntentRecord) -> MoneyResult:
    """Grant a succeeded direct payment once and mark it completed, together."""
    completion = PurchaseCompletion("intent", record.payment_intent_id)
    return await _grant_purchase(services, site, record, completion)
