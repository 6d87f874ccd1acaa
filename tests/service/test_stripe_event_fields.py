"""Property: whatever JSON a signed event of a type we handle carries in any field of its
object, the webhook answers 200 or a 4xx its operation documents, never a 5xx; and an event
whose fields its handling cannot use (by `FIT` below, Stripe's API reference written down
here, apart from the service's own table) is refused with 400 `invalid_event`, recorded as
`rejected`, refused again the same way when Stripe redelivers it, and changes no balance.

Each example starts from a recorded event (contracts/fixtures/stripe_events/) about a fresh
purchase that a well-formed event would grant or take back, so a change slipping through
would show in the ledger.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import event as tally
from hypothesis import strategies as st

from service.flows.stripe_events import EVENT_HANDLERS
from tests.support.plugin_calls import REPO_ROOT
from tests.support.stripe import StripeWorld, event_body, load_fixture, signature_header

#: Each handled type, and the recorded event it starts from (no recording of
#: `charge.dispute.updated`: a created dispute's, retyped).
FIXTURE_OF = {
    "checkout.session.completed": "checkout.session.completed",
    "checkout.session.async_payment_succeeded": "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed": "checkout.session.async_payment_failed",
    "checkout.session.expired": "checkout.session.expired",
    "payment_intent.succeeded": "payment_intent.succeeded",
    "payment_intent.payment_failed": "payment_intent.payment_failed",
    "charge.refunded": "charge.refunded.partial",
    "charge.refund.updated": "charge.refund.updated.failed",
    "charge.dispute.created": "charge.dispute.created",
    "charge.dispute.updated": "charge.dispute.created",
    "charge.dispute.closed": "charge.dispute.closed.lost",
    "charge.dispute.funds_withdrawn": "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated": "charge.dispute.funds_reinstated",
}


def _string(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _reference(value: Any) -> bool:
    return value is None or _string(value) or (isinstance(value, dict) and _string(value.get("id")))


def _integer_from(low: int) -> Callable[[Any], bool]:
    return lambda value: type(value) is int and value >= low


SESSION = {"id": _string, "payment_intent": _reference, "payment_status": _string}
DISPUTE = {
    "id": _string,
    "amount": _integer_from(0),
    "status": _string,
    "payment_intent": _reference,
    "charge": _reference,
}
#: What the object of each handled type must carry for its handling (absent reads as None).
FIT: dict[str, dict[str, Callable[[Any], bool]]] = {
    "checkout.session.completed": SESSION,
    "checkout.session.async_payment_succeeded": SESSION,
    "checkout.session.async_payment_failed": {"id": _string},
    "checkout.session.expired": {"id": _string},
    "payment_intent.succeeded": {"id": _string, "status": _string},
    "payment_intent.payment_failed": {"id": _string},
    "charge.refunded": {
        "amount": _integer_from(1),
        "amount_refunded": _integer_from(0),
        "payment_intent": _reference,
        "charge": _reference,
    },
    "charge.refund.updated": {
        "id": _string,
        "status": _string,
        "payment_intent": _reference,
        "charge": _reference,
    },
    **{kind: DISPUTE for kind in FIXTURE_OF if kind.startswith("charge.dispute.")},
}


def fit(event_type: str, obj: dict[str, Any]) -> bool:
    if not all(check(obj.get(name)) for name, check in FIT[event_type].items()):
        return False
    return event_type != "charge.refunded" or obj["amount_refunded"] <= obj["amount"]


SPEC = yaml.safe_load((REPO_ROOT / "openapi.yaml").read_text())
DOCUMENTED = {
    int(status)
    for status in SPEC["paths"]["/api/v1/webhooks/stripe"]["post"]["responses"]
    if int(status) < 500
}

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
#: Values near the edge of what the handling accepts.
EDGES = st.sampled_from(
    ["abc", "1e3", "750", "", "paid", "succeeded", "needs_response", "won", "pi_x", "ch_x"]
    + [0, 1, -1, 300, 750, 751, 750.0, 1e3, 10**30, True, False, None, [1], {}, {"id": "ch_x"}]
)
DELETE = object()


def _paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path inside a JSON object, nested objects included."""
    if not isinstance(value, dict):
        return []
    found: list[tuple[str, ...]] = []
    for key, inner in value.items():
        found.append((*prefix, key))
        found.extend(_paths(inner, (*prefix, key)))
    return found


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, tuple[str, ...], Any]:
    """An event type, a path in its object (a field its handling reads, most often) and what
    to put there (DELETE: take the field away)."""
    event_type = draw(st.sampled_from(sorted(FIXTURE_OF)))
    obj = load_fixture(FIXTURE_OF[event_type])["data"]["object"]
    read = [(name,) for name in FIT[event_type]]
    path = draw(st.sampled_from(read) | st.sampled_from(read) | st.sampled_from(_paths(obj)))
    value = draw(st.just(DELETE) | EDGES | JSON)
    return event_type, path, value


async def _event_about_a_fresh_purchase(world: StripeWorld, event_type: str) -> dict[str, Any]:
    """The recorded event, about a purchase of this site that it would grant or take back."""
    if event_type.startswith("checkout.session."):
        ids = {"session_id": await world.checkout()}
    else:
        ids = {"payment_intent_id": await world.intent()}
    event = await world.event(FIXTURE_OF[event_type], **ids)
    event["type"] = event_type
    return event


def _put(obj: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    *parents, last = path
    for key in parents:
        obj = obj[key]
    if value is DELETE:
        obj.pop(last, None)
    else:
        obj[last] = copy.deepcopy(value)


def test_every_handled_type_is_covered():
    assert set(FIXTURE_OF) == set(FIT) == set(EVENT_HANDLERS)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutation=mutations())
async def test_any_json_in_any_field_answers_200_or_a_documented_4xx_and_only_fit_ones_move(
    world: StripeWorld, mutation: tuple[str, tuple[str, ...], Any]
):
    event_type, path, value = mutation
    event = await _event_about_a_fresh_purchase(world, event_type)
    _put(event["data"]["object"], path, value)
    body = event_body(event)
    before = await world.ledger()

    response = await world.post(body, signature_header(body))

    well_formed = fit(event_type, event["data"]["object"])
    tally(f"{'fit' if well_formed else 'unfit'}: {response.status_code}")
    assert response.status_code in DOCUMENTED, response.text
    if not well_formed:
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_event"
        assert await world.ledger() == before
        assert await world.store.stripe_event_outcome(event["id"]) == "rejected"
        again = await world.post(body, signature_header(body))
        assert (again.status_code, again.json()) == (400, response.json())
    elif response.status_code == 200:
        assert await world.store.stripe_event_outcome(event["id"]) == response.json()["outcome"]
        tally(f"fit: {response.json()['outcome']}")
    else:
        assert await world.ledger() == before
    assert (await world.store.reconcile()).ok
