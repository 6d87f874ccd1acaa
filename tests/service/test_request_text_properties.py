"""Property: whatever text a request carries in a string field, a header, the path or the
query -- lone surrogates, control characters, bytes that are not UTF-8 -- the answer is below
500, text that is not Unicode answers 400, a 4xx is the envelope, and a 4xx writes nothing
(no store row, no Stripe object).

Driven by the spec: every operation of `Contract.load().operations` is exercised, from its
documented request example, so a new operation is covered without editing this file.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any
from urllib.parse import quote, quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.fake_stripe.resources import CHARGE, CHECKOUT_SESSION, PAYMENT_INTENT, REFUND
from service.http.contract import Contract, Operation
from tests.support.stripe import StripeWorld

CONTRACT = Contract.load()

#: Path parameters by name; the registered site fills in its own ids.
PATH_VALUES = {
    "user_id": "1",
    "session_id": "cs_test_none",
    "package_id": "article_starter",
    "provider": "openai",
    "delivery_id": "whd_none",
}

#: Text as an attacker writes it: any character, surrogates and controls made likely.
TEXT = st.text(
    st.one_of(
        st.characters(categories=["Cs"]),
        st.characters(categories=["Cc"]),
        st.characters(codec="utf-8"),
        st.characters(),
    ),
    max_size=12,
)
#: Header bytes a client can put on the wire (h11 refuses CR, LF and NUL; so does HTTP).
HEADER_BYTES = st.binary(max_size=12).map(
    lambda raw: b"v" + bytes(b for b in raw if b >= 0x20 and b != 0x7F) + b"v"
)
HEADER_VALUES = st.one_of(HEADER_BYTES, HEADER_BYTES.map(lambda raw: b"Bearer " + raw))
QUERY_BYTES = st.one_of(
    st.binary(max_size=12), TEXT.map(lambda t: t.encode("utf-8", "surrogatepass"))
)


def is_unicode(raw: bytes) -> bool:
    """Whether bytes are UTF-8 text (a lone surrogate, surrogatepass-encoded, is not)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def request_example(op: Operation) -> Any:
    """The operation's documented request body, or an empty object."""
    body = CONTRACT.spec["paths"][op.path][op.method.lower()].get("requestBody")
    if body is None:
        return None
    return body["content"]["application/json"].get("example", {})


def string_leaves(value: Any, where: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every string in a JSON value (and of one extra key on each object)."""
    if isinstance(value, dict):
        found = [where + ("extra_field",)]
        for key, child in value.items():
            found += string_leaves(child, where + (key,))
        return found
    if isinstance(value, list):
        return [p for i, child in enumerate(value) for p in string_leaves(child, where + (i,))]
    return [where] if isinstance(value, str) else []


def put(value: Any, where: tuple[Any, ...], text: str) -> Any:
    if not where:
        return text
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[where[0]] = put(
        copy[where[0]] if where[0] in copy or isinstance(copy, list) else {}, where[1:], text
    )
    return copy


def local_urls(value: Any, url: str) -> Any:
    """Examples name public hosts; every test talks to 127.0.0.1 only."""
    if isinstance(value, dict):
        return {k: local_urls(v, url) for k, v in value.items()}
    if isinstance(value, list):
        return [local_urls(v, url) for v in value]
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return url
    return value


def row_counts(world: StripeWorld) -> dict[str, int]:
    """Rows of every table of the store, and every object of the fake Stripe."""
    with sqlite3.connect(world.service.settings.sqlite_path) as db:
        tables = [
            name
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        counts = {t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
    db.close()
    stripe = world.fake.state
    counts |= {
        f"stripe:{resource.object}": stripe.count(resource)
        for resource in (CHECKOUT_SESSION, PAYMENT_INTENT, CHARGE, REFUND)
    }
    return counts


def base_request(op: Operation, world: StripeWorld) -> tuple[dict, dict, dict, Any]:
    """Path values, query, headers and body of an ordinary call of `op`."""
    site = world.site
    path = {**PATH_VALUES, "instance_id": site.instance_id, "site_id": site.site_id}
    headers: dict[str, Any] = {"User-Agent": "Rakubun-WordPress-Plugin/2.2.0"}
    if op.security == "plugin":
        headers |= site.headers()
    elif op.security == "admin":
        headers |= world.service.admin_headers()
    elif op.security == "stripe":
        headers["Stripe-Signature"] = "t=1,v1=00"
    query = {p.name: "1" for p in op.parameters if p.location == "query" and p.required}
    body = local_urls(request_example(op), world.wordpress.url)
    return path, query, headers, body


@pytest.fixture
async def quiet_world(make_world) -> StripeWorld:
    """A world without the dispatcher: its delivery attempts are writes no request made.
    Built once per operation; hypothesis runs every example against it."""
    return await make_world(webhook_dispatch=False)


@pytest.mark.parametrize("operation_id", sorted(CONTRACT.operations))
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_any_text_anywhere_answers_below_500_and_a_4xx_writes_nothing(
    quiet_world: StripeWorld, operation_id: str, data: st.DataObject
) -> None:
    world = quiet_world
    op = CONTRACT.operations[operation_id]
    path, query, headers, body = base_request(op, world)
    targets = ["header:Authorization", "header:X-Instance-ID", "query:x"]
    targets += [f"{p.location}:{p.name}" for p in op.parameters]
    if body is not None:
        targets += [("body", where) for where in string_leaves(body)]
    target = data.draw(st.sampled_from(targets), label="target")
    raw_query = "&".join(f"{quote(k)}={quote(v)}" for k, v in query.items())
    if isinstance(target, tuple):
        text = data.draw(TEXT, label="text")
        body = put(body, target[1], text)
        unicode = is_unicode(text.encode("utf-8", "surrogatepass"))
    elif target.startswith("header:"):
        raw = data.draw(HEADER_VALUES, label="bytes")
        headers[target.removeprefix("header:")] = raw
        unicode = is_unicode(raw)
    elif target.startswith("path:"):
        raw = data.draw(QUERY_BYTES, label="bytes")
        path[target.removeprefix("path:")] = quote_from_bytes(raw, safe="")
        unicode = is_unicode(raw) or not raw
    else:
        name = target.removeprefix("query:")
        raw = data.draw(QUERY_BYTES, label="bytes")
        raw_query = "&".join(filter(None, (raw_query, f"{quote(name)}={quote_from_bytes(raw)}")))
        unicode = is_unicode(raw)
    url = world.service.url + op.path.format(**path) + (f"?{raw_query}" if raw_query else "")
    content = None
    if body is not None:
        content = json.dumps(body).encode()  # ensure_ascii: a lone surrogate travels as \ud800
        headers["Content-Type"] = "application/json"

    await world.fake.drain()  # an earlier example's Stripe events land before, not during
    before = row_counts(world)
    response = await world.http.request(op.method, url, headers=headers, content=content)

    assert response.status_code < 500, response.text
    if not unicode:
        assert response.status_code == 400, response.text
    if 400 <= response.status_code < 500:
        answer = response.json()
        assert answer["success"] is False, answer
        assert isinstance(answer["error"], str) and isinstance(answer["message"], str)
        assert row_counts(world) == before, f"a {response.status_code} wrote: {answer}"
