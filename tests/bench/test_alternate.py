"""`python -m bench.alternate`: versions named on the command line, each service started from
its own checkout, loaded in turn."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.alternate import main, parse_version, process_cpu_seconds

REPO = Path(__file__).resolve().parents[2]

names = st.from_regex(r"[A-Z_][A-Z0-9_]{0,20}", fullmatch=True)
values = st.text(st.characters(blacklist_characters=",", blacklist_categories=("Cs",)), max_size=20)


@given(env=st.dictionaries(names, values, max_size=4))
def test_a_version_is_a_checkout_and_the_variables_its_service_adds(env: dict[str, str]) -> None:
    spec = str(REPO) + (":" + ",".join(f"{k}={v}" for k, v in env.items()) if env else "")
    version = parse_version(spec)
    assert version.checkout == REPO
    assert version.env == env
    assert version.label == spec


@pytest.mark.parametrize("spec", [f"{REPO}:NO_VALUE", f"{REPO}:=x", "/nonexistent", "/tmp:A=1"])
def test_a_version_that_is_not_one_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match=repr(spec)):
        parse_version(spec)


def test_cpu_seconds_cover_the_process_and_its_children() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        found = process_cpu_seconds(os.getpid())
    finally:
        child.kill()
        child.wait()
    assert {os.getpid(), child.pid} <= found.keys()
    assert found[os.getpid()] > 0  # this test process has run
    assert all(seconds >= 0 for seconds in found.values())


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_each_version_runs_its_own_checkout_and_is_loaded_each_round(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(REPO / "service", copy / "service")
    mark = tmp_path / "mark"
    with (copy / "service" / "__init__.py").open("a") as init:
        init.write('\nimport os\nopen(os.environ["ALTERNATE_MARK"], "w").write(__file__)\n')

    status = main(
        [str(REPO), f"{copy}:ALTERNATE_MARK={mark}", "--rounds", "2", "--duration", "1"]
        + ["--users", "5", "--concurrency", "4", "--worker-cpu-affinity", "off"]
    )

    out = capsys.readouterr().out
    assert status == 0, out
    assert mark.read_text() == str(copy / "service" / "__init__.py")
    rounds = [line for line in out.splitlines() if line.startswith("round ")]
    assert len(rounds) == 4
    assert sum(str(copy) in line for line in rounds) == 2
    assert all("workers' cpu s " in line and "workers' cpu s  " not in line for line in rounds)
    assert "medians:" in out and "(medians of 2; 0 errors)" in out


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_a_purchase_scenario_loads_the_fake_stripe_alone_too_and_reads_its_cpu(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each round loads the service, whose line adds the fake's CPU it caused, and the fake
    Stripe alone with the calls the service makes for the same requests."""
    status = main(
        [str(REPO), "--scenario", "create_intent", "--rounds", "2", "--duration", "1"]
        + ["--users", "5", "--concurrency", "4", "--worker-cpu-affinity", "off"]
    )

    out = capsys.readouterr().out
    assert status == 0, out
    rounds = [line for line in out.splitlines() if line.startswith("round ")]
    fake = [line for line in rounds if "fake Stripe" in line]
    service = [line for line in rounds if "fake Stripe" not in line]
    assert len(fake) == len(service) == 2
    assert all(" stripe " in line and "us/req" in line for line in service)
    assert not any(" stripe " in line for line in fake)
    assert out.count("(medians of 2; 0 errors)") == 2
