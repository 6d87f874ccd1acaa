"""The one place that talks to Stripe, through the official SDK.

`STRIPE_API_BASE` points the SDK elsewhere (the harness's fake Stripe in tests and
`rakubun-harness up`). Stripe's exceptions become envelope errors here, so no handler
ever sees a raw SDK traceback. Every call answers Stripe's JSON object as a plain dict:
the SDK builds the request (form encoding, idempotency key, retries) and reads the error,
but no `StripeObject` tree is built for an answer only read once.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import stripe
from multidict import CIMultiDict
from stripe.params import PaymentIntentCreateParams
from stripe.params.checkout import SessionCreateParams

from ..errors import (
    ApiError,
    CardDeclined,
    InvalidSignature,
    PaymentNotConfigured,
    StripeError,
    StripeNotFound,
    StripeUnreachable,
)
from ..settings import Settings
from .webhook_http import WebhookClient, simple_target

log = logging.getLogger("rakubun.stripe")

#: How old a `Stripe-Signature` may be (Stripe's SDK default): a replay is bounded by it.
SIGNATURE_TOLERANCE_SECONDS = 300
#: How far ahead of this machine's clock a signature may be dated: clock skew, no more (the
#: SDK bounds only the past, so a signature dated tomorrow would replay for a day).
SIGNATURE_FUTURE_SKEW_SECONDS = 30
#: Seconds one attempt of a Stripe call may take to connect, and then to be answered.
CALL_TIMEOUT_SECONDS = 20


class _StripeHTTP(stripe.HTTPClient):
    """The SDK's transport (the SDK's documented way to bring one's own): the service's own
    HTTP/1.1 client, one pool of kept-alive connections for every call. aiohttp's request
    and response machinery cost more CPU per call than the SDK's own work (`python -m
    bench --only checkout,create_intent` measures it). Every failure to be answered in
    whole is an `APIConnectionError` the SDK retries like any other."""

    name = "rakubun-http1"

    def __init__(self, timeout: float) -> None:
        super().__init__()
        context = ssl.create_default_context(cafile=stripe.ca_bundle_path)  # as the SDK's own
        self._client = WebhookClient(_addresses, timeout=timeout, ssl_context=context)

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        target = simple_target(url)
        if target is None:
            raise stripe.APIConnectionError(f"Cannot send to {url}: not a plain http(s) URL")
        body = post_data.encode() if isinstance(post_data, str) else post_data
        try:
            answer = await self._client.send(method.upper(), target, body, headers)
        except OSError as exc:  # refused, reset, cut, timed out, not HTTP, TLS refused
            raise stripe.APIConnectionError(
                f"Stripe did not answer ({type(exc).__name__})", should_retry=True
            ) from exc
        if not answer.whole:
            raise stripe.APIConnectionError("Stripe's answer was cut short", should_retry=True)
        named = CIMultiDict((n.decode("latin-1"), v.decode("latin-1")) for n, v in answer.headers)
        return answer.body, answer.status, named

    def sleep_async(self, secs: float) -> Awaitable[None]:
        return asyncio.sleep(secs)

    async def close_async(self) -> None:
        await self._client.close()


async def _addresses(host: str, port: int) -> list[str]:
    """Every address of Stripe's API host, in the resolver's order."""
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in found]


@dataclass(frozen=True)
class _Kind:
    """A kind of Stripe object the service reads or makes: its name in error messages, and
    where its collection lives."""

    name: str
    path: str


CHECKOUT_SESSIONS = _Kind("checkout session", "/v1/checkout/sessions")
PAYMENT_INTENTS = _Kind("payment intent", "/v1/payment_intents")
CHARGES = _Kind("charge", "/v1/charges")


class StripeGateway:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: stripe.StripeClient | None = None
        self._http: _StripeHTTP | None = None
        #: Told the error code of every failed Stripe API call (the metrics count them).
        self.on_error: Callable[[str], None] | None = None

    def require_configured(self) -> None:
        """Raise 500 payment_not_configured unless a secret key is set."""
        self._stripe()

    def _stripe(self) -> stripe.StripeClient:
        if not self.settings.stripe_secret_key:
            raise PaymentNotConfigured()
        if self._client is None:
            base = self.settings.stripe_api_base
            self._http = _StripeHTTP(timeout=CALL_TIMEOUT_SECONDS)
            self._client = stripe.StripeClient(
                self.settings.stripe_secret_key,
                base_addresses={"api": base.rstrip("/")} if base else None,
                http_client=self._http,
                max_network_retries=2,
            )
        return self._client

    async def close(self) -> None:
        if self._http is not None:
            try:
                await self._http.close_async()
            except Exception:  # closing is best effort
                pass
            self._http = None
            self._client = None

    async def _request(
        self, kind: _Kind, method: str, path: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """One Stripe API call about `kind`; its JSON answer as a dict, or an envelope error
        (told to `on_error`). The SDK gives each POST an idempotency key its retries reuse."""
        call = self._stripe().raw_request_async(method, path, **(params or {}))
        try:
            return await self._answer(kind.name, call)
        except ApiError as exc:
            if self.on_error is not None:
                self.on_error(exc.code)
            raise

    async def _create(self, kind: _Kind, params: Mapping[str, Any]) -> dict[str, Any]:
        return await self._request(kind, "post", kind.path, params)

    async def _retrieve(self, kind: _Kind, object_id: str) -> dict[str, Any]:
        return await self._request(kind, "get", f"{kind.path}/{quote_plus(object_id)}")

    async def _answer(self, what: str, coro: Any) -> dict[str, Any]:
        try:
            response = await coro
        except stripe.CardError as exc:
            raise CardDeclined(
                exc.user_message or "The card was declined",
                decline_code=getattr(exc, "code", None) or "card_declined",
            ) from exc
        except stripe.InvalidRequestError as exc:
            if exc.code == "resource_missing":
                raise StripeNotFound(f"Stripe has no such {what}") from exc
            log.warning("Stripe refused %s: %s", what, exc.user_message)
            raise StripeError(f"Stripe refused the {what} request", retryable=False) from exc
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            raise StripeUnreachable(retryable=True) from exc
        except stripe.AuthenticationError as exc:
            log.error("Stripe rejected the configured secret key")
            raise StripeError(
                "Stripe rejected this deployment's credentials", retryable=False
            ) from exc
        except stripe.StripeError as exc:
            raise StripeError(f"Stripe failed the {what} request", retryable=True) from exc
        answer: dict[str, Any] = response.data
        return answer

    async def create_checkout_session(self, params: SessionCreateParams) -> dict[str, Any]:
        return await self._create(CHECKOUT_SESSIONS, params)

    async def retrieve_checkout_session(self, session_id: str) -> dict[str, Any]:
        return await self._retrieve(CHECKOUT_SESSIONS, session_id)

    async def create_payment_intent(self, params: PaymentIntentCreateParams) -> dict[str, Any]:
        return await self._create(PAYMENT_INTENTS, params)

    async def retrieve_payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        return await self._retrieve(PAYMENT_INTENTS, payment_intent_id)

    async def find_checkout_session(self, payment_intent_id: str) -> dict[str, Any] | None:
        """The Checkout Session that carries a payment intent, if any (Stripe's list filter)."""
        kind, query = CHECKOUT_SESSIONS, {"payment_intent": payment_intent_id, "limit": 1}
        page = await self._request(kind, "get", kind.path, query)
        data = page.get("data") or []
        return data[0] if data else None

    async def retrieve_charge(self, charge_id: str) -> dict[str, Any]:
        return await self._retrieve(CHARGES, charge_id)

    def verify_webhook(self, payload: bytes, signature: str | None) -> None:
        """Check `Stripe-Signature` with the SDK: at most `SIGNATURE_TOLERANCE_SECONDS` old
        and `SIGNATURE_FUTURE_SKEW_SECONDS` ahead of this clock; 400 when it fails."""
        secret = self.settings.stripe_webhook_secret
        if not secret:
            raise PaymentNotConfigured("Stripe webhooks are not configured")
        if not signature:
            raise InvalidSignature("The Stripe-Signature header is missing")
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature, secret, tolerance=SIGNATURE_TOLERANCE_SECONDS
            )
        except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
            # Stripe signs UTF-8 text; bytes that are not UTF-8 cannot carry its signature.
            raise InvalidSignature() from exc
        if signed_at(signature) > time.time() + SIGNATURE_FUTURE_SKEW_SECONDS:
            raise InvalidSignature("The Stripe-Signature is dated in the future")


def signed_at(signature: str) -> int:
    """The `t=` of a header the SDK has verified, read as the SDK reads it (the first one)."""
    items = [item.split("=", 2) for item in signature.split(",")]
    return int(next(item[1] for item in items if item[0] == "t"))
