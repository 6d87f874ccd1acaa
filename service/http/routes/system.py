"""Health and header diagnostics."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version

from ...errors import StoreUnavailable
from ...runtime.metrics import pending_age
from ..answers import json_answer
from ..auth import bearer_token, token_matches
from .registry import Call, Operations, Reply

ops = Operations()

#: Echoes RAKUBUN_HARNESS_RUN: `rakubun-harness up` trusts only a health answer carrying it.
HARNESS_RUN_HEADER = "X-Rakubun-Harness-Run"


def package_version() -> str:
    """The installed package's version, from its metadata (pyproject's `version`)."""
    try:
        return version("rakubun-dashboard")
    except PackageNotFoundError:
        return "unknown"


@ops("getHealth")
async def get_health(call: Call) -> Reply:
    try:
        healthy = await call.services.store.ping()
    except Exception as exc:  # any store failure means unhealthy
        raise StoreUnavailable() from exc
    if not healthy:
        raise StoreUnavailable()
    backlog = await call.services.store.outbox_backlog()
    health = {
        "success": True,
        "status": "ok",
        "store": call.services.store.name,
        "version": package_version(),
        "outbox": {
            "pending": backlog["pending"],
            "failed": backlog["failed"],
            "oldest_pending_age_seconds": round(pending_age(backlog["oldest_pending_at"]), 3),
        },
    }
    run = call.services.settings.harness_run
    return json_answer(health, headers={HARNESS_RUN_HEADER: run}) if run else health


def _scheme(authorization: str | None) -> str | None:
    """The scheme word only; a header without one may be a bare token and is not echoed."""
    scheme, space, _ = (authorization or "").partition(" ")
    if space and re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,19}", scheme):
        return scheme
    return None


@ops("getAuthDebug")
async def get_auth_debug(call: Call) -> Reply:
    """Which headers arrived: the token only by presence and length, never its value."""
    headers = call.request.headers
    authorization = headers.get("authorization")
    token = bearer_token(call.request)
    instance_id = headers.get("x-instance-id")
    authenticated = bool(token and instance_id) and await token_matches(
        call.services, (instance_id or "").strip(), token or ""
    )
    return {
        "success": True,
        "authenticated": authenticated,
        "headers": {
            "authorization_present": authorization is not None,
            "authorization_scheme": _scheme(authorization),
            "token_length": len(token) if token else 0,
            "instance_id": instance_id,
            "user_agent": headers.get("user-agent"),
            "content_type": headers.get("content-type"),
        },
    }
