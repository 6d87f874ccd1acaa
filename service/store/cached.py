"""A worker's cache of what every plugin call reads and almost nothing writes: the site of an
instance id (authentication), the site of a site id (each round of webhook deliveries) and the
active packages (the public catalogue).

Staleness is bounded through the store, not through signals between processes: every write of
sites or packages bumps a version counter in the store (`Store.cache_versions`, in the same
transaction on SQLite, right after the write on MongoDB), and a worker reads the counters at
most every `check_every` seconds, at its next request, dropping what it cached when they moved.
So a site disabled through the admin API of any worker, on any machine sharing the store, is
refused by every worker within `check_every` seconds (0.25 by default), and at once by the
worker that wrote it.

Correctness of the order: the counters are read before the data they vouch for is loaded,
and a load that raced with a local write or a version change is not kept (`_generation`), so
a cached entry is never older than the versions the worker last saw.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..domain.models import Package, Site
from .base import Store

#: Seconds between two reads of the version counters (per worker).
CHECK_EVERY = 0.25
#: The writes of what is cached: this worker sees them at once, others within `check_every`.
CACHED_WRITES = frozenset(
    {
        "update_site",
        "update_site_config",
        "set_site_status",
        "reassign_instance",
        "seed_packages",
        "create_package",
        "update_package",
    }
)
#: Sites kept per worker; past it the cache starts over (each entry is a small dataclass).
MAX_SITES = 10_000


class CachedStore:
    """`store` with cached reads for the hot path; every other call goes to `store` as is."""

    def __init__(self, store: Store, *, check_every: float = CHECK_EVERY) -> None:
        self.inner = store
        self.check_every = check_every
        self._versions: dict[str, int] | None = None
        self._checked_at = float("-inf")
        self._checking: asyncio.Future[None] | None = None
        self._generation = 0
        self._sites: dict[str, Site] = {}
        self._sites_by_id: dict[str, Site] = {}
        self._packages: list[Package] | None = None

    def __getattr__(self, name: str) -> Any:
        """The inner store's `name`. A method of it is kept on this instance, so the next call
        finds it at once (a miss here formats an AttributeError before this runs, and every
        deduction calls through); its other attributes are read from it each time."""
        attribute = found = getattr(self.inner, name)
        if name in CACHED_WRITES:
            attribute = self._invalidating(found)
        if inspect.ismethod(found):
            setattr(self, name, attribute)
        return attribute

    def _invalidating(self, write: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        """`write`, after which this worker drops what it cached, whether it landed or not."""

        @functools.wraps(write)
        async def written(*args: Any, **kwargs: Any) -> Any:
            try:
                return await write(*args, **kwargs)
            finally:
                self.invalidate()

        return written

    # ------------------------------------------------------------------ cached reads
    async def cached_site_by_instance(self, instance_id: str) -> Site | None:
        """`get_site_by_instance`, at most `check_every` seconds stale (unknown ids are not
        cached: a registration is seen at once)."""
        return await self._cached_site(self._sites, instance_id, self.get_site_by_instance)

    async def cached_site(self, site_id: str) -> Site | None:
        """`get_site`, at most `check_every` seconds stale (unknown ids are not cached)."""
        return await self._cached_site(self._sites_by_id, site_id, self.get_site)

    async def _cached_site(
        self,
        cache: dict[str, Site],
        key: str,
        load: Callable[[str], Awaitable[Site | None]],
    ) -> Site | None:
        """The site `cache` holds under `key`, else `load(key)` kept there (unless a local
        write or a version change raced the load, or nothing was found)."""
        await self._revalidate()
        site = cache.get(key)
        if site is not None:
            return site
        generation = self._generation
        site = await load(key)
        if site is not None and generation == self._generation:
            if len(cache) >= MAX_SITES:
                cache.clear()
            cache[key] = site
        return site

    async def cached_packages(self) -> list[Package]:
        """`list_packages(active_only=True)`, at most `check_every` seconds stale."""
        await self._revalidate()
        if self._packages is not None:
            return self._packages
        generation = self._generation
        packages = await self.list_packages(active_only=True)
        if generation == self._generation:
            self._packages = packages
        return packages

    def invalidate(self) -> None:
        self._generation += 1
        self._sites.clear()
        self._sites_by_id.clear()
        self._packages = None

    async def _revalidate(self) -> None:
        if time.monotonic() - self._checked_at < self.check_every:
            return
        if self._checking is None:
            self._checking = asyncio.ensure_future(self._check())
        await asyncio.shield(self._checking)

    async def _check(self) -> None:
        started = time.monotonic()
        try:
            versions = await self.inner.cache_versions()
            if versions != self._versions:
                self.invalidate()
                self._versions = versions
            self._checked_at = started
        finally:
            self._checking = None
