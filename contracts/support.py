"""What the schemathesis suites share: the service (`tests.support.service.ServiceThread`)
and a fake Stripe on real sockets in background threads (schemathesis calls are synchronous),
and auth from a freshly registered site.

Nothing here registers hooks or auth globally; `contracts/schemathesis_hooks.py` does that for
the `schemathesis` CLI, the pytest suites attach `SiteAuth` to their own schema.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:  # the schemathesis CLI's hooks import this module without the service
    from tests.support.service import ServiceThread

REPO_ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = REPO_ROOT / "openapi.yaml"
CONFIG_PATH = REPO_ROOT / "schemathesis.toml"
API_PREFIX = "/api/v1"
STRIPE_KEY = "sk_test_contract_suite"
STRIPE_WEBHOOK_SECRET = "whsec_contract_suite_secret"
STRIPE_PUBLIC_KEY = "pk_test_contract_suite"


# -- credentials -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SiteCredentials:
    """A site registered for a fuzzing run: what the plugin would keep in its options."""

    site_id: str
    instance_id: str
    api_token: str
    webhook_secret: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_token}", "X-Instance-ID": self.instance_id}


def register_site(api_url: str, *, timeout: float = 10.0) -> SiteCredentials:
    """Register a fresh WordPress site (a new instance id) and answer its credentials."""
    instance_id = f"contract-{uuid.uuid4()}"
    response = httpx.post(
        f"{api_url.rstrip('/')}{API_PREFIX}/plugins/register",
        timeout=timeout,
        json={
            "instance_id": instance_id,
            "site_url": "http://127.0.0.1:9/contract-site",
            "admin_email": "contract@example.com",
            "site_title": "schemathesis",
            "plugin_version": "2.2.0",
        },
    )
    if response.status_code != 200:
        raise RuntimeError(
            f"registering a site at {api_url} answered "
            f"{response.status_code}: {response.text[:300]}"
        )
    body = response.json()
    return SiteCredentials(
        body["site_id"], body["instance_id"], body["api_token"], body["webhook_secret"]
    )


def security_of(operation: Any) -> str:
    """`plugin`, `admin`, `stripe` or `public`: how the service itself reads the operation's
    `security` in the spec (`service.http.contract`), so the fuzzer authenticates as it checks."""
    from service.http.contract import Contract

    return Contract.load().operations[operation.definition.raw["operationId"]].security


#: How the service writes an API token (`service.domain.tokens.new_api_token`).
ISSUED_BEARER = re.compile(r"Bearer rk_[A-Za-z0-9_-]{43}")


def carried_site_headers(case: Any) -> dict[str, str] | None:
    """A site's credentials that a stateful link carried into the case (from a registration
    or the step before), if any; generated headers never look like an issued token."""
    headers = case.headers or {}
    authorization = headers.get("Authorization")
    instance_id = headers.get("X-Instance-ID")
    if (
        isinstance(authorization, str)
        and ISSUED_BEARER.fullmatch(authorization)
        and isinstance(instance_id, str)
        and instance_id
    ):
        return {"Authorization": authorization, "X-Instance-ID": instance_id}
    return None


class SiteAuth:
    """Schemathesis auth provider: plugin operations get the token and instance id of a site
    registered at the start of the run, admin operations the admin token.

    The target is the schema's base URL (`--url` on the CLI), so one provider serves any
    deployment; `admin_token` is a class attribute, see `with_admin_token`.
    """

    admin_token: str | None = None

    def __init__(self) -> None:
        self._sites: dict[str, SiteCredentials] = {}
        self._lock = threading.Lock()

    @classmethod
    def with_admin_token(cls, token: str | None) -> type[SiteAuth]:
        """This provider bound to an admin token (schemathesis instantiates it without args)."""
        return type(cls.__name__, (cls,), {"admin_token": token})

    def site_for(self, api_url: str) -> SiteCredentials:
        with self._lock:
            if api_url not in self._sites:
                self._sites[api_url] = register_site(api_url)
            return self._sites[api_url]

    def admin_token_for(self, api_url: str) -> str | None:
        return self.admin_token

    def get(self, case: Any, context: Any) -> dict[str, str] | None:
        api_url = context.operation.schema.get_base_url()
        kind = security_of(context.operation)
        if kind == "plugin":
            return carried_site_headers(case) or self.site_for(api_url).headers()
        admin_token = self.admin_token_for(api_url) if kind == "admin" else None
        if admin_token:
            return {"Authorization": f"Bearer {admin_token}"}
        return None

    def set(self, case: Any, data: dict[str, str], context: Any) -> None:
        case.headers = {**(case.headers or {}), **data}


# -- harness.json -------------------------------------------------------------------------------


def harness_settings(data_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """harness.json of a running `rakubun-harness up` ({} when there is none)."""
    directory = Path(data_dir or os.environ.get("RAKUBUN_HARNESS_DIR") or ".harness")
    path = directory / "harness.json"
    if not path.is_file():
        return {}
    return dict(json.loads(path.read_text()))


def stripe_overrides(stripe_url: str) -> dict[str, Any]:
    """Service settings that point its Stripe gateway at a fake Stripe."""
    return {
        "stripe_secret_key": STRIPE_KEY,
        "stripe_api_base": stripe_url,
        "stripe_webhook_secret": STRIPE_WEBHOOK_SECRET,
        "stripe_public_key": STRIPE_PUBLIC_KEY,
    }


# -- the pytest suites' target ------------------------------------------------------------------

#: The fuzzer registers sites at made-up URLs (unresolvable names, unroutable addresses) and
#: every package change notifies every site: fail those deliveries fast and retry them late,
#: so an admin flush (one batch, after the round in flight) answers in about a second.
FUZZED_SERVICE_SETTINGS: dict[str, Any] = {
    "rate_limit_per_minute": 1_000_000,
    "webhook_timeout_seconds": 0.5,
    "webhook_retry_delays": (3600.0,),
}


class SchemaTarget:
    """The fake Stripe and the service the pytest schemathesis suites fuzz, once per process.

    They start when a suite module is imported, not in a fixture: schemathesis builds its
    example and coverage cases, auth headers included, while pytest collects.
    """

    def __init__(self) -> None:
        self.stripe: Any = None
        self.service: ServiceThread | None = None
        self._data_dir: Path | None = None
        self._lock = threading.Lock()

    def start(self) -> ServiceThread:
        with self._lock:
            if self.service is None:
                from harness.fake_stripe import run_fake_stripe_in_thread
                from tests.support.service import ServiceThread

                self._data_dir = Path(tempfile.mkdtemp(prefix="rakubun-schema-"))
                self.stripe = run_fake_stripe_in_thread(
                    secret_key=STRIPE_KEY,
                    publishable_key=STRIPE_PUBLIC_KEY,
                    retry_delays=(0.05, 0.1),
                )
                self.service = ServiceThread.start(
                    self._data_dir, **FUZZED_SERVICE_SETTINGS, **stripe_overrides(self.stripe.url)
                )
                # Payments completed on the fake reach the service as signed events.
                self.stripe.add_webhook_endpoint(
                    f"{self.service.url}/api/v1/webhooks/stripe", secret=STRIPE_WEBHOOK_SECRET
                )
            return self.service

    def stop(self) -> None:
        with self._lock:
            if self.service is not None:
                self.service.stop()
                self.service = None
            if self.stripe is not None:
                self.stripe.stop()
                self.stripe = None
            if self._data_dir is not None:
                shutil.rmtree(self._data_dir, ignore_errors=True)
                self._data_dir = None


#: The one target of this pytest process (stopped by contracts/conftest.py at session end).
SCHEMA_TARGET = SchemaTarget()


def load_contract_schema(service: ServiceThread) -> Any:
    """openapi.yaml aimed at `service`, with auth from a site registered on it."""
    import schemathesis

    # The users' schemathesis.toml: same checks and generation; its hooks' auth yields to ours.
    schema = schemathesis.openapi.from_path(
        SPEC_PATH, config=schemathesis.Config.from_path(CONFIG_PATH)
    )
    schema.config.update(base_url=service.url)
    schema.auth(refresh_interval=None)(SiteAuth.with_admin_token(service.admin_token))
    return schema
