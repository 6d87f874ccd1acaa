"""`python -m bench.default_cpu`: CPU time per request of the hot paths (`GET /packages`,
`GET /users/credits`, deductions) in the service's default configuration, against bare Sanic
answering bodies of the same size.

CPU time (every process and thread of a server, from /proc), not throughput: on a shared VM
throughput follows the neighbours, CPU per request much less. Bare Sanic's CPU per request
over the service's is the ratio a free core would give. The service runs as a user runs it:
no settings but its store file, the bench's tokens and an unlimited rate limit (so the access
log is written, at INFO), one worker unless `--workers`. Versions are checkouts, optionally
with settings (`.`, `../before`, `.:WORKER_CPU_AFFINITY=auto`); each
runs at once, and the loads go to each in turn, round after round.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import scenarios
from .processes import (
    HOST,
    SERVICE_MAIN,
    ChildProcess,
    Version,
    baseline_process,
    free_port,
    parse_versions_or_exit,
    process_cpu_seconds,
    sink_process,
)
from .scenarios import Scenario
from .service_api import ServiceApi
from .wrk import LoadResult, run_wrk

SCENARIOS = ("packages", "credits", "deductions")
TOP_UP = 10**6
BASELINE = "bare Sanic"
#: The caller's environment variables the service is started with.
PASSED_ON = ("PATH", "HOME", "LANG", "TMPDIR")


@dataclass
class Served:
    """One running version: its service, its API client and each scenario's requests."""

    version: Version
    service: ChildProcess
    api: ServiceApi
    scenarios: dict[str, Scenario]


@dataclass
class Figures:
    cpu_us: list[float] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)

    def add(self, cpu_us: float, result: LoadResult) -> None:
        self.cpu_us.append(cpu_us)
        self.rps.append(result.requests_per_second)
        self.p99_ms.append(result.latency_us["p99"] / 1000)


async def measured_load(
    server: ChildProcess, raw: list[bytes], args: argparse.Namespace, work: Path
) -> tuple[float, LoadResult]:
    """One wrk load of `raw` on `server`: (its CPU µs per answered request, wrk's result)."""
    assert server.process is not None
    pid = server.process.pid
    before = process_cpu_seconds(pid)
    result = await run_wrk(
        server.url,
        raw,
        seconds=args.duration,
        connections=args.concurrency,
        threads=1,
        work_dir=work,
        name="default_cpu",
        scheduling="batch",  # as `python -m bench` loads (bench/README.md)
    )
    after = process_cpu_seconds(pid)
    spent = sum(after[p] - before.get(p, 0.0) for p in after)
    return spent / max(1, result.received) * 1e6, result


async def start(
    version: Version,
    index: int,
    args: argparse.Namespace,
    work: Path,
    sink_url: str,
    *,
    launcher: tuple[str, ...] = (),
    ready_seconds: float = 30.0,
) -> Served:
    """`version`'s service, started as a user starts it (through `launcher`, e.g. valgrind,
    when given), with a site registered and `args.users` users topped up."""
    folder = work / f"v{index}"
    folder.mkdir()
    # Nothing of the caller's environment but what any process needs: no setting leaks in.
    env = {name: os.environ[name] for name in PASSED_ON if name in os.environ}
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "SQLITE_PATH": str(folder / "rakubun.sqlite3"),
            "ADMIN_API_TOKEN": "bench-admin-" + secrets.token_hex(16),
            "RATE_LIMIT_PER_MINUTE": "1000000000",
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "1",  # the WordPress sink listens on 127.0.0.1
            "WEBHOOK_LOOPBACK_ONLY": "1",  # and nothing else is ever a target
        }
    )
    env.update(version.env)
    port = free_port()
    command = [*launcher, sys.executable, "-c", SERVICE_MAIN]
    command += ["--host", HOST, "--port", str(port), "--workers", str(args.workers)]
    service = ChildProcess(
        f"service {index}",
        command,
        port=port,
        ready_path="/api/v1/health",
        log_path=folder / "service.log",
        env=env,
        cwd=version.checkout,
    )
    await service.start(ready_seconds)
    api = ServiceApi(service.url, env["ADMIN_API_TOKEN"])
    site = await api.register_site(sink_url)
    users = list(range(1, args.users + 1))
    await api.seed_users(site, users, "article", TOP_UP)
    built = {
        "packages": scenarios.list_packages(site),
        "credits": scenarios.user_credits(site, users),
        "deductions": scenarios.deduct_credits(site, users, key="deductions", title="deductions"),
    }
    return Served(version, service, api, built)


async def measure(args: argparse.Namespace, versions: list[Version]) -> int:
    figures: dict[tuple[str, str], Figures] = {}
    errors = 0
    with tempfile.TemporaryDirectory(prefix="rakubun-default-cpu-") as temp:
        work = Path(temp)
        sink = sink_process(service_workers=args.workers, log_path=work / "sink.log")
        baseline = baseline_process(workers=args.workers, log_path=work / "baseline.log")
        await asyncio.gather(sink.start(), baseline.start())
        served: list[Served] = []
        try:
            for index, version in enumerate(versions):
                served.append(await start(version, index, args, work, sink.url))
            for round_ in range(args.rounds):
                for key in args.scenarios:
                    size = 0
                    for one in served if round_ % 2 == 0 else served[::-1]:
                        host = f"{HOST}:{one.service.port}"
                        raw = [r.render(host) for r in one.scenarios[key].requests]
                        cpu, result = await measured_load(one.service, raw, args, work)
                        if key == "deductions":
                            await one.api.wait_for_outbox(120)  # this load's webhooks
                        errors += result.errors(one.scenarios[key].expected)
                        size = result.mean_body_bytes
                        figures.setdefault((key, one.version.label), Figures()).add(cpu, result)
                        print(f"round {round_ + 1}  {key:<10} {one.version.label}: {cpu:5.0f} µs")
                    host = f"{HOST}:{baseline.port}"
                    sample = served[0].scenarios[key].requests[:64]
                    raw = [r.render(host, f"/json/{size}") for r in sample]
                    cpu, result = await measured_load(baseline, raw, args, work)
                    figures.setdefault((key, BASELINE), Figures()).add(cpu, result)
                    print(f"round {round_ + 1}  {key:<10} {BASELINE}: {cpu:5.0f} µs")
        finally:
            for one in served:
                await one.api.close()
                await one.service.stop()
            await asyncio.gather(sink.stop(), baseline.stop())
    print("medians: CPU µs per request, bare Sanic's over this (the ratio a free core gives)")
    for (key, label), found in figures.items():
        cpu = statistics.median(found.cpu_us)
        base = statistics.median(figures[(key, BASELINE)].cpu_us)
        print(
            f"  {key:<10} {label:<40} {cpu:6.0f} µs  {base / cpu:5.2f}x"
            f"  ({statistics.median(found.rps):6.0f} req/s,"
            f" p99 {statistics.median(found.p99_ms):6.1f} ms on this machine now)"
        )
    return 1 if errors else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.default_cpu", description=__doc__)
    parser.add_argument("versions", nargs="*", default=["."], metavar="CHECKOUT[:NAME=VALUE,...]")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=4, help="seconds per load")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--users", type=int, default=500)
    args = parser.parse_args(argv)
    versions = parse_versions_or_exit(parser, args.versions)
    return asyncio.run(measure(args, versions))


if __name__ == "__main__":
    sys.exit(main())
