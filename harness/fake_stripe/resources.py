"""Every Stripe object the fake makes, declared once: object name, id prefix, noun, API path.

Invariant: lookups by prefix, by object name and by `/_harness/state` key derive from
`RESOURCES`; a resource served under `/v1/<path>` has its routes in `api/<module>.py` and,
when it changes money or state, its logic in `<module>.py` (module = path with `/` -> `_`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    """One kind of Stripe object."""

    object: str  # its `object` field and the name of its table: "payment_intent"
    prefix: str  # ids are `<prefix>_<token>`: "pi_3Nx..."
    noun: str  # Stripe's wording in "No such <noun>: '<id>'"
    path: str | None = None  # served under `/v1/<path>`; None: only inside other objects
    count: str | None = None  # its key in `/_harness/state`

    @property
    def url(self) -> str:
        """Its list URL, the `url` field of its lists: `/v1/checkout/sessions`."""
        return f"/v1/{self.path}"

    @property
    def module(self) -> str | None:
        """Its module in `api/` (and logic module): `checkout/sessions` -> `checkout_sessions`."""
        return self.path.replace("/", "_") if self.path else None

    @property
    def tag(self) -> str:
        """What an id's kind is read from: the part before the first `_` (`cs_test_a1` -> `cs`)."""
        return self.prefix.split("_", 1)[0]


CHECKOUT_SESSION = Resource(
    "checkout.session", "cs_test", "checkout.session", "checkout/sessions", "sessions"
)
PAYMENT_INTENT = Resource("payment_intent", "pi", "payment_intent", "payment_intents", "intents")
PAYMENT_METHOD = Resource(
    "payment_method", "pm", "PaymentMethod", "payment_methods", "payment_methods"
)
CHARGE = Resource("charge", "ch", "charge", "charges", "charges")
REFUND = Resource("refund", "re", "refund", "refunds", "refunds")
DISPUTE = Resource("dispute", "dp", "dispute", "disputes", "disputes")
EVENT = Resource("event", "evt", "event", "events", "events")
WEBHOOK_ENDPOINT = Resource(
    "webhook_endpoint", "we", "webhook endpoint", "webhook_endpoints", "webhook_endpoints"
)
# Built inside a session's line items, never stored or served on their own.
LINE_ITEM = Resource("item", "li", "line item")
PRICE = Resource("price", "price", "price")
PRODUCT = Resource("product", "prod", "product")

RESOURCES: tuple[Resource, ...] = (
    CHECKOUT_SESSION,
    PAYMENT_INTENT,
    PAYMENT_METHOD,
    CHARGE,
    REFUND,
    DISPUTE,
    EVENT,
    WEBHOOK_ENDPOINT,
    LINE_ITEM,
    PRICE,
    PRODUCT,
)
BY_OBJECT: dict[str, Resource] = {r.object: r for r in RESOURCES}
BY_TAG: dict[str, Resource] = {r.tag: r for r in RESOURCES}
#: The resources with their own table and `/v1` routes.
SERVED: tuple[Resource, ...] = tuple(r for r in RESOURCES if r.path)


def of_id(object_id: str) -> Resource | None:
    """The resource an id belongs to, from its prefix (`pi_...` -> PAYMENT_INTENT)."""
    return BY_TAG.get(object_id.split("_", 1)[0])


def noun(kind: str) -> str:
    """How Stripe names an object type in "No such ..." errors."""
    resource = BY_OBJECT.get(kind)
    return resource.noun if resource else kind
