"""WORKER_CPU_AFFINITY: which CPU a worker takes, and that every thread of the worker, those
already running and those started later, stays on it (checked in a child process, so the
test runner itself is never pinned)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from service.runtime.cpu_affinity import pin_worker, worker_cpu, worker_index
from service.settings import Settings

linux_only = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux-only"
)

CHILD = """
import json, os, sys, threading
from service.runtime.cpu_affinity import pin_worker

started = threading.Event()
stop = threading.Event()
before = threading.Thread(target=lambda: (started.set(), stop.wait()))
before.start()
started.wait()
cpu = pin_worker(sys.argv[1], int(sys.argv[3]), sys.argv[2] or None)
after = threading.Thread(target=stop.wait)
after.start()
affinity = {
    name: sorted(os.sched_getaffinity(thread.native_id))
    for name, thread in (("main", threading.main_thread()), ("before", before), ("after", after))
}
stop.set()
print(json.dumps({"cpu": cpu, "affinity": affinity}))
"""


def run_child(policy: str, worker_name: str = "", workers: int = 1) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, policy, worker_name, str(workers)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout)


@given(i=st.integers(min_value=0, max_value=10_000), j=st.integers(min_value=0, max_value=99))
def test_the_worker_index_comes_from_sanics_worker_name(i: int, j: int) -> None:
    assert worker_index(f"Sanic-Server-{i}-{j}") == i


@pytest.mark.parametrize("name", [None, "", "Sanic-Main", "Sanic-Server-x-0", "Server-3-0"])
def test_a_process_without_a_worker_name_is_worker_zero(name: str | None) -> None:
    assert worker_index(name) == 0


cpu_sets = st.sets(st.integers(min_value=0, max_value=255), min_size=1, max_size=64)


@given(cpus=cpu_sets, data=st.data())
def test_worker_i_of_fewer_workers_than_cpus_gets_the_ith_cpu(cpus: set[int], data) -> None:
    workers = data.draw(st.integers(min_value=1, max_value=max(1, len(cpus) - 1)))
    worker = data.draw(st.integers(min_value=0, max_value=workers - 1))
    expected = sorted(cpus)[worker] if workers < len(cpus) else None
    assert worker_cpu("auto", workers, cpus, f"Sanic-Server-{worker}-0") == expected


@given(
    cpus=cpu_sets,
    workers=st.integers(min_value=2, max_value=300),
    name=st.one_of(st.none(), st.sampled_from(["", "Sanic-Main", "Server-3-0"]), st.text()),
)
def test_the_main_process_of_several_workers_pins_nothing(
    cpus: set[int], workers: int, name: str | None
) -> None:
    """Sanic builds the app in its main process too; pinned, it would hand its one CPU to
    every worker it starts (they inherit its affinity)."""
    assume(not re.match(r"Sanic-Server-\d+-", name or ""))  # a worker's: the other test's case
    assert worker_cpu("auto", workers, cpus, name) is None


@given(cpus=cpu_sets, workers=st.integers(min_value=1, max_value=300), name=st.text())
def test_as_many_workers_as_cpus_or_off_pins_nothing(
    cpus: set[int], workers: int, name: str
) -> None:
    assert worker_cpu("off", workers, cpus, name) is None
    if workers >= len(cpus):
        assert worker_cpu("auto", workers, cpus, name) is None


@given(cpus=cpu_sets.filter(lambda cpus: len(cpus) > 1))
def test_a_single_process_takes_the_first_cpu(cpus: set[int]) -> None:
    assert worker_cpu("auto", 1, cpus, None) == min(cpus)


def test_off_pins_nothing() -> None:
    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    assert pin_worker("off", 1, "Sanic-Server-1-0") is None
    if before is not None:
        assert os.sched_getaffinity(0) == before


@linux_only
@pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2 if hasattr(os, "sched_getaffinity") else True,
    reason="pinning needs a CPU left free: this machine lets the tests use one CPU",
)
@pytest.mark.parametrize("worker", [0, 1, 2, 3])
def test_auto_keeps_every_thread_of_worker_i_on_the_ith_cpu(worker: int) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    expected = cpus[worker % len(cpus)]
    answer = run_child("auto", f"Sanic-Server-{worker}-0", workers=len(cpus) - 1)
    assert answer["cpu"] == expected
    assert answer["affinity"] == {name: [expected] for name in ("main", "before", "after")}


@linux_only
def test_auto_pins_nothing_when_the_workers_take_every_cpu() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    answer = run_child("auto", "Sanic-Server-0-0", workers=len(cpus))
    assert answer["cpu"] is None
    assert answer["affinity"] == {name: cpus for name in ("main", "before", "after")}


@linux_only
def test_off_leaves_the_threads_where_the_scheduler_puts_them() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    answer = run_child("off", "Sanic-Server-1-0")
    assert answer["cpu"] is None
    assert answer["affinity"] == {name: cpus for name in ("main", "before", "after")}


@pytest.mark.parametrize(("raw", "expected"), [("", "off"), ("auto", "auto"), ("AUTO", "auto")])
def test_the_setting(raw: str, expected: str) -> None:
    assert Settings.from_env({"WORKER_CPU_AFFINITY": raw}).worker_cpu_affinity == expected


def test_an_unknown_policy_stops_start_up_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="WORKER_CPU_AFFINITY must be off or auto"):
        Settings.from_env({"WORKER_CPU_AFFINITY": "all"})


HELPERS_CHILD = """
import asyncio, json, logging, os, sys, tempfile
from service.runtime.observability import configure_logging
from service.settings import Settings
from service.store.sqlite import SQLiteStore

policies = {}


class Stderr:
    def write(self, text):
        policies.setdefault("log writer", os.sched_getscheduler(0))

    def flush(self):
        pass


sys.stderr = Stderr()
configure_logging(Settings.from_env({}))
logging.getLogger("test").warning("written on the log writer's thread")


async def main():
    store = SQLiteStore(os.path.join(tempfile.mkdtemp(), "s.sqlite3"))
    await store.open()
    policies["store reader"] = await store.reader.call(os.sched_getscheduler, 0)
    policies["store writer"] = await store.writer.call(os.sched_getscheduler, 0)
    policies["event loop"] = os.sched_getscheduler(0)
    await store.close()


asyncio.run(main())
logging.shutdown()
from service.runtime.observability import _stop_listener
_stop_listener()
print(json.dumps(policies))
"""


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="SCHED_BATCH is Linux-only")
def test_the_helper_threads_wait_for_the_event_loops_turn_and_the_loop_and_writer_do_not() -> None:
    done = subprocess.run(
        [sys.executable, "-c", HELPERS_CHILD], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "store reader": os.SCHED_BATCH,
        "store writer": os.SCHED_OTHER,  # it may hold the lock other workers wait on
        "log writer": os.SCHED_BATCH,
        "event loop": os.SCHED_OTHER,
    }
