"""`python -m bench.alternate`: the same load on several versions of the service, in turn.

On a shared VM a whole `python -m bench` run cannot tell a 10% change from the minutes it ran
in (other guests take the CPU for minutes at a time). Here every version runs at once, each as
its own `rakubun-service` on its own SQLite file, and the load goes to each in turn, round
after round (the order reversed every other round), so each round compares them within seconds.
Each load prints its req/s, p99, the service's CPU time per request (all its processes and
threads, from /proc) and each worker's share of it; the medians come last.

The purchase scenarios (`checkout`, `create_intent`) start one fake Stripe that every version
calls, and each round also loads the fake alone with the calls the service makes for the same
requests (`Scenario.stripe_reference`): its lines are labelled `fake Stripe`, and each
service's line adds the fake's CPU per request it caused (`stripe`).

A version is a checkout of this repository, optionally with environment variables for its
service: `../before`, `.:WORKER_CPU_AFFINITY=off`, `/tmp/wt:ACCESS_LOG=1,LOG_FORMAT=json`.
The service is started from that checkout (its own `service` package), configured as the
bench configures it (`bench.run.service_env`). Nothing is checked beyond the status codes:
use `python -m bench` for the correctness checks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import scenarios
from .processes import HOST, ChildProcess, fake_stripe_process, free_port, sink_process
from .run import STRIPE_SECRET_KEY, BenchOptions, RunConfig, service_env
from .scenarios import Scenario
from .service_api import BenchSite, ServiceApi
from .wrk import SCHEDULING, LoadResult, cpu_ticks, run_wrk, steal_percent

SCENARIOS = ("credits", "packages", "deductions", "checkout", "create_intent")
PURCHASES = ("checkout", "create_intent")
TOP_UP = 10**6


@dataclass(frozen=True)
class Version:
    """A checkout of the repository, and the environment variables its service adds."""

    checkout: Path
    env: dict[str, str] = field(default_factory=dict)
    label: str = ""


def parse_version(spec: str) -> Version:
    """`PATH[:NAME=VALUE,...]` (a value may hold `=`; names and values no `,`)."""
    path, _, assignments = spec.partition(":")
    env: dict[str, str] = {}
    for assignment in filter(None, assignments.split(",")):
        name, equals, value = assignment.partition("=")
        if not equals or not name:
            raise ValueError(f"{spec!r}: expected PATH[:NAME=VALUE,...], got {assignment!r}")
        env[name] = value
    checkout = Path(path or ".").resolve()
    if not (checkout / "service" / "cli.py").is_file():
        raise ValueError(f"{spec!r}: {checkout} is not a checkout of this repository")
    return Version(checkout, env, spec)


def process_cpu_seconds(root: int) -> dict[int, float]:
    """CPU seconds (user and system, every thread) of `root` and its descendants, by pid."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    pending = [root]
    while pending:
        pid = pending.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended meanwhile
        found[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        pending.extend(children.get(pid, ()))
    return found


@dataclass
class Load:
    result: LoadResult
    cpu_us_per_request: float
    worker_cpu_s: list[float]
    steal_pct: float | None
    #: The fake Stripe's CPU per request of this load (purchase scenarios only).
    stripe_us_per_request: float | None = None

    def line(self, label: str, width: int) -> str:
        steal = "?" if self.steal_pct is None else f"{self.steal_pct:.0f}"
        shares = ",".join(f"{s:.1f}" for s in self.worker_cpu_s)
        stripe = (
            ""
            if self.stripe_us_per_request is None
            else f"  stripe {self.stripe_us_per_request:5.0f} us/req"
        )
        return (
            f"{label:<{width}}  {self.result.requests_per_second:7.0f} req/s"
            f"  p99 {self.result.latency_us['p99'] / 1000:6.1f} ms"
            f"  cpu {self.cpu_us_per_request:5.0f} us/req{stripe}  workers' cpu s {shares:<9}"
            f"  steal {steal:>2}%"
        )


@dataclass
class Running:
    version: Version
    service: ChildProcess
    api: ServiceApi | None
    raw: list[bytes]
    expected: frozenset[int]
    loads: list[Load] = field(default_factory=list)
    #: The fake Stripe this service calls, whose CPU its loads also read.
    stripe: ChildProcess | None = None


async def start(
    version: Version,
    index: int,
    args: argparse.Namespace,
    work: Path,
    sink_url: str,
    stripe: ChildProcess | None,
) -> tuple[Running, Running | None]:
    """The version's service, seeded; for a purchase scenario also the fake Stripe's own
    load (the calls this service makes for the same requests), made from the first one."""
    config = RunConfig("sqlite", args.workers)
    folder = work / f"v{index}"
    (folder / config.key).mkdir(parents=True)
    options = BenchOptions(
        duration=args.duration,
        baseline_duration=args.duration,
        overdraw_duration=args.duration,
        pairs=1,
        concurrency=args.concurrency,
        wrk_threads=1,
        wrk_scheduling=args.wrk_scheduling,
        users=args.users,
        synchronous=None,
        worker_cpu_affinity=args.worker_cpu_affinity,
        only=(),
        work_dir=folder,
        log_dir=folder,
    )
    env = service_env(
        config,
        options,
        stripe_url=stripe.url if stripe else f"http://{HOST}:9",  # others never call it
        admin_token="bench-admin-" + secrets.token_hex(16),
        webhook_secret="whsec_" + secrets.token_hex(24),
    )
    env.update(version.env)
    port = free_port()
    command = [sys.executable, "-c", "from service.cli import main; main()"]
    command += ["--host", HOST, "--port", str(port), "--workers", str(args.workers)]
    command += ["--log-level", "WARNING"]
    service = ChildProcess(
        f"service {index}",
        command,
        port=port,
        ready_path="/api/v1/health",
        log_path=folder / "service.log",
        env=env,
        cwd=version.checkout,  # the checkout's own `service` package comes first
    )
    await service.start()
    api = ServiceApi(service.url, env["ADMIN_API_TOKEN"])
    site = await api.register_site(sink_url)
    users = list(range(1, args.users + 1))
    await api.seed_users(site, users, "article", TOP_UP)
    scenario = build_scenario(args.scenario, site, users)
    raw = [request.render(f"{HOST}:{port}") for request in scenario.requests]
    running = Running(version, service, api, raw, scenario.expected, stripe=stripe)
    if stripe is None or index > 0:
        return running, None
    host = stripe.url.removeprefix("http://")
    reference = [request.render(host) for request in scenario.stripe_reference]
    alone = Running(
        Version(version.checkout, label="fake Stripe"), stripe, None, reference, frozenset({200})
    )
    return running, alone


def build_scenario(name: str, site: BenchSite, users: list[int]) -> Scenario:
    if name == "checkout":
        return scenarios.checkout_sessions(site, users, STRIPE_SECRET_KEY)
    if name == "create_intent":
        return scenarios.payment_intents(site, users, STRIPE_SECRET_KEY)
    if name == "packages":
        return scenarios.list_packages(site)
    if name == "deductions":
        return scenarios.deduct_credits(site, users, key="deductions", title="deductions")
    return scenarios.user_credits(site, users)


async def load_once(running: Running, args: argparse.Namespace, work: Path) -> Load:
    process = running.service.process
    assert process is not None
    stripe = running.stripe.process if running.stripe else None
    stripe_before = process_cpu_seconds(stripe.pid) if stripe else {}
    before, ticks = process_cpu_seconds(process.pid), cpu_ticks()
    result = await run_wrk(
        running.service.url,
        running.raw,
        seconds=args.duration,
        connections=args.concurrency,
        threads=1,
        work_dir=work,
        name="alternate",
        scheduling=args.wrk_scheduling,
    )
    after, steal = process_cpu_seconds(process.pid), steal_percent(ticks, cpu_ticks())
    stripe_after = process_cpu_seconds(stripe.pid) if stripe else {}
    if args.scenario == "deductions" and running.api is not None:
        await running.api.wait_for_outbox(60)  # the webhooks of this load, not the next one's
    spent = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
    # One worker is the process itself (Sanic's single-process mode); more are its children.
    others = [s for pid, s in spent.items() if pid != process.pid]
    several = args.workers > 1 and running.api is not None  # the fake is one process
    workers = sorted(others, reverse=True) if several else [spent[process.pid]]
    per_request = sum(spent.values()) / max(1, result.received) * 1e6
    stripe_per_request = None
    if stripe:
        stripe_spent = sum(stripe_after.values()) - sum(stripe_before.values())
        stripe_per_request = stripe_spent / max(1, result.received) * 1e6
    return Load(result, per_request, workers[: args.workers], steal, stripe_per_request)


def median_line(running: Running, width: int) -> str:
    loads = running.loads
    rps = statistics.median(load.result.requests_per_second for load in loads)
    cpu = statistics.median(load.cpu_us_per_request for load in loads)
    p99 = statistics.median(load.result.latency_us["p99"] for load in loads) / 1000
    errors = sum(load.result.errors(running.expected) for load in loads)
    stripe = [load.stripe_us_per_request for load in loads if load.stripe_us_per_request]
    caused = f"  stripe {statistics.median(stripe):5.0f} us/req" if stripe else ""
    return (
        f"{running.version.label:<{width}}  {rps:7.0f} req/s  p99 {p99:6.1f} ms"
        f"  cpu {cpu:5.0f} us/req{caused}  (medians of {len(loads)}; {errors} errors)"
    )


async def alternate(args: argparse.Namespace, versions: Sequence[Version]) -> int:
    width = max(len("fake Stripe"), *(len(v.label) for v in versions))
    with tempfile.TemporaryDirectory(prefix="rakubun-alternate-") as temp:
        work = Path(temp)
        stripe = None
        if args.scenario in PURCHASES:
            stripe = fake_stripe_process(
                secret_key=STRIPE_SECRET_KEY, log_path=work / "fake-stripe.log"
            )
            await stripe.start()
        sink = sink_process(
            service_workers=args.workers,
            log_path=work / "sink.log",
            cpu_affinity=args.worker_cpu_affinity,
        )
        await sink.start()
        started: list[Running] = []
        try:
            for index, version in enumerate(versions):
                running, alone = await start(version, index, args, work, sink.url, stripe)
                started.append(running)
                if alone is not None:
                    started.append(alone)
            for round_ in range(args.rounds):
                order = started if round_ % 2 == 0 else started[::-1]
                for running in order:
                    load = await load_once(running, args, work)
                    running.loads.append(load)
                    print(f"round {round_ + 1}  " + load.line(running.version.label, width))
            print("medians:")
            for running in started:
                print("  " + median_line(running, width))
        finally:
            for running in started:
                if running.api is not None:
                    await running.api.close()
                    await running.service.stop()
            await sink.stop()
            if stripe is not None:
                await stripe.stop()
    errors = sum(load.result.errors(r.expected) for r in started for load in r.loads)
    return 1 if errors else 0


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[Version]]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.alternate",
        description="Load several versions of the service in turn, round after round, on "
        "127.0.0.1; print each load's req/s, p99 and CPU per request, then the medians.",
    )
    parser.add_argument("versions", nargs="+", metavar="CHECKOUT[:NAME=VALUE,...]")
    parser.add_argument("--scenario", choices=SCENARIOS, default="credits")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=4, help="seconds per load")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--worker-cpu-affinity", choices=("auto", "off"), default="auto")
    parser.add_argument("--wrk-scheduling", choices=SCHEDULING, default="batch")
    args = parser.parse_args(argv)
    try:
        versions = [parse_version(spec) for spec in args.versions]
    except ValueError as exc:
        parser.error(str(exc))
    return args, versions


def main(argv: list[str] | None = None) -> int:
    args, versions = parse_args(argv)
    return asyncio.run(alternate(args, versions))


if __name__ == "__main__":
    sys.exit(main())
