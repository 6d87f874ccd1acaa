"""`up` writes the service's output to service.log, readable by its owner only (0600)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.service_process import ServiceProcess


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


async def run_logged(log_path: Path, text: str) -> None:
    """Run a stand-in child (it prints one line) the way `up` runs the service."""
    process = ServiceProcess(port=0, workers=1, env=dict(os.environ), log_path=log_path)
    process.command = [sys.executable, "-c", f"print({text!r})"]
    await process.start()
    assert process.process is not None
    assert await process.process.wait() == 0


async def test_the_service_log_is_created_0600(tmp_path: Path, permissive_umask: None) -> None:
    log_path = tmp_path / "service.log"
    await run_logged(log_path, "first run")

    assert log_path.stat().st_mode & 0o777 == 0o600
    assert log_path.read_text() == "first run\n"


async def test_an_older_world_readable_log_is_tightened_and_appended_to(
    tmp_path: Path, permissive_umask: None
) -> None:
    log_path = tmp_path / "service.log"
    log_path.write_text("earlier run\n")
    log_path.chmod(0o644)

    await run_logged(log_path, "next run")

    assert log_path.stat().st_mode & 0o777 == 0o600
    assert log_path.read_text() == "earlier run\nnext run\n"
