"""`resources.py` declares each fake Stripe resource once; its retrieve and list routes, list
filters and expansions follow from that, and the modules are named after it."""

from __future__ import annotations

import ast
import importlib
import pathlib
import pkgutil
from typing import Any

import httpx
import pytest

from harness import fake_stripe
from harness.fake_stripe import FakeStripe, api, checkout_sessions, resources
from harness.fake_stripe.context import FakeContext
from harness.fake_stripe.errors import StripeError
from harness.fake_stripe.pagination import Between, Equals, ListFilter, Matches, filtered
from harness.fake_stripe.params import schema_for
from harness.fake_stripe.resources import RESOURCES, SERVED
from harness.fake_stripe.server import make_app
from harness.fake_stripe.state import StripeState
from harness.fake_stripe.webhooks import WebhookDispatcher

from .conftest import session_params

# `api/reads.py` serves every resource's retrieve and list; `api/writes.py` shapes the writes.
SHARED = {"reads", "writes"}
# Modules of routes outside any resource's path (payment pages, test helpers).
UNDECLARED = {m.__name__.rsplit(".", 1)[1] for m in api.UNDECLARED}
API_MODULES = sorted(
    m.name for m in pkgutil.iter_modules(api.__path__) if m.name not in {*SHARED, *UNDECLARED}
)


def _routes() -> list[tuple[str, str]]:
    state = StripeState()
    app = make_app(FakeContext(state, WebhookDispatcher(state, ()), "sk", "pk"))
    return [(r.method, r.resource.canonical) for r in app.router.routes() if r.resource]


@pytest.mark.parametrize("name", API_MODULES)
def test_every_api_module_serves_one_registered_resource_under_its_path(name: str) -> None:
    module = importlib.import_module(f"harness.fake_stripe.api.{name}")

    assert module.RESOURCE in SERVED
    assert module.RESOURCE.module == name
    paths = {route.path for route in module.routes}
    assert paths and all(
        p == module.RESOURCE.url or p.startswith(module.RESOURCE.url + "/") for p in paths
    )
    served = _routes()
    assert all((r.method, r.path) in served for r in module.routes)


def test_every_served_resource_gets_one_retrieve_and_one_list_route_from_its_declaration() -> None:
    served = _routes()

    for resource in SERVED:
        assert served.count(("GET", resource.url)) == 1, resource
        assert served.count(("GET", resource.url + "/{id}")) == 1, resource
    gets = [path for method, path in served if method == "GET" and path.startswith("/v1/")]
    generated = [r.url for r in SERVED] + [r.url + "/{id}" for r in SERVED]
    assert sorted(p for p in gets if p in generated) == sorted(generated)


def test_each_served_resource_is_built_in_the_logic_module_named_like_its_api_module() -> None:
    built_in: dict[str, set[str]] = {}
    for module in pkgutil.iter_modules(fake_stripe.__path__):
        if module.ispkg:
            continue
        tree = ast.parse(pathlib.Path(fake_stripe.__path__[0], f"{module.name}.py").read_text())
        for call in ast.walk(tree):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "base"
                and isinstance(call.args[0], ast.Name)
            ):
                resource = getattr(resources, call.args[0].id)
                built_in.setdefault(resource.object, set()).add(module.name)

    for resource in SERVED:
        if resource is resources.EVENT:
            continue  # `Store.emit` makes events, through `objects.event`
        assert built_in[resource.object] == {resource.module}


def test_object_names_prefixes_paths_and_state_keys_are_each_declared_once() -> None:
    for field in ("object", "prefix", "tag", "path", "count"):
        values = [getattr(r, field) for r in RESOURCES if getattr(r, field) is not None]
        assert len(values) == len(set(values)), field
    assert resources.BY_TAG.keys() == {r.tag for r in RESOURCES}


async def test_every_object_the_fake_made_is_the_registered_resource_of_its_table_and_id(
    fake_stripe: FakeStripe, harness_http, stripe_client, open_session, webhook_endpoint
) -> None:
    await pay_refund_and_dispute(harness_http, stripe_client, open_session.id)
    await make_catalogue_and_customer(stripe_client)

    store = fake_stripe.state
    assert set(store.tables) == {r.object for r in SERVED}
    for kind, table in store.tables.items():
        for object_id, obj in dict.items(table):
            assert obj["object"] == kind
            assert obj["id"] == object_id
            assert object_id.startswith(resources.BY_OBJECT[kind].prefix + "_")
            assert resources.of_id(object_id) is resources.BY_OBJECT[kind]
    item = checkout_sessions.line_items(
        store, store.get(resources.CHECKOUT_SESSION, open_session.id)
    )[0]
    for obj in (item, item["price"]):
        assert obj["id"].startswith(resources.BY_OBJECT[obj["object"]].prefix + "_")
    assert item["price"]["product"].startswith(resources.PRODUCT.prefix + "_")


async def test_the_state_counts_every_served_resource_under_its_key(
    harness_http, open_session
) -> None:
    counts = (await harness_http.get("/_harness/state")).json()

    assert list(counts)[:-2] == [r.count for r in SERVED]
    assert counts["sessions"] == 1


async def test_every_served_resource_answers_an_unknown_id_and_an_empty_list_like_stripe(
    fake_stripe: FakeStripe,
) -> None:
    headers = {"Authorization": f"Bearer {fake_stripe.secret_key}"}
    async with httpx.AsyncClient(base_url=fake_stripe.url, headers=headers) as http:
        for resource in SERVED:
            unknown = f"{resource.prefix}_nope"
            missing = await http.get(f"{resource.url}/{unknown}")
            listed = await http.get(resource.url)
            bogus = await http.get(resource.url, params={"bogus": "1"})

            assert missing.status_code == 404
            assert missing.json() == {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "message": f"No such {resource.noun}: '{unknown}'",
                    "param": "id",
                }
            }
            assert listed.status_code == 200
            assert listed.json() == {
                "object": "list",
                "data": [],
                "has_more": False,
                "url": resource.url,
            }
            assert bogus.status_code == 400
            assert bogus.json()["error"]["param"] == "bogus"


async def pay_refund_and_dispute(harness_http, stripe_client, session_id: str) -> None:
    """Pay the open session, refund part of it and dispute its charge: one of each money object."""
    await harness_http.post(
        f"/_harness/checkout/sessions/{session_id}/complete", json={"outcome": "paid"}
    )
    session = await stripe_client.v1.checkout.sessions.retrieve_async(session_id)
    await stripe_client.v1.refunds.create_async(
        params={"payment_intent": session.payment_intent, "amount": 100}
    )
    await harness_http.post(f"/_harness/payment_intents/{session.payment_intent}/dispute", json={})


async def make_one_of_each(harness_http, stripe_client) -> None:
    """At least one stored object of every served resource (extend it for a new resource)."""
    open_session = await stripe_client.v1.checkout.sessions.create_async(params=session_params())
    await stripe_client.v1.checkout.sessions.create_async(params=session_params())
    await pay_refund_and_dispute(harness_http, stripe_client, open_session.id)
    await stripe_client.v1.payment_intents.create_async(
        params={"amount": 500, "currency": "jpy", "payment_method": "pm_card_visa"}
    )
    await make_catalogue_and_customer(stripe_client)
    # Last, so that no event is owed to it and none changes while the test reads them.
    await stripe_client.v1.webhook_endpoints.create_async(
        params={"url": "http://127.0.0.1:9/hook", "enabled_events": ["charge.succeeded"]}
    )


async def make_catalogue_and_customer(stripe_client) -> None:
    """A product, its price, a customer with a PaymentMethod (from a test token) attached, and
    a PaymentMethod from a test card number (as Stripe.js makes it), attached to nobody."""
    product = await stripe_client.v1.products.create_async(params={"name": "Credits"})
    await stripe_client.v1.prices.create_async(
        params={"product": product.id, "unit_amount": 1500, "currency": "jpy"}
    )
    customer = await stripe_client.v1.customers.create_async(params={"email": "a@example.com"})
    method = await stripe_client.v1.payment_methods.create_async(
        params={"type": "card", "card": {"token": "tok_visa"}}
    )
    await stripe_client.v1.payment_methods.attach_async(method.id, params={"customer": customer.id})
    card = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2040"}
    await stripe_client.raw_request_async("post", "/v1/payment_methods", type="card", card=card)


async def sdk_get(stripe_client, url: str, **params: Any) -> Any:
    """GET through the SDK's own encoding of params (`created[gte]=`, `types[0]=`), as JSON."""
    return (await stripe_client.raw_request_async("get", url, **params)).data


def _absent(url: str, field: str, present: set[str]) -> str:
    """A value of `field` no stored object has that Stripe's params check accepts: another
    member of its enum (`type=recurring` for prices), else any string."""
    schema = schema_for("GET", url) or {}
    choices = schema.get("properties", {}).get(field, {}).get("enum") or []
    return next((choice for choice in choices if choice not in present), "nope")


def filter_examples(
    list_filter: ListFilter, stored: list[dict[str, Any]], url: str
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Requests a declared filter takes, each with the stored objects it must keep."""
    if isinstance(list_filter, Equals):
        field = list_filter.field
        values = {o[field] for o in stored if isinstance(o[field], str)}
        values.add(_absent(url, field, values))
        return [({field: v}, [o for o in stored if o[field] == v]) for v in sorted(values)]
    if isinstance(list_filter, Matches):
        field, plural = list_filter.field, list_filter.plural
        first = stored[0][field]
        family = first.split(".")[0]
        return [
            ({field: first}, [o for o in stored if o[field] == first]),
            ({plural: [first, "nope"]}, [o for o in stored if o[field] == first]),
            ({field: f"{family}.*"}, [o for o in stored if o[field].startswith(family + ".")]),
        ]
    if isinstance(list_filter, Between):
        field, at = list_filter.field, stored[0][list_filter.field]
        return [
            ({field: at}, [o for o in stored if o[field] == at]),
            ({field: {"gte": at}}, [o for o in stored if o[field] >= at]),
            ({field: {"gt": at}}, [o for o in stored if o[field] > at]),
            ({field: {"lt": at + 1, "gte": at}}, [o for o in stored if o[field] == at]),
            ({field: {"lte": at - 1}}, [o for o in stored if o[field] <= at - 1]),
        ]
    raise AssertionError(f"teach filter_examples about {list_filter!r}")


async def test_every_served_resource_retrieves_lists_pages_and_filters_what_it_stored(
    fake_stripe: FakeStripe, harness_http, stripe_client
) -> None:
    await make_one_of_each(harness_http, stripe_client)

    for resource in SERVED:
        stored = fake_stripe.state.newest_first(resource)
        assert stored, f"make_one_of_each makes no {resource.object}"
        for obj in stored:
            assert await sdk_get(stripe_client, f"{resource.url}/{obj['id']}") == obj
        walked: list[str] = []
        params: dict[str, Any] = {"limit": 1}
        while True:
            page = await sdk_get(stripe_client, resource.url, **params)
            walked += [o["id"] for o in page["data"]]
            if not page["has_more"]:
                break
            params["starting_after"] = walked[-1]
        assert walked == [o["id"] for o in stored]
        for list_filter in resource.filters:
            for query, kept in filter_examples(list_filter, stored, resource.url):
                listed = await sdk_get(stripe_client, resource.url, limit=100, **query)
                assert [o["id"] for o in listed["data"]] == [o["id"] for o in kept], query


async def test_an_expandable_field_is_replaced_by_its_object_in_retrieve_and_list(
    fake_stripe: FakeStripe, harness_http, stripe_client
) -> None:
    await make_one_of_each(harness_http, stripe_client)

    charge = fake_stripe.state.newest_first(resources.CHARGE)[0]
    expanded = await stripe_client.v1.charges.retrieve_async(
        charge["id"], params={"expand": ["payment_intent.latest_charge"]}
    )
    listed = await stripe_client.v1.charges.list_async(params={"expand": ["data.payment_intent"]})

    assert expanded.payment_intent.id == charge["payment_intent"]
    assert expanded.payment_intent.latest_charge.id == charge["id"]
    assert [c.payment_intent.id for c in listed.data] == [charge["payment_intent"]]
    # Not declared expandable: stays as stored, as Stripe never nests an object in its own id.
    same = await stripe_client.v1.charges.retrieve_async(charge["id"], params={"expand": ["id"]})
    assert same.id == charge["id"]


async def test_the_sdk_lists_by_creation_time(fake_stripe: FakeStripe, stripe_client) -> None:
    session = await stripe_client.v1.checkout.sessions.create_async(params=session_params())

    since = await stripe_client.v1.checkout.sessions.list_async(
        params={"created": {"gte": session.created}}
    )
    after = await stripe_client.v1.checkout.sessions.list_async(
        params={"created": {"gt": session.created}}
    )

    assert [s.id for s in since.data] == [session.id]
    assert after.data == []


@pytest.mark.parametrize(
    ("created", "param"),
    [({"after": "1"}, "created[after]"), ({"gte": "soon"}, "created[gte]"), ("x", "created")],
)
def test_a_bad_created_range_is_a_400_naming_the_param(created: Any, param: str) -> None:
    with pytest.raises(StripeError) as bad:
        filtered([{"id": "ch_1", "created": 5}], [Between("created")], {"created": created})

    assert (bad.value.status, bad.value.param) == (400, param)


@pytest.mark.parametrize(
    ("created", "kept"),
    [
        ("5", [5]),
        ({"gt": "4"}, [6, 5]),
        ({"gte": "5", "lt": "6"}, [5]),
        ({"lte": "5"}, [5, 4]),
        ({}, [6, 5, 4]),
    ],
)
def test_a_created_range_keeps_the_objects_inside_it(created: Any, kept: list[int]) -> None:
    objs = [{"id": f"ch_{t}", "created": t} for t in (6, 5, 4)]

    listed = filtered(objs, [Between("created")], {"created": created})

    assert [o["created"] for o in listed] == kept
