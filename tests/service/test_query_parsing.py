"""The query parser the pipeline uses: what it answers, and that remembering a parse changes
nothing (the same answer or the same refusal every time, and a dict the caller owns)."""

from __future__ import annotations

from urllib.parse import quote_from_bytes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.errors import InvalidRequest
from service.http.contract import CACHED_QUERY_LENGTH, _parse_query, parse_query

PIECES = st.one_of(
    st.sampled_from(["user_id", "user_email", "limit", "offset", "=", "&", "+", "%", "%4", ""]),
    st.binary(max_size=6).map(lambda raw: quote_from_bytes(raw, safe="")),
    st.text(alphabet="abcxyz019@._-~", max_size=6),
)
QUERIES = st.lists(PIECES, max_size=12).map("".join)


def outcome(query: str) -> tuple[str, object]:
    try:
        return "parsed", parse_query(query)
    except InvalidRequest as exc:
        return "refused", exc.message


def uncached(query: str) -> tuple[str, object]:
    try:
        return "parsed", _parse_query(query)
    except InvalidRequest as exc:
        return "refused", exc.message


@given(query=QUERIES)
def test_a_remembered_parse_answers_as_a_fresh_one_every_time(query: str) -> None:
    fresh = uncached(query)
    assert outcome(query) == fresh
    first = outcome(query)
    if first[0] == "parsed":
        first[1]["injected"] = "by a caller"  # the caller owns its dict
    assert outcome(query) == fresh


@given(query=QUERIES)
def test_queries_longer_than_the_cached_length_parse_the_same(query: str) -> None:
    padding = "&pad=" + "x" * CACHED_QUERY_LENGTH
    kind, parsed = uncached(query + padding)
    assert outcome(query + padding) == (kind, parsed)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("user_id=42&user_email=a%40b.example", {"user_id": "42", "user_email": "a@b.example"}),
        ("user_id=1&user_id=2", {"user_id": "1"}),
        ("flag&x=a+b", {"flag": "", "x": "a b"}),
        ("", {}),
    ],
)
def test_what_a_query_parses_to(query: str, expected: dict[str, str]) -> None:
    assert parse_query(query) == expected


def test_a_query_that_is_not_utf8_is_refused_every_time() -> None:
    for _ in range(3):
        with pytest.raises(InvalidRequest, match="query: not valid UTF-8"):
            parse_query("user_email=%FF")
