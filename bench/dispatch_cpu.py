"""`python -m bench.dispatch_cpu`: CPU per deduction with its plugin webhook delivered, the
webhook claimed at birth (how the service sends a deduction's webhook) against claimed from the
store by the dispatcher (how it did before, and still does for the other webhooks).

Process CPU (`time.process_time`: the event loop and the SQLite threads), not wall time: on a
shared VM it moves much less than throughput does. In one process on uvloop (as the service
runs), the real SQLite store
(FULL sync) and the real dispatcher deliver to a sink in a process of its own on 127.0.0.1,
which answers every webhook 200 (its CPU is not counted); `--concurrency` deductions are in
flight at once, as wrk's connections keep them. The two ways alternate, each on a fresh store,
for `--rounds` rounds; every round checks that each deduction removed its credit once and
that each webhook was delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace

import uvloop

from service.domain import plugin_webhooks
from service.domain.models import Site
from service.outbound.notify import WebhookDispatcher
from service.settings import Settings
from service.store import SQLiteStore

from .wal_pages import credits_removed, deduction_store

WAYS = ("claimed at birth", "claimed by the dispatcher")

#: A webhook receiver that answers 200 to every request on a kept-alive connection.
SINK = r"""
import asyncio
import httptools

class Sink(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)
    def data_received(self, data):
        self.parser.feed_data(data)
    def on_message_complete(self):
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

async def main():
    server = await asyncio.get_running_loop().create_server(Sink, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()  # until killed

asyncio.run(main())
"""


@contextlib.contextmanager
def sink() -> Iterator[str]:
    """The sink's process while the block runs; yields its URL."""
    process = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.kill()
        process.wait()


async def cpu_per_deduction(
    url: str, deductions: int, users: int, concurrency: int, *, way: str
) -> tuple[float, int, int]:
    """(µs of process CPU per deduction, credits removed, webhooks delivered)."""
    settings = Settings.from_env({}, webhook_allow_private_targets=True)
    async with deduction_store(users) as (store, site, _path):
        dispatcher = WebhookDispatcher(store, settings)
        running = asyncio.ensure_future(dispatcher.run())
        await asyncio.sleep(0)  # run() starts: claims at birth need a running dispatcher
        hooked = replace(site, site_url=url)
        numbers = iter(range(deductions))
        started = time.process_time()
        await asyncio.gather(
            *(
                _deduct_all(store, dispatcher, site, hooked, numbers, users, way)
                for _ in range(concurrency)
            )
        )
        while await store.count_pending_webhooks():
            await dispatcher.deliver_due()  # the rest, and the record of the round in flight
        cpu = time.process_time() - started
        dispatcher.stop()
        await running
        removed = await credits_removed(store, site, users)
        delivered = (await store.stats())["webhooks"].get("delivered", 0)
        return cpu / deductions * 1e6, removed, delivered


async def _deduct_all(
    store: SQLiteStore,
    dispatcher: WebhookDispatcher,
    site: Site,
    hooked: Site,
    numbers: Iterator[int],
    users: int,
    way: str,
) -> None:
    for n in numbers:
        user = n % users
        notify = plugin_webhooks.credits_updated(
            hooked, user_email=f"u{user}@example.com", reason="deduction"
        )
        if way == WAYS[0]:
            notify = dispatcher.claiming(notify)
        result = await store.deduct(site.site_id, str(user), "article", 1, notify=notify)
        assert result.ok
        if way == WAYS[0]:
            dispatcher.deliver_claimed(notify)
        else:
            dispatcher.wake()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deductions", type=int, default=3000)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, list[float]] = {way: [] for way in WAYS}
    with sink() as url:
        for round_ in range(1, args.rounds + 1):
            for way in WAYS:
                cpu, removed, delivered = uvloop.run(
                    cpu_per_deduction(url, args.deductions, args.users, args.concurrency, way=way)
                )
                if removed != args.deductions or delivered != args.deductions:
                    print(
                        f"{way}: {removed} credits removed, {delivered} webhooks delivered,"
                        f" of {args.deductions}",
                        file=sys.stderr,
                    )
                    return 1
                figures[way].append(cpu)
                print(f"round {round_}, {way}: {cpu:.0f} µs of CPU per deduction", flush=True)
    for way, values in figures.items():
        print(
            f"{way}: median {statistics.median(values):.0f} µs of CPU per deduction"
            f" ({', '.join(f'{v:.0f}' for v in values)})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
