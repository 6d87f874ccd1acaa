"""`parse_json_body` decodes exactly as `json.loads` does with its hooks (one decoder made once
instead of one per call): the same value for any bytes, the same refusal otherwise."""

from __future__ import annotations

import json

from hypothesis import example, given
from hypothesis import strategies as st

from service.errors import InvalidJson, InvalidRequest
from service.http.contract import (
    MAX_JSON_DEPTH,
    _check_tree,
    _finite_float,
    _not_a_json_number,
    parse_json_body,
)

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
encodings = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1"])


def reference(raw: bytes) -> object:
    """What `json.loads` answers with the same hooks, refusals as their envelope's class."""
    try:
        body = json.loads(raw, parse_constant=_not_a_json_number, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return InvalidJson
    try:
        _check_tree(body, MAX_JSON_DEPTH)
    except InvalidRequest:
        return InvalidRequest
    return body


def parsed(raw: bytes) -> object:
    try:
        return parse_json_body(raw)
    except InvalidJson:
        return InvalidJson
    except InvalidRequest:
        return InvalidRequest


@given(values, encodings)
def test_any_json_in_any_encoding_decodes_as_json_loads_does(value, encoding):
    text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    try:
        raw = text.encode(encoding, "surrogatepass")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogatepass")
    mine, theirs = parsed(raw), reference(raw)
    assert mine is theirs or mine == theirs  # the same refusal, or the same value


@given(st.binary(max_size=64))
@example(b'"\xed\xa0\x80"')  # a surrogate encoded as UTF-8: json.loads decodes it
@example(b'\xef\xbb\xbf{"a": 1}')  # a UTF-8 byte order mark
@example(b"[NaN]")
def test_any_bytes_decode_or_fail_as_json_loads_does(raw):
    mine, theirs = parsed(raw), reference(raw)
    assert mine is theirs or mine == theirs
