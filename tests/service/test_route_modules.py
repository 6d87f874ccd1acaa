"""Route modules stay thin and apart: a handler reads the call and calls a module of `service/`,
so no route module imports another one. Only `registry` (the handler types) is shared, and
only `routes/__init__.py` collects the modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import service.routes

ROUTES_DIR = Path(service.routes.__file__).parent
PACKAGE = "service.routes"
#: What every route module may import from its own package.
SHARED = {f"{PACKAGE}.registry"}
ROUTE_FILES = sorted(p for p in ROUTES_DIR.glob("*.py") if p.name != "__init__.py")


def _absolute(module: str | None, level: int) -> str:
    """The absolute name of a relative import made from a module of `service.routes`."""
    if level == 0:
        return module or ""
    parts = PACKAGE.split(".")
    base = parts[: len(parts) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imported_modules(source: str) -> set[str]:
    """Every module an import statement of `source` may name, as absolute dotted names
    (`from . import x` and `from service.routes import x` name `service.routes.x`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(node.module, node.level)
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return names


def route_modules_imported(source: str) -> set[str]:
    """The route modules (other than the shared registry) that `source` imports."""
    return {
        name
        for name in imported_modules(source)
        if name.startswith(PACKAGE + ".")
        and name.count(".") == PACKAGE.count(".") + 1
        and name not in SHARED
    }


def test_every_route_module_is_checked() -> None:
    assert {p.stem for p in ROUTE_FILES} >= {"admin", "config", "credits", "registry"}


@pytest.mark.parametrize("path", ROUTE_FILES, ids=lambda p: p.name)
def test_a_route_module_imports_no_other_route_module(path: Path) -> None:
    assert route_modules_imported(path.read_text(encoding="utf-8")) == set(), (
        f"{path.name} imports another route module: move the shared logic into service/"
    )


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("from .config import stripe_display", {"service.routes.config"}),
        ("from .credits import user_key", {"service.routes.credits"}),
        ("from . import credits", {"service.routes.credits"}),
        ("from ..routes.admin import ops", {"service.routes.admin"}),
        ("from ..routes import admin", {"service.routes.admin"}),
        ("import service.routes.config", {"service.routes.config"}),
        ("from service.routes.credits import user_key", {"service.routes.credits"}),
        ("from service.routes import credits as c", {"service.routes.credits"}),
        ("def f():\n    from .config import effective\n", {"service.routes.config"}),
        ("from .registry import Call, Operations, Reply", set()),
        ("from ..credits import adjust", set()),
        ("from ..domain.users import user_key", set()),
        ("from .. import purchases", set()),
        ("import json", set()),
    ],
)
def test_the_check_sees_every_spelling_of_a_route_import(source: str, found: set[str]) -> None:
    assert route_modules_imported(source) == found
