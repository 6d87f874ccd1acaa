"""One configuration run (a store and a worker count): start the service and its baseline,
register a site, seed users, then measure and check every scenario in turn. A purchase
scenario's second load goes to the fake Stripe the service calls, not to bare Sanic
(`Scenario.stripe_reference`)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import checks, scenarios
from .checks import Check
from .processes import HOST, baseline_process, service_process, sink_process
from .progress import Progress
from .scenarios import Scenario
from .service_api import Balances, BenchSite, ServiceApi
from .wrk import LoadResult, run_wrk

STRIPE_SECRET_KEY = "sk_test_bench"
HOT_USER = 900_001
OVERDRAWN_USER = 900_002
OVERDRAWN_CREDITS = 50  # the 5 free article credits plus a top-up of 45
TOP_UP = 1_000_000  # enough that the spread and hot loads never run out
DUPLICATE_EVENTS = 200
BASELINE_SAMPLE = 64  # requests replayed against the baseline (same shape, same sizes)
OUTBOX_TIMEOUT = 120.0


@dataclass(frozen=True)
class BenchOptions:
    duration: int
    baseline_duration: int
    overdraw_duration: int
    pairs: int
    concurrency: int
    wrk_threads: int
    users: int
    synchronous: str | None
    worker_cpu_affinity: str
    only: tuple[str, ...]
    work_dir: Path
    log_dir: Path
    #: How wrk is scheduled beside the servers (`bench.wrk.wrk_command`).
    wrk_scheduling: str = "batch"


@dataclass(frozen=True)
class RunConfig:
    store: str
    workers: int
    mongodb_url: str | None = None

    @property
    def key(self) -> str:
        return f"{self.store}-{self.workers}w"

    @property
    def label(self) -> str:
        return f"{self.store}, {self.workers} worker{'s' if self.workers > 1 else ''}"


@dataclass
class Pair:
    """One load of the service and the baseline's load right after it, with the checks of
    the service's load."""

    service: LoadResult
    baseline: LoadResult
    checks: list[Check]
    outbox_drain_s: float = 0.0

    @property
    def ratio(self) -> float:
        base = self.baseline.requests_per_second
        return self.service.requests_per_second / base if base else 0.0

    def to_json(self, expected: frozenset[int]) -> dict[str, Any]:
        return {
            "ratio_to_baseline": round(self.ratio, 3),
            "errors": self.service.errors(expected),
            "outbox_drain_s": round(self.outbox_drain_s, 2),
            "service": self.service.to_json(),
            "baseline": self.baseline.to_json(),
            "checks": [c.to_json() for c in self.checks],
        }


@dataclass
class Row:
    """One scenario of one run: its pairs of loads (the service's, then the baseline's),
    taken in turn so that a minute of the machine's other load hits one pair, not the row.
    The row's figures are its median pair's (by ratio; with an even count, the lower of the
    two middle ones); its checks are every pair's."""

    key: str
    title: str
    expected: frozenset[int]
    pairs: list[Pair]
    #: What each pair's second load measured (the ratio's denominator).
    compared_with: str = "bare Sanic"

    @property
    def median(self) -> Pair:
        ranked = sorted(self.pairs, key=lambda p: p.ratio)
        return ranked[(len(ranked) - 1) // 2]

    @property
    def service(self) -> LoadResult:
        return self.median.service

    @property
    def baseline(self) -> LoadResult:
        return self.median.baseline

    @property
    def ratio(self) -> float:
        return self.median.ratio

    @property
    def outbox_drain_s(self) -> float:
        return max(p.outbox_drain_s for p in self.pairs)

    @property
    def checks(self) -> list[Check]:
        return [c for p in self.pairs for c in p.checks]

    @property
    def errors(self) -> int:
        return sum(p.service.errors(self.expected) for p in self.pairs)

    @property
    def ok(self) -> bool:
        return checks.all_ok(self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.key,
            "title": self.title,
            "ok": self.ok,
            "requests_per_second": round(self.service.requests_per_second, 1),
            "p50_ms": round(self.service.latency_us["p50"] / 1000, 2),
            "p99_ms": round(self.service.latency_us["p99"] / 1000, 2),
            "errors": self.errors,
            "ratio_to_baseline": round(self.ratio, 3),
            "compared_with": self.compared_with,
            "pair_ratios": [round(p.ratio, 3) for p in self.pairs],
            "median_pair": self.pairs.index(self.median),
            "baseline_requests_per_second": round(self.baseline.requests_per_second, 1),
            "outbox_drain_s": round(self.outbox_drain_s, 2),
            "service": self.service.to_json(),
            "baseline": self.baseline.to_json(),
            "checks": [c.to_json() for c in self.checks],
            "pairs": [p.to_json(self.expected) for p in self.pairs],
        }


@dataclass
class RunReport:
    config: RunConfig
    rows: list[Row] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(r.ok for r in self.rows)

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.config.label,
            "store": self.config.store,
            "workers": self.config.workers,
            "ok": self.ok,
            "error": self.error,
            "rows": [r.to_json() for r in self.rows],
        }


SCENARIO_KEYS = (
    "packages",
    "credits",
    "deduct_spread",
    "deduct_hot",
    "deduct_overdrawn",
    "checkout",
    "create_intent",
    "webhooks",
)


def service_env(
    config: RunConfig,
    options: BenchOptions,
    *,
    stripe_url: str,
    admin_token: str,
    webhook_secret: str,
) -> dict[str, str]:
    """The service's whole configuration: environment variables, as in production."""
    env = dict(os.environ)
    env.pop("MONGODB_URL", None)
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "SQLITE_PATH": str(options.work_dir / config.key / "rakubun.sqlite3"),
            "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
            "STRIPE_API_BASE": stripe_url,
            "STRIPE_WEBHOOK_SECRET": webhook_secret,
            "ADMIN_API_TOKEN": admin_token,
            "RATE_LIMIT_PER_MINUTE": "1000000000",
            "ACCESS_LOG": "0",
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "1",  # the bench's WordPress listens on 127.0.0.1
            "WEBHOOK_LOOPBACK_ONLY": "1",  # and nothing else is ever a target
        }
    )
    env["WORKER_CPU_AFFINITY"] = options.worker_cpu_affinity
    if options.synchronous:
        env["SQLITE_SYNCHRONOUS"] = options.synchronous
    if config.mongodb_url:
        env["MONGODB_URL"] = config.mongodb_url
        env["MONGODB_DATABASE"] = f"rakubun_bench_{secrets.token_hex(4)}"
    return env


class ConfigRun:
    def __init__(
        self, config: RunConfig, options: BenchOptions, stripe_url: str, progress: Progress
    ) -> None:
        self.config = config
        self.options = options
        self.stripe_url = stripe_url
        self.progress = progress
        self.admin_token = "bench-admin-" + secrets.token_hex(16)
        self.webhook_secret = "whsec_" + secrets.token_hex(24)
        (options.work_dir / config.key).mkdir(parents=True, exist_ok=True)
        self.env = service_env(
            config,
            options,
            stripe_url=stripe_url,
            admin_token=self.admin_token,
            webhook_secret=self.webhook_secret,
        )
        self.service = service_process(
            workers=config.workers,
            env=self.env,
            log_path=options.log_dir / f"{config.key}-service.log",
        )
        self.baseline = baseline_process(
            workers=config.workers,
            log_path=options.log_dir / f"{config.key}-baseline.log",
        )
        self.sink = sink_process(
            service_workers=config.workers,
            log_path=options.log_dir / f"{config.key}-sink.log",
            cpu_affinity=options.worker_cpu_affinity,
        )
        self.report = RunReport(config)

    async def run(self) -> RunReport:
        api: ServiceApi | None = None
        try:
            await asyncio.gather(self.service.start(), self.baseline.start(), self.sink.start())
            api = ServiceApi(self.service.url, self.admin_token)
            await self._measure_all(api)
        finally:
            if api is not None:
                await api.close()
            await asyncio.gather(self.service.stop(), self.baseline.stop(), self.sink.stop())
            self._drop_mongo_database()
        return self.report

    async def _measure_all(self, api: ServiceApi) -> None:
        o = self.options
        self.progress.say(f"== {self.config.label}: seeding {o.users} users ...")
        # The site's plugin webhooks (one per deduction) go to the WordPress sink.
        site = await api.register_site(self.sink.url)
        spread = list(range(1, o.users + 1))
        await api.seed_users(site, spread, "article", TOP_UP)
        await api.seed_users(site, [HOT_USER], "article", TOP_UP)
        await api.seed_users(site, [OVERDRAWN_USER], "article", OVERDRAWN_CREDITS - 5)
        events = scenarios.stripe_events(DUPLICATE_EVENTS, secrets.token_hex(4))
        await self._deliver_once(api, events)
        await api.wait_for_outbox(OUTBOX_TIMEOUT)

        plan: dict[str, tuple[Callable[[], Scenario], int]] = {
            "packages": (lambda: scenarios.list_packages(site), o.duration),
            "credits": (lambda: scenarios.user_credits(site, spread), o.duration),
            "deduct_spread": (
                lambda: scenarios.deduct_credits(
                    site,
                    spread,
                    key="deduct_spread",
                    title=f"POST /users/deduct-credits, {len(spread)} users",
                ),
                o.duration,
            ),
            "deduct_hot": (
                lambda: scenarios.deduct_credits(
                    site,
                    [HOT_USER],
                    key="deduct_hot",
                    title="POST /users/deduct-credits, one hot user",
                ),
                o.duration,
            ),
            "deduct_overdrawn": (
                lambda: scenarios.deduct_credits(
                    site,
                    [OVERDRAWN_USER],
                    key="deduct_overdrawn",
                    title=f"POST /users/deduct-credits, user with {OVERDRAWN_CREDITS} (402s)",
                    expected=frozenset({200, 402}),
                    exhausts_user=str(OVERDRAWN_USER),
                ),
                o.overdraw_duration,
            ),
            "checkout": (
                lambda: scenarios.checkout_sessions(site, spread, STRIPE_SECRET_KEY),
                o.duration,
            ),
            "create_intent": (
                lambda: scenarios.payment_intents(site, spread, STRIPE_SECRET_KEY),
                o.duration,
            ),
            "webhooks": (
                lambda: scenarios.stripe_webhooks(
                    scenarios.signed_event_requests(events, self.webhook_secret)
                ),
                o.duration,
            ),
        }
        assert tuple(plan) == SCENARIO_KEYS
        for key in o.only:
            build, seconds = plan[key]
            self.report.rows.append(await self._measure(api, site, build(), seconds))

    async def _deliver_once(self, api: ServiceApi, events: list[bytes]) -> None:
        """Deliver every event once, so the load replays duplicates (Stripe's retries)."""
        requests = scenarios.signed_event_requests(events, self.webhook_secret)
        answers = await asyncio.gather(
            *(api.send(r.method, r.path, r.headers, r.body) for r in requests)
        )
        refused = [a.status_code for a in answers if a.status_code != 200]
        if refused:
            raise RuntimeError(
                f"the service refused {len(refused)} first event deliveries "
                f"(statuses {sorted(set(refused))})"
            )

    async def _load(self, url: str, raw: list[bytes], seconds: int, name: str) -> LoadResult:
        return await run_wrk(
            url,
            raw,
            seconds=seconds,
            connections=self.options.concurrency,
            threads=self.options.wrk_threads,
            work_dir=self.options.work_dir,
            name=name,
            scheduling=self.options.wrk_scheduling,
            on_tick=lambda elapsed: self.progress.tick(elapsed, seconds + 1),
        )

    async def _measure(
        self, api: ServiceApi, site: BenchSite, scenario: Scenario, seconds: int
    ) -> Row:
        """The scenario's pairs in turn: the service's load, checked, then the baseline's."""
        pairs = []
        for index in range(self.options.pairs):
            if index and scenario.exhausts_user is not None:
                # The last pair spent this user to zero: give it its credits back.
                credit_type = scenario.deduction.credit_type if scenario.deduction else "article"
                await api.top_up(site, int(scenario.exhausts_user), credit_type, OVERDRAWN_CREDITS)
            pairs.append(await self._measure_pair(api, site, scenario, seconds, index))
        return Row(scenario.key, scenario.title, scenario.expected, pairs, scenario.reference_title)

    async def _measure_pair(
        self, api: ServiceApi, site: BenchSite, scenario: Scenario, seconds: int, index: int
    ) -> Pair:
        turn = f" ({index + 1}/{self.options.pairs})" if self.options.pairs > 1 else ""
        label = f"{self.config.label} · {scenario.title}{turn}"
        self.progress.start(label)
        before = await api.balances(site)
        host = f"{HOST}:{self.service.port}"
        result = await self._load(
            self.service.url,
            [r.render(host) for r in scenario.requests],
            seconds,
            f"{self.config.key}-{scenario.key}-{index}",
        )
        drained, waited = await api.wait_for_outbox(OUTBOX_TIMEOUT)
        after = await api.balances(site)
        found = self._checks(
            scenario, result, before, after, await api.reconcile(), drained, waited
        )
        failed = [c for c in found if not c.ok]
        self.progress.finish(
            result.summary()
            + (
                "  checks ok"
                if not failed
                else "  CHECK FAILED: " + "; ".join(f"{c.name} ({c.detail})" for c in failed)
            )
        )

        baseline = await self._second_load(scenario, result, f"{scenario.key}-{index}", turn)
        if scenario.stripe_reference:
            found.append(checks.stripe_reference_ok(baseline))
        pair = Pair(result, baseline, found, waited)
        self.progress.finish(f"{baseline.summary()}  ratio {pair.ratio:.2f}")
        return pair

    async def _second_load(
        self, scenario: Scenario, result: LoadResult, name: str, turn: str
    ) -> LoadResult:
        """The pair's denominator: the fake Stripe taking the service's own Stripe calls, as
        long as the service's load; else bare Sanic answering bodies of the same size."""
        name = f"{self.config.key}-{name}-baseline"
        if scenario.stripe_reference:
            self.progress.start(f"{self.config.label} · {scenario.reference_title}{turn}")
            host = self.stripe_url.removeprefix("http://")
            raw = [r.render(host) for r in scenario.stripe_reference]
            return await self._load(self.stripe_url, raw, self.options.duration, name)
        size = result.mean_body_bytes
        self.progress.start(
            f"{self.config.label} · baseline, {size} B JSON ({scenario.requests[0].method}){turn}"
        )
        bhost = f"{HOST}:{self.baseline.port}"
        raw = [r.render(bhost, f"/json/{size}") for r in scenario.requests[:BASELINE_SAMPLE]]
        return await self._load(self.baseline.url, raw, self.options.baseline_duration, name)

    @staticmethod
    def _checks(
        scenario: Scenario,
        result: LoadResult,
        before: Balances,
        after: Balances,
        reconcile: dict[str, Any],
        drained: bool,
        waited: float,
    ) -> list[Check]:
        credit_type = scenario.deduction.credit_type if scenario.deduction else "article"
        found = [
            checks.no_server_errors(result),
            checks.every_request_answered(result),
            checks.reconcile_ok(reconcile),
            checks.credits_removed(
                before, after, credit_type, result.count(200), scenario.credits_removed_per_success
            ),
            checks.no_negative_balance(after),
            checks.outbox_drained(drained, waited),
        ]
        if scenario.exhausts_user is not None:
            found.append(
                checks.user_exhausted(after, scenario.exhausts_user, credit_type, result.count(402))
            )
        return found

    def _drop_mongo_database(self) -> None:
        url, name = self.config.mongodb_url, self.env.get("MONGODB_DATABASE")
        if not url or not name:
            return
        try:
            from pymongo import MongoClient

            client: MongoClient[dict[str, Any]] = MongoClient(url, serverSelectionTimeoutMS=3000)
            with client:
                client.drop_database(name)
        except Exception as exc:  # cleaning up is best effort
            self.progress.say(f"   (could not drop MongoDB database {name}: {exc})")
