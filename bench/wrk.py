"""One load: pre-built requests in, a `LoadResult` out, measured by wrk and `load.lua`.

The Lua script stops sending at the deadline and wrk runs one grace second more, so every
request sent is answered inside the run: `sent == received` makes the counts exact.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

LUA_SCRIPT = Path(__file__).with_name("load.lua")
RESULT_PREFIX = "BENCH_RESULT "
GRACE_SECONDS = 1
#: wrk's `--timeout`, at least: it is raised to outlast the whole run (see `wrk_timeout`).
WRK_TIMEOUT_SECONDS = 10


def wrk_timeout(seconds: int) -> int:
    """wrk's `--timeout` for a load of `seconds`: longer than the whole run, so no answer
    inside the run can exceed it (a later one is unanswered, which the checks count).

    wrk times each request with `gettimeofday`; an answer whose wall-clock time went
    backwards while it was in flight (a clock step on the VM) comes out as a huge latency,
    and wrk counts it as a timeout (wrk 4.1, `stats_record` refusing it). With this timeout,
    wrk's timeout counter counts only those: answers, not lost requests."""
    return max(WRK_TIMEOUT_SECONDS, seconds + GRACE_SECONDS + 1)


#: How wrk is scheduled beside the servers it loads (`--wrk-scheduling`; see `wrk_command`).
SCHEDULING = ("batch", "normal")


class WrkMissing(RuntimeError):
    """wrk is not installed (Debian: `apt-get install wrk`), or `chrt` to start it with."""


class WrkFailed(RuntimeError):
    """wrk exited without the script's result line."""


@dataclass(frozen=True)
class HttpRequest:
    """One request of a scenario, before it is rendered for a given host."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    def render(self, host: str, path: str | None = None) -> bytes:
        """The raw HTTP/1.1 bytes wrk sends (keep-alive is HTTP/1.1's default)."""
        lines = [f"{self.method} {path or self.path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if self.body is not None:
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + (self.body or b"")


def request_file_bytes(raw_requests: Sequence[bytes]) -> bytes:
    """The records `load.lua` reads: "<length>\\n<raw request>" each."""
    return b"".join(b"%d\n%s" % (len(raw), raw) for raw in raw_requests)


@dataclass(frozen=True)
class LoadResult:
    """What one wrk run saw. Latencies in microseconds, as wrk reports them."""

    sent: int
    received: int
    body_bytes: int
    window_s: float
    statuses: dict[int, int]
    socket_errors: dict[str, int]
    latency_us: dict[str, float]
    #: The machine's CPU time taken by the hypervisor during the load, in % (None off Linux).
    steal_pct: float | None = None

    @property
    def requests_per_second(self) -> float:
        return self.received / self.window_s if self.window_s > 0 else 0.0

    @property
    def mean_body_bytes(self) -> int:
        return round(self.body_bytes / self.received) if self.received else 0

    @property
    def unanswered(self) -> int:
        return max(0, self.sent - self.received)

    def count(self, *statuses: int) -> int:
        return sum(self.statuses.get(s, 0) for s in statuses)

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s >= 500)

    @property
    def lost_to_sockets(self) -> int:
        """Socket errors that lose requests: connect, read and write. wrk's timeouts are
        answers it could not time (see `wrk_timeout`), not losses."""
        return sum(n for kind, n in self.socket_errors.items() if kind != "timeout")

    @property
    def untimed(self) -> int:
        """Answers wrk could not time: the wall clock stepped back while they were in flight."""
        return self.socket_errors.get("timeout", 0)

    def errors(self, expected: frozenset[int]) -> int:
        """Unexpected statuses, socket errors and requests left unanswered."""
        unexpected = sum(n for s, n in self.statuses.items() if s not in expected)
        return unexpected + self.lost_to_sockets + self.unanswered

    def summary(self) -> str:
        """The progress line's figures: throughput, p99, and the steal when it was measured."""
        text = f"{self.requests_per_second:8.0f} req/s  p99 {self.latency_us['p99'] / 1000:6.1f} ms"
        return text if self.steal_pct is None else f"{text}  steal {self.steal_pct:3.0f}%"

    def to_json(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "received": self.received,
            "window_s": self.window_s,
            "mean_body_bytes": self.mean_body_bytes,
            "requests_per_second": round(self.requests_per_second, 1),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "socket_errors": self.socket_errors,
            "latency_us": self.latency_us,
            "cpu_steal_pct": None if self.steal_pct is None else round(self.steal_pct, 1),
        }


def parse_wrk_output(stdout: str) -> LoadResult:
    """The `BENCH_RESULT {...}` line that `load.lua`'s done() prints."""
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            data = json.loads(line[len(RESULT_PREFIX) :])
            return LoadResult(
                sent=int(data["sent"]),
                received=int(data["received"]),
                body_bytes=int(data["body_bytes"]),
                window_s=float(data["window_s"]),
                statuses={int(k): int(v) for k, v in data["statuses"].items()},
                socket_errors={k: int(v) for k, v in data["socket_errors"].items()},
                latency_us={k: float(v) for k, v in data["latency_us"].items()},
            )
    raise WrkFailed(f"no {RESULT_PREFIX.strip()} line in wrk's output:\n{stdout[-2000:]}")


def cpu_ticks(stat: Path = Path("/proc/stat")) -> tuple[int, int] | None:
    """(steal, total) clock ticks of all the machine's CPUs since boot, from Linux's
    `/proc/stat`; None where there is no such file."""
    try:
        fields = stat.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal (guest time is inside user and nice)
    values = [int(v) for v in fields[1:9]]
    return values[7], sum(values)


def steal_percent(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """The share of the CPU time between two `cpu_ticks` that the hypervisor gave to others:
    on a shared VM, a load with a high steal measured a slower machine."""
    if before is None or after is None or after[1] <= before[1]:
        return None
    return 100.0 * (after[0] - before[0]) / (after[1] - before[1])


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise WrkMissing("wrk is not installed; on Debian: apt-get install wrk")
    return path


def wrk_command(scheduling: str) -> list[str]:
    """The command that starts wrk: under `chrt --batch 0` for `batch`, as is for `normal`.

    On 2 cores wrk shares the CPUs with the servers it loads (in production the clients are
    other machines). As any process, wrk woken by an answer preempts the worker running on
    that CPU; as SCHED_BATCH it does not, and runs when a CPU is free or at the running
    task's tick. Bare Sanic and the service are loaded the same way (bench/README.md,
    "Reading the figures"; `--wrk-scheduling normal` measures the other way)."""
    if scheduling not in SCHEDULING:
        raise ValueError(f"wrk scheduling is one of {', '.join(SCHEDULING)}, not {scheduling!r}")
    wrk = wrk_path()
    if scheduling == "normal":
        return [wrk]
    chrt = shutil.which("chrt")
    if chrt is None:
        raise WrkMissing(
            "chrt is not installed (Debian: util-linux), or use --wrk-scheduling normal"
        )
    return [chrt, "--batch", "0", wrk]


async def run_wrk(
    url: str,
    raw_requests: Sequence[bytes],
    *,
    seconds: int,
    connections: int,
    threads: int,
    work_dir: Path,
    name: str,
    scheduling: str,
    on_tick: Callable[[float], None] | None = None,
) -> LoadResult:
    """Replay `raw_requests` round-robin against `url` for `seconds`, then collect; wrk
    scheduled as `scheduling` says (`wrk_command`)."""
    request_file = work_dir / f"{name}.requests"
    request_file.write_bytes(request_file_bytes(raw_requests))
    threads = max(1, min(threads, connections))
    command = [
        *wrk_command(scheduling),
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{seconds + GRACE_SECONDS}s",
        "--timeout",
        f"{wrk_timeout(seconds)}s",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(request_file),
        str(seconds),
        str(threads),
    ]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    ticks = cpu_ticks()
    loop = asyncio.get_running_loop()
    started = loop.time()
    communicate = asyncio.ensure_future(process.communicate())
    while not communicate.done():
        await asyncio.wait({communicate}, timeout=0.5)
        if on_tick is not None:
            on_tick(loop.time() - started)
    stdout, _ = communicate.result()
    steal = steal_percent(ticks, cpu_ticks())
    text = stdout.decode(errors="replace")
    if process.returncode != 0:
        raise WrkFailed(f"wrk exited with {process.returncode}:\n{text[-2000:]}")
    return replace(parse_wrk_output(text), steal_pct=steal)
