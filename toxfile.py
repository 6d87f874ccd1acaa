"""tox's inline plugin (tox loads toxfile.py beside tox.ini): every env of tox.ini lives in one
virtualenv, installed once.

The envs install the same things (the project with every extra, from one constraints file),
so a second install would only repeat the first. tox 4 records each env's name in its env dir
and recreates the dir when another env's name is found there; the `shared-virtualenv` runner
leaves the name out of that check. Everything else still decides as tox does: a change of
Python, of requirements or of constraints recreates the env.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tox.plugin import impl
from tox.tox_env.api import ToxEnv
from tox.tox_env.info import Info
from tox.tox_env.python.virtual_env.runner import VirtualEnvRunner
from tox.tox_env.register import ToxEnvRegister

SHARED_NAME = "shared"


class SharedInfo(Info):
    """An env dir's record, in which every env goes by one name."""

    @contextmanager
    def compare(
        self, value: Any, section: str, sub_section: str | None = None
    ) -> Iterator[tuple[bool, Any | None]]:
        if section == ToxEnv.__name__ and isinstance(value, dict) and "name" in value:
            value = {**value, "name": SHARED_NAME}
        with super().compare(value, section, sub_section) as answer:
            yield answer


class SharedVirtualEnvRunner(VirtualEnvRunner):
    """tox's virtualenv runner whose env dir may hold the env of another name."""

    @staticmethod
    def id() -> str:
        return "shared-virtualenv"

    @property
    def cache(self) -> Info:
        return SharedInfo(self.env_dir)


@impl
def tox_register_tox_env(register: ToxEnvRegister) -> None:
    """Offers `runner = shared-virtualenv` to tox.ini."""
    register.add_run_env(SharedVirtualEnvRunner)
