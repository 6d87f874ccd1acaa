"""Stripe-shaped API errors: `{"error": {"type", "code", "message", "param"}}`."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """An error the fake answers with, in Stripe's wire shape and HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.extra = extra or {}

    def to_json(self) -> dict[str, Any]:
        """Return the response body Stripe would send for this error."""
        body: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            body["code"] = self.code
        if self.param is not None:
            body["param"] = self.param
        body.update(self.extra)
        return {"error": body}


def invalid_request(
    message: str, *, param: str | None = None, code: str | None = None
) -> StripeError:
    """A 400 `invalid_request_error`, Stripe's answer to bad parameters."""
    return StripeError(400, message, param=param, code=code)


def resource_missing(noun: str, object_id: str, *, param: str = "id") -> StripeError:
    """A 404 `resource_missing` for an unknown id, worded like Stripe."""
    return StripeError(404, f"No such {noun}: '{object_id}'", code="resource_missing", param=param)


def unexpected_state(message: str) -> StripeError:
    """A 400 for acting on an object in the wrong state (e.g. confirming a succeeded intent)."""
    return StripeError(400, message, code="payment_intent_unexpected_state")


def authentication_failed(message: str) -> StripeError:
    """A 401 for a missing or wrong API key."""
    return StripeError(401, message)
