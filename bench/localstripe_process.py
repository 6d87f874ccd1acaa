"""localstripe (PyPI, a bench-only extra) as a child process on 127.0.0.1, for comparison.

`python -m bench.localstripe_process --port P --state-dir D` serves until SIGTERM. It runs
localstripe's own aiohttp app unchanged, with two differences from its `localstripe` command:
it listens on 127.0.0.1 only (not every interface), and it pickles its store into `D`
instead of the shared `/tmp/localstripe.pickle` (same code, same cost per write). Its access
log is off, as the fake Stripe's is.
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.localstripe_process")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args(argv)

    from aiohttp import web
    from localstripe import resources, server

    state_file = args.state_dir / "localstripe.pickle"

    def dump_to_disk(store: resources.Store) -> None:
        with state_file.open("wb") as f:
            pickle.dump(store, f, protocol=pickle.HIGHEST_PROTOCOL)

    resources.Store.dump_to_disk = dump_to_disk
    web.run_app(server.app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
