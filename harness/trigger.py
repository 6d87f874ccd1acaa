"""`rakubun-harness trigger`: make the fake Stripe produce one event against a running `up`."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from harness.buy import at, drain_stripe_webhooks, find_package, run_steps, service_refused
from harness.client import HarnessClient
from harness.console import note, report, short
from harness.errors import HarnessError


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
    "charge.dispute.funds_reinstated": Trigger(
        "dispute", "close", {"outcome": "won"}, OPEN_DISPUTE
    ),
    "charge.dispute.closed": Trigger("dispute", "close", {"outcome": "lost"}, OPEN_DISPUTE),
}

PATHS = {"session": "checkout/sessions", "intent": "payment_intents", "dispute": "disputes"}
KINDS = {"session": "Checkout Session", "intent": "PaymentIntent", "dispute": "Dispute"}

FIXTURE_PACKAGE = "article_starter"
FIXTURE_USER = {"user_id": 1, "user_email": "editor@example.com"}


async def _newest_target(harness: HarnessClient, trigger: Trigger, query: str = "") -> str | None:
    """The newest session, intent or dispute the event applies to (e.g. an open session to
    expire), or None."""
    path = f"{PATHS[trigger.target]}?limit=100{query}"
    if trigger.statuses == PAID_INTENT:
        path += "&expand[]=data.latest_charge"
    listed = (await at("find target", harness.stripe.api_get(path))).get("data") or []
    for item in listed:
        if item.get("status") in trigger.statuses and _takes_more(item):
            return str(item["id"])
    return None


def _takes_more(item: dict[str, Any]) -> bool:
    """Whether a paid intent's charge can still be refunded or disputed: Stripe refuses a
    disputed charge (`charge_disputed`) and a fully refunded one."""
    charge = item.get("latest_charge")
    return not (isinstance(charge, dict) and (charge.get("disputed") or charge.get("refunded")))


async def _create_target(harness: HarnessClient, trigger: Trigger) -> str:
    """Make the object the event needs, as `stripe trigger` does, through the plugin's calls.

    The plugin simulator registers if it has not, then opens a Checkout Session or creates a
    PaymentIntent for a starter package; a refund or dispute first needs the intent paid.
    """
    step = "create target"
    await at(step, harness.plugin.register())
    status, body = await at(step, harness.plugin.call("packages"))
    if status != 200:
        raise service_refused(step, status, body)
    package = find_package(body, FIXTURE_PACKAGE)
    order = {
        **FIXTURE_USER,
        "package_id": FIXTURE_PACKAGE,
        "credit_type": package["credit_type"],
        "amount": package["price"],
        "currency": package.get("currency", "JPY"),
    }
    if trigger.target == "session":
        status, body = await at(step, harness.plugin.call("checkout", **order))
        created = body.get("session_id") if isinstance(body, dict) else None
    else:
        status, body = await at(step, harness.plugin.call("create-intent", **order))
        created = body.get("payment_intent_id") if isinstance(body, dict) else None
    if status != 200 or not created:
        raise service_refused(step, status, body)
    if trigger.statuses == PAID_INTENT:
        await at(step, harness.stripe.succeed_intent(str(created)))
    report(step, f"{KINDS[trigger.target]} {created} for {FIXTURE_PACKAGE}")
    note(created=str(created))
    return str(created)


async def _target(harness: HarnessClient, trigger: Trigger) -> str:
    return await _newest_target(harness, trigger) or await _create_target(harness, trigger)


async def _open_dispute(harness: HarnessClient, trigger: Trigger, query: str) -> str:
    """The newest dispute the event applies to; disputes are opened, not created here."""
    found = await _newest_target(harness, trigger, query)
    if found is None:
        wanted = " or ".join(sorted(trigger.statuses))
        raise HarnessError(
            "find target",
            f"no Dispute with status {wanted}; open one with "
            "`rakubun-harness trigger charge.dispute.created` or name --intent",
        )
    return found


async def _trigger(harness: HarnessClient, args: argparse.Namespace) -> None:
    trigger = TRIGGERS[args.event]
    if trigger.target == "session":
        if args.intent:
            raise HarnessError("arguments", f"{args.event} needs --session, not --intent")
        target = args.session or await _target(harness, trigger)
        path = f"checkout/sessions/{target}/{trigger.action}"
    elif trigger.target == "dispute":
        if args.session:
            raise HarnessError("arguments", f"{args.event} needs --intent, not --session")
        query = f"&payment_intent={args.intent}" if args.intent else ""
        target = await _open_dispute(harness, trigger, query)
        path = f"disputes/{target}/{trigger.action}"
    else:
        target = args.intent
        if not target and args.session:
            found = harness.stripe.api_get(f"checkout/sessions/{args.session}")
            session = await at("find target", found)
            target = session.get("payment_intent")
            if not target:
                raise HarnessError("find target", f"{args.session} has no payment_intent yet")
        target = target or await _target(harness, trigger)
        path = f"payment_intents/{target}/{trigger.action}"
    body = dict(trigger.body)
    if args.amount is not None:
        body["amount"] = args.amount
    deliveries_before = len(await at("deliveries", harness.stripe.deliveries()))
    answer = await at(args.event, harness.stripe.control(path, body))
    note(event=args.event, target=target, answer=answer)
    report(args.event, f"{target}: {short(answer, 300)}")
    await drain_stripe_webhooks(harness, deliveries_before)


async def run_trigger(args: argparse.Namespace) -> int:
    """Make the fake Stripe produce one event against a running `up`.

    With --json, stdout gets one JSON document (event, target, created object, steps).
    """
    return await run_steps(args, _trigger, timeout=60)
