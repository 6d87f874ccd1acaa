"""`resources.py` declares each fake Stripe resource once, and the modules follow it."""

from __future__ import annotations

import ast
import importlib
import pathlib
import pkgutil

import pytest
import stripe

from harness import fake_stripe
from harness.fake_stripe import FakeStripe, api, checkout_sessions, resources
from harness.fake_stripe.resources import RESOURCES, SERVED

API_MODULES = sorted(m.name for m in pkgutil.iter_modules(api.__path__))


@pytest.mark.parametrize("name", API_MODULES)
def test_every_api_module_serves_one_registered_resource_under_its_path(name: str) -> None:
    module = importlib.import_module(f"harness.fake_stripe.api.{name}")

    assert module.RESOURCE in SERVED
    assert module.RESOURCE.module == name
    paths = {route.path for route in module.routes}
    assert paths and all(
        p == module.RESOURCE.url or p.startswith(module.RESOURCE.url + "/") for p in paths
    )
    assert module.routes in api.ROUTE_TABLES


def test_every_served_resource_has_an_api_module() -> None:
    assert sorted(r.module for r in SERVED) == API_MODULES


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
    await harness_http.post(
        f"/_harness/checkout/sessions/{open_session.id}/complete", json={"outcome": "paid"}
    )
    session = await stripe_client.v1.checkout.sessions.retrieve_async(open_session.id)
    await stripe_client.v1.refunds.create_async(
        params={"payment_intent": session.payment_intent, "amount": 100}
    )
    await harness_http.post(f"/_harness/payment_intents/{session.payment_intent}/dispute", json={})
    card = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2040"}
    await stripe_client.raw_request_async("post", "/v1/payment_methods", type="card", card=card)

    store = fake_stripe.state
    assert set(store.tables) == {r.object for r in SERVED}
    for kind, table in store.tables.items():
        for object_id, obj in dict.items(table):
            assert obj["object"] == kind
            assert obj["id"] == object_id
            assert object_id.startswith(resources.BY_OBJECT[kind].prefix + "_")
            assert resources.of_id(object_id) is resources.BY_OBJECT[kind]
    item = checkout_sessions.line_items(store, store.get("checkout.session", open_session.id))[0]
    for obj in (item, item["price"]):
        assert obj["id"].startswith(resources.BY_OBJECT[obj["object"]].prefix + "_")
    assert item["price"]["product"].startswith(resources.PRODUCT.prefix + "_")


async def test_the_state_counts_every_served_resource_under_its_key(
    harness_http, open_session
) -> None:
    counts = (await harness_http.get("/_harness/state")).json()

    assert list(counts)[:-2] == [r.count for r in SERVED]
    assert counts["sessions"] == 1


async def test_a_missing_object_is_named_with_the_registered_noun(stripe_client) -> None:
    for resource in SERVED:
        with pytest.raises(stripe.InvalidRequestError) as missing:
            await stripe_client.raw_request_async("get", f"{resource.url}/{resource.prefix}_nope")
        assert missing.value.http_status == 404
        assert f"No such {resource.noun}: '{resource.prefix}_nope'" in str(missing.value)
