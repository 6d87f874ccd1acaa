"""The store's errors: what a store call raises besides its answer, each turned into an
envelope error by the service (`service/errors.py`).

Invariant: a store call that raises wrote nothing, but `StoreUnavailableError` with
`outcome_unknown`, whose money change may have landed (retrying with its source_ref is safe).
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of store failures the service turns into envelope errors."""


class DuplicateError(StoreError):
    """A unique key (instance id, package id, session id) already exists."""


class UnknownGrantError(StoreError):
    """`reverse` named a source_ref that never granted anything."""


class IdempotencyKeyReused(StoreError):
    """An idempotency key (or adjustment id) already settled a different request."""


class StoreUnavailableError(StoreError):
    """The store did not answer (a timeout, a lost connection, a lock held past the busy
    timeout, a closed store), so nothing was acknowledged. `outcome_unknown`: a money
    change's commit may have landed and reading it back could not tell; the same
    source_ref (idempotency key) applies it at most once, so retrying with it is safe.

    The message names the driver's error class only: driver messages may carry the URL."""

    def __init__(self, reason: str, *, outcome_unknown: bool = False) -> None:
        super().__init__(reason)
        self.outcome_unknown = outcome_unknown
