"""The one place that talks to Stripe, through the official SDK.

`STRIPE_API_BASE` points the SDK elsewhere (the harness's fake Stripe in tests and
`rakubun-harness up`). Stripe's exceptions become envelope errors here, so no handler
ever sees a raw SDK traceback. Every call answers Stripe's JSON object as a plain dict:
the SDK builds the request (form encoding, idempotency key, retries) and reads the error,
but no `StripeObject` tree is built for an answer only read once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import stripe
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

log = logging.getLogger("rakubun.stripe")

#: How old a `Stripe-Signature` may be (Stripe's SDK default): a replay is bounded by it.
SIGNATURE_TOLERANCE_SECONDS = 300
#: How far ahead of this machine's clock a signature may be dated: clock skew, no more (the
#: SDK bounds only the past, so a signature dated tomorrow would replay for a day).
SIGNATURE_FUTURE_SKEW_SECONDS = 30
#: Seconds one attempt of a Stripe call may take, connection and answer together.
CALL_TIMEOUT_SECONDS = 20


class _StripeHTTP(stripe.AIOHTTPClient):
    """The SDK's aiohttp client, which keeps one connection pool for every call (httpx's pool
    scanned each connection per request and closed all but 20 idle ones under load), with
    the answer's body read inside the SDK's error handling, so a connection lost mid-answer
    is an `APIConnectionError` the SDK retries like any other."""

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        content, status, answer_headers = await self.request_stream_async(
            method, url, headers, post_data=post_data
        )
        try:
            body = await content.read()
        except Exception as exc:  # whatever aiohttp raises, the SDK maps and retries it
            self._handle_request_error(exc)
        return body, status, answer_headers

    async def close_async(self) -> None:
        if self._cached_session is not None:
            await self._cached_session.close()
            self._cached_session = None


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
            self._http = _StripeHTTP(timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_SECONDS))
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
        self,
        what: str,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """One Stripe API call; its JSON answer as a dict, or an envelope error."""
        options = {"idempotency_key": idempotency_key} if idempotency_key else {}
        call = self._stripe().raw_request_async(method, path, **(params or {}), **options)
        return await self._call(what, call)

    async def _call(self, what: str, coro: Any) -> dict[str, Any]:
        try:
            return await self._answer(what, coro)
        except ApiError as exc:
            if self.on_error is not None:
                self.on_error(exc.code)
            raise

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

    async def create_checkout_session(
        self, params: SessionCreateParams, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        return await self._request(
            "checkout session", "post", "/v1/checkout/sessions", params, idempotency_key
        )

    async def retrieve_checkout_session(self, session_id: str) -> dict[str, Any]:
        return await self._request(
            "checkout session", "get", f"/v1/checkout/sessions/{quote_plus(session_id)}"
        )

    async def create_payment_intent(
        self, params: PaymentIntentCreateParams, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        return await self._request(
            "payment intent", "post", "/v1/payment_intents", params, idempotency_key
        )

    async def retrieve_payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        return await self._request(
            "payment intent", "get", f"/v1/payment_intents/{quote_plus(payment_intent_id)}"
        )

    async def find_checkout_session(self, payment_intent_id: str) -> dict[str, Any] | None:
        """The Checkout Session that carries a payment intent, if any (Stripe's list filter)."""
        page = await self._request(
            "checkout session",
            "get",
            "/v1/checkout/sessions",
            {"payment_intent": payment_intent_id, "limit": 1},
        )
        data = page.get("data") or []
        return data[0] if data else None

    async def retrieve_charge(self, charge_id: str) -> dict[str, Any]:
        return await self._request("charge", "get", f"/v1/charges/{quote_plus(charge_id)}")

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
