"""The service as `up` runs it: a `rakubun-service` child process configured by environment."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

import aiohttp

from harness.errors import HarnessError, Interrupted
from harness.ports import HOST

PACKAGE_ROOT = Path(__file__).resolve().parent
PLUGIN_WEBHOOK_RETRY_DELAYS = "1,2,4,8,16,32,64,128"
#: The service echoes RAKUBUN_HARNESS_RUN in this header of /api/v1/health (see the README).
RUN_ENV = "RAKUBUN_HARNESS_RUN"
RUN_HEADER = "X-Rakubun-Harness-Run"


class ServiceProcess:
    """`rakubun-service` as a child process in its own process group, logging to a file.

    A random run token goes to the child in RAKUBUN_HARNESS_RUN; only a health answer that
    echoes it counts, so whatever else answers on the port is never taken for this service.
    """

    def __init__(
        self,
        *,
        port: int,
        workers: int,
        env: Mapping[str, str],
        log_path: Path,
        host: str = HOST,
        url_host: str = HOST,
    ) -> None:
        self.port = port
        self.url = f"http://{url_host}:{port}"
        self.command = [
            sys.executable,
            "-c",
            "from service.runtime.cli import main; main()",
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        self.run_token = secrets.token_urlsafe(16)
        self.env = {**env, RUN_ENV: self.run_token}
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, keep_fds: tuple[int, ...] = ()) -> None:
        """Start the child; `keep_fds` stay open in it (the data dir's lock, so that a service
        outliving a killed `up` still keeps the data dir from another `up`)."""
        # The log may show request bodies and settings: readable by its owner only.
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)  # a log from an earlier run may have been created 0644
        with os.fdopen(fd, "ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *self.command,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # our signal handler, not the terminal, stops it
                pass_fds=keep_fds,
            )

    @property
    def exited(self) -> bool:
        return self.process is None or self.process.returncode is not None

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.is_file():
            return "(no output)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:]) or "(no output)"

    async def wait_healthy(self, timeout: float, stopping: asyncio.Event) -> None:
        """Poll /api/v1/health until this run's service answers 200 (it echoes our token);
        fail with the log's tail if the service exits."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        health = f"{self.url}/api/v1/health"
        last = ""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while loop.time() < deadline:
                if stopping.is_set():
                    raise Interrupted()
                if self.exited:
                    raise HarnessError(
                        "service",
                        f"exited with status {self.process and self.process.returncode} "
                        f"before answering {health}; last lines of {self.log_path}:\n"
                        f"{self.log_tail()}",
                    )
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(health) as response:
                        ours = response.headers.get(RUN_HEADER) == self.run_token
                        if ours and response.status == 200:
                            return
                        last = f" (last answer: status {response.status})"
                        if response.status == 200:  # our service always sends the header
                            last = f" (another process answers there, without {RUN_HEADER})"
                await asyncio.sleep(0.1)
        raise HarnessError(
            "service",
            f"{health} did not answer 200 within {timeout:.0f}s{last}; last lines of "
            f"{self.log_path}:\n{self.log_tail()}",
        )

    async def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL for the whole group if it lingers."""
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        # Sanic's workers share the group; none may outlive their parent.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)


def service_environment(
    *,
    data_dir: Path,
    stripe_url: str,
    keys: Mapping[str, str],
    webhook_secret: str,
    rate_limit: int,
    mongodb_url: str | None,
) -> dict[str, str]:
    """The service's whole configuration: environment variables only."""
    env = dict(os.environ)
    env.pop("MONGODB_URL", None)  # the embedded store unless --mongodb-url says otherwise
    source_root = str(PACKAGE_ROOT.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, env.get("PYTHONPATH")]))
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "SQLITE_PATH": str((data_dir / "rakubun.sqlite3").resolve()),
            "STRIPE_API_BASE": stripe_url,
            "STRIPE_SECRET_KEY": keys["stripe_secret_key"],
            "STRIPE_PUBLIC_KEY": keys["stripe_publishable_key"],
            "STRIPE_WEBHOOK_SECRET": webhook_secret,
            "ADMIN_API_TOKEN": keys["admin_token"],
            "RATE_LIMIT_PER_MINUTE": str(rate_limit),
            "WEBHOOK_RETRY_DELAYS": PLUGIN_WEBHOOK_RETRY_DELAYS,
            # A local WordPress (and the simulator) listens on loopback or a private network.
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "1",
            # Every local site may read the provider keys, as before the approval policy.
            "PROVIDER_KEY_POLICY": "all",
        }
    )
    if mongodb_url:
        env["MONGODB_URL"] = mongodb_url
    return env
