"""A worker freezes its start-up heap once it serves (`service.runtime.cli.freeze_heap_once_serving`),
so a full garbage collection no longer scans the modules, the spec and the SDKs."""

from __future__ import annotations

import gc
import weakref

import pytest

from service.runtime.cli import freeze_heap_once_serving
from tests.support.service import start_service


class Node:
    """A reference cycle's member."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()  # other tests' objects go back to the collector


async def test_start_up_heap_is_frozen_and_later_garbage_still_collected(tmp_path, unfrozen):
    running = await start_service(tmp_path, prepare=freeze_heap_once_serving)
    try:
        frozen = gc.get_freeze_count()
        # Everything the app built is frozen; objects its requests create are not.
        assert frozen > 10_000
        assert not any(o is running.app for o in gc.get_objects())  # frozen: out of reach
        response = await running.http.get(f"{running.url}/api/v1/health")
        assert response.status_code == 200
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        gc.collect()
        assert gone() is None  # a cycle made after the freeze is still collected
    finally:
        await running.http.aclose()
        await running.stop()


async def test_without_it_nothing_is_frozen(tmp_path, unfrozen):
    running = await start_service(tmp_path)
    try:
        assert gc.get_freeze_count() == 0
    finally:
        await running.http.aclose()
        await running.stop()
