"""`rakubun-harness trigger`: make the fake Stripe produce one event against a running `up`."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from harness.console import report, say, short
from harness.errors import HarnessError
from harness.running_harness import RunningHarness, drain_stripe_webhooks
from harness.state import load_running_harness


@dataclass(frozen=True)
class Trigger:
    """How the fake's control API produces one Stripe event, and which objects it applies to."""

    target: str  # "session", "intent" or "dispute"
    action: str
    body: dict[str, Any]
    statuses: frozenset[str]  # the default target is the newest object in one of these


OPEN_SESSION = frozenset({"open"})
UNFINISHED_INTENT = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "processing"}
)
PAID_INTENT = frozenset({"succeeded"})
OPEN_DISPUTE = frozenset({"needs_response", "under_review"})

TRIGGERS: dict[str, Trigger] = {
    "checkout.session.completed": Trigger("session", "complete", {"outcome": "paid"}, OPEN_SESSION),
    "checkout.session.expired": Trigger(
        "session", "complete", {"outcome": "expired"}, OPEN_SESSION
    ),
    "payment_intent.succeeded": Trigger("intent", "succeed", {}, UNFINISHED_INTENT),
    "payment_intent.payment_failed": Trigger("intent", "fail", {}, UNFINISHED_INTENT),
    "charge.refunded": Trigger("intent", "refund", {}, PAID_INTENT),
    "charge.dispute.created": Trigger("intent", "dispute", {}, PAID_INTENT),
    "charge.dispute.funds_withdrawn": Trigger("intent", "dispute", {}, PAID_INTENT),
    # A won dispute sends funds_reinstated then closed; `charge.dispute.closed` closes it lost.
    "charge.dispute.funds_reinstated": Trigger("dispute", "close", {"outcome": "won"}, OPEN_DISPUTE),
    "charge.dispute.closed": Trigger("dispute", "close", {"outcome": "lost"}, OPEN_DISPUTE),
}

PATHS = {"session": "checkout/sessions", "intent": "payment_intents", "dispute": "disputes"}
KINDS = {"session": "Checkout Session", "intent": "PaymentIntent", "dispute": "Dispute"}


async def _newest_target(harness: RunningHarness, trigger: Trigger, query: str = "") -> str:
    """The newest session, intent or dispute the event applies to (e.g. an open session to
    expire)."""
    path = f"{PATHS[trigger.target]}?limit=100{query}"
    listed = (await harness.stripe_api("find target", path)).get("data") or []
    for item in listed:
        if item.get("status") in trigger.statuses:
            return str(item["id"])
    wanted = " or ".join(sorted(trigger.statuses))
    hint = "--intent" if trigger.target == "dispute" else f"--{trigger.target}"
    raise HarnessError(
        "find target", f"no {KINDS[trigger.target]} with status {wanted}; name one with {hint}"
    )


async def _trigger(harness: RunningHarness, args: argparse.Namespace) -> None:
    trigger = TRIGGERS[args.event]
    if trigger.target == "session":
        if args.intent:
            raise HarnessError("arguments", f"{args.event} needs --session, not --intent")
        target = args.session or await _newest_target(harness, trigger)
        path = f"checkout/sessions/{target}/{trigger.action}"
    elif trigger.target == "dispute":
        if args.session:
            raise HarnessError("arguments", f"{args.event} needs --intent, not --session")
        query = f"&payment_intent={args.intent}" if args.intent else ""
        target = await _newest_target(harness, trigger, query)
        path = f"disputes/{target}/{trigger.action}"
    else:
        target = args.intent
        if not target and args.session:
            session = await harness.stripe_api("find target", f"checkout/sessions/{args.session}")
            target = session.get("payment_intent")
            if not target:
                raise HarnessError("find target", f"{args.session} has no payment_intent yet")
        target = target or await _newest_target(harness, trigger)
        path = f"payment_intents/{target}/{trigger.action}"
    body = dict(trigger.body)
    if args.amount is not None:
        body["amount"] = args.amount
    deliveries_before = len(await harness.stripe_control("deliveries", "deliveries", method="GET"))
    answer = await harness.stripe_control(args.event, path, body)
    report(args.event, f"{target}: {short(answer, 300)}")
    await drain_stripe_webhooks(harness, deliveries_before)


async def run_trigger(args: argparse.Namespace) -> int:
    """Make the fake Stripe produce one event against a running `up`."""
    try:
        settings = load_running_harness(Path(args.data_dir))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            await _trigger(RunningHarness(settings, http), args)
    except HarnessError as error:
        say(f"FAILED at {error}")
        return 1
    return 0
