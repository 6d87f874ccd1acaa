"""The harness commands' own errors."""

from __future__ import annotations


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived before the harness was ready."""


class HarnessError(Exception):
    """A step of a harness command failed; the message says which and why."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
