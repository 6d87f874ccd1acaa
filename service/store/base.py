"""The store interface: everything the service persists, with its money primitives.

Every adapter (SQLite, MongoDB) must pass the same conformance suite in
`tests/store/conformance/`. Money primitives are atomic and exactly-once:
a ledger entry and its balance change happen together or not at all, and a repeated
`source_ref` (or idempotency key) returns the first result instead of acting again.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from ..domain.ids import new_delivery_id
from ..domain.models import (
    CREDIT_TYPES,
    AttemptOutcome,
    CheckoutSession,
    DeductResult,
    LedgerEntry,
    MoneyResult,
    NotifyFn,
    Package,
    PaymentIntentRecord,
    PurchaseCompletion,
    ReconcileReport,
    Site,
    User,
    UserSeed,
    WebhookDelivery,
    WebhookDraft,
    now_iso,
    unix_now,
)

# The errors and same_request are imported from here by the service: re-exported as they were.
from .errors import DuplicateError as DuplicateError
from .errors import IdempotencyKeyReused as IdempotencyKeyReused
from .errors import StoreError, StoreUnavailableError
from .errors import UnknownGrantError as UnknownGrantError
from .money_plan import Change, Reversal, deduct_ref
from .money_plan import same_request as same_request

StoreClass = TypeVar("StoreClass", bound=type)


def outages_unavailable(
    is_outage: Callable[[BaseException], bool],
) -> Callable[[StoreClass], StoreClass]:
    """A class decorator for an adapter: each public coroutine method (but `open` and
    `close`, whose failures are the deployment's) raises `StoreUnavailableError` where the
    driver raised an error `is_outage` calls an outage; other errors pass as they are."""

    def decorate(cls: StoreClass) -> StoreClass:
        # The methods of every aggregate mixin too (`__mro__`), the nearest definition first.
        methods: dict[str, Any] = {}
        for klass in cls.__mro__:
            for name, method in vars(klass).items():
                methods.setdefault(name, method)
        for name, method in methods.items():
            if name.startswith("_") or name in ("open", "close"):
                continue
            if inspect.iscoroutinefunction(method):
                setattr(cls, name, _outage_boundary(method, is_outage))
        return cls

    return decorate


def _outage_boundary(
    method: Callable[..., Awaitable[Any]], is_outage: Callable[[BaseException], bool]
) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except StoreError:
            raise
        except Exception as exc:
            if not is_outage(exc):
                raise
            raise StoreUnavailableError(type(exc).__name__) from exc

    return guarded


def check_field_names(names: Iterable[str]) -> None:
    """Refuse (ValueError) a name that is not a plain field name: empty, not a string, with a
    `.`, or starting with `$` (MongoDB would read it as a path or an operator)."""
    for name in names:
        if not isinstance(name, str) or not name or "." in name or name.startswith("$"):
            raise ValueError(f"not a field name: {name!r}")


def merged_fields(
    current: dict[str, Any], changes: dict[str, Any], remove: Iterable[str] = ()
) -> dict[str, Any]:
    """`current` with `changes` set and `remove` removed: what `update_site_config` and
    `merge_setting` write, checked as they check their keys."""
    if isinstance(remove, str):
        raise TypeError("remove is a list of names, not one name")  # else its letters
    remove = list(remove)
    check_field_names([*changes, *remove])
    if overlap := set(changes) & set(remove):
        raise ValueError(f"both set and removed: {sorted(overlap)}")
    merged = {**current, **changes}
    for name in remove:
        merged.pop(name, None)
    return merged


def new_delivery(draft: WebhookDraft) -> WebhookDelivery:
    """The pending delivery a draft makes, due now (the outbox row or document to insert)."""
    return WebhookDelivery(
        draft.delivery_id or new_delivery_id(),
        draft.site_id,
        draft.event,
        draft.url,
        draft.body,
        "pending",
        0,
        unix_now(),
        None,
        None,
        now_iso(),
    )


#: What workers may cache, each with a version counter in the store that every write of it
#: bumps (`Store.cache_versions`): sites (authentication) and packages (the catalogue).
CACHED = ("sites", "packages")


@runtime_checkable
class Store(Protocol):
    """What the service needs from a database. All methods are coroutines.

    The money primitives (grant_once, deduct, adjust, reverse) are written here once: their
    arguments become a `money_plan.Change` or `Reversal`, which an adapter that subclasses
    Store applies in one transaction of its own (`_grant`, `_covered`, `_reverse`)."""

    name: str

    # lifecycle
    async def open(self) -> None:
        """Connect, create or migrate the schema and indexes."""

    async def close(self) -> None: ...

    async def ping(self) -> bool: ...

    # sites
    async def create_site(self, site: Site) -> Site:
        """Insert a site; raise DuplicateError when its instance_id exists."""

    async def get_site(self, site_id: str) -> Site | None: ...

    async def get_site_by_instance(self, instance_id: str) -> Site | None: ...

    async def list_sites(
        self, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[Site]:
        """Sites, newest first."""

    async def update_site(self, site_id: str, fields: dict[str, Any]) -> Site | None:
        """Set site_url, admin_email, metadata (merged), status or disabled_reason. Never the
        token hash, secret or ids; never the config (TypeError: see `update_site_config`)."""

    async def update_site_config(
        self, site_id: str, changes: dict[str, Any], remove: Sequence[str] = ()
    ) -> tuple[Site, Site] | None:
        """Set the keys of `changes` and remove the keys of `remove` in a site's config, in one
        atomic write that leaves every other key as the store holds it, so concurrent writers
        of other keys never undo each other. Answers the site just before and just after the
        write, None for an unknown site. Keys as `check_field_names` wants (ValueError)."""

    async def set_site_status(
        self,
        site_id: str,
        status: str,
        disabled_reason: str | None,
        *,
        instance_id: str | None = None,
    ) -> tuple[Site, Site] | None:
        """Set a site's status and disabled_reason in one atomic write; answers the site just
        before and just after it, None for an unknown site. With `instance_id`, only while the
        site still holds that instance id: else nothing is written and both are the site."""

    async def reassign_instance(
        self, site_id: str, instance_id: str, token_hash: str
    ) -> Site | None:
        """Give a site another instance id and token hash in one write (an admin releasing
        its instance id); None for an unknown site, DuplicateError when the id is taken."""

    # users and money
    async def ensure_user(
        self, site_id: str, user_id: str, email: str | None, free_credits: dict[str, int]
    ) -> User:
        """Get the user, creating it with `free_credits` (as `free` ledger entries) on first sight.
        A non-empty email updates the stored one."""

    async def get_user(self, site_id: str, user_id: str) -> User | None: ...

    async def list_users(self, site_id: str, *, limit: int = 50, offset: int = 0) -> list[User]: ...

    async def grant_once(
        self,
        site_id: str,
        user_id: str,
        credit_type: str,
        credits: int,
        source_ref: str,
        *,
        kind: str = "purchase",
        reason: str | None = None,
        meta: dict[str, Any] | None = None,
        notify: NotifyFn | None = None,
        purchase: PurchaseCompletion | None = None,
    ) -> MoneyResult:
        """Add `credits` once per `source_ref`, whatever the number of concurrent callers.
        A repeat returns the first grant's entry with applied=False and enqueues nothing.
        With `purchase`, its record becomes `completed` (from any status, with the payment
        intent id and completed_at it lacked) in the same transaction, on a repeat too."""
        grant = Change(
            site_id, user_id, credit_type, credits, source_ref, kind, reason=reason, meta=meta or {}
        )
        return await self._grant(grant, notify, purchase)

    async def deduct(
        self,
        site_id: str,
        user_id: str,
        credit_type: str,
        amount: int,
        *,
        idempotency_key: str | None = None,
        reason: str | None = None,
        notify: NotifyFn | None = None,
        ensure: UserSeed | None = None,
    ) -> DeductResult:
        """Remove `amount` if the balance covers it (never below zero). With an idempotency key
        (scoped to the site's user) a retry returns the first result (replayed=True) and
        deducts nothing; a retry asking for another type, amount or reason raises
        IdempotencyKeyReused and writes nothing. With `ensure`, the user is first ensured as
        `ensure_user(site_id, user_id, ensure.email, ensure.free_credits)` would (a new user
        keeps its welcome credits when the deduction is refused for want of credits): in the
        deduction's own transaction on SQLite, in writes of their own just before it on
        MongoDB (where a reused key may still have updated the email)."""
        source_ref = deduct_ref(site_id, user_id, idempotency_key)
        deduction = Change(
            site_id,
            user_id,
            credit_type,
            -amount,
            source_ref,
            "deduction",
            0,
            reason=reason,
            fresh_ref=not idempotency_key,
        )
        return await self._covered(deduction, notify, ensure)

    async def adjust(
        self,
        site_id: str,
        user_id: str,
        credit_type: str,
        delta: int,
        source_ref: str,
        *,
        reason: str,
        notify: NotifyFn | None = None,
    ) -> DeductResult:
        """An admin adjustment, exactly once per source_ref. A negative delta must be covered
        by the balance (ok=False otherwise). A source_ref that settled another user, type,
        delta or reason raises IdempotencyKeyReused and writes nothing."""
        adjustment = Change(
            site_id, user_id, credit_type, delta, source_ref, "adjustment", 0, reason=reason
        )
        return await self._covered(adjustment, notify)

    async def reverse(
        self,
        grant_ref: str,
        credits: int,
        *,
        reason: str,
        bucket: str = "refund",
        version: int | None = None,
        notify: NotifyFn | None = None,
        meta: dict[str, Any] | None = None,
    ) -> MoneyResult:
        """Set `bucket`'s cumulative target to `credits` (the grant's refunds, or one dispute),
        unless the bucket holds a report with a higher `version` (None: `credits` itself, a
        target that only grows). Then move the grant's reversed total to the sum of its
        buckets' targets, capped at what was granted: a `reversal` entry when it grows, a
        `restore` entry when it shrinks (a dispute won). Replays and reordered reports
        converge. May drive the balance negative. Raise UnknownGrantError if nothing was
        granted.
        `meta` joins the ledger entry's meta."""
        report = Reversal(grant_ref, credits, reason, bucket, version, meta or {})
        return await self._reverse(report, notify)

    # how an adapter applies what the money primitives above decide
    async def _grant(
        self,
        grant: Change,
        notify: NotifyFn | None = None,
        purchase: PurchaseCompletion | None = None,
    ) -> MoneyResult:
        """Apply `grant` once per its source_ref (a repeat answers the first, applied=False),
        completing `purchase` in the same transaction, on a repeat too."""

    async def _covered(
        self, change: Change, notify: NotifyFn | None, ensure: UserSeed | None = None
    ) -> DeductResult:
        """Apply a change the balance must cover, once per its source_ref (a repeat replays the
        first, or raises IdempotencyKeyReused: `money_plan.check_repeat`); `ensure` first."""

    async def _reverse(self, report: Reversal, notify: NotifyFn | None) -> MoneyResult:
        """Apply one refund or dispute report to its grant (`money_plan.plan_reversal`)."""

    async def _ledger_page(
        self, given: dict[str, str], limit: int, offset: int
    ) -> list[LedgerEntry]:
        """`list_ledger`: the entries whose fields hold the `given` values, newest first."""

    async def get_ledger_entry(self, source_ref: str) -> LedgerEntry | None: ...

    async def list_ledger(
        self,
        *,
        site_id: str | None = None,
        user_id: str | None = None,
        credit_type: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[LedgerEntry]:
        """Ledger entries, newest first; each filter given narrows them to its value."""
        filters = {"site_id": site_id, "user_id": user_id, "credit_type": credit_type}
        given = {field: value for field, value in filters.items() if value is not None}
        return await self._ledger_page(given, limit, offset)

    async def reconcile(self) -> ReconcileReport:
        """Compare every balance with its ledger sum."""

    # packages
    async def seed_packages(self, packages: list[Package]) -> None:
        """Insert the default catalogue only when no package exists at all."""

    async def list_packages(self, *, active_only: bool = True) -> list[Package]: ...

    async def get_package(self, package_id: str) -> Package | None: ...

    async def create_package(self, package: Package) -> Package:
        """Raise DuplicateError when the id exists."""

    async def update_package(self, package_id: str, fields: dict[str, Any]) -> Package | None: ...

    # checkout sessions and payment intents
    async def create_checkout_session(self, session: CheckoutSession) -> None: ...

    async def get_checkout_session(self, session_id: str) -> CheckoutSession | None: ...

    async def get_checkout_session_by_payment_intent(
        self, payment_intent_id: str
    ) -> CheckoutSession | None: ...

    async def link_checkout_payment_intent(self, session_id: str, payment_intent_id: str) -> bool:
        """Record the session's payment intent if it has none yet; True when it was set."""

    async def transition_checkout_session(
        self, session_id: str, from_status: str, to_status: str, fields: dict[str, Any]
    ) -> bool:
        """Compare-and-set: change status only if it is `from_status`; True when it changed."""

    async def create_payment_intent(self, intent: PaymentIntentRecord) -> None: ...

    async def get_payment_intent(self, payment_intent_id: str) -> PaymentIntentRecord | None: ...

    # Stripe events
    async def stripe_event_seen(self, event_id: str) -> bool: ...

    async def stripe_event_outcome(self, event_id: str) -> str | None:
        """The outcome recorded for an event (`granted`, `rejected`, ...), None when unrecorded."""

    async def record_stripe_event(self, event_id: str, event_type: str, outcome: str) -> bool:
        """Remember a processed event; False when it was already recorded."""

    # plugin webhook outbox
    async def enqueue_webhook(self, draft: WebhookDraft) -> WebhookDelivery: ...

    async def claim_due_webhooks(
        self, owner: str, *, now: float, lease_seconds: float, limit: int, include_scheduled: bool
    ) -> list[WebhookDelivery]:
        """Lease pending deliveries that are due (or all pending with include_scheduled) and
        not leased by another live owner; safe with several workers or machines."""

    async def record_webhook_attempts(self, owner: str, outcomes: Sequence[AttemptOutcome]) -> None:
        """Log each attempt and release its lease, all in one write: delivered, rescheduled,
        or failed for good. An outcome whose lease `owner` no longer holds changes nothing
        but its attempt log."""

    async def get_webhook_delivery(self, delivery_id: str) -> WebhookDelivery | None: ...

    async def list_webhook_deliveries(
        self, site_id: str, *, limit: int = 50, offset: int = 0
    ) -> list[WebhookDelivery]: ...

    async def retry_webhook_delivery(
        self, delivery_id: str, *, now: float
    ) -> WebhookDelivery | None:
        """Make a delivery pending and due now, whatever its state."""

    async def count_pending_webhooks(self) -> int: ...

    async def prune_webhooks(self, delivered_before: float, *, batch: int = 200) -> int:
        """Delete the deliveries delivered before `delivered_before` (unix time) with their
        attempt records, `batch` at a time, each batch a short write of its own so requests
        never wait long behind it; pending and failed ones are kept. Answers how many."""

    async def outbox_backlog(self) -> dict[str, Any]:
        """The outbox's backlog: `pending` and `failed` counts, and `oldest_pending_at`
        (the ISO creation time of the oldest pending delivery, or None)."""

    async def count_ledger_entries(self) -> dict[str, int]:
        """Ledger entries per kind (`purchase`, `reversal`, `deduction`, ...), ever written."""

    # analytics
    async def record_generation(self, site_id: str, row: dict[str, Any]) -> None: ...

    async def record_usage(self, site_id: str, report: dict[str, Any]) -> None: ...

    # settings kept in the store (provider keys, Stripe display settings)
    async def get_setting(self, key: str) -> dict[str, Any] | None: ...

    async def set_setting(self, key: str, value: dict[str, Any]) -> None: ...

    async def merge_setting(
        self, key: str, changes: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Set the top-level keys of `changes` in a setting (created when missing), in one
        atomic write that leaves its other keys as the store holds them. Answers the value
        just before (None when there was none) and just after. Keys as `check_field_names`
        wants (ValueError)."""

    # what workers cache
    async def cache_versions(self) -> dict[str, int]:
        """The version counter of each name in CACHED: a write of sites or packages bumps its
        counter, so every worker of every machine can tell its cache is stale."""
        ...

    # rate limits
    async def hit_rate_limit(self, key: str, window_start: int, amount: int = 1) -> int:
        """Count `amount` requests in the window and answer the window's count so far."""

    # figures
    async def stats(self) -> dict[str, Any]:
        """sites {total, active, disabled}, users, credits_sold/credits_spent per type,
        revenue per currency (completed sessions and intents, less what refunds and disputes
        took back: see `net_revenue`), webhooks per status."""


# ---------------------------------------------------------------------------- totals
# `stats` reads running totals that each write keeps in its own transaction, so it never
# scans the ledger: (metric, key) -> value. `credits` "<kind>:<credit_type>" sums the
# entries' deltas, `entries` <kind> counts them, `revenue` <CURRENCY> is net revenue (completed
# purchases less what reversals gave back, as `net_revenue` computes it by scanning).
Totals = dict[tuple[str, str], int]


def figures_from_totals(totals: Totals) -> dict[str, Any]:
    """`stats`' credits_sold, credits_spent and revenue, from the running totals."""
    return {
        "credits_sold": {t: totals.get(("credits", f"purchase:{t}"), 0) for t in CREDIT_TYPES},
        "credits_spent": {t: -totals.get(("credits", f"deduction:{t}"), 0) for t in CREDIT_TYPES},
        "revenue": {key: value for (metric, key), value in totals.items() if metric == "revenue"},
    }


def entries_from_totals(totals: Totals) -> dict[str, int]:
    """`count_ledger_entries` from the running totals."""
    return {key: value for (metric, key), value in totals.items() if metric == "entries" and value}
