"""`rakubun-service`: run the API (settings come from the environment)."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import gc
import os
import shutil
import sqlite3
import sys
import tempfile
from functools import partial

from sanic import Sanic
from sanic.worker.loader import AppLoader

from ..settings import Settings
from ..store import StoreError, open_store
from .worker_sockets import own_listening_sockets, serve

#: The exit status when the store cannot be opened (README, MongoDB: start-up failures).
EXIT_STORE_UNUSABLE = 3


def build_app(settings: Settings, log_level: str = "INFO", workers: int = 1) -> Sanic:
    """The app of one worker process (each pins its threads when asked, and configures its
    own logging)."""
    from ..http.app import create_app
    from .cpu_affinity import pin_worker
    from .observability import configure_logging

    pin_worker(settings.worker_cpu_affinity, workers)  # before the log and store threads start
    configure_logging(settings, log_level)
    app = create_app(settings)
    freeze_heap_once_serving(app)
    app.before_server_start(own_listening_sockets)  # a no-op on a socket Sanic made
    return app


def freeze_heap_once_serving(app: Sanic) -> None:
    """Once the worker serves, move everything alive (modules, the spec and its validators,
    the SDKs, the caches: tens of thousands of objects) out of the garbage collector's reach.

    A full collection scans every object the collector tracks. Unfrozen, each one stopped the
    event loop for tens of milliseconds, a few times a minute under load: the p99 of every
    endpoint (`python -m bench` shows it). Frozen, a full collection scans only what requests
    left behind. Frozen objects are still freed when their last reference goes; only a
    reference cycle among them is kept, and start-up builds none that it drops.
    """

    async def freeze(_app: Sanic) -> None:
        gc.collect()
        gc.freeze()

    app.after_server_start(freeze, priority=-1000)


def fresh_metrics_dir() -> None:
    """A directory per run where every worker writes its metrics (prometheus_client's
    multiprocess mode); set before any worker imports prometheus_client, removed at exit."""
    path = tempfile.mkdtemp(prefix="rakubun-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    atexit.register(shutil.rmtree, path, ignore_errors=True)


async def store_refusal(settings: Settings) -> str | None:
    """Why the store the settings name cannot be opened, in one line, or None once it
    opened (its schema in line). Run in the main process before any worker starts: a worker
    that fails its start makes Sanic SIGKILL the whole process group, the caller's included."""
    store = open_store(settings)
    try:
        await store.open()
    except (StoreError, OSError, sqlite3.Error) as exc:
        return " ".join(str(exc).split())
    await store.close()
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="rakubun-service",
        description="Run the Rakubun dashboard API. Configuration comes from the environment "
        "(MONGODB_URL or SQLITE_PATH, STRIPE_*, ADMIN_API_TOKEN, ...; see docs/operating.md).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))
    refusal = asyncio.run(store_refusal(settings))
    if refusal:
        print(
            f"rakubun-service: the {settings.store_name} store cannot be opened: {refusal}",
            file=sys.stderr,
        )
        sys.exit(EXIT_STORE_UNUSABLE)
    if args.workers > 1:
        fresh_metrics_dir()  # the workers are spawned: they import prometheus_client afresh
    loader = AppLoader(factory=partial(build_app, settings, args.log_level, args.workers))
    serve(loader, args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
