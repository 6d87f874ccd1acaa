"""The baseline: a bare Sanic app answering a JSON body of the size it is asked for.

`GET|POST /json/<size>` answers `{"success": true, "padding": "xxx..."}` encoded by
Sanic's `json()` on every request, exactly `size` bytes long, so each scenario can be
compared with a server that does nothing but HTTP and JSON encoding.
`POST /wp-admin/admin-ajax.php` stands in for the WordPress site that receives the
service's plugin webhooks (one per deduction), so those deliveries succeed as in production.
Run it as `python -m bench.baseline_app --port P --workers N`.

The bench runs it twice: as the baseline, bare Sanic at its best on the machine (never
pinned, default scheduling, whatever `--worker-cpu-affinity` does to the service), and as
the WordPress sink, kept off the CPUs pinned workers use (`--cpu-affinity spare`): in
production the site is another machine, so the CPU it spends receiving webhooks must not
come out of the service's.
"""

from __future__ import annotations

import argparse
import json as stdlib_json
import os
from functools import lru_cache, partial
from typing import Any

from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json
from sanic.worker.loader import AppLoader

from service.runtime.worker_sockets import own_listening_sockets, serve

EMPTY_BODY = {"success": True, "padding": ""}


@lru_cache(maxsize=64)
def body_of_size(size: int) -> dict[str, Any]:
    """A JSON object that encodes (compactly) to `size` bytes, or as close above as it can."""
    fixed = len(stdlib_json.dumps(EMPTY_BODY, separators=(",", ":")))
    return {"success": True, "padding": "x" * max(0, size - fixed)}


def spare_cpus(cpus: set[int], workers: int) -> set[int]:
    """The CPUs `WORKER_CPU_AFFINITY=auto` leaves to the rest of the machine with `workers`
    workers: it pins worker `i` to the `i`-th CPU only when a CPU stays free; else all."""
    ordered = sorted(cpus)
    return set(ordered[workers:]) if workers < len(ordered) else set(ordered)


def keep_off_pinned_workers(workers: int) -> None:
    """Run this process on the CPUs that pinned workers (as many as `workers`) leave free."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, spare_cpus(os.sched_getaffinity(0), workers))


def create_baseline_app(
    name: str = "bench_baseline",
    cpu_affinity: str = "off",
    workers: int = 1,
    service_workers: int | None = None,
) -> Sanic:
    if cpu_affinity == "spare":
        keep_off_pinned_workers(service_workers or workers)
    app = Sanic(name)
    app.config.KEEP_ALIVE_TIMEOUT = 30
    app.before_server_start(own_listening_sockets)  # as the service's workers do

    @app.route("/json/<size:int>", methods=["GET", "POST"])
    async def sized_json(request: Request, size: int) -> HTTPResponse:
        return json(body_of_size(size))

    @app.post("/wp-admin/admin-ajax.php")
    async def plugin_webhook_sink(request: Request) -> HTTPResponse:
        return json({"success": True})

    @app.get("/health")
    async def health(request: Request) -> HTTPResponse:
        return json({"success": True})

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline_app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cpu-affinity", choices=("off", "spare"), default="off")
    parser.add_argument(
        "--service-workers",
        type=int,
        default=None,
        help="with --cpu-affinity spare: the pinned service's workers (default --workers)",
    )
    args = parser.parse_args(argv)
    loader = AppLoader(
        factory=partial(
            create_baseline_app,
            cpu_affinity=args.cpu_affinity,
            workers=args.workers,
            service_workers=args.service_workers,
        )
    )
    serve(loader, args.host, args.port, args.workers)


if __name__ == "__main__":
    main()
