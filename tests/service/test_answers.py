"""`JsonAnswer` writes the header block Sanic would: same bytes, same refusals, whatever the
headers hold (CR, LF and NUL included, which Sanic deletes)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from sanic.headers import format_http1_response
from sanic.response import JSONResponse

from service.http.answers import JsonAnswer, json_answer

# Header text with the characters that matter: line breaks, NUL, and beyond ASCII.
TEXT = st.text(alphabet=st.sampled_from("aZ09-_ :;/\t\r\n\0é€"), max_size=12)
HEADERS = st.lists(st.tuples(TEXT.filter(bool), st.one_of(TEXT, st.integers())), max_size=6)
STATUSES = st.sampled_from([200, 201, 204, 304, 400, 402, 404, 429, 500])


def header_block(response: JSONResponse) -> tuple[str, bytes | str]:
    try:
        return "sent", format_http1_response(response.status, response.processed_headers)
    except UnicodeError as exc:
        return "refused", type(exc).__name__


@given(headers=HEADERS, status=STATUSES)
def test_the_header_block_is_the_one_sanic_writes(
    headers: list[tuple[str, str | int]], status: int
) -> None:
    ours = JsonAnswer({"success": True}, status=status)
    sanics = JSONResponse({"success": True}, status=status)
    for name, value in headers:
        ours.headers.add(name, value)
        sanics.headers.add(name, value)
    assert header_block(ours) == header_block(sanics)
    assert list(ours.headers.items()) == list(sanics.headers.items())  # content-type alike


def test_a_value_that_would_split_the_block_loses_its_line_breaks() -> None:
    answer = json_answer({"success": False}, status=400, headers={"X-Note": "a\r\nSet-Cookie: b"})
    block = format_http1_response(400, answer.processed_headers)
    assert b"X-Note: aSet-Cookie: b\r\n" in block
    assert block.count(b"\r\n") == 4  # status line, two headers, the blank line


def test_the_body_is_the_apps_json() -> None:
    answer = json_answer({"success": True, "credits": {"article_credits": 5}}, status=201)
    assert answer.status == 201
    assert answer.body == b'{"success":true,"credits":{"article_credits":5}}'
