"""The domain's data: plain dataclasses that know nothing of Sanic, Stripe or a database."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

CREDIT_TYPES: tuple[str, ...] = ("article", "image", "rewrite")


def now_iso() -> str:
    """The current UTC time as ISO 8601 with a `Z`, to the microsecond."""
    return _iso_from_ns(time.time_ns())


# The text of the last second formatted, with that second: a deduction stamps three times,
# and `strftime` costs more than the rest of a stamp. One tuple, swapped whole across threads.
_last_second: tuple[int, str] = (-1, "")


def _iso_from_ns(ns: int) -> str:
    second, rest = divmod(ns, 1_000_000_000)
    return f"{_second_text(second)}.{rest // 1000:06d}Z"


def _second_text(second: int) -> str:
    """`second` (Unix) as `YYYY-MM-DDTHH:MM:SS`, the last one asked kept."""
    global _last_second
    cached, text = _last_second
    if cached != second:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _last_second = (second, text)
    return text


def iso_from_unix(ts: float | None) -> str | None:
    """A Unix time as ISO 8601 with a `Z`, to the microsecond, rounded as `datetime` rounds."""
    if ts is None:
        return None
    fraction, whole = math.modf(ts)
    micros = round(fraction * 1_000_000)  # half to even, as datetime.fromtimestamp
    second, micros = int(whole) + micros // 1_000_000, micros % 1_000_000
    # strftime once a second: a batch of webhook attempts stamps each (datetime's strftime
    # went through time.strftime on every call).
    return f"{_second_text(second)}.{micros:06d}Z"


def unix_now() -> float:
    return time.time()


@dataclass(frozen=True)
class Balances:
    """A user's balance of each credit type. May be negative after a refund or dispute."""

    article: int = 0
    image: int = 0
    rewrite: int = 0

    def of(self, credit_type: str) -> int:
        return int(getattr(self, credit_type))

    def to_api(self) -> dict[str, int]:
        return {f"{t}_credits": self.of(t) for t in CREDIT_TYPES}

    @classmethod
    def from_mapping(cls, values: dict[str, int]) -> Balances:
        return cls(**{t: int(values.get(t, 0)) for t in CREDIT_TYPES})


def view(record: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The fields `names` of `record`, in that order: what an answer shows of a record."""
    return {name: getattr(record, name) for name in names}


#: What a site's record shows its plugin and admins, in this order: every field but the
#: token's hash, the webhook secret and the configuration.
PUBLIC_SITE_FIELDS = (
    "site_id",
    "instance_id",
    "site_url",
    "admin_email",
    "status",
    "disabled_reason",
    "metadata",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class Site:
    """A registered WordPress site. Its API token is kept only as a SHA-256 hash."""

    site_id: str
    instance_id: str
    site_url: str
    admin_email: str
    token_hash: str
    webhook_secret: str
    status: str = "active"
    disabled_reason: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)

    @property
    def active(self) -> bool:
        return self.status == "active"

    def public(self) -> dict[str, Any]:
        """The site as shown to its plugin and to admins: never the token hash or the secret."""
        public = view(self, PUBLIC_SITE_FIELDS)
        public["metadata"] = dict(self.metadata)
        return public


@dataclass(frozen=True)
class User:
    site_id: str
    user_id: str
    email: str | None
    balances: Balances
    created_at: str

    def to_api(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "user_email": self.email,
            "credits": self.balances.to_api(),
            "created_at": self.created_at,
        }


#: What the ledger pages show of an entry, in this order (not its parent ref, not its meta).
LEDGER_API_FIELDS = (
    "transaction_id",
    "site_id",
    "user_id",
    "credit_type",
    "delta",
    "balance_after",
    "kind",
    "source_ref",
    "reason",
    "created_at",
)


@dataclass(frozen=True)
class LedgerEntry:
    """One change to one balance. The ledger is append-only; balances are its running sums."""

    transaction_id: str
    site_id: str
    user_id: str
    credit_type: str
    delta: int
    balance_after: int
    # free (a new user's welcome grant) | purchase | deduction | reversal (takes back part of
    # a purchase: refund, dispute) | restore (gives it back: dispute won, funds reinstated)
    # | adjustment
    kind: str
    source_ref: str
    parent_ref: str | None = None
    reason: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=now_iso)

    def to_api(self) -> dict[str, Any]:
        """The entry as the ledger pages show it (`LEDGER_API_FIELDS`)."""
        return view(self, LEDGER_API_FIELDS)


@dataclass(frozen=True)
class MoneyResult:
    """What a money primitive did. `applied` is False when it replayed an earlier result
    (same source_ref or idempotency key) or had nothing to do; `entry` is then the first one."""

    applied: bool
    entry: LedgerEntry | None
    balances: Balances


@dataclass(frozen=True)
class UserSeed:
    """What `Store.ensure_user` takes besides the user's key: given to a deduction, the store
    ensures the user inside the deduction's own write (one store round trip, not two)."""

    email: str | None
    free_credits: dict[str, int]


@dataclass(frozen=True)
class DeductResult:
    ok: bool
    entry: LedgerEntry | None
    balances: Balances
    replayed: bool = False


@dataclass(frozen=True)
class Package:
    """A credit package as the server sells it: `price` in the currency's smallest unit, the
    only price a purchase ever charges."""

    package_id: str
    name: str
    credit_type: str
    credits: int
    price: int
    currency: str
    description: str = ""
    is_popular: bool = False
    active: bool = True
    sort_order: int = 0

    def to_api(self) -> dict[str, Any]:
        data = asdict(self)
        data["id"] = self.package_id
        return data


@dataclass(frozen=True)
class CheckoutSession:
    """Our record of a Stripe Checkout Session: the package's terms are frozen here at creation."""

    session_id: str
    site_id: str
    user_id: str
    user_email: str | None
    package_id: str
    credit_type: str
    credits: int
    amount: int
    currency: str
    status: str = "pending"
    url: str | None = None
    payment_intent_id: str | None = None
    created_at: str = field(default_factory=now_iso)
    expires_at: str | None = None
    completed_at: str | None = None


@dataclass(frozen=True)
class PaymentIntentRecord:
    """Our record of a Stripe PaymentIntent of the direct flow; its terms decide the grant."""

    payment_intent_id: str
    site_id: str
    user_id: str
    user_email: str | None
    package_id: str
    credit_type: str
    credits: int
    amount: int
    currency: str
    status: str = "pending"
    created_at: str = field(default_factory=now_iso)
    completed_at: str | None = None


@dataclass(frozen=True)
class PurchaseCompletion:
    """The purchase record a grant completes in the same transaction: its status becomes
    `completed` (from pending or expired), with the payment intent and time it lacked."""

    kind: str  # "checkout" (a CheckoutSession) or "intent" (a PaymentIntentRecord)
    record_id: str
    payment_intent_id: str | None = None
    completed_at: str = field(default_factory=now_iso)


@dataclass(frozen=True)
class WebhookDraft:
    """A plugin webhook to enqueue: the dispatcher signs `body` with the site's secret.

    A draft claimed at birth (`WebhookDispatcher.claiming`) names its delivery id and comes
    leased to `lease_owner` until `lease_until`: its row is made already claimed, and the
    dispatcher that claimed it delivers it without a claim of its own."""

    site_id: str
    url: str
    event: str
    body: str
    delivery_id: str | None = None
    lease_owner: str | None = None
    lease_until: float | None = None


@dataclass(frozen=True)
class WebhookAttempt:
    attempt: int
    at: float
    status_code: int | None
    error: str | None
    duration_ms: float | None

    def to_api(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "at": iso_from_unix(self.at),
            "status_code": self.status_code,
            "error": self.error,
            "duration_ms": self.duration_ms,
        }


@dataclass(frozen=True)
class AttemptOutcome:
    """One attempt of one leased delivery, to record: delivered, rescheduled at
    `next_attempt_at`, or failed for good (not delivered and `next_attempt_at` None)."""

    delivery_id: str
    attempt: WebhookAttempt
    delivered: bool
    next_attempt_at: float | None = None

    @property
    def status(self) -> str:
        if self.delivered:
            return "delivered"
        return "pending" if self.next_attempt_at is not None else "failed"


@dataclass(frozen=True)
class WebhookDelivery:
    """One signed webhook to a site's plugin in the durable outbox (`service/outbound/notify.py`
    delivers it), with its attempts."""

    delivery_id: str
    site_id: str
    event: str
    url: str
    body: str
    status: str  # pending | delivered | failed
    attempts: int
    next_attempt_at: float | None
    last_status_code: int | None
    last_error: str | None
    created_at: str
    delivered_at: str | None = None
    attempt_log: tuple[WebhookAttempt, ...] = ()


@dataclass(frozen=True)
class ReconcileReport:
    balances_checked: int
    differences: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        return not self.differences


#: Builds the webhook for a money change from its ledger entry and the balances after it;
#: runs inside the store's transaction so the webhook is enqueued with the change or not at all.
NotifyFn = Callable[[LedgerEntry, Balances], WebhookDraft | None]
