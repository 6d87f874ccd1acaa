"""The harness's pytest plugin: registered by the package's `pytest11` entry point, cheap to
load in every pytest run, and starting nothing unless a test asks for its fixtures."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

FIXTURES = ("rakubun_harness", "rakubun_urls", "rakubun_plugin", "rakubun_stripe")


def test_the_package_declares_the_plugin_as_a_pytest11_entry_point():
    declared = {entry.name: entry.value for entry in entry_points(group="pytest11")}

    assert declared.get("rakubun_harness") == "harness.pytest_plugin"


def test_this_run_loaded_the_plugin_and_none_of_its_fixtures_is_autouse(
    request: pytest.FixtureRequest,
):
    manager = request.config.pluginmanager

    assert manager.get_plugin("rakubun_harness") is not None
    # An autouse fixture would be in the closure of every test, this one's included.
    assert not set(FIXTURES) & set(request.fixturenames)


def test_loading_the_plugin_imports_neither_the_harness_nor_an_http_client():
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, harness.pytest_plugin; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('harness', 'httpx', 'aiohttp', 'service')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )

    assert loaded.stdout.strip() == "['harness', 'harness.pytest_plugin']"
