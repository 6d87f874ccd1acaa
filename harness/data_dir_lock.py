"""One `up` per data dir: an exclusive `flock` on `<data_dir>/up.lock`, held while `up` runs.

Invariant: nothing in a data dir (the fake Stripe's journal, the database, harness.json, the
simulator's options) is opened for writing by `up` before it holds the lock, so a second `up`
on the same dir is refused before it can compact or overwrite anything. The kernel drops the
lock when its holders exit, however they exit, so a lock is never stale; `up`'s service
inherits the descriptor, so a service outliving a killed `up` still holds it. The file's body
(JSON: pid, service_pid, started_at, urls) only tells a refused `up` where the running one is.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

LOCK_FILE = "up.lock"


class DataDirBusy(HarnessError):
    """Another `up` holds the data dir's lock."""


class DataDirLock:
    """The data dir's lock, held from `acquire()` until `release()` (or this process's exit)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_FILE
        self._fd = -1

    @property
    def held(self) -> bool:
        return self._fd >= 0

    @property
    def fileno(self) -> int:
        """The locked descriptor: a child that inherits it holds the lock as long as it lives."""
        return self._fd

    def acquire(self) -> None:
        """Take the lock, or raise DataDirBusy naming the running `up`'s PID and URLs."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _owner(fd)
            os.close(fd)
            raise DataDirBusy("data dir", busy_message(self.path.parent, owner)) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.describe({})

    def describe(self, urls: dict[str, str], service_pid: int | None = None) -> None:
        """Record this process, its service's and its URLs in the lock file, for a refused
        `up` to show."""
        if not self.held:
            return
        body = json.dumps(
            {
                "pid": os.getpid(),
                "service_pid": service_pid,
                "started_at": datetime.now(UTC).isoformat(),
                "urls": urls,
            }
        ).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, body, 0)

    def release(self) -> None:
        """Let another `up` have the data dir (the file stays; its lock is what counts)."""
        if not self.held:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing the only descriptor drops the flock
        self._fd = -1


def _owner(fd: int) -> dict[str, Any]:
    """The lock holder's description; {} while it is still writing it (or never did)."""
    try:
        body = json.loads(os.pread(fd, 65536, 0) or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def busy_message(data_dir: Path, owner: dict[str, Any]) -> str:
    """One line: which `up` runs on `data_dir` and where, so a person can stop or use it."""
    pid, service_pid = owner.get("pid"), owner.get("service_pid")
    who = f"rakubun-harness up (pid {pid})" if pid else "another rakubun-harness up"
    if isinstance(pid, int) and not _alive(pid) and isinstance(service_pid, int):
        who = f"the service (pid {service_pid}) of a killed rakubun-harness up (pid {pid})"
    urls = owner.get("urls") if isinstance(owner.get("urls"), dict) else {}
    where = ", ".join(f"{name} {url}" for name, url in urls.items()) if urls else "still starting"
    return f"{data_dir} is in use by {who}: {where}; stop it first, or pass another --data-dir"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
