"""`python -m bench`: measure the hot endpoints against a bare Sanic baseline, check
correctness after every load, and write the table, JSON and chart.

Exit status: 0 when every check passed, 1 when a check failed or a run broke off, 2 when
the bench could not run at all (wrk missing, the fake Stripe would not start).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import httpx

from . import filled
from .fake_stripe_bench import FILLED_OBJECTS, FakeStripeRun
from .fake_stripe_bench import LOADS as STRIPE_LOADS
from .processes import ProcessFailed, fake_stripe_process
from .progress import Progress
from .report import (
    format_scaling,
    format_table,
    machine,
    markdown_table,
    write_chart,
    write_json,
)
from .run import (
    SCENARIO_KEYS,
    STRIPE_SECRET_KEY,
    BenchOptions,
    ConfigRun,
    RunConfig,
    RunReport,
)
from .service_api import ApiCallFailed
from .wrk import SCHEDULING, WrkFailed, WrkMissing, wrk_command

DEFAULT_RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Load the service's hot endpoints with wrk on 127.0.0.1, next to a bare "
        "Sanic app answering JSON of the same size; check correctness after "
        "each load. Runs with 1 worker, then with --workers N.",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        metavar="N",
        help="workers of the second run (default 2; 1 skips it)",
    )
    parser.add_argument(
        "--duration",
        type=int,
        default=6,
        metavar="S",
        help="seconds of load per scenario and pair (default 6)",
    )
    parser.add_argument(
        "--pairs",
        type=int,
        default=3,
        metavar="P",
        help="loads per scenario, each followed by its baseline's; the row shows the median "
        "pair by ratio (default 3)",
    )
    parser.add_argument(
        "--baseline-duration",
        type=int,
        default=None,
        metavar="S",
        help="seconds of load per baseline (default half of --duration, min 2)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, metavar="C", help="open connections (default 32)"
    )
    parser.add_argument(
        "--users",
        type=int,
        default=500,
        metavar="U",
        help="users the spread scenarios walk over (default 500)",
    )
    parser.add_argument(
        "--wrk-threads",
        type=int,
        default=1,
        metavar="T",
        help="wrk threads (default 1: on 2 cores the server needs the rest)",
    )
    parser.add_argument(
        "--wrk-scheduling",
        choices=SCHEDULING,
        default="batch",
        help="batch (default): wrk runs as SCHED_BATCH (chrt), so its wake-ups do not "
        "preempt the workers it loads; normal: as any process",
    )
    parser.add_argument(
        "--synchronous",
        choices=("OFF", "NORMAL", "FULL", "EXTRA"),
        help="SQLITE_SYNCHRONOUS for the service (default: the service's own)",
    )
    parser.add_argument(
        "--worker-cpu-affinity",
        choices=("auto", "off"),
        default="auto",
        help="WORKER_CPU_AFFINITY of the service (default auto: each worker's threads on "
        "one CPU); the baseline is never pinned",
    )
    parser.add_argument(
        "--only",
        default=",".join(SCENARIO_KEYS),
        metavar="KEYS",
        help="comma-separated scenarios to run (default all: " + ", ".join(SCENARIO_KEYS) + ")",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=DEFAULT_RESULTS,
        metavar="DIR",
        help="where results.json, results.png and logs go (default bench/results)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 2 s per scenario, 50 users"
    )
    parser.add_argument(
        "--fake-stripe",
        choices=("also", "only", "skip"),
        default="also",
        help="the fake Stripe's own rows (against localstripe, and with "
        "--filled-objects stored): also (default), only, or skip",
    )
    parser.add_argument(
        "--filled-objects",
        type=int,
        default=FILLED_OBJECTS,
        metavar="N",
        help=f"objects stored for the fake Stripe's filled row (default {FILLED_OBJECTS:,})",
    )
    parser.add_argument(
        "--ledger-rows",
        type=int,
        default=0,
        metavar="N",
        help="also the filled scenario: the store's hot paths and admin reads with N ledger "
        "rows against an empty ledger, over --filled-users users (default 0: skipped; "
        "e.g. 1000000; see bench/filled.py)",
    )
    parser.add_argument(
        "--filled-users",
        type=int,
        default=20_000,
        metavar="U",
        help="users of the filled scenario (default 20,000)",
    )
    args = parser.parse_args(argv)
    if args.ledger_rows and args.ledger_rows < args.filled_users:
        parser.error("--ledger-rows must be at least --filled-users (one purchase each)")
    if args.quick:
        args.duration, args.users, args.pairs = 2, min(args.users, 50), 1
    args.only = tuple(k.strip() for k in args.only.split(",") if k.strip())
    unknown = sorted(set(args.only) - set(SCENARIO_KEYS))
    if unknown or not args.only:
        parser.error(f"--only takes some of {', '.join(SCENARIO_KEYS)}; got {unknown}")
    if args.baseline_duration is None:
        args.baseline_duration = max(1 if args.quick else 2, args.duration // 2)
    if (
        min(
            args.duration,
            args.baseline_duration,
            args.concurrency,
            args.users,
            args.wrk_threads,
            args.workers,
            args.pairs,
        )
        < 1
    ):
        parser.error(
            "durations, --concurrency, --users, --wrk-threads, --workers and --pairs must be "
            "at least 1"
        )
    return args


def plan_runs(workers: int, mongodb_url: str | None) -> tuple[list[RunConfig], list[str]]:
    runs = [RunConfig("sqlite", 1)]
    if workers > 1:
        runs.append(RunConfig("sqlite", workers))
    skipped = []
    if mongodb_url:
        runs.append(RunConfig("mongodb", 1, mongodb_url))
    else:
        skipped.append("MongoDB variant skipped: MONGODB_URL is not set")
    return runs, skipped


async def bench(args: argparse.Namespace) -> int:
    results: Path = args.results
    results.mkdir(parents=True, exist_ok=True)
    (results / "logs").mkdir(exist_ok=True)
    runs, skipped = plan_runs(args.workers, os.environ.get("MONGODB_URL", "").strip() or None)
    if args.fake_stripe == "only":
        runs = []
    m = machine()
    stripe_steps = 0 if args.fake_stripe == "skip" else STRIPE_LOADS
    progress = Progress(len(runs) * len(args.only) * args.pairs * 2 + stripe_steps)
    progress.say(
        f"bench: {m['nproc']} x {m['cpu_model']}, {m['wrk']} ({args.wrk_scheduling}); "
        f"{len(runs)} runs x "
        f"{len(args.only)} scenarios x {args.pairs} pairs, {args.duration}s each "
        f"(+{args.baseline_duration}s baseline), {args.concurrency} connections"
    )
    for reason in skipped:
        progress.say(reason)
    started = time.monotonic()
    reports: list[RunReport] = []
    with tempfile.TemporaryDirectory(prefix="rakubun-bench-") as tmp:
        options = BenchOptions(
            duration=args.duration,
            baseline_duration=args.baseline_duration,
            overdraw_duration=min(args.duration, 3),
            pairs=args.pairs,
            concurrency=args.concurrency,
            wrk_threads=args.wrk_threads,
            wrk_scheduling=args.wrk_scheduling,
            users=args.users,
            synchronous=args.synchronous,
            worker_cpu_affinity=args.worker_cpu_affinity,
            only=args.only,
            work_dir=Path(tmp),
            log_dir=results / "logs",
        )
        stripe = fake_stripe_process(
            secret_key=STRIPE_SECRET_KEY, log_path=options.log_dir / "fake-stripe.log"
        )
        try:
            stripe_url = await stripe.start()
            for config in runs:
                run = ConfigRun(config, options, stripe_url, progress)
                try:
                    reports.append(await run.run())
                except (ProcessFailed, WrkFailed, ApiCallFailed) as exc:
                    run.report.error = str(exc).splitlines()[0]
                    progress.say(f"!! {config.label}: {exc}")
                    reports.append(run.report)
        finally:
            await stripe.stop()
        if args.ledger_rows:
            progress.say(f"== filled: {args.ledger_rows:,} ledger rows against empty ...")
            filled_rows = await filled.measure(
                Path(tmp),
                users=args.filled_users,
                rows=args.ledger_rows,
                rounds=1 if args.quick else 4,
                only=tuple(filled.CALLS),
            )
            (results / "filled.md").write_text(
                filled.format_rows(filled_rows, args.ledger_rows) + "\n"
            )
        if args.fake_stripe != "skip":
            progress.say("== fake Stripe against localstripe (fresh processes per row) ...")
            stripe_run = FakeStripeRun(options, progress, args.filled_objects)
            try:
                reports.append(await stripe_run.run())
            except (ProcessFailed, WrkFailed, httpx.HTTPError) as exc:
                stripe_run.report.error = (str(exc).splitlines() or [repr(exc)])[0]
                progress.say(f"!! fake Stripe: {stripe_run.report.error}")
                reports.append(stripe_run.report)

    elapsed = time.monotonic() - started
    print()
    print(format_table(reports))
    if args.ledger_rows:
        print("\nfilled against empty (store calls, median of rounds):\n")
        print((results / "filled.md").read_text())
    scaled = format_scaling(reports)
    if scaled:
        print("\nmore workers against fewer (median pairs, runs minutes apart):\n" + scaled)
    option_values = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    write_json(results / "results.json", reports, options=option_values, skipped=skipped)
    write_chart(results / "results.png", reports)
    (results / "results.md").write_text(markdown_table(reports) + "\n")
    ok = all(r.ok for r in reports)
    print(
        f"\n{'all checks passed' if ok else 'CHECKS FAILED'} in {elapsed:.0f}s; "
        f"wrote {results / 'results.json'}, results.png, results.md"
    )
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        wrk_command(args.wrk_scheduling)
    except WrkMissing as exc:
        print(f"bench: {exc}")
        return 2
    try:
        return asyncio.run(bench(args))
    except ProcessFailed as exc:
        print(f"bench: {exc}")
        return 2
    except KeyboardInterrupt:
        return 130
