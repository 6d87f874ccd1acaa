"""The bench's pure parts: request rendering, wrk's result line, the correctness checks,
the baseline's body sizes and the table. Nothing here is timed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sanic.response import json as sanic_json

from bench import checks, scenarios, wrk
from bench.baseline_app import body_of_size, spare_cpus
from bench.cli import parse_args, plan_runs
from bench.instructions import collected, per_request
from bench.processes import baseline_process, sink_process
from bench.progress import Progress
from bench.report import COLUMNS, format_scaling, format_table, markdown_table, scaling, table_rows
from bench.run import BenchOptions, ConfigRun, Pair, Row, RunConfig, RunReport
from bench.service_api import BenchSite
from bench.wrk import (
    HttpRequest,
    LoadResult,
    WrkFailed,
    cpu_ticks,
    parse_wrk_output,
    request_file_bytes,
    steal_percent,
)
from service.flows import purchases


def load_result(
    statuses: dict[int, int],
    *,
    sent: int | None = None,
    window_s: float = 2.0,
    socket_errors: dict[str, int] | None = None,
) -> LoadResult:
    received = sum(statuses.values())
    return LoadResult(
        sent=received if sent is None else sent,
        received=received,
        body_bytes=received * 100,
        window_s=window_s,
        statuses=statuses,
        socket_errors=socket_errors or {"connect": 0, "read": 0, "write": 0, "timeout": 0},
        latency_us={"p50": 1500.0, "p90": 3000.0, "p99": 9000.0, "max": 12000.0, "mean": 1800.0},
    )


def balances(**article_by_user: int) -> dict[str, dict[str, int]]:
    return {
        user: {"article_credits": n, "image_credits": 10, "rewrite_credits": 3}
        for user, n in article_by_user.items()
    }


# --------------------------------------------------------------------------- requests
def test_a_post_renders_as_raw_http_with_its_length() -> None:
    request = HttpRequest(
        "POST",
        "/api/v1/users/deduct-credits",
        {"Content-Type": "application/json"},
        b'{"amount":1}',
    )
    raw = request.render("127.0.0.1:8000")
    assert raw == (
        b"POST /api/v1/users/deduct-credits HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
        b"Content-Type: application/json\r\nContent-Length: 12\r\n\r\n"
        b'{"amount":1}'
    )


def test_the_baseline_replays_the_same_request_on_another_path() -> None:
    request = HttpRequest("GET", "/api/v1/packages", {"User-Agent": "x"})
    assert request.render("h:1", "/json/300").startswith(b"GET /json/300 HTTP/1.1\r\nHost: h:1")


def test_the_request_file_is_length_prefixed_records() -> None:
    assert request_file_bytes([b"ab\ncd", b"e"]) == b"5\nab\ncd1\ne"


# --------------------------------------------------------------------------- wrk's result
def test_the_result_line_of_load_lua_is_parsed() -> None:
    line = {
        "sent": 10,
        "received": 9,
        "body_bytes": 900,
        "window_s": 2.0,
        "completed": 9,
        "statuses": {"200": 7, "402": 1, "503": 1},
        "socket_errors": {"connect": 0, "read": 1, "write": 0, "timeout": 0},
        "latency_us": {"p50": 1000, "p90": 2000, "p99": 5000, "max": 7000, "mean": 1200.5},
    }
    result = parse_wrk_output("Running 3s test\nBENCH_RESULT " + json.dumps(line) + "\n")
    assert result.statuses == {200: 7, 402: 1, 503: 1}
    assert result.requests_per_second == 4.5
    assert result.unanswered == 1
    assert result.server_errors == 1
    assert result.mean_body_bytes == 100
    # 503 unexpected, 1 socket error, 1 unanswered; 402 counts only when not expected
    assert result.errors(frozenset({200, 402})) == 3
    assert result.errors(frozenset({200})) == 4


def test_output_without_the_result_line_is_a_failure() -> None:
    with pytest.raises(WrkFailed):
        parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused\n")


# --------------------------------------------------------------------------- checks
def test_credits_removed_equal_successes_times_amount() -> None:
    check = checks.credits_removed(
        balances(a=100, b=50), balances(a=97, b=49), "article", successes=4, amount=1
    )
    assert check.ok, check.detail


def test_a_deduction_that_moved_more_credits_than_answered_fails() -> None:
    check = checks.credits_removed(
        balances(a=100), balances(a=95), "article", successes=4, amount=1
    )
    assert not check.ok
    assert "removed 5" in check.detail


def test_another_credit_type_moving_fails() -> None:
    after = balances(a=99)
    after["a"]["image_credits"] = 9
    assert not checks.credits_removed(balances(a=100), after, "article", 1, 1).ok


def test_a_negative_balance_fails() -> None:
    assert checks.no_negative_balance(balances(a=0, b=3)).ok
    assert not checks.no_negative_balance(balances(a=-1)).ok


def test_reconcile_fails_on_any_difference() -> None:
    assert checks.reconcile_ok({"ok": True, "balances_checked": 3, "differences": []}).ok
    assert not checks.reconcile_ok({"ok": False, "differences": [{"user_id": "1"}]}).ok


def test_five_hundreds_and_unanswered_requests_fail() -> None:
    assert checks.no_server_errors(load_result({200: 5})).ok
    assert not checks.no_server_errors(load_result({200: 5, 500: 1})).ok
    assert not checks.every_request_answered(load_result({200: 5}, sent=6)).ok
    assert not checks.every_request_answered(
        load_result({200: 5}, socket_errors={"connect": 0, "read": 2, "write": 0, "timeout": 0})
    ).ok


@pytest.mark.parametrize("kind", ["connect", "read", "write"])
def test_a_socket_error_that_loses_requests_fails_and_counts(kind: str) -> None:
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0, kind: 1}
    result = load_result({200: 5}, socket_errors=errors)
    assert not checks.every_request_answered(result).ok
    assert result.errors(frozenset({200})) == 1


def test_answers_wrk_could_not_time_are_not_losses() -> None:
    """wrk's timeout counter: answers timed across a step back of the wall clock."""
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 32}
    result = load_result({200: 5}, socket_errors=errors)
    check = checks.every_request_answered(result)
    assert check.ok and "32 answers untimed" in check.detail
    assert result.errors(frozenset({200})) == 0
    assert not checks.every_request_answered(load_result({200: 5}, sent=6, socket_errors=errors)).ok


@pytest.mark.parametrize("seconds", [1, 2, 8, 9, 30, 600])
def test_wrks_timeout_outlasts_the_whole_run(seconds: int) -> None:
    assert wrk.wrk_timeout(seconds) > seconds + wrk.GRACE_SECONDS
    assert wrk.wrk_timeout(seconds) >= wrk.WRK_TIMEOUT_SECONDS


@pytest.mark.skipif(
    shutil.which("wrk") is None or shutil.which("chrt") is None or not hasattr(os, "SCHED_BATCH"),
    reason="needs wrk, chrt (util-linux) and Linux's SCHED_BATCH",
)
def test_wrk_is_started_as_sched_batch_or_as_any_process() -> None:
    """What the prefix of `wrk_command("batch")` starts runs as SCHED_BATCH on this kernel."""
    batch, normal = wrk.wrk_command("batch"), wrk.wrk_command("normal")
    assert batch[-1] == wrk.wrk_path() and normal == [wrk.wrk_path()]
    policy = "import os; print(os.sched_getscheduler(0))"
    started = subprocess.run(
        [*batch[:-1], sys.executable, "-c", policy], capture_output=True, text=True, check=True
    )
    assert int(started.stdout) == os.SCHED_BATCH


def test_batch_scheduling_without_chrt_says_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_wrk = tmp_path / "wrk"
    fake_wrk.write_text("#!/bin/sh\n")
    fake_wrk.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))  # a wrk, and no chrt
    assert wrk.wrk_command("normal") == [str(fake_wrk)]
    with pytest.raises(wrk.WrkMissing, match="chrt .*--wrk-scheduling normal"):
        wrk.wrk_command("batch")
    with pytest.raises(ValueError, match="batch, normal"):
        wrk.wrk_command("idle")


def test_an_overdrawn_user_must_end_at_zero_with_refusals() -> None:
    assert checks.user_exhausted(balances(u=0), "u", "article", refusals=10).ok
    assert not checks.user_exhausted(balances(u=1), "u", "article", refusals=10).ok
    assert not checks.user_exhausted(balances(u=0), "u", "article", refusals=0).ok


# --------------------------------------------------------------------------- baseline
@pytest.mark.parametrize("size", [29, 30, 108, 3699])
def test_the_baseline_answers_exactly_the_size_asked(size: int) -> None:
    assert len(sanic_json(body_of_size(size)).body) == size


# --------------------------------------------------------------------------- report, options
def test_the_table_shows_the_ratio_to_the_baseline_and_failed_checks() -> None:
    row = Row(
        "credits",
        "GET /users/credits",
        frozenset({200}),
        [
            Pair(
                load_result({200: 4000}),
                load_result({200: 20000}),
                [checks.Check("reconcile", False, "1 differs")],
            )
        ],
    )
    report = RunReport(RunConfig("sqlite", 1), [row])
    table = format_table([report])
    assert "0.20" in table and "FAIL: reconcile" in table and "2000" in table
    header, _, line = table.splitlines()[1:4]
    assert line.split()[-7] == "9.0"  # the baseline's own p99, beside the service's
    assert "baseline p99 ms" in header
    assert markdown_table([report]).splitlines()[2].startswith("| sqlite, 1 worker | GET")
    assert not report.ok


def test_the_table_shows_the_steal_of_each_load_and_a_dash_where_unmeasured() -> None:
    row = Row(
        "packages",
        "GET /packages",
        frozenset({200}),
        [Pair(replace(load_result({200: 4000}), steal_pct=12.4), load_result({200: 8000}), [])],
    )
    table = format_table([RunReport(RunConfig("sqlite", 1), [row])])
    assert "steal %" in table.splitlines()[1]
    assert table.splitlines()[3].split()[-3] == "12/-"
    assert row.service.to_json()["cpu_steal_pct"] == 12.4
    assert "steal  12%" in row.service.summary()
    assert "steal" not in row.baseline.summary()


@given(
    st.lists(
        st.tuples(st.integers(1, 10_000), st.integers(1, 10_000), st.integers(0, 3)),
        min_size=1,
        max_size=7,
    )
)
def test_a_row_shows_its_median_pair_and_counts_every_pairs_checks_and_errors(
    loads: list[tuple[int, int, int]],
) -> None:
    pairs = [
        Pair(
            load_result({200: served, 500: failed}),
            load_result({200: base}),
            [checks.Check("no 5xx", failed == 0, f"{failed} answers were 5xx")],
        )
        for served, base, failed in loads
    ]
    row = Row("credits", "GET /users/credits", frozenset({200}), pairs)
    ratios = sorted(p.ratio for p in pairs)
    assert row.ratio == ratios[(len(ratios) - 1) // 2]  # the lower middle when even
    assert row.service is row.median.service and row.baseline is row.median.baseline
    assert row.median in pairs
    assert row.errors == sum(failed for _, _, failed in loads)
    assert row.ok == all(failed == 0 for _, _, failed in loads)
    data = row.to_json()
    assert data["pair_ratios"] == [round(p.ratio, 3) for p in pairs]
    assert pairs[data["median_pair"]].ratio == row.ratio
    assert len(data["pairs"]) == len(pairs) and len(data["checks"]) == len(pairs)
    (cells,) = table_rows(RunReport(RunConfig("sqlite", 1), [row]))
    shown = dict(zip(COLUMNS, cells, strict=True))
    assert shown["pair ratios"] == ",".join(f"{p.ratio:.2f}" for p in pairs)
    assert shown["ratio"] == f"{row.ratio:.2f}"
    assert shown["req/s"] == f"{row.median.service.requests_per_second:.0f}"


def one_pair_row(key: str, served: int, bare: int) -> Row:
    return Row(
        key,
        key.upper(),
        frozenset({200}),
        [Pair(load_result({200: served}), load_result({200: bare}), [])],
    )


def test_more_workers_are_set_against_the_first_run_of_their_store_beside_bare_sanic() -> None:
    one = RunReport(
        RunConfig("sqlite", 1),
        [one_pair_row("packages", 1000, 2000), one_pair_row("credits", 800, 2000)],
    )
    two = RunReport(
        RunConfig("sqlite", 2),
        [one_pair_row("credits", 1200, 3600), one_pair_row("webhooks", 5, 9)],
    )
    mongo = RunReport(RunConfig("mongodb", 1), [one_pair_row("credits", 400, 2000)])
    assert scaling([one, two, mongo]) == [("sqlite, 2 against 1", "CREDITS", 1.5, 1.8)]
    assert (
        format_scaling([one, two, mongo])
        == "sqlite, 2 against 1: CREDITS  1.50x (bare Sanic 1.80x)"
    )
    assert scaling([one, mongo]) == [] and format_scaling([one]) == ""


def stat_file(tmp_path: Path, steal: int, rest: int) -> Path:
    path = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice
    path.write_text(f"cpu  {rest} 0 0 0 0 0 0 {steal} 77 0\ncpu0 1 2 3\n")
    return path


@given(
    steal=st.lists(st.integers(0, 10**6), min_size=2, max_size=2).map(sorted),
    rest=st.lists(st.integers(0, 10**7), min_size=2, max_size=2).map(sorted),
)
def test_steal_is_the_hypervisors_share_of_the_cpu_time_between_two_readings(
    tmp_path_factory, steal: list[int], rest: list[int]
) -> None:
    folder = tmp_path_factory.mktemp("proc")
    before = cpu_ticks(stat_file(folder, steal[0], rest[0]))
    after = cpu_ticks(stat_file(folder, steal[1], rest[1]))
    assert before == (steal[0], steal[0] + rest[0])  # guest time is not counted twice
    elapsed = (steal[1] + rest[1]) - (steal[0] + rest[0])
    if elapsed == 0:
        assert steal_percent(before, after) is None
    else:
        assert steal_percent(before, after) == pytest.approx(100 * (steal[1] - steal[0]) / elapsed)


def test_no_proc_stat_means_no_steal_figure(tmp_path: Path) -> None:
    assert cpu_ticks(tmp_path / "missing") is None
    (tmp_path / "odd").write_text("intr 1 2 3\n")
    assert cpu_ticks(tmp_path / "odd") is None
    assert steal_percent(None, (1, 2)) is None


def test_quick_shortens_every_load() -> None:
    args = parse_args(["--quick"])
    assert (args.duration, args.baseline_duration, args.users, args.pairs) == (2, 1, 50, 1)
    defaults = parse_args([])
    assert (defaults.duration, defaults.baseline_duration, defaults.pairs) == (6, 3, 3)
    assert defaults.wrk_scheduling == "batch"
    assert parse_args(["--wrk-scheduling", "normal"]).wrk_scheduling == "normal"
    with pytest.raises(SystemExit):
        parse_args(["--pairs", "0"])


def test_unknown_scenarios_are_refused() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--only", "credits,nope"])
    assert parse_args(["--only", "credits"]).only == ("credits",)


def test_the_mongodb_variant_runs_only_with_a_url() -> None:
    runs, skipped = plan_runs(2, None)
    assert [(r.store, r.workers) for r in runs] == [("sqlite", 1), ("sqlite", 2)]
    assert skipped and "MONGODB_URL" in skipped[0]
    runs, skipped = plan_runs(1, "mongodb://db")
    assert [(r.store, r.workers) for r in runs] == [("sqlite", 1), ("mongodb", 1)]
    assert not skipped


@given(st.sets(st.integers(0, 63), min_size=1, max_size=16), st.integers(1, 20))
def test_the_sink_keeps_off_the_cpus_pinned_workers_take(cpus: set[int], workers: int) -> None:
    spare = spare_cpus(cpus, workers)
    if workers < len(cpus):  # `auto` pins worker i to the i-th CPU: the sink takes the rest
        assert spare == set(sorted(cpus)[workers:])
        assert not spare & set(sorted(cpus)[:workers])
    else:  # no worker is pinned: the sink may run anywhere
        assert spare == cpus


@pytest.mark.parametrize(("policy", "expected"), [("auto", "spare"), ("off", "off")])
def test_the_sink_is_one_process_pinned_away_only_from_pinned_workers(
    tmp_path: Path, policy: str, expected: str
) -> None:
    command = sink_process(service_workers=2, log_path=tmp_path / "sink.log", cpu_affinity=policy)
    args = command.command
    assert args[args.index("--cpu-affinity") + 1] == expected
    assert args[args.index("--workers") + 1] == "1"
    assert args[args.index("--service-workers") + 1] == "2"


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity is Linux's")
async def test_the_running_sink_answers_and_holds_the_spare_cpus(tmp_path: Path) -> None:
    sink = sink_process(service_workers=1, log_path=tmp_path / "sink.log", cpu_affinity="auto")
    await sink.start()
    try:
        assert sink.process is not None
        assert os.sched_getaffinity(sink.process.pid) == spare_cpus(os.sched_getaffinity(0), 1)
        async with httpx.AsyncClient() as http:
            answer = await http.post(sink.url + "/wp-admin/admin-ajax.php", content=b"{}")
        assert answer.status_code == 200
    finally:
        await sink.stop()


@pytest.mark.parametrize("workers", [1, 2])
def test_the_baseline_is_never_pinned_even_when_the_service_is(
    tmp_path: Path, workers: int
) -> None:
    """The ratio's denominator is bare Sanic at its best on the machine: with the service's
    workers pinned (`--worker-cpu-affinity auto`), the baseline still runs unpinned."""
    options = BenchOptions(
        duration=1,
        baseline_duration=1,
        overdraw_duration=1,
        pairs=1,
        concurrency=1,
        wrk_threads=1,
        users=1,
        synchronous=None,
        worker_cpu_affinity="auto",
        only=("credits",),
        work_dir=tmp_path / "work",
        log_dir=tmp_path / "logs",
    )
    run = ConfigRun(RunConfig("sqlite", workers), options, "http://127.0.0.1:9", Progress(1))
    assert run.env["WORKER_CPU_AFFINITY"] == "auto"
    args = run.baseline.command
    assert args[args.index("--cpu-affinity") + 1] == "off"
    assert args[args.index("--workers") + 1] == str(workers)


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity is Linux's")
async def test_the_running_baseline_has_every_cpu_and_default_scheduling(tmp_path: Path) -> None:
    baseline = baseline_process(workers=1, log_path=tmp_path / "baseline.log")
    await baseline.start()
    try:
        assert baseline.process is not None
        assert os.sched_getaffinity(baseline.process.pid) == os.sched_getaffinity(0)
        assert os.sched_getscheduler(baseline.process.pid) == os.SCHED_OTHER
        async with httpx.AsyncClient() as http:
            answer = await http.get(baseline.url + "/json/100")
        assert answer.status_code == 200 and len(answer.content) == 100
    finally:
        await baseline.stop()


# --------------------------------------------------------------------------- purchases vs Stripe
BENCH_SITE = BenchSite("site_b", "inst-b", "tok", "http://127.0.0.1:9")


def sdk_form(params: Mapping[str, Any]) -> bytes:
    """The SDK's own encoding of a call's params (stripe/_api_requestor.py)."""
    from stripe._encode import _api_encode

    return urlencode(list(_api_encode(params))).encode()


@pytest.mark.parametrize(
    ("build", "service_path", "stripe_path"),
    [
        (scenarios.checkout_sessions, "/api/v1/checkout/sessions", "/v1/checkout/sessions"),
        (scenarios.payment_intents, "/api/v1/payments/create-intent", "/v1/payment_intents"),
    ],
)
def test_a_purchase_scenario_sends_the_services_own_stripe_call_to_the_fake(
    build: Any, service_path: str, stripe_path: str
) -> None:
    scenario = build(BENCH_SITE, [7, 8], "sk_test_bench")
    assert [r.path for r in scenario.requests] == [service_path] * 2
    assert [r.path for r in scenario.stripe_reference] == [stripe_path] * 2
    assert "fake Stripe" in scenario.title and stripe_path in scenario.reference_title
    request, call = scenario.requests[0], scenario.stripe_reference[0]
    assert call.headers["Authorization"] == "Bearer sk_test_bench"
    body = json.loads(request.body or b"")
    package = scenarios.purchase_package()
    site = scenarios.service_site(BENCH_SITE)
    params = (
        purchases.checkout_session_params(site, "7", body["user_email"], package, body)
        if stripe_path == "/v1/checkout/sessions"
        else purchases.payment_intent_params(site, "7", body["user_email"], package)
    )
    assert call.body == sdk_form(params)  # byte for byte what the service's SDK sends
    fields = parse_qs((call.body or b"").decode())
    assert fields["metadata[user_id]"] == ["7"] and fields["metadata[site_id]"] == ["site_b"]
    assert parse_qs((scenario.stripe_reference[1].body or b"").decode())["metadata[user_id]"] == [
        "8"
    ]


SCALARS = st.one_of(st.integers(), st.text(max_size=5), st.none())
KEYS = st.text("abc_", min_size=1, max_size=3)
# Params as calls have them: dicts of scalars, booleans, dicts and lists of numbers, text or
# dicts (the SDK writes a None or a boolean inside a list as Python spells it; no call has one).
PARAMS = st.deferred(
    lambda: st.dictionaries(
        KEYS,
        st.one_of(
            SCALARS,
            st.booleans(),
            PARAMS,
            st.lists(st.one_of(st.integers(), st.text(max_size=5), PARAMS), max_size=3),
        ),
        max_size=3,
    )
)


@given(PARAMS)
def test_the_benchs_form_encoding_is_the_sdks(params: dict[str, Any]) -> None:
    assert scenarios.stripe_form(params) == sdk_form(params)


def test_the_fake_stripes_load_passes_only_when_every_call_is_a_200() -> None:
    assert checks.stripe_reference_ok(load_result({200: 500})).ok
    assert not checks.stripe_reference_ok(load_result({200: 499, 500: 1})).ok
    assert not checks.stripe_reference_ok(load_result({200: 499, 429: 1})).ok
    assert not checks.stripe_reference_ok(load_result({200: 500}, sent=501)).ok


async def test_a_purchase_scenarios_second_load_is_the_fake_stripe(tmp_path: Path) -> None:
    options = BenchOptions(1, 1, 1, 1, 32, 1, 10, None, "off", ("checkout",), tmp_path, tmp_path)
    run = ConfigRun(RunConfig("sqlite", 1), options, "http://127.0.0.1:7001", Progress(1))
    loads: list[tuple[str, list[bytes]]] = []

    async def fake_load(url: str, raw: list[bytes], seconds: int, name: str) -> LoadResult:
        loads.append((url, raw))
        return load_result({200: 10})

    run._load = fake_load  # type: ignore[method-assign]
    checkout = scenarios.checkout_sessions(BENCH_SITE, [1], "sk_test_bench")
    await run._second_load(checkout, load_result({200: 10}), "checkout-0", "")
    credits = scenarios.user_credits(BENCH_SITE, [1])
    await run._second_load(credits, load_result({200: 10}), "credits-0", "")
    (stripe_url, stripe_raw), (bare_url, bare_raw) = loads
    assert stripe_url == "http://127.0.0.1:7001"
    assert stripe_raw[0].startswith(b"POST /v1/checkout/sessions HTTP/1.1\r\nHost: 127.0.0.1:7001")
    assert bare_url == run.baseline.url and bare_raw[0].startswith(b"GET /json/100 ")
    row = Row("checkout", checkout.title, checkout.expected, [], checkout.reference_title)
    assert row.compared_with == checkout.reference_title
    assert Row("credits", "GET", frozenset({200}), []).compared_with == "bare Sanic"


def test_instructions_reads_callgrinds_last_total_and_divides_per_request() -> None:
    log = (
        "[INFO] Starting worker\n==4455== Events    : Ir\n==4455== Collected : 3784367701\n"
        "==4460== Collected : 6320652372\n\n==4460== I   refs:      6,320,652,372\n"
    )
    assert collected(log) == 6320652372
    assert per_request(6320652372, 3784367701, 2000) == pytest.approx(1268142.3355)
    with pytest.raises(ValueError, match="no callgrind total"):
        collected("[INFO] Goodbye\n")
