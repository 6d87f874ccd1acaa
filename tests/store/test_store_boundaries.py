"""What every adapter gets from `service.store.base` and `service.store.cached` whatever its
aggregates: the outage boundary on methods its mixins define, and the cache drop after a write
of what is cached."""

from __future__ import annotations

from typing import Any

import pytest

from service.store.base import StoreUnavailableError, outages_unavailable
from service.store.cached import CACHED_WRITES, CachedStore


class Sites:
    """An aggregate mixin, as `sqlite/sites.py` is one."""

    async def get_site(self, site_id: str) -> None:
        raise TimeoutError("the driver timed out")


@outages_unavailable(lambda exc: isinstance(exc, TimeoutError))
class Composed(Sites):
    """A store composed of mixins, as SQLiteStore and MongoStore are."""


async def test_an_outage_in_a_method_a_mixin_defines_is_a_store_unavailable_error() -> None:
    with pytest.raises(StoreUnavailableError, match="TimeoutError"):
        await Composed().get_site("site_1")


class Recorder:
    """An inner store that answers every call and counts them."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        async def call(*args: Any, **kwargs: Any) -> str:
            self.calls.append(name)
            return name

        return call


@pytest.mark.parametrize("write", sorted(CACHED_WRITES))
async def test_a_write_of_what_is_cached_drops_the_cache(write: str) -> None:
    cached = CachedStore(Recorder())  # type: ignore[arg-type]
    before = cached._generation
    assert await getattr(cached, write)("x") == write
    assert cached._generation == before + 1


async def test_other_calls_leave_the_cache() -> None:
    cached = CachedStore(Recorder())  # type: ignore[arg-type]
    before = cached._generation
    assert await cached.grant_once("x") == "grant_once"
    assert cached._generation == before
