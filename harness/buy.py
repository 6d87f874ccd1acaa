"""`rakubun-harness buy`: buy a credit package through a running `up`, as a WordPress user would."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from harness.client import HarnessCallFailed, HarnessClient
from harness.console import emit_json, json_transcript, note, report, say, short
from harness.errors import HarnessError
from harness.harness_file import load_running_harness

T = TypeVar("T")


async def at(step: str, call: Awaitable[T]) -> T:
    """`call`'s answer; a call to the harness that fails fails `step`."""
    try:
        return await call
    except HarnessCallFailed as error:
        raise HarnessError(step, str(error)) from None


async def drain_stripe_webhooks(harness: HarnessClient, deliveries_before: int) -> None:
    """Wait for the fake's webhooks to the service to settle and show what they got."""
    step = "stripe webhooks"
    await at(step, harness.stripe.drain())
    new = (await at(step, harness.stripe.deliveries()))[deliveries_before:]
    report(step, f"{len(new)} deliveries to the service")
    for delivery in new:
        say(
            f"    {delivery.get('type')} {delivery.get('event_id')}  "
            f"attempt {delivery.get('attempt')}  answered {delivery.get('status_code')}"
        )


def _succeeded(status: int, body: Any) -> bool:
    return status == 200 and isinstance(body, dict) and bool(body.get("success"))


def service_refused(step: str, status: int, body: Any) -> HarnessError:
    """The failure of a plugin call, with a hint when the service forgot the plugin."""
    hint = ""
    if status == 401:
        hint = (
            " (the service does not know this plugin's token; register anew with"
            ' POST /_sim/register {"force": true} on the plugin simulator)'
        )
    return HarnessError(step, f"service answered {status}: {short(body)}{hint}")


def find_package(packages_body: Any, package_id: str) -> dict[str, Any]:
    """The package from GET /packages: the flat `packages.packages` list, else the groups."""
    groups = packages_body.get("packages") if isinstance(packages_body, dict) else None
    if not isinstance(groups, dict):
        raise HarnessError("packages", f"no `packages` object in {short(packages_body)}")
    flat = groups.get("packages") or [
        package for key in ("articles", "images", "rewrites") for package in groups.get(key) or []
    ]
    for package in flat:
        if package_id in (package.get("package_id"), package.get("id")):
            return dict(package)
    known = sorted(str(p.get("package_id") or p.get("id")) for p in flat)
    raise HarnessError("packages", f"no package {package_id!r}; known: {', '.join(known)}")


def _balances(body: Any) -> dict[str, int]:
    credits = body.get("credits") if isinstance(body, dict) else None
    if not isinstance(credits, dict):
        raise HarnessError("credits", f"no `credits` object in {short(body)}")
    return {
        key.removesuffix("_credits"): int(value)
        for key, value in credits.items()
        if key.endswith("_credits")
    }


async def _wait_for_enter(prompt: str) -> None:
    say(prompt)
    with contextlib.suppress(EOFError):
        await asyncio.to_thread(input)


async def run_steps(
    args: argparse.Namespace,
    steps: Callable[[HarnessClient, argparse.Namespace], Awaitable[None]],
    *,
    timeout: float,
    done: str | None = None,
) -> int:
    """Run a command's steps against the `up` of `args.data_dir`; exit status 0 only if every
    step passed. With --json, stdout gets one JSON document of what the steps noted."""
    with json_transcript(getattr(args, "json", False)) as transcript:
        try:
            settings = load_running_harness(Path(args.data_dir))
            async with HarnessClient(settings, timeout=timeout) as harness:
                await steps(harness, args)
        except HarnessError as error:
            say(f"FAILED at {error}")
            if transcript is not None:
                emit_json(transcript.document(ok=False, failed_at=error.step, error=str(error)))
            return 1
        if done:
            say(done)
        if transcript is not None:
            emit_json(transcript.document(ok=True))
    return 0


async def run_buy(args: argparse.Namespace) -> int:
    """Buy one package like a WordPress user would; exit status 0 only if every step passed.

    With --json, stdout gets one JSON document (ids, balances, webhooks, steps).
    """
    return await run_steps(args, _buy, timeout=120, done="purchase complete")


async def _credits(harness: HarnessClient, step: str, user: dict[str, Any]) -> dict[str, int]:
    status, body = await at(step, harness.plugin.call("credits", **user))
    if not _succeeded(status, body):
        raise service_refused(step, status, body)
    return _balances(body)


async def _buy(harness: HarnessClient, args: argparse.Namespace) -> None:
    user = {"user_id": args.user_id, "user_email": args.email}

    registration = await at("register", harness.plugin.register())
    already = " (already registered)" if registration.get("already_registered") else ""
    report("register", f"instance {registration['instance_id']}{already}")
    note(instance_id=registration["instance_id"], package_id=args.package, flow=args.flow)

    status, body = await at("packages", harness.plugin.call("packages"))
    if not _succeeded(status, body):
        raise service_refused("packages", status, body)
    package = find_package(body, args.package)
    credit_type = str(package["credit_type"])
    report(
        "packages",
        f"{args.package}: {package['credits']} {credit_type} credits for "
        f"{package['price']} {package.get('currency', 'JPY')}",
    )

    before = await _credits(harness, "credits before", user)
    note(credits_before=before)
    report("credits before", ", ".join(f"{k} {v}" for k, v in before.items()))

    seen = await at("webhooks", harness.plugin.last_webhook_seq())
    deliveries_before = len(await at("deliveries", harness.stripe.deliveries()))
    order = {
        **user,
        "credit_type": credit_type,
        "package_id": args.package,
        "amount": package["price"],
        "currency": package.get("currency", "JPY"),
    }
    if args.flow == "checkout":
        await _pay_by_checkout(harness, order, manual=args.manual)
    else:
        await _pay_by_intent(harness, order, manual=args.manual)

    await drain_stripe_webhooks(harness, deliveries_before)

    after = await _credits(harness, "credits after", user)
    note(credits_after=after)
    report("credits after", ", ".join(f"{k} {before.get(k, 0)} -> {v}" for k, v in after.items()))
    grown = after.get(credit_type, 0) - before.get(credit_type, 0)
    if grown != int(package["credits"]):
        raise HarnessError(
            "credits after", f"{credit_type} grew by {grown}, expected {package['credits']}"
        )

    await _show_plugin_webhooks(
        harness, seen, args.webhook_timeout, str(registration["instance_id"])
    )


async def _pay_by_checkout(harness: HarnessClient, order: dict[str, Any], *, manual: bool) -> None:
    status, body = await at("checkout session", harness.plugin.call("checkout", **order))
    if not _succeeded(status, body) or not body.get("session_id"):
        raise service_refused("checkout session", status, body)
    session_id = str(body["session_id"])
    page = body.get("url") or body.get("checkout_url")
    note(session_id=session_id, checkout_url=page)
    report("checkout session", f"{session_id}  {page}")

    if manual:
        await _wait_for_enter(f"Open {page} in a browser, pay or decline, then press Enter.")
    else:
        paid = await at("pay", harness.stripe.complete_session(session_id))
        report("pay", f"paid; Stripe redirects to {paid.get('redirect_url')}")

    status, body = await at("verify", harness.plugin.call("verify", session_id=session_id))
    if not _succeeded(status, body):
        raise service_refused("verify", status, body)
    detail = body.get("status") or f"+{body.get('credits_added')} {body.get('credit_type')}"
    report("verify", str(detail))


async def _pay_by_intent(harness: HarnessClient, order: dict[str, Any], *, manual: bool) -> None:
    status, body = await at("payment intent", harness.plugin.call("create-intent", **order))
    if not _succeeded(status, body) or not body.get("payment_intent_id"):
        raise service_refused("payment intent", status, body)
    intent_id = str(body["payment_intent_id"])
    note(payment_intent_id=intent_id)
    report("payment intent", f"{intent_id}  {body.get('amount')} {body.get('currency')}")

    if manual:
        await _wait_for_enter(
            f"Complete {intent_id} (e.g. `rakubun-harness trigger payment_intent.succeeded "
            f"--intent {intent_id}`), then press Enter."
        )
    else:
        await at("pay", harness.stripe.succeed_intent(intent_id))
        report("pay", "succeeded")

    confirm = {
        "payment_intent_id": intent_id,
        "user_id": order["user_id"],
        "credit_type": order["credit_type"],
    }
    status, body = await at("confirm", harness.plugin.call("confirm", **confirm))
    if not _succeeded(status, body):
        raise service_refused("confirm", status, body)
    report("confirm", f"+{body.get('credits_added')} (transaction {body.get('transaction_id')})")


async def _show_plugin_webhooks(
    harness: HarnessClient, after: int, timeout: float, instance_id: str
) -> None:
    step = "plugin webhooks"
    waited = harness.plugin.webhooks("credits_updated", after=after, wait=timeout, count=1)
    await at(step, waited)
    received = await at(step, harness.plugin.webhooks(after=after))
    say("  plugin webhooks received:")
    for webhook in received:
        data = webhook.get("data") if isinstance(webhook.get("data"), dict) else {}
        say(
            f"    #{webhook['seq']} {webhook['event']}  "
            f"signature_valid={str(webhook['signature_valid']).lower()}  "
            f"answered {webhook['status']}  {short(data, 160)}"
        )
    note(
        plugin_webhooks=[
            {
                "seq": w["seq"],
                "event": w["event"],
                "status": w["status"],
                "signature_valid": w["signature_valid"],
            }
            for w in received
        ]
    )
    credits_updated = [w for w in received if w["event"] == "credits_updated"]
    if not credits_updated:
        why = await last_delivery_of(harness, instance_id, "credits_updated")
        raise HarnessError(
            step, f"no credits_updated reached the plugin within {timeout:g}s; {why}"
        )
    if not any(w["signature_valid"] and w["status"] == 200 for w in credits_updated):
        raise HarnessError(step, "no credits_updated had a valid signature and a 200 answer")


async def last_delivery_of(harness: HarnessClient, instance_id: str, event: str) -> str:
    """What became of the service's newest `event` delivery to this plugin's site, from the
    admin API: where it went, its state and its last error (or why that is unknown)."""
    step = "service deliveries"
    try:
        sites = (await at(step, harness.admin.get("sites", limit=200)))["sites"]
        ours = [site for site in sites if site.get("instance_id") == instance_id]
        if not ours:
            return f"the service has no site with instance {instance_id}"
        deliveries = await at(step, harness.admin.site_webhooks(ours[0]["site_id"], limit=50))
    except (HarnessError, KeyError, TypeError) as error:
        return f"the service's deliveries could not be read ({error})"
    of_event = [d for d in deliveries if d.get("event") == event]
    if not of_event:
        return f"the service made no {event} delivery to {ours[0].get('site_url')}"
    newest = of_event[0]  # the admin API lists newest first
    sent = f"the service's {event} delivery {newest.get('delivery_id')} to {newest.get('url')}"
    if newest.get("status") == "delivered":
        return f"{sent} is delivered (HTTP {newest.get('last_status_code')})"
    last = newest.get("last_error") or "none yet"
    return (
        f"{sent} is {newest.get('status')} after {newest.get('attempts')} attempt(s);"
        f" last error: {last}"
    )
