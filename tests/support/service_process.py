"""The one way the suites run `rakubun-service` as a child process: the installed console
script on 127.0.0.1, on a SQLite file, with the parent's environment minus the service's own
variables (`clean_env`), stopped with SIGTERM (SIGKILL only if it lingers).

For the service in this process, see `service.py`; `up`'s own launcher is
`harness/service_process.py`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from harness.ports import free_port

__all__ = [
    "SCRIPT",
    "clean_env",
    "free_port",
    "running_service_process",
    "start_json_logging_service",
    "start_service_process",
    "stop_service_process",
]

SCRIPT = Path(sys.executable).with_name("rakubun-service")
#: The prefixes of the variables the service reads: a test sets the ones it means.
SERVICE_VARIABLES = (
    "MONGODB_URL",
    "STRIPE_",
    "ADMIN_API_TOKEN",
    "SQLITE_",
    "RATE_LIMIT",
    "FREE_",
    "OPENAI_API_KEY",
    "NOVITA_API_KEY",
)
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def clean_env(**extra: str) -> dict[str, str]:
    """The parent's environment without the service's own variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SERVICE_VARIABLES)}
    env.update(extra)
    return env


def start_service_process(
    port: int, *args: str, workers: int = 1, env: dict[str, str], **popen: Any
) -> subprocess.Popen[str]:
    """`rakubun-service --workers N` on 127.0.0.1:`port` with `clean_env(**env)`; `args` are
    more options, `popen` says where its output goes (text)."""
    command = [str(SCRIPT), "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    return subprocess.Popen([*command, *args], env=clean_env(**env), text=True, **popen)


def start_json_logging_service(
    db: Path, port: int, workers: int, admin_token: str, **popen: Any
) -> subprocess.Popen[str]:
    """`rakubun-service --workers N` on 127.0.0.1:`port` and the SQLite file `db`: JSON log
    lines with the access log on, webhooks not dispatched; `popen` says where its output
    goes (text)."""
    env = {
        "SQLITE_PATH": str(db),
        "ADMIN_API_TOKEN": admin_token,
        "LOG_FORMAT": "json",
        "ACCESS_LOG": "1",
        "WEBHOOK_DISPATCH": "0",
    }
    return start_service_process(port, workers=workers, env=env, **popen)


def wait_until_healthy(
    url: str, process: subprocess.Popen[str], timeout: float = READY_TIMEOUT
) -> httpx.Response:
    """Poll `{url}/api/v1/health` until it answers 200; fail if the process exits first or
    time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"the service exited with {process.returncode}"
        assert time.monotonic() < deadline, "the service never answered"
        with contextlib.suppress(httpx.TransportError):
            health = httpx.get(f"{url}/api/v1/health", timeout=1)
            if health.status_code == 200:
                return health
        time.sleep(0.05)  # polling for the port to open, bounded by the deadline


def stop_service_process(process: subprocess.Popen[str], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM and wait; SIGKILL if it lingers past `timeout`."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running_service_process(
    process: subprocess.Popen[str], port: int
) -> Iterator[tuple[str, httpx.Response]]:
    """`process` (just started on `port`) once healthy: its URL and first health answer;
    stopped when the block ends."""
    url = f"http://127.0.0.1:{port}"
    try:
        yield url, wait_until_healthy(url, process)
    finally:
        stop_service_process(process)
