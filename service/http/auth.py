"""Who is calling: plugin sites (Bearer token + X-Instance-ID) and admins; their tokens.

Which check an operation needs is the spec's `security`, applied by `service.http.pipeline`."""

from __future__ import annotations

import hmac

from sanic.request import Request

from ..context import Services
from ..domain.models import Site
from ..domain.tokens import hash_token
from ..errors import (
    AdminNotConfigured,
    InvalidCredentials,
    MissingAuthorization,
    MissingInstanceId,
    SiteDisabled,
)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate_plugin(request: Request, services: Services) -> Site:
    """The site whose token and instance id both match, compared in constant time."""
    token = bearer_token(request)
    if token is None:
        raise MissingAuthorization("Send Authorization: Bearer <api_token> from registration")
    instance_id = request.headers.get("x-instance-id", "").strip()
    if not instance_id:
        raise MissingInstanceId()
    site = await services.store.cached_site_by_instance(instance_id)
    # Compare against a dummy hash when the instance is unknown, so timing tells nothing.
    expected = site.token_hash if site is not None else hash_token("")
    if not hmac.compare_digest(hash_token(token), expected) or site is None:
        raise InvalidCredentials("The API token does not match this instance")
    if not site.active:
        raise SiteDisabled(reason=site.disabled_reason or "")
    return site


async def token_matches(services: Services, instance_id: str, token: str) -> bool:
    """Whether `token` is the API token of the site registered as `instance_id` (what the
    auth-debug probe answers), compared in constant time as `authenticate_plugin` does."""
    site = await services.store.get_site_by_instance(instance_id)
    expected = site.token_hash if site is not None else hash_token("")
    return hmac.compare_digest(hash_token(token), expected) and site is not None


def authenticate_admin(request: Request, admin_token: str | None) -> None:
    """The bearer token is `admin_token`, compared in constant time; 503 when it is unset."""
    if not admin_token:
        raise AdminNotConfigured()
    token = bearer_token(request)
    if token is None:
        raise MissingAuthorization("Send Authorization: Bearer <admin token>")
    if not hmac.compare_digest(hash_token(token), hash_token(admin_token)):
        raise InvalidCredentials("Invalid admin token")
