"""`python -m bench.instructions`: instructions the service executes per request of a hot path,
counted by valgrind's callgrind: the same on every run, where CPU time on a shared VM moves
by ±15% from one run to the next and hides a change worth a few percent.

Each version's service runs under callgrind (one worker, the default configuration, as
`python -m bench.default_cpu` starts it) twice: once answering `--requests` requests (32 at a
time over kept-alive connections, each deduction's webhook delivered), once answering none.
What the service executed, every thread, user space, divided by the requests, is the figure:
start-up and the bench's own calls cancel out. System calls are not counted (the kernel's
side of a socket write or an fsync): compare those with `python -m bench.default_cpu`.

Needs valgrind (`apt-get install valgrind`); a service under callgrind runs about 50 times
slower, so 2,000 deductions take about a minute per version.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
from pathlib import Path

import httpx

from . import default_cpu
from .processes import Version, parse_versions_or_exit, sink_process

#: callgrind's closing line: "==PID== Collected : N".
_COLLECTED = re.compile(r"^==\d+== Collected : (\d+)$", re.MULTILINE)


def collected(log: str) -> int:
    """The instructions callgrind reports in a service's log (its last run)."""
    found = _COLLECTED.findall(log)
    if not found:
        raise ValueError("no callgrind total in the log: did the service stop cleanly?")
    return int(found[-1])


def per_request(with_requests: int, without: int, requests: int) -> float:
    return (with_requests - without) / requests


async def count(version: Version, requests: int, args: argparse.Namespace, work: Path) -> int:
    """Instructions of one service's whole life, answering `requests` of the scenario."""
    sink = sink_process(service_workers=1, log_path=work / "sink.log")
    await sink.start()
    index = len(list(work.glob("v*")))
    launcher = ("valgrind", "--tool=callgrind", f"--callgrind-out-file={work}/callgrind.%p")
    setup = argparse.Namespace(users=args.users, workers=1)
    served = await default_cpu.start(
        version, index, setup, work, sink.url, launcher=launcher, ready_seconds=600
    )
    try:
        sent = served.scenarios[args.scenario].requests
        async with httpx.AsyncClient(base_url=served.service.url, timeout=600) as http:

            async def connection(first: int) -> None:
                for n in range(first, requests, args.concurrency):
                    one = sent[n % len(sent)]
                    answer = await http.request(
                        one.method, one.path, headers=one.headers, content=one.body
                    )
                    if answer.status_code not in served.scenarios[args.scenario].expected:
                        raise RuntimeError(f"{one.path}: {answer.status_code} {answer.text}")

            await asyncio.gather(*(connection(n) for n in range(args.concurrency)))
        drained, _ = await served.api.wait_for_outbox(600)
        if not drained:
            raise RuntimeError("the webhooks were not all delivered")
    finally:
        await served.api.close()
        await served.service.stop(timeout=600)  # callgrind writes its totals on the way out
        await sink.stop()
    return collected(served.service.log_path.read_text())


async def measure(args: argparse.Namespace, versions: list[Version]) -> int:
    print(f"{args.scenario}: instructions per request ({args.requests} requests against none)")
    for version in versions:
        with tempfile.TemporaryDirectory(prefix="rakubun-instructions-") as temp:
            work = Path(temp)
            idle = await count(version, 0, args, work)
            busy = await count(version, args.requests, args, work)
        figure = per_request(busy, idle, args.requests)
        print(f"  {version.label:<40} {figure / 1000:8.1f}k", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("versions", nargs="*", default=["."], metavar="CHECKOUT[:NAME=VALUE,...]")
    parser.add_argument("--scenario", choices=default_cpu.SCENARIOS, default="deductions")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--users", type=int, default=200)
    args = parser.parse_args(argv)
    versions = parse_versions_or_exit(parser, args.versions)
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    return asyncio.run(measure(args, versions))


if __name__ == "__main__":
    sys.exit(main())
