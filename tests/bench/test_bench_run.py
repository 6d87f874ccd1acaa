"""One configuration of `python -m bench` for real, shortened: the service, the baseline, the
sink and the fake Stripe as processes on 127.0.0.1, wrk replaying the loads. It checks how a
row is made of its pairs, not how fast anything is."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from bench.processes import fake_stripe_process
from bench.progress import Progress
from bench.run import STRIPE_SECRET_KEY, BenchOptions, ConfigRun, RunConfig

pytestmark = pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (Debian: apt-get install wrk)"
)

PAIRS = 2


async def test_each_pair_of_a_row_is_loaded_and_checked_and_the_overdrawn_user_refilled(
    tmp_path: Path,
) -> None:
    options = BenchOptions(
        duration=1,
        baseline_duration=1,
        overdraw_duration=1,
        pairs=PAIRS,
        concurrency=4,
        wrk_threads=1,
        users=5,
        synchronous=None,
        worker_cpu_affinity="off",
        only=("credits", "deduct_overdrawn"),
        work_dir=tmp_path / "work",
        log_dir=tmp_path / "logs",
    )
    options.work_dir.mkdir()
    options.log_dir.mkdir()
    out = io.StringIO()
    stripe = fake_stripe_process(
        secret_key=STRIPE_SECRET_KEY, log_path=options.log_dir / "fake-stripe.log"
    )
    stripe_url = await stripe.start()
    try:
        report = await ConfigRun(
            RunConfig("sqlite", 1), options, stripe_url, Progress(8, out)
        ).run()
    finally:
        await stripe.stop()

    assert report.error is None and report.ok, out.getvalue()
    credits, overdrawn = report.rows
    for row in report.rows:
        assert len(row.pairs) == PAIRS
        assert len(row.checks) == PAIRS * len(row.pairs[0].checks)
        assert all(p.service.received > 0 and p.baseline.received > 0 for p in row.pairs)
        assert row.median in row.pairs
    assert all(p.service.count(200) == p.service.received for p in credits.pairs)
    # Each pair spent the user's 50 credits to zero: the second pair found them refilled.
    for pair in overdrawn.pairs:
        assert pair.service.count(200) == 50, out.getvalue()
        assert pair.service.count(402) > 0
        assert any(c.name == "spent to zero, then 402" and c.ok for c in pair.checks)
    assert "credits, 500 users" not in out.getvalue() and "(2/2)" in out.getvalue()
