"""The child processes a bench run needs: the service, the baseline app, the fake Stripe.

Each runs in its own process group, logs to a file in the run's temp dir, and is stopped
with SIGTERM (then SIGKILL for the whole group, so no Sanic worker outlives its parent).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness.ports import free_port

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent


class ProcessFailed(RuntimeError):
    """A child process exited, or never answered its readiness URL."""


class ChildProcess:
    """One server as a child process, ready once `ready_path` answers 200."""

    def __init__(
        self,
        name: str,
        command: list[str],
        *,
        port: int,
        ready_path: str,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path = REPO_ROOT,
    ) -> None:
        self.name = name
        self.cwd = cwd
        self.command = command
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.ready_path = ready_path
        self.log_path = log_path
        self.env = dict(env if env is not None else os.environ)
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self, timeout: float = 30.0) -> str:
        """Start the process and wait until it answers; answers its base url."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        await self._wait_ready(timeout)
        return self.url

    async def _wait_ready(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with httpx.AsyncClient(timeout=2) as http:
            while loop.time() < deadline:
                if self.process is None or self.process.poll() is not None:
                    raise ProcessFailed(
                        f"{self.name} exited before answering; "
                        f"last lines of {self.log_path}:\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(self.url + self.ready_path)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise ProcessFailed(
            f"{self.name} did not answer {self.ready_path} within "
            f"{timeout:.0f}s; last lines of {self.log_path}:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.is_file():
            return "(no output)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    async def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL for the whole group if it lingers."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while process.poll() is None and loop.time() < deadline:
                await asyncio.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        self.process = None


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def service_process(*, workers: int, env: Mapping[str, str], log_path: Path) -> ChildProcess:
    """`rakubun-service` on a free port, configured by `env` only."""
    port = free_port()
    command = [
        sys.executable,
        "-c",
        "from service.runtime.cli import main; main()",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "WARNING",
    ]
    return ChildProcess(
        "service", command, port=port, ready_path="/api/v1/health", log_path=log_path, env=env
    )


def baseline_process(*, workers: int, log_path: Path) -> ChildProcess:
    """The bare Sanic app of `bench.baseline_app` on a free port: never pinned, default
    scheduling, so the ratio's denominator is bare Sanic at its best on the machine."""
    return _baseline_app("baseline", log_path, "--workers", str(workers), "--cpu-affinity", "off")


def sink_process(
    *, service_workers: int, log_path: Path, cpu_affinity: str = "off"
) -> ChildProcess:
    """The WordPress site the service's plugin webhooks go to: `bench.baseline_app` again, one
    process, kept off the CPUs the service's pinned workers use (with `cpu_affinity` auto;
    unpinned with off): in production the site is another machine."""
    return _baseline_app(
        "WordPress sink",
        log_path,
        "--workers",
        "1",
        "--cpu-affinity",
        "spare" if cpu_affinity == "auto" else "off",
        "--service-workers",
        str(service_workers),
    )


def _baseline_app(name: str, log_path: Path, *args: str) -> ChildProcess:
    port = free_port()
    command = python_module("bench.baseline_app", "--port", str(port), *args)
    return ChildProcess(name, command, port=port, ready_path="/health", log_path=log_path)


def fake_stripe_process(
    *, secret_key: str, log_path: Path, data_dir: Path | None = None
) -> ChildProcess:
    """The harness's fake Stripe, in its own process so it has its own interpreter lock."""
    port = free_port()
    command = python_module(
        "bench.fake_stripe_process", "--port", str(port), "--secret-key", secret_key
    )
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    return ChildProcess(
        "fake Stripe", command, port=port, ready_path="/_harness/faults", log_path=log_path
    )


def localstripe_process(*, state_dir: Path, log_path: Path) -> ChildProcess:
    """localstripe (a bench-only extra) on 127.0.0.1, its pickle kept in `state_dir`."""
    port = free_port()
    command = python_module(
        "bench.localstripe_process", "--port", str(port), "--state-dir", str(state_dir)
    )
    return ChildProcess(
        "localstripe", command, port=port, ready_path="/js.stripe.com/v3/", log_path=log_path
    )


# Starts a checkout's service: this layout's entry point, or an older checkout's (`../before`).
SERVICE_MAIN = (
    "try:\n    from service.runtime.cli import main\n"
    "except ImportError:\n    from service.cli import main\n"
    "main()"
)


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
    if not (checkout / "service" / "settings.py").is_file():
        raise ValueError(f"{spec!r}: {checkout} is not a checkout of this repository")
    return Version(checkout, env, spec)


def parse_versions_or_exit(parser: argparse.ArgumentParser, specs: list[str]) -> list[Version]:
    """Each of `specs` as `parse_version` reads it; a bad one ends the program with the
    parser's usage error."""
    try:
        return [parse_version(spec) for spec in specs]
    except ValueError as exc:
        parser.error(str(exc))


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
