"""The fake Stripe's own run: object creation against localstripe, and empty against full.

Every row starts fresh processes, so each server begins empty (both slow down as they
fill, localstripe by design: it pickles its whole store on every write).

| key | our fake Stripe (journaled to a data dir) | compared with |
|---|---|---|
| `stripe_payment_intents` | `POST /v1/payment_intents` | localstripe, the same requests |
| `stripe_checkout_sessions` | `POST /v1/checkout/sessions` | localstripe's `POST /v1/payment_intents` (it has no Checkout Sessions) |
| `stripe_filled` | `POST /v1/payment_intents` on a store of 50,000 objects | our fake, empty, running alongside (the loads take turns) |

Checks: no 5xx, every request answered, and each 200 stored exactly one object; in the
filled row, the server CPU time per request full is within 25% of empty, and after its
loads the full fake is killed with SIGKILL and restarted from its data dir, and every
acknowledged object is still there.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import httpx

from .checks import Check, every_request_answered, no_server_errors
from .processes import HOST, ChildProcess, fake_stripe_process, localstripe_process
from .progress import Progress
from .run import STRIPE_SECRET_KEY, BenchOptions, Pair, Row, RunConfig, RunReport
from .wrk import HttpRequest, LoadResult, run_wrk

FAKE_STRIPE_KEYS = ("stripe_payment_intents", "stripe_checkout_sessions", "stripe_filled")
FILLED_OBJECTS = 50_000
# The filled row's loads in turn (ABBA twice): drift in the shared machine's load hits both.
FILLED_ORDER = (
    "full",
    "empty",
    "empty",
    "full",
    "full",
    "empty",
    "empty",
    "full",
)  # the filled row's loads, in turn
LOADS = 4 + len(FILLED_ORDER)  # progress steps of a whole fake-Stripe run
CUSTOMERS = 500  # the requests' metadata walks over this many users, as the service's do
FORM = {
    "Authorization": f"Bearer {STRIPE_SECRET_KEY}",
    "Content-Type": "application/x-www-form-urlencoded",
}


def payment_intent_requests() -> tuple[HttpRequest, ...]:
    """`POST /v1/payment_intents` shaped like the service's top-ups, one per user."""
    return tuple(
        HttpRequest(
            "POST",
            "/v1/payment_intents",
            FORM,
            urlencode(
                {
                    "amount": 750,
                    "currency": "jpy",
                    "payment_method_types[0]": "card",
                    "metadata[user_id]": user,
                    "metadata[credit_type]": "article",
                }
            ).encode(),
        )
        for user in range(1, CUSTOMERS + 1)
    )


def checkout_session_requests() -> tuple[HttpRequest, ...]:
    """`POST /v1/checkout/sessions` shaped like the service's checkout, one per user."""
    page = "http://127.0.0.1/wp-admin/admin.php?page=rakubun-ai-purchase"
    return tuple(
        HttpRequest(
            "POST",
            "/v1/checkout/sessions",
            FORM,
            urlencode(
                {
                    "mode": "payment",
                    "line_items[0][price_data][currency]": "jpy",
                    "line_items[0][price_data][unit_amount]": 750,
                    "line_items[0][price_data][product_data][name]": "Article credits",
                    "line_items[0][quantity]": 1,
                    "success_url": page + "&status=success",
                    "cancel_url": page + "&status=cancel",
                    "metadata[user_id]": user,
                    "metadata[credit_type]": "article",
                    "payment_intent_data[metadata][user_id]": user,
                }
            ).encode(),
        )
        for user in range(1, CUSTOMERS + 1)
    )


def fill_data_dir(data_dir: Path, objects: int) -> None:
    """Journal `objects` stored objects into `data_dir`: half sessions, half intents."""
    from harness.fake_stripe import checkout_sessions, payment_intents
    from harness.fake_stripe.state import StripeState

    store = StripeState(data_dir)
    for i in range(objects // 2):
        checkout_sessions.create_session(
            store,
            {
                "mode": "payment",
                "success_url": "http://127.0.0.1/ok",
                "line_items": [
                    {
                        "price_data": {
                            "currency": "jpy",
                            "unit_amount": 750,
                            "product_data": {"name": "Article credits"},
                        },
                        "quantity": 1,
                    }
                ],
                "metadata": {"user_id": str(i)},
            },
            "http://127.0.0.1",
        )
    for i in range(objects - objects // 2):
        payment_intents.create_intent(
            store, amount=750, currency="jpy", metadata={"user_id": str(i)}
        )
    store.flush()
    asyncio.run(store.close())


async def stored_counts(url: str) -> dict[str, int]:
    async with httpx.AsyncClient(timeout=300) as http:
        answer = await http.get(url + "/_harness/state")
        answer.raise_for_status()
        return answer.json()


class FakeStripeRun:
    """Measures the fake Stripe rows; `run()` answers one RunReport like a service run."""

    def __init__(
        self, options: BenchOptions, progress: Progress, filled_objects: int = FILLED_OBJECTS
    ) -> None:
        self.options = options
        self.progress = progress
        self.filled_objects = filled_objects
        self.report = RunReport(RunConfig("fake Stripe vs localstripe", 1))
        self.root = options.work_dir / "fake-stripe-bench"
        self._serial = 0

    async def run(self, only: tuple[str, ...] = FAKE_STRIPE_KEYS) -> RunReport:
        plan: dict[str, Callable[[], object]] = {
            "stripe_payment_intents": lambda: self._against_localstripe(
                "stripe_payment_intents",
                "POST /v1/payment_intents vs localstripe",
                payment_intent_requests(),
                "intents",
            ),
            "stripe_checkout_sessions": lambda: self._against_localstripe(
                "stripe_checkout_sessions",
                "POST /v1/checkout/sessions vs localstripe's payment_intents",
                checkout_session_requests(),
                "sessions",
            ),
            "stripe_filled": self._filled_against_empty,
        }
        for key in only:
            self.report.rows.append(await plan[key]())  # type: ignore[misc]
        return self.report

    def _fresh_dir(self, name: str) -> Path:
        self._serial += 1
        path = self.root / f"{self._serial:02d}-{name}"
        path.mkdir(parents=True)
        return path

    def _fake(self, data_dir: Path) -> ChildProcess:
        return fake_stripe_process(
            secret_key=STRIPE_SECRET_KEY,
            data_dir=data_dir,
            log_path=self.options.log_dir / "fake-stripe-bench.log",
        )

    async def _load(
        self,
        target: ChildProcess,
        requests: tuple[HttpRequest, ...],
        label: str,
        name: str,
        seconds: int | None = None,
    ) -> LoadResult:
        seconds = seconds or self.options.duration
        self.progress.start(label)
        host = f"{HOST}:{target.port}"
        result = await run_wrk(
            target.url,
            [r.render(host) for r in requests],
            seconds=seconds,
            connections=self.options.concurrency,
            threads=self.options.wrk_threads,
            work_dir=self.options.work_dir,
            name=name,
            scheduling=self.options.wrk_scheduling,
            on_tick=lambda elapsed: self.progress.tick(elapsed, seconds + 1),
        )
        self.progress.finish(result.summary())
        return result

    async def _measure_fake(
        self, data_dir: Path, requests: tuple[HttpRequest, ...], counted: str, label: str, name: str
    ) -> tuple[LoadResult, list[Check], ChildProcess]:
        fake = self._fake(data_dir)
        await fake.start(timeout=120)
        before = await stored_counts(fake.url)
        result = await self._load(fake, requests, label, name)
        after = await stored_counts(fake.url)
        stored = after[counted] - before[counted]
        checks = [
            *_answer_checks(result),
            Check(
                "one object per 200",
                stored == result.count(200),
                f"{stored} {counted} stored, {result.count(200)} answered 200",
            ),
        ]
        return result, checks, fake

    async def _against_localstripe(
        self, key: str, title: str, requests: tuple[HttpRequest, ...], counted: str
    ) -> Row:
        result, checks, fake = await self._measure_fake(
            self._fresh_dir(key), requests, counted, f"fake Stripe · {title}", key
        )
        await fake.stop()
        localstripe = localstripe_process(
            state_dir=self._fresh_dir(f"{key}-localstripe"),
            log_path=self.options.log_dir / "localstripe.log",
        )
        await localstripe.start()
        try:
            baseline = await self._load(
                localstripe,
                payment_intent_requests(),
                "localstripe · POST /v1/payment_intents",
                f"{key}-localstripe",
            )
        finally:
            await localstripe.stop()
        checks += [Check(f"localstripe {c.name}", c.ok, c.detail) for c in _answer_checks(baseline)]
        return Row(key, title, frozenset({200}), [Pair(result, baseline, checks)])

    async def _filled_against_empty(self) -> Row:
        """Both fakes run side by side and take turns (FILLED_ORDER), so that a change in the
        machine's other load during the row hits both sides alike; the server CPU time per
        request, which hardly depends on that load, is compared as a check."""
        key = "stripe_filled"
        requests = payment_intent_requests()
        data_dir = self._fresh_dir(key)
        self.progress.say(f"   filling a data dir with {self.filled_objects:,} objects ...")
        await asyncio.to_thread(fill_data_dir, data_dir, self.filled_objects)
        title = f"POST /v1/payment_intents, {self.filled_objects:,} stored vs empty"
        sides = {"empty": self._fake(self._fresh_dir(f"{key}-empty")), "full": self._fake(data_dir)}
        loads: dict[str, list[LoadResult]] = {"empty": [], "full": []}
        cpu = {"empty": 0.0, "full": 0.0}  # server CPU seconds spent under load
        seconds = max(2, 2 * self.options.duration // len(FILLED_ORDER))
        try:
            await asyncio.gather(*(fake.start(timeout=120) for fake in sides.values()))
            for name, fake in sides.items():  # first requests fault in a fresh heap: unmeasured
                await run_wrk(
                    fake.url,
                    [r.render(f"{HOST}:{fake.port}") for r in requests],
                    seconds=1,
                    connections=self.options.concurrency,
                    threads=1,
                    work_dir=self.options.work_dir,
                    name=f"{key}-warm-{name}",
                    scheduling=self.options.wrk_scheduling,
                )
            before = {
                name: (await stored_counts(fake.url))["intents"] for name, fake in sides.items()
            }
            for n, name in enumerate(FILLED_ORDER):
                label = (
                    f"fake Stripe · POST /v1/payment_intents, "
                    f"{'empty' if name == 'empty' else f'{self.filled_objects:,} stored'}"
                )
                cpu_before = cpu_seconds(sides[name])
                loads[name].append(
                    await self._load(sides[name], requests, label, f"{key}-{n}-{name}", seconds)
                )
                cpu[name] += cpu_seconds(sides[name]) - cpu_before
            acknowledged = {
                name: (await stored_counts(fake.url))["intents"] for name, fake in sides.items()
            }
            process = sides["full"].process
            if process is not None:
                os.kill(process.pid, signal.SIGKILL)
        finally:
            await asyncio.gather(*(fake.stop() for fake in sides.values()))
        restarted = self._fake(data_dir)
        await restarted.start(timeout=120)
        try:
            restored = (await stored_counts(restarted.url))["intents"]
        finally:
            await restarted.stop()
        result, empty = merged(loads["full"]), merged(loads["empty"])
        checks = [
            *_answer_checks(result),
            *(Check(f"empty {c.name}", c.ok, c.detail) for c in _answer_checks(empty)),
        ]
        for name, side in (("full", result), ("empty", empty)):
            stored = acknowledged[name] - before[name]
            checks.append(
                Check(
                    f"{name}: one object per 200",
                    stored == side.count(200),
                    f"{stored} intents stored, {side.count(200)} answered 200",
                )
            )
        per_request = {
            name: cpu[name] / max(1, side.received) * 1e6
            for name, side in (("full", result), ("empty", empty))
        }
        # 25%: wider than a shared machine's swing from one load to the next; a cost that
        # grows with the store (what this row guards against) is orders of magnitude: about
        # 1000x at 50,000 objects for rewriting the whole state on each write.
        checks.append(
            Check(
                "CPU per request within 25%",
                per_request["full"] <= 1.25 * per_request["empty"],
                f"server CPU per request: {per_request['full']:.0f} us full, "
                f"{per_request['empty']:.0f} us empty",
            )
        )
        checks.append(
            Check(
                "kill -9, restart: all there",
                restored == acknowledged["full"],
                f"{acknowledged['full']} intents before SIGKILL, {restored} after restart",
            )
        )
        return Row(key, title, frozenset({200}), [Pair(result, empty, checks)])


def cpu_seconds(child: ChildProcess) -> float:
    """User plus system CPU time of a child so far (Linux `/proc/<pid>/stat`): unlike
    requests per second, it hardly moves with what else the shared machine runs."""
    if child.process is None:
        return 0.0
    fields = Path(f"/proc/{child.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def merged(results: list[LoadResult]) -> LoadResult:
    """Several loads as one: counts and windows added, latencies and steal the worst of them."""
    statuses: Counter[int] = Counter()
    sockets: Counter[str] = Counter()
    for r in results:
        statuses.update(r.statuses)
        sockets.update(r.socket_errors)
    return LoadResult(
        sent=sum(r.sent for r in results),
        received=sum(r.received for r in results),
        body_bytes=sum(r.body_bytes for r in results),
        window_s=sum(r.window_s for r in results),
        statuses=dict(statuses),
        socket_errors=dict(sockets),
        latency_us={k: max(r.latency_us[k] for r in results) for k in results[0].latency_us},
        steal_pct=max((r.steal_pct for r in results if r.steal_pct is not None), default=None),
    )


def _answer_checks(result: LoadResult) -> list[Check]:
    return [no_server_errors(result), every_request_answered(result)]
