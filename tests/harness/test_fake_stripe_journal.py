"""The fake's state journal: a write costs what it touched, and a restart restores everything,
after many writes of every kind and after a kill -9 in the middle of a stream of creates."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

import httpx
import stripe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.fake_stripe import (
    FakeStripe,
    checkout_sessions,
    payment_intents,
    refunds,
    webhook_endpoints,
)
from harness.fake_stripe.errors import StripeError
from harness.fake_stripe.resources import (
    CHARGE,
    CHECKOUT_SESSION,
    EVENT,
    PAYMENT_INTENT,
    WEBHOOK_ENDPOINT,
)
from harness.fake_stripe.state import STATE_FILE, StripeState

from .conftest import FAST_RETRIES, session_params

BASE_URL = "http://127.0.0.1:9"


def snapshot(store: StripeState) -> dict[str, Any]:
    """Everything a restart must bring back, in order (lists are newest first)."""
    tables = {kind: list(table.items()) for kind, table in store.tables.items() if table}
    sides = {
        name: dict(getattr(store, name))
        for name in ("line_items", "webhook_secrets", "payment_intent_data")
    }
    done = {k: v for k, v in store.idempotency.items() if v.get("status")}
    return {"tables": tables, "idempotency": done, **sides}


def _session(store: StripeState) -> dict[str, Any]:
    return checkout_sessions.create_session(store, session_params(), BASE_URL)


def _open_sessions(store: StripeState) -> list[dict[str, Any]]:
    return [s for s in store.newest_first(CHECKOUT_SESSION) if s["status"] == "open"]


def apply(store: StripeState, op: str, pick: int) -> None:
    """One change of the kind a request makes, through the fake's own domain functions."""
    if op == "intent":
        payment_intents.create_intent(
            store, amount=100 + pick, currency="jpy", metadata={"n": str(pick)}
        )
    elif op == "session":
        _session(store)
    elif op in ("pay", "expire") and (open_ := _open_sessions(store)):
        session = store.get(CHECKOUT_SESSION, open_[pick % len(open_)]["id"])
        act = checkout_sessions.pay_session if op == "pay" else checkout_sessions.expire_session
        act(store, session)
    elif op == "refund" and (paid := store.newest_first(CHARGE)):
        charge = store.get(CHARGE, paid[pick % len(paid)]["id"])
        if charge["amount_refunded"] < charge["amount"]:
            refunds.refund_charge(store, charge, 1)
    elif op == "endpoint":
        webhook_endpoints.create_endpoint(store, f"http://127.0.0.1:9/{pick}", ["*"])
    elif op in ("disable", "delete") and (all_ := store.newest_first(WEBHOOK_ENDPOINT)):
        endpoint = store.get(WEBHOOK_ENDPOINT, all_[pick % len(all_)]["id"])
        if op == "disable":
            webhook_endpoints.update_endpoint(store, endpoint, disabled=True)
        else:
            store.remove(WEBHOOK_ENDPOINT, endpoint["id"])
            store.webhook_secrets.pop(endpoint["id"], None)
    elif op == "idempotency":
        store.idempotency[f"k-{pick}"] = {"fingerprint": "f", "status": None, "body": None}
        store.idempotency[f"k-{pick}"].update(status=200, body="{}", created=pick)
    elif op == "settle" and (events := store.newest_first(EVENT)):
        # As a webhook delivery does: change what find() returned, in place, without put().
        event = store.find(EVENT, events[pick % len(events)]["id"])
        assert event is not None
        event["pending_webhooks"] += 1


OPS = (
    "intent",
    "session",
    "pay",
    "expire",
    "refund",
    "endpoint",
    "disable",
    "delete",
    "idempotency",
    "settle",
)
steps = st.lists(
    st.tuples(
        st.sampled_from(OPS), st.integers(0, 1000), st.sampled_from(("flush", "restart", ""))
    ),
    min_size=1,
    max_size=40,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=steps)
def test_restart_restores_everything_after_many_writes(tmp_path_factory, steps) -> None:
    data_dir = tmp_path_factory.mktemp("state")
    store = StripeState(data_dir)
    for op, pick, boundary in steps:
        try:
            apply(store, op, pick)
        except StripeError:
            pass  # e.g. refunding a charge already refunded: nothing changed
        if boundary:  # a request ends here
            store.flush()
        if boundary == "restart":
            restarted = StripeState(data_dir)
            assert snapshot(restarted) == snapshot(store)
            store = restarted
    store.flush()

    assert snapshot(StripeState(data_dir)) == snapshot(store)
    assert (data_dir / STATE_FILE).stat().st_mode & 0o777 == 0o600


async def test_a_change_is_appended_not_a_rewrite_of_the_whole_state(tmp_path) -> None:
    filled = StripeState(tmp_path)
    for i in range(2000):
        payment_intents.create_intent(filled, amount=100, currency="jpy", metadata={"n": str(i)})
    filled.flush()
    fake = FakeStripe(data_dir=tmp_path, retry_delays=FAST_RETRIES)
    await fake.start()
    before = (tmp_path / STATE_FILE).read_bytes()
    http_client = stripe.HTTPXClient()
    try:
        client = stripe.StripeClient(
            fake.secret_key, base_addresses={"api": fake.url}, http_client=http_client
        )
        intent = await client.v1.payment_intents.create_async(
            params={"amount": 750, "currency": "jpy"}
        )
        after = (tmp_path / STATE_FILE).read_bytes()
    finally:
        await http_client.close_async()
        await fake.stop()

    assert after.startswith(before)
    appended = after[len(before) :]
    assert intent.id.encode() in appended
    assert len(appended) < 16384  # one intent and its payment_intent.created, not 2,000


CHILD = """
import asyncio, sys
from harness.fake_stripe import FakeStripe

async def main():
    fake = FakeStripe(secret_key="sk_test_kill", data_dir=sys.argv[1])
    print(await fake.start(), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


async def test_kill_9_mid_stream_keeps_every_acknowledged_object(tmp_path) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(tmp_path), stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    url = (await asyncio.wait_for(child.stdout.readline(), 60)).decode().strip()
    acknowledged: list[str] = []
    enough = asyncio.Event()

    async def create_until_killed(http: httpx.AsyncClient, worker: int) -> None:
        n = 0
        while True:
            n += 1
            try:
                answer = await http.post(
                    "/v1/payment_intents",
                    data={"amount": 100 + n, "currency": "jpy", "metadata[w]": str(worker)},
                )
            except httpx.TransportError:
                return  # the fake is gone
            assert answer.status_code == 200, answer.text
            acknowledged.append(answer.json()["id"])
            if len(acknowledged) >= 300:
                enough.set()

    auth = {"Authorization": "Bearer sk_test_kill"}
    async with httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as http:
        workers = [asyncio.create_task(create_until_killed(http, w)) for w in range(8)]
        try:
            await asyncio.wait_for(enough.wait(), 60)
            os.kill(child.pid, signal.SIGKILL)  # requests are in flight right now
            await child.wait()
            await asyncio.wait_for(asyncio.gather(*workers), 30)
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()

    restored = StripeState(tmp_path)
    missing = [i for i in acknowledged if restored.find(PAYMENT_INTENT, i) is None]
    assert len(acknowledged) >= 300
    assert missing == []
