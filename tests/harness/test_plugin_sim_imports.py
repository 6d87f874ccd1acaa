"""The plugin simulator's modules import each other without a cycle (type-only imports
count too), so each can be read, and loaded, from the bottom up."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import harness.plugin_sim

PACKAGE = Path(harness.plugin_sim.__file__).parent
PREFIX = "harness.plugin_sim."


def imports_within_the_package(path: Path) -> set[str]:
    """The sibling modules `path` imports anywhere in its text, TYPE_CHECKING blocks included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PREFIX):
            found.add(node.module.removeprefix(PREFIX))
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix(PREFIX) for a in node.names if a.name.startswith(PREFIX)}
    return found


def test_the_plugin_simulator_has_no_import_cycle():
    graph = {
        path.stem: imports_within_the_package(path)
        for path in PACKAGE.glob("*.py")
        if path.name != "__init__.py"
    }
    assert "simulator" in graph and graph["simulator"]
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None
    assert order.index("simulator") > order.index("control")
