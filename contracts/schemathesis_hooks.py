"""Schemathesis hooks for fuzzing a running service from the command line.

Loaded by `hooks = "contracts.schemathesis_hooks"` in schemathesis.toml (or
`SCHEMATHESIS_HOOKS=contracts.schemathesis_hooks`), from the repository root:

    schemathesis run http://127.0.0.1:<port>/api/v1/openapi.json

Plugin operations authenticate as a site registered on the target when the run starts;
admin operations with RAKUBUN_ADMIN_TOKEN, else the `admin_token` of the harness.json of
`rakubun-harness up` (in .harness/, or RAKUBUN_HARNESS_DIR) when it names the same API URL.
"""

from __future__ import annotations

import os

import schemathesis

from contracts.support import SiteAuth, harness_settings


@schemathesis.auth(refresh_interval=None)
class RegisteredSiteAuth(SiteAuth):
    """A fresh site for plugin calls; the deployment's admin token for admin calls."""

    def admin_token_for(self, api_url: str) -> str | None:
        token = os.environ.get("RAKUBUN_ADMIN_TOKEN")
        if token:
            return token
        harness = harness_settings()
        if str(harness.get("api_url", "")).rstrip("/") == api_url.rstrip("/"):
            return harness.get("admin_token")
        return None
