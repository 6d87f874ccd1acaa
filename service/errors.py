"""Errors and the one envelope every failure answers with.

Each error a client can receive is named once below, with its status, its stable code and
a default message; handlers raise it by name (`raise SessionNotFound()`), passing a message
only when it names the thing at hand. `tests/service/test_error_catalogue.py` holds the
catalogue and the codes `openapi.yaml` documents to each other.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sanic.response import HTTPResponse

from .http.answers import json_answer


class ApiError(Exception):
    """An error the client should see: an HTTP status, a stable code and a message.

    Subclasses set `status`, `code` and `message`; extra keyword fields (e.g.
    `remaining_credits`, `retryable`) are added to the body.
    """

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    message: str = "An unexpected error occurred"
    #: True for errors of the service's own checks that the spec does not promise clients.
    internal: ClassVar[bool] = False

    def __init__(
        self, message: str | None = None, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)
        self.headers = headers or {}
        self.extra = extra

    def to_response(self) -> HTTPResponse:
        return error_response(
            self.status, self.code, self.message, headers=self.headers, **self.extra
        )


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> HTTPResponse:
    """`{"success": false, "error": code, "message": message, ...extra}` with `status`."""
    body = {"success": False, "error": code, "message": message, **extra}
    return json_answer(body, status=status, headers=headers)


# 400: the request cannot be served as sent.
class ValidationFailed(ApiError):
    status, code = 400, "validation_error"
    message = "The request breaks the schema"


class InvalidJson(ApiError):
    status, code = 400, "invalid_json"
    message = "The body is not valid JSON"


class InvalidRequest(ApiError):
    status, code = 400, "invalid_request"
    message = "The request could not be read"


class AmountMismatch(ApiError):
    status, code = 400, "amount_mismatch"
    message = "The amount differs from the package price"


class CreditTypeMismatch(ApiError):
    status, code = 400, "credit_type_mismatch"
    message = "The credit type differs from the package"


class InvalidSiteUrl(ApiError):
    status, code = 400, "invalid_site_url"
    message = "The site URL is not valid"


class SiteUrlNotPublic(ApiError):
    status, code = 400, "site_url_not_public"
    message = "Webhooks may not be sent to this site URL"


class InvalidSignature(ApiError):
    status, code = 400, "invalid_signature"
    message = "Stripe signature verification failed"


class InvalidEvent(ApiError):
    status, code = 400, "invalid_event"
    message = "The body is not a Stripe event"


# 401, 403: who is calling, and may they.
class MissingAuthorization(ApiError):
    status, code = 401, "missing_authorization"
    message = "Send Authorization: Bearer <token>"


class MissingInstanceId(ApiError):
    status, code = 401, "missing_instance_id"
    message = "Send the X-Instance-ID header"


class InvalidCredentials(ApiError):
    status, code = 401, "invalid_credentials"
    message = "The credentials are not valid"


class SiteDisabled(ApiError):
    status, code = 403, "site_disabled"
    message = "This site has been disabled"


class ProviderAccessNotApproved(ApiError):
    status, code = 403, "provider_access_not_approved"
    message = (
        "This site is not approved for the deployment's provider keys; "
        "ask the administrator to approve it"
    )


# 402: money has not moved, or not enough of it.
class PaymentNotCompleted(ApiError):
    status, code = 402, "payment_not_completed"
    message = "The payment has not been completed"


class CardDeclined(ApiError):
    status, code = 402, "card_declined"
    message = "The card was declined"


class InsufficientCredits(ApiError):
    """A deduction larger than the balance (the plugin contract: 402)."""

    status, code = 402, "insufficient_credits"
    message = "Not enough credits"


# 404: the thing named does not exist here.
class NotFound(ApiError):
    status, code = 404, "not_found"
    message = "No such endpoint"


class PackageNotFound(ApiError):
    status, code = 404, "package_not_found"
    message = "Package not found"


class NoPackages(ApiError):
    status, code = 404, "no_packages"
    message = "No credit packages are available"


class SessionNotFound(ApiError):
    status, code = 404, "session_not_found"
    message = "Checkout session not found"


class PaymentIntentNotFound(ApiError):
    status, code = 404, "payment_intent_not_found"
    message = "Payment intent not found"


class StripeNotFound(ApiError):
    status, code = 404, "stripe_not_found"
    message = "Stripe has no such object"


class InstanceNotFound(ApiError):
    status, code = 404, "instance_not_found"
    message = "Instance not found"


class SiteNotFound(ApiError):
    status, code = 404, "site_not_found"
    message = "Site not found"


class ProviderNotFound(ApiError):
    status, code = 404, "provider_not_found"
    message = "Unknown provider"


class NoProviderKey(ApiError):
    status, code = 404, "no_provider_key"
    message = "No API key is configured for the rewrite provider"


class NoStripeKey(ApiError):
    status, code = 404, "no_stripe_key"
    message = "Stripe is not configured"


class DeliveryNotFound(ApiError):
    status, code = 404, "delivery_not_found"
    message = "Webhook delivery not found"


# 409: the request conflicts with what is stored.
class DuplicateInstance(ApiError):
    status, code = 409, "duplicate_instance"
    message = "This instance is already registered"


class DuplicatePackage(ApiError):
    status, code = 409, "duplicate_package"
    message = "A package with this id exists"


class IdempotencyKeyConflict(ApiError):
    status, code = 409, "idempotency_key_reused"
    message = "This key was already used for a different request"


class AdjustmentExceedsBalance(ApiError):
    """An administrator's negative adjustment larger than the balance: a conflict with
    the stored balance (409), unlike a plugin's deduction (`InsufficientCredits`, 402)."""

    status, code = 409, "insufficient_credits"
    message = "The balance is smaller than the adjustment"


class SiteReleased(ApiError):
    status, code = 409, "site_released"
    message = "This site's instance was released; its history stays, it cannot be enabled again"


class GrantPending(ApiError):
    status, code = 409, "grant_pending"
    message = "This payment has not been granted yet; Stripe will deliver the event again"


# 415, 429: how the request arrived.
class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"
    message = "The body must be application/json"


class RateLimited(ApiError):
    status, code = 429, "rate_limited"
    message = "Too many requests"


# 5xx: the deployment or Stripe cannot serve the request.
class PaymentNotConfigured(ApiError):
    status, code = 500, "payment_not_configured"
    message = "Payment processing not configured"


class ResponseContractViolation(ApiError):
    """An answer that breaks the spec, caught by VALIDATE_RESPONSES (development only)."""

    status, code = 500, "response_contract_violation"
    message = "The answer breaks the spec"
    internal = True


class StripeError(ApiError):
    status, code = 502, "stripe_error"
    message = "Stripe failed the request"


class StripeUnreachable(ApiError):
    status, code = 502, "stripe_unreachable"
    message = "Stripe could not be reached; retry later"


class AdminNotConfigured(ApiError):
    status, code = 503, "admin_not_configured"
    message = "The admin API is disabled on this deployment"


#: Seconds a client waits before retrying when the store does not answer (`Retry-After`).
STORE_RETRY_AFTER = 3


class StoreUnavailable(ApiError):
    """The store did not answer: nothing was acknowledged; retry after `Retry-After`."""

    status, code = 503, "store_unavailable"
    message = "The store does not answer"

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        super().__init__(message, headers={"Retry-After": str(STORE_RETRY_AFTER)}, **extra)


#: Every named error, in the order above.
CATALOGUE: tuple[type[ApiError], ...] = tuple(ApiError.__subclasses__())


def error_for(code: str, status: int) -> type[ApiError]:
    """The catalogue's error with `code` and `status`, for a domain error that names its code."""
    for kind in CATALOGUE:
        if kind.code == code and kind.status == status:
            return kind
    raise LookupError(f"no {status} {code} in the error catalogue")


# Statuses of Sanic's own exceptions, in our vocabulary.
SANIC_ERROR_CODES: dict[int, tuple[str, str]] = {
    400: ("invalid_request", "The request could not be read"),
    404: ("not_found", "No such endpoint"),
    405: ("method_not_allowed", "This method is not allowed on this endpoint"),
    408: ("request_timeout", "The request took too long to arrive"),
    413: ("payload_too_large", "The request body is too large"),
    415: ("unsupported_media_type", "The body must be application/json"),
    416: ("invalid_request", "Range not satisfiable"),
    503: ("unavailable", "The service is unavailable"),
}
