"""The harness's fake Stripe as a standalone process, for the bench's checkout load.

`python -m bench.fake_stripe_process --port P --secret-key K [--data-dir D]` serves until
SIGTERM; with `--data-dir` its state is journaled there, as `harness up` keeps it.
No webhook endpoint is registered: the checkout load should cost what creating a session
costs, and the webhook scenario sends its own pre-signed events.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from harness.fake_stripe import FakeStripe
from harness.fake_stripe.collector import freeze_survivors_of_full_collections


async def serve(port: int, secret_key: str, data_dir: Path | None = None) -> None:
    fake = FakeStripe(secret_key=secret_key, data_dir=data_dir)
    # The stored objects live as long as the process: keep the collector's full passes off
    # them (each pass over a filled store pauses the fake; see `collector.py`).
    freeze_survivors_of_full_collections()
    await fake.start("127.0.0.1", port)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    await fake.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fake_stripe_process")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.secret_key, args.data_dir))


if __name__ == "__main__":
    main()
