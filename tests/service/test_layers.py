"""The folders of `service/` are layers, and each imports only what its rule allows: the
domain nothing, the store the domain, outbound calls never the use cases, the use cases never
HTTP or the running process, HTTP never the process (only its instruments). Each layer's
`__init__.py` states its rule; this test reads every module's imports with `ast` (lazy ones
inside functions included) and holds the code to it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import service
from tests.support.imports import imported_names

SERVICE_DIR = Path(service.__file__).parent
LAYER_PACKAGES = ("http", "flows", "outbound", "runtime")
#: What `service.runtime` offers every layer: logging, request ids, metrics, CPU pinning.
INSTRUMENTS = {
    "service.runtime.observability",
    "service.runtime.metrics",
    "service.runtime.cpu_affinity",
}
EVERYTHING = {"service"}
#: Each layer may import what the one below it may, and that layer itself.
BELOW_STORE = {"service.domain", "service.errors", "service.settings"}
BELOW_OUTBOUND = BELOW_STORE | {"service.store"}
# `Services`, the typed context, names the outbound clients the flows call through it.
BELOW_FLOWS = BELOW_OUTBOUND | {"service.outbound", "service.context"}
BELOW_HTTP = BELOW_FLOWS | {"service.flows"}
#: Per part of the service (the longest prefix of a module's name), what else it may import.
ALLOWED: dict[str, set[str]] = {
    "service": EVERYTHING,
    "service.settings": set(),
    # An error answers in the envelope, written by the HTTP layer's one JSON encoder.
    "service.errors": {"service.http.answers"},
    "service.domain": set(),
    # The SQLite writer pins its thread as every helper thread is pinned.
    "service.store": BELOW_STORE | {"service.runtime.cpu_affinity"},
    "service.outbound": BELOW_OUTBOUND,
    "service.flows": BELOW_FLOWS,
    "service.http": BELOW_HTTP | INSTRUMENTS,
    # The wiring: `Services` holds one of each, so it names HTTP's parts too.
    "service.context": BELOW_HTTP | {"service.http"} | INSTRUMENTS,
    # Only `cli` starts the service; the rest of the runtime is used by it.
    "service.runtime": {"service.settings"},
    "service.runtime.cli": EVERYTHING,
}


def module_name(path: Path) -> str:
    """`service/flows/sites.py` -> `service.flows.sites`; a package's `__init__` is the package."""
    parts = list(path.relative_to(SERVICE_DIR.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULE_FILES = sorted(SERVICE_DIR.rglob("*.py"))
#: Every module and package (`service/domain/` is a namespace package, without `__init__`).
MODULES = {module_name(p) for p in MODULE_FILES} | {
    module_name(p.parent / "__init__.py") for p in MODULE_FILES
}


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def part_of(module: str) -> str:
    """The part of the service `module` belongs to: its longest prefix that `ALLOWED` names."""
    return max((p for p in ALLOWED if within(module, p)), key=len)


def service_modules(names: set[str]) -> set[str]:
    """Of imported `names`, the modules of the service they are (`service.x.f` -> `service.x`)."""
    found = set()
    for name in names:
        if within(name, "service"):
            found.add(max((m for m in MODULES if within(name, m)), key=len))
    return found


def violations(module: str, source: str, *, is_package: bool = False) -> set[str]:
    """The service modules `source` (the text of `module`) imports against its part's rule;
    the root package counts as the whole service, since it imports the app."""
    package = module if is_package else module.rsplit(".", 1)[0]
    part = part_of(module)
    allowed = ALLOWED[part] | {part}
    imported = service_modules(imported_names(source, package))
    return {name for name in imported if not any(within(name, a) for a in allowed)}


@pytest.mark.parametrize("path", MODULE_FILES, ids=lambda p: str(p.relative_to(SERVICE_DIR)))
def test_a_module_imports_only_what_its_layer_allows(path: Path) -> None:
    module = module_name(path)
    source = path.read_text(encoding="utf-8")
    found = violations(module, source, is_package=path.name == "__init__.py")
    assert found == set(), f"{module} ({part_of(module)}) imports {sorted(found)}"


@pytest.mark.parametrize("path", MODULE_FILES, ids=lambda p: str(p.relative_to(SERVICE_DIR)))
def test_every_module_belongs_to_a_layer(path: Path) -> None:
    """A new module at the top of `service/` must be given a rule here first."""
    module = module_name(path)
    assert module == "service" or part_of(module) != "service", module


@pytest.mark.parametrize("layer", LAYER_PACKAGES)
def test_every_layer_states_its_rule(layer: str) -> None:
    init = SERVICE_DIR / layer / "__init__.py"
    docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
    assert "Rule:" in docstring


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("service.domain.pricing", "from ..store import Store"),
        ("service.domain.pricing", "from ..errors import ApiError"),
        ("service.store.sqlite", "from ..flows import credits"),
        ("service.store.sqlite", "import service.outbound.notify"),
        ("service.outbound.notify", "from ..flows.purchases import create_intent"),
        ("service.outbound.notify", "from ..http.auth import bearer_token"),
        ("service.flows.sites", "from ..http.auth import bearer_token"),
        ("service.flows.sites", "def f():\n    from ..runtime import cli\n"),
        ("service.flows.sites", "from service.runtime.observability import log_value"),
        ("service.flows.sites", "from .. import create_app"),
        ("service.http.app", "from ..runtime.cli import main"),
        ("service.http.pipeline", "from ..runtime import worker_sockets"),
        ("service.runtime.metrics", "from ..http.auth import authenticate_admin"),
        ("service.runtime.observability", "from ..context import Services"),
        ("service.settings", "from .domain.models import Site"),
    ],
)
def test_the_rule_refuses_an_import_across_layers(module: str, source: str) -> None:
    assert violations(module, source) != set()


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("service.domain.pricing", "from .models import Package"),
        ("service.store.sqlite_writer", "from ..runtime.cpu_affinity import helper_thread"),
        ("service.flows.sites", "from ..domain.tokens import hash_token"),
        ("service.flows.purchases", "from ..outbound.stripe_gateway import StripeGateway"),
        ("service.http.pipeline", "from ..runtime.observability import log_value"),
        ("service.http.routes.admin", "from ...flows import credits, sites"),
        ("service.runtime.cli", "from ..http.app import create_app"),
        ("service.runtime.observability", "from .cpu_affinity import helper_thread"),
    ],
)
def test_the_rule_lets_a_layer_import_what_it_may(module: str, source: str) -> None:
    assert violations(module, source) == set()
