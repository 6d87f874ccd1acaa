"""Every delivery order of a purchase's money events ends where the events say, on every store.

Stripe promises neither order nor a single delivery. For a checkout purchase and a direct
(PaymentIntent) purchase, the fake Stripe's own logic (`harness/fake_stripe`, in memory, no
HTTP) plays one history: pay, two refunds, a dispute, the dispute closed won or lost. Then
its events and the plugin's verify/confirm call reach `service.flows.stripe_events.handle_event`
and `service.flows.purchases` in every order (`itertools.permutations`), with the real store of
each backend. An event answered non-2xx is delivered again after the others, as Stripe
retries. Each order must end with one grant, the reversal the history implies, the record
completed with its payment intent, every event recorded, and reconcile() clean.

The mongomock backend checks the MongoDB adapter's logic, not MongoDB itself, and only on a
fixed sample of the orders: it scans collections in Python, so all 720 would take minutes.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from harness.fake_stripe import checkout_sessions, disputes, payment_intents, refunds
from harness.fake_stripe.resources import CHARGE, CHECKOUT_SESSION, PAYMENT_INTENT, Resource
from harness.fake_stripe.state import StripeState
from service.domain.models import CheckoutSession, PaymentIntentRecord, Site
from service.errors import ApiError, StripeNotFound
from service.flows import purchases, stripe_events
from service.store import SQLiteStore, Store

from .builders import new_site
from .conftest import Backend, MongomockBackend, SQLiteBackend

CREDITS, PRICE = 7, 1000  # credits that do not divide the price: shares round
REDELIVERIES = 5
MONGOMOCK_SAMPLE = 29
SQLITE_TOGETHER = 24
OpenStore = Callable[[], Awaitable[Store]]


class LocalStripe:
    """The gateway's read calls, answered from the fake Stripe's state as its API would."""

    def __init__(self, state: StripeState) -> None:
        self.state = state

    def _get(self, resource: Resource, object_id: str) -> dict[str, Any]:
        obj = self.state.find(resource, object_id)
        if obj is None:
            raise StripeNotFound(f"Stripe has no such {resource.noun}")
        return copy.deepcopy(obj)

    async def retrieve_checkout_session(self, session_id: str) -> dict[str, Any]:
        return self._get(CHECKOUT_SESSION, session_id)

    async def retrieve_payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        return self._get(PAYMENT_INTENT, payment_intent_id)

    async def retrieve_charge(self, charge_id: str) -> dict[str, Any]:
        return self._get(CHARGE, charge_id)

    async def find_checkout_session(self, payment_intent_id: str) -> dict[str, Any] | None:
        found = [
            s
            for s in self.state.newest_first(CHECKOUT_SESSION)
            if s["payment_intent"] == payment_intent_id
        ]
        return copy.deepcopy(found[0]) if found else None


@dataclass(frozen=True)
class History:
    """What happens at Stripe: refunds (amounts, in order), then a dispute closed won/lost."""

    refunds: tuple[int, ...]
    dispute_won: bool

    def reversed_credits(self) -> int:
        """The credits the history takes back: the refunds' share rounded down, a lost
        dispute's share rounded up, together never more than the grant."""
        refunded = sum(self.refunds)
        by_refunds = CREDITS * refunded // PRICE
        disputed = PRICE - refunded or PRICE  # the unrefunded rest, or the whole charge
        by_dispute = 0 if self.dispute_won else -(-CREDITS * disputed // PRICE)
        return min(CREDITS, by_refunds + by_dispute)


HISTORIES = {
    # two partial refunds, then a dispute of the unrefunded rest
    "partial_refunds-dispute_won": History((200, 300), True),
    "partial_refunds-dispute_lost": History((200, 300), False),
    # a partial then a full refund, then a dispute of the whole (refunded) charge
    "full_refund-dispute_won": History((200, 800), True),
    "full_refund-dispute_lost": History((200, 800), False),
}
#: The permuted steps: the payment's event, the plugin's call, both refund events, the
#: dispute's created and closed events. The other events follow in Stripe's order.
STEPS = ("paid", "plugin", "refund_1", "refund_2", "dispute_created", "dispute_closed")


@dataclass
class World:
    store: Store
    site: Site
    services: Any
    stripe: StripeState


def paid_checkout(world: World, user_id: str) -> tuple[str, str, CheckoutSession]:
    session = checkout_sessions.create_session(
        world.stripe,
        {
            "mode": "payment",
            "success_url": "https://wp.example.test/ok",
            "line_items": [
                {
                    "quantity": "1",
                    "price_data": {
                        "currency": "jpy",
                        "unit_amount": str(PRICE),
                        "product_data": {"name": "Pack"},
                    },
                }
            ],
        },
        "http://127.0.0.1:9",
    )
    record = CheckoutSession(
        session_id=session["id"],
        site_id=world.site.site_id,
        user_id=user_id,
        user_email=None,
        package_id="pack",
        credit_type="article",
        credits=CREDITS,
        amount=PRICE,
        currency="JPY",
    )
    checkout_sessions.pay_session(world.stripe, session)
    intent = world.stripe.get(PAYMENT_INTENT, session["payment_intent"])
    return purchases.checkout_ref(session["id"]), intent["latest_charge"], record


def paid_intent(world: World, user_id: str) -> tuple[str, str, PaymentIntentRecord]:
    intent = payment_intents.create_intent(world.stripe, amount=PRICE, currency="jpy")
    record = PaymentIntentRecord(
        payment_intent_id=intent["id"],
        site_id=world.site.site_id,
        user_id=user_id,
        user_email=None,
        package_id="pack",
        credit_type="image",
        credits=CREDITS,
        amount=PRICE,
        currency="JPY",
    )
    payment_intents.succeed_intent(world.stripe, intent)
    return purchases.intent_ref(intent["id"]), intent["latest_charge"], record


async def play(
    world: World, kind: str, history: History, order: tuple[str, ...], user_id: str
) -> None:
    """Play one history at Stripe, deliver its events in `order`, and check the end state."""
    events: list[dict[str, Any]] = []
    world.stripe.listeners[:] = [events.append]
    ref, charge_id, record = (paid_checkout if kind == "checkout" else paid_intent)(world, user_id)
    if kind == "checkout":
        await world.store.create_checkout_session(record)
    else:
        await world.store.create_payment_intent(record)
    charge = world.stripe.get(CHARGE, charge_id)
    for amount in history.refunds:
        refunds.refund_charge(world.stripe, charge, amount)
    fully_refunded = sum(history.refunds) >= PRICE  # live mode only: the fake's API refuses
    dispute = disputes.dispute_charge(
        world.stripe, charge, PRICE if fully_refunded else None, allow_refunded=fully_refunded
    )
    disputes.close_dispute(world.stripe, dispute, "won" if history.dispute_won else "lost")

    paid_type = "checkout.session.completed" if kind == "checkout" else "payment_intent.succeeded"

    def of(event_type: str) -> list[dict[str, Any]]:
        return [e for e in events if e["type"] == event_type]

    by_step = {
        "paid": of(paid_type),
        "refund_1": of("charge.refunded")[:1],
        "refund_2": of("charge.refunded")[1:],
        "dispute_created": of("charge.dispute.created"),
        "funds_withdrawn": of("charge.dispute.funds_withdrawn"),
        "funds_reinstated": of("charge.dispute.funds_reinstated"),
        "dispute_closed": of("charge.dispute.closed"),
    }
    stepped = [e["id"] for step in order if step != "plugin" for e in by_step[step]]
    queue: list[Callable[[], Awaitable[Any]]] = []
    for step in order:
        if step == "plugin":
            queue.append(lambda: plugin_call(world, kind, record))
        else:
            queue.extend(deliverer(world, e) for e in by_step[step])
    queue.extend(deliverer(world, e) for e in events if e["id"] not in stepped)

    for _ in range(REDELIVERIES * len(queue)):
        if not queue:
            break
        action = queue.pop(0)
        try:
            await action()
        except ApiError as exc:
            assert exc.status in (402, 409), exc  # retryable: Stripe or the plugin tries again
            queue.append(action)
    assert not queue, f"{order}: still refused after {REDELIVERIES} rounds"
    await check_end_state(world, kind, history, order, ref, record, events)


def deliverer(world: World, event: dict[str, Any]) -> Callable[[], Awaitable[str]]:
    return lambda: stripe_events.handle_event(world.services, copy.deepcopy(event))


async def plugin_call(
    world: World, kind: str, record: CheckoutSession | PaymentIntentRecord
) -> dict[str, Any]:
    if isinstance(record, CheckoutSession):
        return await purchases.verify_checkout_session(
            world.services, world.site, record.session_id
        )
    return await purchases.confirm_payment(
        world.services, world.site, {"payment_intent_id": record.payment_intent_id}
    )


async def check_end_state(
    world: World,
    kind: str,
    history: History,
    order: tuple[str, ...],
    ref: str,
    record: CheckoutSession | PaymentIntentRecord,
    events: list[dict[str, Any]],
) -> None:
    entries = await world.store.list_ledger(
        site_id=world.site.site_id, user_id=record.user_id, limit=100
    )
    grants = [e for e in entries if e.source_ref == ref]
    children = [e for e in entries if e.parent_ref == ref]
    user = await world.store.get_user(world.site.site_id, record.user_id)
    reversed_ = history.reversed_credits()
    where = f"{kind}, {history}, {order}"
    assert [g.delta for g in grants] == [CREDITS], where
    assert -sum(e.delta for e in children) == reversed_, where
    assert {e.kind for e in children} <= {"reversal", "restore"}, where
    assert len(entries) == 1 + len(children), where
    assert user is not None and user.balances.of(record.credit_type) == CREDITS - reversed_, where
    if isinstance(record, CheckoutSession):
        stored = await world.store.get_checkout_session(record.session_id)
        assert stored is not None and stored.payment_intent_id is not None, where
    else:
        stored = await world.store.get_payment_intent(record.payment_intent_id)
    assert stored.status == "completed" and stored.completed_at is not None, where
    for event in events:
        assert await world.store.stripe_event_seen(event["id"]), (where, event["type"])


def new_world(store: Store, site: Site) -> World:
    state = StripeState()
    services = SimpleNamespace(
        store=store, stripe=LocalStripe(state), dispatcher=SimpleNamespace(wake=lambda: None)
    )
    return World(store, site, services, state)


@pytest.fixture
async def world(backend: Backend, open_store: OpenStore) -> AsyncIterator[World]:
    fast: Store | None = None
    if isinstance(backend, SQLiteBackend):
        # What is checked here is logic, not durability: spare the disk 5000 fsyncs.
        fast = SQLiteStore(backend.path, synchronous="OFF")
        await fast.open()
    store = fast or await open_store()
    yield new_world(store, await store.create_site(new_site()))
    if fast is not None:
        await fast.close()


async def play_every(
    world: World,
    backend: Backend,
    open_store: OpenStore,
    kind: str,
    history: History,
    orders: list[tuple[str, ...]],
) -> None:
    """Play `history` once per order, each purchase its own user, then reconcile.

    On SQLite, SQLITE_TOGETHER purchases play side by side, each with its own fake Stripe: the
    store's thread takes the operations queued together in one wake-up, where one purchase
    alone makes it wake for each. Each purchase's deliveries keep their order.

    On mongomock every query and every transaction's snapshot scans whole collections in
    Python, so there each order gets a database of its own (reconciled after it): an order
    then costs what the first one did, not more with every order before it."""

    async def play_one(number: int, order: tuple[str, ...]) -> None:
        if not isinstance(backend, MongomockBackend):
            await play(new_world(world.store, world.site), kind, history, order, str(number))
            return
        backend.database = f"rakubun_order_{number}"
        store = await open_store()
        await play(
            new_world(store, await store.create_site(new_site())), kind, history, order, str(number)
        )
        assert (await store.reconcile()).ok, order

    together = SQLITE_TOGETHER if isinstance(backend, SQLiteBackend) else 1
    for start in range(0, len(orders), together):
        batch = enumerate(orders[start : start + together], start)
        await asyncio.gather(*(play_one(number, order) for number, order in batch))
    assert (await world.store.reconcile()).ok


def orders_for(backend: Backend, steps: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every order of `steps`; on mongomock, whose every query scans its collection in
    Python, a fixed sample of them with the fully reversed order (SQLite and a real MongoDB
    run them all)."""
    orders = list(itertools.permutations(steps))
    if not isinstance(backend, MongomockBackend) or len(orders) <= MONGOMOCK_SAMPLE:
        return orders
    return [tuple(reversed(steps)), *random.Random(11).sample(orders, MONGOMOCK_SAMPLE)]


@pytest.mark.parametrize("kind", ["checkout", "intent"])
@pytest.mark.parametrize("history", HISTORIES.values(), ids=HISTORIES.keys())
async def test_every_delivery_order_ends_with_the_money_the_events_imply(
    world: World, backend: Backend, open_store: OpenStore, kind: str, history: History
) -> None:
    assert len(list(itertools.permutations(STEPS))) == 720
    await play_every(world, backend, open_store, kind, history, orders_for(backend, STEPS))


@pytest.mark.parametrize("kind", ["checkout", "intent"])
@pytest.mark.parametrize("won", [True, False], ids=["won", "lost"])
async def test_every_order_of_a_disputes_own_events_ends_with_its_outcome(
    world: World, backend: Backend, open_store: OpenStore, kind: str, won: bool
) -> None:
    """The payment's event and all of a dispute's events (created, funds_withdrawn, then
    funds_reinstated and closed if won, closed if lost): 120 and 24 orders."""
    steps = (
        "paid",
        "dispute_created",
        "funds_withdrawn",
        "dispute_closed",
        *(("funds_reinstated",) if won else ()),
    )
    await play_every(world, backend, open_store, kind, History((), won), orders_for(backend, steps))
