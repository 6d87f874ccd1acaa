"""What the conformance tests share besides tests/store/conftest.py's `backend`, `store`,
`open_store` and `site_id`: several stores on one storage, as several workers hold."""

from __future__ import annotations

import pytest

from service.store import Store

from ..builders import OpenStore


@pytest.fixture
async def stores(store: Store, open_store: OpenStore) -> list[Store]:
    """`store` and three more stores opened on the same storage (four workers)."""
    return [store] + [await open_store() for _ in range(3)]
