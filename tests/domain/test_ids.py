"""Ids and time stamps made without a system call each (`service.domain.ids`, `now_iso`,
`iso_from_unix`)."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from service.domain import ids, models

HEX = re.compile(r"[0-9a-f]+")


def test_random_hex_has_the_length_of_token_hex_and_never_repeats() -> None:
    made = [ids.random_hex(12) for _ in range(5000)]  # more than one 4 KiB block
    assert all(len(value) == 24 and HEX.fullmatch(value) for value in made)
    assert len(set(made)) == len(made)
    assert len(ids.random_hex(5000)) == 10000  # larger than a block


@given(st.lists(st.integers(min_value=0, max_value=2**47), min_size=2, max_size=30, unique=True))
def test_ordered_ids_sort_in_the_order_of_their_milliseconds(millis: list[int]) -> None:
    made = []
    for value in millis:
        made.append((value, _ordered_at(value * 1_000_000 + 999_999)))
    by_id = [value for value, _ in sorted(made, key=lambda pair: pair[1])]
    assert by_id == sorted(millis)
    assert all(len(text) == 24 and HEX.fullmatch(text) for _, text in made)


def _ordered_at(ns: int) -> str:
    real = ids.time.time_ns
    ids.time.time_ns = lambda: ns  # type: ignore[assignment]
    try:
        return ids.ordered_hex(12)
    finally:
        ids.time.time_ns = real  # type: ignore[assignment]


def test_a_forked_child_never_reuses_its_parents_random_bytes() -> None:
    ids.random_hex(1)  # the parent holds a block with bytes left
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        os.write(write_end, ids.random_hex(16).encode())
        os._exit(0)
    os.close(write_end)
    child_id = os.read(read_end, 64).decode()
    os.close(read_end)
    os.waitpid(child, 0)
    assert len(child_id) == 32
    assert child_id != ids.random_hex(16)


# Seconds up to the end of year 9999, which ISO 8601 spells with four digits.
_LAST_NS = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()) * 10**9


@given(st.lists(st.integers(min_value=0, max_value=_LAST_NS), min_size=1, max_size=20))
def test_time_stamps_match_strftime_whatever_second_was_formatted_before(
    stamps: list[int],
) -> None:
    for ns in stamps:
        exact = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
        assert models._iso_from_ns(ns) == exact.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_now_iso_is_the_current_time() -> None:
    before = datetime.now(UTC)
    stamp = datetime.strptime(models.now_iso(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before <= stamp <= datetime.now(UTC)


@given(
    st.one_of(
        st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False),
        # Fractions on and around a half microsecond, where the rounding decides.
        st.integers(min_value=0, max_value=4_102_444_800 * 10**6).map(lambda us: us / 1e6),
        st.integers(min_value=0, max_value=4_102_444_800 * 10**6).map(
            lambda us: (us * 10 + 5) / 1e7
        ),
    )
)
def test_iso_from_unix_writes_what_datetime_writes(ts: float) -> None:
    expected = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert models.iso_from_unix(ts) == expected


def test_iso_from_unix_carries_a_rounded_up_microsecond_into_the_second() -> None:
    assert models.iso_from_unix(59.9999996) == "1970-01-01T00:01:00.000000Z"
    assert models.iso_from_unix(None) is None
