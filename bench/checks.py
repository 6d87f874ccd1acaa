"""Correctness after each load: pure functions from what was seen to a pass or a failure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .service_api import Balances
from .wrk import LoadResult


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def no_server_errors(result: LoadResult) -> Check:
    count = result.server_errors
    return Check("no 5xx", count == 0, f"{count} answers were 5xx")


def every_request_answered(result: LoadResult) -> Check:
    """Exact counts need every request sent to be answered inside the run."""
    sockets = result.lost_to_sockets
    ok = result.unanswered == 0 and sockets == 0
    detail = f"sent {result.sent}, answered {result.received}, socket errors {sockets}"
    if result.untimed:
        detail += f"; {result.untimed} answers untimed (the wall clock stepped back)"
    return Check("all answered", ok, detail)


def stripe_reference_ok(result: LoadResult) -> Check:
    """The fake Stripe's own load, the ratio's denominator: every call answered with a 200."""
    created = result.count(200)
    ok = created == result.received and result.unanswered == 0 and not result.lost_to_sockets
    return Check(
        "fake Stripe all 200",
        ok,
        f"sent {result.sent}, answered {result.received}, 200s {created}",
    )


def reconcile_ok(report: dict[str, Any]) -> Check:
    differences = report.get("differences") or []
    return Check(
        "reconcile",
        bool(report.get("ok")) and not differences,
        f"{report.get('balances_checked', '?')} balances checked, "
        f"{len(differences)} differ from the ledger",
    )


def total(balances: Balances, credit_type: str) -> int:
    key = f"{credit_type}_credits"
    return sum(credits.get(key, 0) for credits in balances.values())


def credits_removed(
    before: Balances, after: Balances, credit_type: str, successes: int, amount: int
) -> Check:
    """Credits that left the balances equal the successful deductions times their amount,
    and no other credit type moved."""
    removed = total(before, credit_type) - total(after, credit_type)
    expected = successes * amount
    others_moved = [
        t
        for t in ("article", "image", "rewrite")
        if t != credit_type and total(before, t) != total(after, t)
    ]
    detail = f"removed {removed} {credit_type} credits; {successes} successes x {amount}"
    if others_moved:
        detail += f"; {', '.join(others_moved)} moved too"
    return Check("credits removed = successes", removed == expected and not others_moved, detail)


def no_negative_balance(after: Balances) -> Check:
    negative = [
        (user, key, value)
        for user, credits in after.items()
        for key, value in credits.items()
        if value < 0
    ]
    return Check(
        "none below zero",
        not negative,
        f"{len(negative)} negative balances" + (f", e.g. {negative[0]}" if negative else ""),
    )


def user_exhausted(after: Balances, user_id: str, credit_type: str, refusals: int) -> Check:
    """The overdrawn user ends at exactly zero and the requests past that were refused."""
    left = after.get(user_id, {}).get(f"{credit_type}_credits")
    return Check(
        "spent to zero, then 402",
        left == 0 and refusals > 0,
        f"user {user_id} has {left} {credit_type} credits left; {refusals} refused",
    )


def outbox_drained(drained: bool, seconds: float) -> Check:
    return Check(
        "webhooks delivered",
        drained,
        f"plugin webhook outbox {'empty' if drained else 'still pending'} after {seconds:.1f}s",
    )


def all_ok(checks: list[Check]) -> bool:
    return all(c.ok for c in checks)
