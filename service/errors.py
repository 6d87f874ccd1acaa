"""Errors and the one envelope every failure answers with."""

from __future__ import annotations

from typing import Any

from sanic.response import HTTPResponse, json


class ApiError(Exception):
    """An error the client should see: an HTTP status, a stable code and a message.

    Extra keyword fields (e.g. `remaining_credits`, `retryable`) are added to the body.
    """

    def __init__(self, status: int, code: str, message: str, *,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra

    def to_response(self) -> HTTPResponse:
        return error_response(self.status, self.code, self.message, headers=self.headers,
                              **self.extra)


def error_response(status: int, code: str, message: str, *,
                   headers: dict[str, str] | None = None, **extra: Any) -> HTTPResponse:
    """`{"success": false, "error": code, "message": message, ...extra}` with `status`."""
    body = {"success": False, "error": code, "message": message, **extra}
    return json(body, status=status, headers=headers)


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
