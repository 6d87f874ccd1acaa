"""What a module imports, read with `ast` without running it: the absolute dotted names its
import statements may name, relative imports resolved against the module's package. The
layer rules (`tests/service/test_layers.py`) and the route-module rule
(`tests/service/test_route_modules.py`) both judge a file by these names.
"""

from __future__ import annotations

import ast


def absolute(module: str | None, level: int, package: str) -> str:
    """The absolute name of `from <dots><module> import ...` made inside `package`."""
    if level == 0:
        return module or ""
    parts = package.split(".")
    base = parts[: len(parts) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imported_names(source: str, package: str) -> set[str]:
    """Every module an import statement of `source` (a module of `package`) may name, lazy
    imports inside functions included: `from . import x` names both the package and `x`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = absolute(node.module, node.level, package)
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return names
