"""The public catalogue as `listPackages` answers it, kept per worker."""

from __future__ import annotations

from typing import Any

from ..domain.catalogue import group_packages
from ..domain.models import Package
from ..store.cached import CachedStore


class PublicCatalogue:
    """The active packages grouped by credit type, as `listPackages` answers them: grouped
    once per package list the store's cache hands out (the same list object until the
    catalogue changes). The answer is only encoded, never changed."""

    def __init__(self, store: CachedStore) -> None:
        self.store = store
        self._last: tuple[list[Package], dict[str, Any]] | None = None

    async def grouped(self) -> dict[str, Any] | None:
        """None when no package is active."""
        packages = await self.store.cached_packages()
        if not packages:
            return None
        if self._last is None or self._last[0] is not packages:
            self._last = (packages, group_packages(packages))
        return self._last[1]
