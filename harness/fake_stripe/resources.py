"""Every Stripe object the fake makes, declared once: object name, id prefix, noun, API path,
list filters and expandable fields.

Invariant: lookups by prefix, by object name and by `/_harness/state` key derive from
`RESOURCES`, and so do the retrieve and list routes of every resource with a `path`
(`api/reads.py`); its other routes are in `api/<module>.py` and, when it changes money or
state, its logic in `<module>.py` (module = path with `/` -> `_`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .pagination import Between, Equals, ListFilter, Matches


@dataclass(frozen=True)
class Resource:
    """One kind of Stripe object."""

    object: str  # its `object` field and the name of its table: "payment_intent"
    prefix: str  # ids are `<prefix>_<token>`: "pi_3Nx..."
    noun: str  # Stripe's wording in "No such <noun>: '<id>'"
    path: str | None = None  # served under `/v1/<path>`; None: only inside other objects
    count: str | None = None  # its key in `/_harness/state`
    filters: tuple[ListFilter, ...] = ()  # what its list takes besides limit and cursors
    expandable: tuple[str, ...] = ()  # the fields `expand[]` may replace by their object

    @classmethod
    def served(
        cls,
        object: str,
        prefix: str,
        *,
        noun: str | None = None,
        path: str | None = None,
        count: str | None = None,
        filters: tuple[ListFilter, ...] = (),
        expandable: tuple[str, ...] = (),
    ) -> Resource:
        """A resource with its own table and `/v1` routes; by default its noun is its object
        name, its path the plural of that, and its `/_harness/state` key its path."""
        path = path or f"{object}s"
        return cls(object, prefix, noun or object, path, count or path, filters, expandable)

    @property
    def url(self) -> str:
        """Its list URL, the `url` field of its lists: `/v1/checkout/sessions`."""
        return f"/v1/{self.path}"

    @property
    def module(self) -> str | None:
        """Its logic module's name, and its `api/` module's if it has routes besides retrieve and
        list: `checkout/sessions` -> `checkout_sessions`."""
        return self.path.replace("/", "_") if self.path else None

    @property
    def tag(self) -> str:
        """What an id's kind is read from: the part before the first `_` (`cs_test_a1` -> `cs`)."""
        return self.prefix.split("_", 1)[0]


CREATED = Between("created")  # `created=` or `created[gte]=` ... on every list Stripe dates

CHECKOUT_SESSION = Resource.served(
    "checkout.session",
    "cs_test",
    path="checkout/sessions",
    count="sessions",
    filters=(Equals("status"), Equals("payment_intent"), CREATED),
    expandable=("customer", "line_items", "payment_intent"),
)
PAYMENT_INTENT = Resource.served(
    "payment_intent",
    "pi",
    count="intents",
    filters=(CREATED,),
    expandable=("customer", "latest_charge", "payment_method"),
)
CHARGE = Resource.served(
    "charge",
    "ch",
    filters=(Equals("payment_intent"), CREATED),
    expandable=("balance_transaction", "payment_intent", "payment_method"),
)
REFUND = Resource.served(
    "refund",
    "re",
    filters=(Equals("payment_intent"), Equals("charge"), CREATED),
    expandable=("charge", "payment_intent"),
)
DISPUTE = Resource.served(
    "dispute",
    "dp",
    filters=(Equals("payment_intent"), Equals("charge"), CREATED),
    expandable=("charge", "payment_intent"),
)
EVENT = Resource.served("event", "evt", filters=(Matches("type", plural="types"), CREATED))
WEBHOOK_ENDPOINT = Resource.served("webhook_endpoint", "we", noun="webhook endpoint")
PRODUCT = Resource.served("product", "prod", filters=(CREATED,))
PRICE = Resource.served(
    "price",
    "price",
    filters=(Equals("product"), Equals("currency"), Equals("type"), CREATED),
    expandable=("product",),
)
CUSTOMER = Resource.served("customer", "cus", filters=(Equals("email"), CREATED))
PAYMENT_METHOD = Resource.served(
    "payment_method",
    "pm",
    noun="PaymentMethod",
    filters=(Equals("customer"), Equals("type")),
    expandable=("customer",),
)
# Built inside a session's line items, never stored or served on their own.
LINE_ITEM = Resource("item", "li", "line item")
# A customer's cash balance funding (test helper `fund_cash_balance`), never stored.
CASH_BALANCE_TRANSACTION = Resource("customer_cash_balance_transaction", "ccsbtxn", "transaction")

RESOURCES: tuple[Resource, ...] = (
    CHECKOUT_SESSION,
    PAYMENT_INTENT,
    CHARGE,
    REFUND,
    DISPUTE,
    EVENT,
    WEBHOOK_ENDPOINT,
    PRODUCT,
    PRICE,
    CUSTOMER,
    PAYMENT_METHOD,
    LINE_ITEM,
    CASH_BALANCE_TRANSACTION,
)
BY_OBJECT: dict[str, Resource] = {r.object: r for r in RESOURCES}
BY_TAG: dict[str, Resource] = {r.tag: r for r in RESOURCES}
#: The resources with their own table and `/v1` routes.
SERVED: tuple[Resource, ...] = tuple(r for r in RESOURCES if r.path)


def of_id(object_id: str) -> Resource | None:
    """The resource an id belongs to, from its prefix (`pi_...` -> PAYMENT_INTENT)."""
    return BY_TAG.get(object_id.split("_", 1)[0])
