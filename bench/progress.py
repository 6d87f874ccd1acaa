"""A progress line: one line per step, with a ticking counter when stdout is a terminal."""

from __future__ import annotations

import sys
from typing import TextIO


class Progress:
    def __init__(self, total_steps: int, stream: TextIO = sys.stdout) -> None:
        self.total = total_steps
        self.done = 0
        self.stream = stream
        self.live = stream.isatty()
        self._label = ""

    def say(self, line: str) -> None:
        self._clear()
        print(line, file=self.stream, flush=True)

    def start(self, label: str) -> None:
        self.done += 1
        self._label = f"[{self.done:>2}/{self.total}] {label}"
        if self.live:
            self.stream.write(self._label)
            self.stream.flush()

    def tick(self, elapsed: float, planned: float) -> None:
        if self.live:
            self.stream.write(f"\r{self._label} {elapsed:4.0f}/{planned:.0f}s")
            self.stream.flush()

    def finish(self, summary: str) -> None:
        self._clear()
        print(f"{self._label}  {summary}", file=self.stream, flush=True)

    def _clear(self) -> None:
        if self.live:
            self.stream.write("\r\033[K")
