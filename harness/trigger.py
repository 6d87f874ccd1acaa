"""`rakubun-harness trigger`: make the fake Stripe produce one event against a running `up`.

Without a target, an event runs its Stripe CLI fixture (`stripe_fixture.py`), as `stripe
trigger` does: fresh objects each time, `--override`/`--add`/`--remove` changing its calls.
`--session`/`--intent` name the object the control API applies the event to instead, refused
with the reason when the event cannot apply to it; `--purchase` first makes a fresh purchase
of the service through the plugin, so the event moves credits. `events resend` sends an event
again.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from harness.buy import at, drain_stripe_webhooks, find_package, run_steps, service_refused
from harness.client import HarnessClient
from harness.console import note, report, short
from harness.errors import HarnessError
from harness.stripe_fixture import (
    ParamChange,
    change_params,
    fixture_events,
    load_fixture,
    run_fixture,
)


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

#: The events the control API applies to a named (or freshly purchased) session or intent.
TRIGGERS: dict[str, Trigger] = {
    "checkout.session.completed": Trigger("session", "complete", {"outcome": "paid"}, OPEN_SESSION),
    "checkout.session.expired": Trigger(
        "session", "complete", {"outcome": "expired"}, OPEN_SESSION
    ),
    "payment_intent.succeeded": Trigger("intent", "succeed", {}, UNFINISHED_INTENT),
    "charge.succeeded": Trigger("intent", "succeed", {}, UNFINISHED_INTENT),
    "payment_intent.payment_failed": Trigger("intent", "fail", {}, UNFINISHED_INTENT),
    "charge.failed": Trigger("intent", "fail", {}, UNFINISHED_INTENT),
    "charge.refunded": Trigger("intent", "refund", {}, PAID_INTENT),
    "charge.dispute.created": Trigger("intent", "dispute", {}, PAID_INTENT),
    "charge.dispute.funds_withdrawn": Trigger("intent", "dispute", {}, PAID_INTENT),
    # A won dispute sends funds_reinstated then closed; `charge.dispute.closed` closes it lost.
    "charge.dispute.funds_reinstated": Trigger(
        "dispute", "close", {"outcome": "won"}, OPEN_DISPUTE
    ),
    "charge.dispute.closed": Trigger("dispute", "close", {"outcome": "lost"}, OPEN_DISPUTE),
}

# A paid intent disputed at once (funds withdrawn), for the dispute events without a CLI fixture.
_DISPUTED_INTENT: dict[str, Any] = {
    "fixtures": [
        {
            "name": "payment_intent",
            "path": "/v1/payment_intents",
            "method": "post",
            "params": {
                "amount": 100,
                "currency": "usd",
                "payment_method_types": ["card"],
                "payment_method": "pm_card_createDispute",
                "confirm": True,
                "description": "(created by rakubun-harness)",
            },
        },
        {
            "name": "disputes_list",
            "path": "/v1/disputes",
            "method": "get",
            "params": {"payment_intent": "${payment_intent:id}"},
        },
    ]
}
#: Events the Stripe CLI has no fixture for: their fresh objects, and the control API call
#: (path, body) that follows on the dispute, if any.
HARNESS_FIXTURES: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {
    "charge.dispute.funds_withdrawn": (_DISPUTED_INTENT, None),
    "charge.dispute.funds_reinstated": (_DISPUTED_INTENT, {"outcome": "won"}),
}


def trigger_events() -> list[str]:
    """Every event `trigger` knows: the Stripe CLI's payment triggers and the harness's own."""
    return sorted({*fixture_events(), *TRIGGERS, *HARNESS_FIXTURES})


PATHS = {"session": "checkout/sessions", "intent": "payment_intents", "dispute": "disputes"}
KINDS = {"session": "Checkout Session", "intent": "PaymentIntent", "dispute": "Dispute"}

FIXTURE_PACKAGE = "article_starter"
FIXTURE_USER = {"user_id": 1, "user_email": "editor@example.com"}


async def _create_target(harness: HarnessClient, trigger: Trigger) -> str:
    """A fresh purchase of the service the event applies to, through the plugin's calls.

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


def _refuse(event: str, kind: str, target: str, why: str) -> HarnessError:
    return HarnessError("find target", f"{event} cannot apply to {kind} {target}: {why}")


async def _check_fits(harness: HarnessClient, event: str, trigger: Trigger, target: str) -> None:
    """Refuse, with the reason, an event its target cannot take (a refund of a refunded charge,
    a dispute of a disputed one, a payment of a paid intent)."""
    kind = KINDS[trigger.target]
    found = await at("find target", harness.stripe.api_get(f"{PATHS[trigger.target]}/{target}"))
    status = found.get("status")
    if status not in trigger.statuses:
        wanted = " or ".join(sorted(trigger.statuses))
        raise _refuse(event, kind, target, f"its status is {status}; it needs {wanted}")
    if trigger.statuses != PAID_INTENT:
        return
    charge_id = found.get("latest_charge")
    charge = (
        await at("find target", harness.stripe.api_get(f"charges/{charge_id}")) if charge_id else {}
    )
    left = int(charge.get("amount", 0)) - int(charge.get("amount_refunded", 0))
    if left <= 0:
        raise _refuse(event, kind, target, f"its charge {charge_id} is fully refunded")
    if trigger.action == "dispute" and charge.get("disputed"):
        raise _refuse(event, kind, target, f"its charge {charge_id} is already disputed")


async def _open_dispute(harness: HarnessClient, event: str, intent: str) -> str:
    """The intent's open dispute (the dispute events close it)."""
    path = f"disputes?limit=100&payment_intent={intent}"
    listed = await at("find target", harness.stripe.api_get(path))
    for dispute in listed.get("data") or []:
        if dispute.get("status") in OPEN_DISPUTE:
            return str(dispute["id"])
    raise _refuse(
        event,
        "PaymentIntent",
        intent,
        "it has no open dispute; open one with `rakubun-harness trigger charge.dispute.created"
        f" --intent {intent}`",
    )


async def _apply(harness: HarnessClient, args: argparse.Namespace) -> None:
    """The event on the named (or freshly purchased) session or intent, by the control API."""
    event = args.event
    trigger = TRIGGERS.get(event)
    if trigger is None or (args.purchase and trigger.target == "dispute"):
        how = "run it without --session, --intent or --purchase"
        if trigger is not None:
            how = "open a dispute with `charge.dispute.created --purchase`, then name its --intent"
        raise HarnessError("arguments", f"{event} cannot apply to a named object; {how}")
    if trigger.target == "session" and args.intent:
        raise HarnessError("arguments", f"{event} needs --session, not --intent")
    if trigger.target != "session" and args.session:
        found = harness.stripe.api_get(f"checkout/sessions/{args.session}")
        session = await at("find target", found)
        args.intent = session.get("payment_intent")
        if not args.intent:
            raise HarnessError("find target", f"{args.session} has no payment_intent yet")
    if args.purchase:
        target = await _create_target(harness, trigger)
    else:
        target = args.session if trigger.target == "session" else args.intent
    if trigger.target == "dispute":
        path = f"disputes/{await _open_dispute(harness, event, target)}/{trigger.action}"
    else:
        await _check_fits(harness, event, trigger, target)
        path = f"{PATHS[trigger.target]}/{target}/{trigger.action}"
    body = dict(trigger.body)
    if args.amount is not None:
        body["amount"] = args.amount
    answer = await at(event, harness.stripe.control(path, body))
    note(event=event, target=target, answer=answer)
    report(event, f"{target}: {short(answer, 300)}")


async def _run_fixture(harness: HarnessClient, args: argparse.Namespace) -> None:
    """The event's Stripe CLI fixture on fresh objects, with the command line's changes."""
    changes = [
        ParamChange.parse(kind, text)
        for kind in ("override", "add", "remove")
        for text in getattr(args, kind) or []
    ]
    then: dict[str, Any] | None = None
    if args.event in HARNESS_FIXTURES:
        fixture, then = HARNESS_FIXTURES[args.event]
    else:
        fixture = load_fixture(args.event)
    fixture = change_params(fixture, changes)
    secret_key = str(harness.settings["stripe_secret_key"])
    answers = await run_fixture(harness.http, harness.stripe.base_url, secret_key, fixture)
    if then is not None:
        dispute = answers["disputes_list"]["data"][0]["id"]
        await at(args.event, harness.stripe.control(f"disputes/{dispute}/close", then))
    created = {name: answer.get("id") for name, answer in answers.items()}
    note(event=args.event, created=created)
    report(args.event, f"fixture ran: {short(created, 300)}")


async def _trigger(harness: HarnessClient, args: argparse.Namespace) -> None:
    deliveries_before = len(await at("deliveries", harness.stripe.deliveries()))
    named = args.session or args.intent or args.purchase
    if named and (args.override or args.add or args.remove):
        raise HarnessError("arguments", "--override/--add/--remove change fixture runs only")
    if named:
        await _apply(harness, args)
    else:
        await _run_fixture(harness, args)
    await drain_stripe_webhooks(harness, deliveries_before)


async def _resend(harness: HarnessClient, args: argparse.Namespace) -> None:
    before = len(await at("deliveries", harness.stripe.deliveries()))
    await at("resend", harness.stripe.resend(args.event_id))
    note(event_id=args.event_id)
    report("resend", args.event_id)
    await drain_stripe_webhooks(harness, before)


async def run_resend(args: argparse.Namespace) -> int:
    """`events resend EVT_ID`: the fake sends a stored event again to every endpoint."""
    return await run_steps(args, _resend, timeout=60)


async def run_trigger(args: argparse.Namespace) -> int:
    """Make the fake Stripe produce one event against a running `up`.

    With --json, stdout gets one JSON document (event, target, created object, steps).
    """
    return await run_steps(args, _trigger, timeout=60)
