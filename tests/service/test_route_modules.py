"""Route modules stay thin and apart: a handler reads the call and calls a use case of
`service.flows`, so no route module imports another one. Only `registry` (the handler types)
is shared, and only `routes/__init__.py` collects the modules."""

from __future__ import annotations

from pathlib import Path

import pytest

import service.http.routes
from tests.support.imports import imported_names

ROUTES_DIR = Path(service.http.routes.__file__).parent
PACKAGE = "service.http.routes"
#: What every route module may import from its own package.
SHARED = {f"{PACKAGE}.registry"}
ROUTE_FILES = sorted(p for p in ROUTES_DIR.glob("*.py") if p.name != "__init__.py")


def route_modules_imported(source: str) -> set[str]:
    """The route modules (other than the shared registry) that `source` imports."""
    return {
        name
        for name in imported_names(source, PACKAGE)
        if name.startswith(PACKAGE + ".")
        and name.count(".") == PACKAGE.count(".") + 1
        and name not in SHARED
    }


def test_every_route_module_is_checked() -> None:
    assert {p.stem for p in ROUTE_FILES} >= {"admin", "config", "credits", "registry"}


@pytest.mark.parametrize("path", ROUTE_FILES, ids=lambda p: p.name)
def test_a_route_module_imports_no_other_route_module(path: Path) -> None:
    assert route_modules_imported(path.read_text(encoding="utf-8")) == set(), (
        f"{path.name} imports another route module: move the shared logic into service/flows/"
    )


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("from .config import stripe_display", {"service.http.routes.config"}),
        ("from .credits import user_key", {"service.http.routes.credits"}),
        ("from . import credits", {"service.http.routes.credits"}),
        ("from ..routes.admin import ops", {"service.http.routes.admin"}),
        ("from ..routes import admin", {"service.http.routes.admin"}),
        ("import service.http.routes.config", {"service.http.routes.config"}),
        ("from service.http.routes.credits import user_key", {"service.http.routes.credits"}),
        ("from service.http.routes import credits as c", {"service.http.routes.credits"}),
        ("def f():\n    from .config import effective\n", {"service.http.routes.config"}),
        ("from .registry import Call, Operations, Reply", set()),
        ("from ...flows.credits import adjust", set()),
        ("from ...domain.users import user_key", set()),
        ("from ...flows import purchases", set()),
        ("import json", set()),
    ],
)
def test_the_check_sees_every_spelling_of_a_route_import(source: str, found: set[str]) -> None:
    assert route_modules_imported(source) == found
