"""Fuzzing as a user does it: `rakubun-harness up`, then the `schemathesis` command on the
spec the service serves, with the repository's schemathesis.toml (its hooks register a site
and find the admin token)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.support import REPO_ROOT
from harness.up import READY_LINE

STARTUP_SECONDS = 90
FUZZ_SECONDS = 600


@pytest.fixture
def harness_up(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`rakubun-harness up` as a process on a temp data dir; answers its harness.json."""
    data_dir = tmp_path / "harness"
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from harness.cli import main; main()",
            "up",
            "--data-dir",
            str(data_dir),
            "--api-port",
            "0",
            "--stripe-port",
            "0",
            "--plugin-port",
            "0",
        ],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        while True:
            try:
                line = lines.get(timeout=STARTUP_SECONDS)
            except queue.Empty:
                pytest.fail(f"no `{READY_LINE}` within {STARTUP_SECONDS}s:\n{''.join(output)}")
            if line is None:
                pytest.fail(f"`rakubun-harness up` exited ({process.wait()}):\n{''.join(output)}")
            if line.strip() == READY_LINE:
                break
        settings = json.loads((data_dir / "harness.json").read_text())
        yield {**settings, "data_dir": str(data_dir)}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_schemathesis_run_against_the_harness_passes(harness_up: dict[str, Any]) -> None:
    # What harness/README.md tells users to run: the contract the service serves, whose `servers`
    # names the service (no --url); a small budget and no randomness for CI. The coverage phase's
    # boundary cases (four fifths of a full run's cases) are left to test_schemathesis_stateless.py,
    # which sends them for every operation: here the command, the harness and the hooks are proved.
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{harness_up['api_url']}/api/v1/openapi.json",
        "--max-examples",
        "10",
        "--generation-deterministic",
        "--phases",
        "examples,fuzzing,stateful",
        "--no-color",
    ]
    env = {**os.environ, "RAKUBUN_HARNESS_DIR": harness_up["data_dir"]}
    env.pop("RAKUBUN_ADMIN_TOKEN", None)
    run = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=FUZZ_SECONDS
    )
    assert run.returncode == 0, f"{' '.join(command)}\n{run.stdout[-20000:]}\n{run.stderr[-5000:]}"
    assert f"Loaded specification from {harness_up['api_url']}/api/v1/openapi.json" in run.stdout
    # The hooks took part: a site registered for the run, admin calls let in.
    sites = httpx.get(
        f"{harness_up['api_url']}/api/v1/admin/sites?limit=200",
        timeout=10,
        headers={"Authorization": f"Bearer {harness_up['admin_token']}"},
    )
    assert sites.status_code == 200, sites.text
    # The fuzzer may release the hooks' instance (adminReleaseInstance, linked from the
    # instance_id it read): the released site names the id it held.
    held = [
        site["metadata"].get("released_instance_id") or site["instance_id"]
        for site in sites.json()["sites"]
    ]
    assert any(str(instance_id).startswith("contract-") for instance_id in held)
