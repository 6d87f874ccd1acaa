"""Random ids (`txn_…`, `whd_…`, `wh_…`) without a system call per id, and in time order
where the store indexes them.

A deduction makes four of them. `secrets.token_hex` asks the kernel each time, and the call
lets the GIL go: on a worker whose threads share one CPU, each one is a chance for another
thread to take the CPU in the middle of a request. Here the kernel's random bytes are
fetched 4 KiB at a time and handed out in order, so the ids are exactly as unpredictable as
`secrets.token_hex`'s. A forked child starts with an empty pool, never its parent's bytes.

Ids the store keeps in a unique index (ledger entries, their source refs, outbox deliveries)
start with the time: a random id lands on a random page of its index, and every page a
transaction touches is written again to SQLite's WAL (or MongoDB's journal) at commit, while
ids in time order append to the index's last pages, which a batch of deductions shares
(`python -m bench.filled` measures the writer's CPU per deduction).
"""

from __future__ import annotations

import os
import threading
import time

_POOL_BYTES = 4096


class _RandomPool:
    """Bytes from `os.urandom`, fetched in blocks; each byte is handed out once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._block = b""
        self._offset = 0

    def take(self, nbytes: int) -> bytes:
        with self._lock:
            end = self._offset + nbytes
            if end > len(self._block):
                self._block = os.urandom(max(_POOL_BYTES, nbytes))
                self._offset, end = 0, nbytes
            taken = self._block[self._offset : end]
            self._offset = end
            return taken

    def forget(self) -> None:
        """In a forked child: the parent's unused bytes must not become the child's ids."""
        self._lock = threading.Lock()
        self._block = b""
        self._offset = 0


_pool = _RandomPool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_pool.forget)


def random_hex(nbytes: int) -> str:
    """`nbytes` random bytes as hex, like `secrets.token_hex(nbytes)`."""
    return _pool.take(nbytes).hex()


def new_delivery_id() -> str:
    """A plugin webhook delivery's id (`whd_...`, in the order they are made)."""
    return "whd_" + ordered_hex(12)


def ordered_hex(nbytes: int) -> str:
    """Like `random_hex`, but the first 6 bytes are the time in milliseconds: ids made later
    sort after earlier ones (to the millisecond), and new index entries append."""
    millis = time.time_ns() // 1_000_000
    return (millis.to_bytes(6, "big") + _pool.take(nbytes - 6)).hex()
