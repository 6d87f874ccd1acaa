"""The fake's state on disk: an append-only journal of JSON lines, compacted when opened.

Invariant: a record is written to the kernel (`os.write`) before the response that made it
leaves, so an acknowledged change survives a kill -9 of the process; `synced()` also waits
for an fsync, shared by every request that finished meanwhile (group commit), so it
survives the machine stopping too. A torn last line (a kill mid-write) was never
acknowledged and is dropped when the journal is opened.

One record per line: `[collection, key, value]` stores a value, `[collection, key]` deletes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any


def read_records(path: pathlib.Path) -> Iterator[list[Any]]:
    """The journal's records, oldest first; stops at a torn or unreadable last line."""
    with path.open("rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                return  # the write a kill cut short: never acknowledged
            try:
                yield json.loads(line)
            except ValueError:
                return


def write_snapshot(path: pathlib.Path, lines: Iterable[str]) -> None:
    """Replace `path` with `lines`, one per live value (temp file, fsync, atomic replace)."""
    # mkstemp creates the file 0600, kept by the replace: it holds webhook endpoint secrets.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".fake-stripe.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.writelines(lines)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def put_line(collection: str, key: str, value_json: str) -> str:
    """The journal line storing an already serialized value."""
    return f"[{json.dumps(collection)},{json.dumps(key)},{value_json}]\n"


def delete_line(collection: str, key: str) -> str:
    """The journal line deleting a key."""
    return f"[{json.dumps(collection)},{json.dumps(key)}]\n"


class Journal:
    """An open journal file: append lines now, fsync them in batches."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._written = 0  # appends so far
        self._synced = 0  # appends covered by a finished fsync
        self._syncing: asyncio.Future[None] | None = None

    def append(self, text: str) -> None:
        """Write `text` to the file now (one write call for the whole batch)."""
        data = text.encode("utf-8")
        while data:
            data = data[os.write(self._fd, data) :]
        self._written += 1

    async def synced(self) -> None:
        """Return once everything appended so far is fsynced; one fsync serves many callers."""
        target = self._written
        while self._synced < target:
            if self._syncing is None:
                self._syncing = asyncio.ensure_future(self._fsync())
            await asyncio.shield(self._syncing)

    async def _fsync(self) -> None:
        upto = self._written
        try:
            await asyncio.get_running_loop().run_in_executor(None, os.fsync, self._fd)
            self._synced = max(self._synced, upto)
        finally:
            self._syncing = None

    def close(self) -> None:
        """Fsync and close the file (callers outside a loop get their durability here)."""
        if self._fd < 0:
            return
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
