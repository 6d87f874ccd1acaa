"""The money primitives' one front: `grant_once`, `deduct`, `adjust` and `reverse` as every
adapter answers them.

Invariant: the arguments of a money primitive become what it writes (a `money_plan.Change`, or
a `money_plan.Reversal`) here, once; an adapter only applies that in one transaction of its
own (`_grant`, `_covered`, `_reverse`), so both stores take the same arguments to the same
writes. See `base.Store` for what each primitive promises.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from ..domain.models import DeductResult, MoneyResult, NotifyFn, PurchaseCompletion, UserSeed
from .money_plan import Change, Reversal, deduct_ref


class MoneyFront(ABC):
    """The money primitives of `Store`, over an adapter's `_grant`, `_covered`, `_reverse`."""

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
        source_ref = deduct_ref(site_id, user_id, idempotency_key)
        deduction = Change(
            site_id, user_id, credit_type, -amount, source_ref, "deduction", 0, reason=reason
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
        report = Reversal(grant_ref, credits, reason, bucket, version, meta or {})
        return await self._reverse(report, notify)

    @abstractmethod
    async def _grant(
        self,
        grant: Change,
        notify: NotifyFn | None = None,
        purchase: PurchaseCompletion | None = None,
    ) -> MoneyResult:
        """Apply `grant` once per its source_ref (a repeat answers the first, applied=False),
        completing `purchase` in the same transaction, on a repeat too."""

    @abstractmethod
    async def _covered(
        self, change: Change, notify: NotifyFn | None, ensure: UserSeed | None = None
    ) -> DeductResult:
        """Apply a change the balance must cover, once per its source_ref (a repeat replays the
        first, or raises IdempotencyKeyReused: `money_plan.check_repeat`); `ensure` first."""

    @abstractmethod
    async def _reverse(self, report: Reversal, notify: NotifyFn | None) -> MoneyResult:
        """Apply one refund or dispute report to its grant (`money_plan.plan_reversal`)."""
