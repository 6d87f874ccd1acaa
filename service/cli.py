"""`rakubun-service`: run the API (settings come from the environment)."""

from __future__ import annotations

import argparse
import logging
import sys
from functools import partial

from sanic import Sanic
from sanic.worker.loader import AppLoader

from .settings import Settings


def build_app(settings: Settings) -> Sanic:
    from .app import create_app

    return create_app(settings)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="rakubun-service",
        description="Run the Rakubun dashboard API. Configuration comes from the environment "
                    "(MONGODB_URL or SQLITE_PATH, STRIPE_*, ADMIN_API_TOKEN, ...; see README).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))
    loader = AppLoader(factory=partial(build_app, settings))
    app = loader.load()
    app.prepare(host=args.host, port=args.port, workers=args.workers, access_log=False,
                motd=False, single_process=args.workers == 1)
    if args.workers == 1:
        Sanic.serve_single(primary=app)
    else:
        Sanic.serve(primary=app, app_loader=loader)


if __name__ == "__main__":
    main()
