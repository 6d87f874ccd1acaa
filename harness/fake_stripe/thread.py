"""Run a FakeStripe in its own thread and event loop, for synchronous callers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from .server import FakeStripe

T = TypeVar("T")


class FakeStripeThread:
    """A handle on a FakeStripe running in a background thread."""

    def __init__(
        self, fake: FakeStripe, loop: asyncio.AbstractEventLoop, thread: threading.Thread
    ) -> None:
        self.fake = fake
        self.url = fake.url
        self._loop = loop
        self._thread = thread

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the fake's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until no webhook delivery is queued, delayed or in flight."""
        self.call(self.fake.drain(timeout), timeout + 5)

    def add_webhook_endpoint(self, url: str, secret: str | None = None) -> dict[str, Any]:
        """FakeStripe.add_webhook_endpoint, run safely on the fake's own loop."""

        async def add() -> dict[str, Any]:
            return self.fake.add_webhook_endpoint(url, secret)

        return self.call(add(), 10)

    def stop(self) -> None:
        """Stop the fake and its thread (safe to call twice)."""
        if not self._thread.is_alive():
            return
        self.call(self.fake.stop(), 15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(15)

    def __enter__(self) -> FakeStripeThread:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def run_fake_stripe_in_thread(
    *, host: str = "127.0.0.1", port: int = 0, **kwargs: Any
) -> FakeStripeThread:
    """Start `FakeStripe(**kwargs)` on host:port in a daemon thread; returns once it serves."""
    ready = threading.Event()
    started: dict[str, Any] = {}

    def serve() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            fake = FakeStripe(**kwargs)
            loop.run_until_complete(fake.start(host, port))
        except BaseException as error:  # hand any startup failure to the caller's thread
            started["error"] = error
            ready.set()
            loop.close()
            return
        started.update(fake=fake, loop=loop)
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    thread = threading.Thread(target=serve, name="fake-stripe", daemon=True)
    thread.start()
    ready.wait()
    if "error" in started:
        raise started["error"]
    return FakeStripeThread(started["fake"], started["loop"], thread)
