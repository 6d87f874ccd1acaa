"""The contract served by the service: the bound document as JSON and YAML, and a docs page.

Invariant: what is served is the `Contract`'s own document, the one requests are validated
against; only `servers` is replaced, by the origin the request reached. Each (format, origin)
is serialised once and kept, a bounded number of them since the Host header is the client's.
The page is Swagger UI from the swagger-ui-py package, served from this origin only.
"""

from __future__ import annotations

import hashlib
import html
import importlib.util
import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sanic import Sanic

#: Where the page's scripts, styles and icon are served (Sanic static routes, not operations).
ASSETS_PATH = "/api/v1/docs/assets"
#: The page loads from this origin only; Swagger UI's stylesheet embeds its icons as data: URIs.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
#: The root page is links only: nothing to load, run or frame.
ROOT_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
MEDIA_TYPES = {"json": "application/json", "yaml": "application/yaml"}
#: Serialised variants kept per app: one per (format, origin) that clients name.
MAX_SERVED_DOCUMENTS = 32
PAGE_DIR = Path(__file__).with_name("docs_page")

#: A Host header that names a host (a port in ASCII digits: `\d` also takes `٨٠`).
_ORIGIN_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?\.?(?::[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](?::[0-9]{1,5})?"
)
_YAML_DUMPER_BASE: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _PlainDumper(_YAML_DUMPER_BASE):
    """No `&id001` anchors: a reader of the YAML sees every node written out."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


@dataclass(frozen=True)
class ServedDocument:
    """One serialisation of the contract, with its strong validator."""

    body: bytes
    etag: str
    media_type: str

    def matches(self, if_none_match: str | None) -> bool:
        """Whether `If-None-Match` names this document (a weak comparison, as for any GET)."""
        if not if_none_match:
            return False
        tags = (tag.strip() for tag in if_none_match.split(","))
        return any(tag == "*" or tag.removeprefix("W/") == self.etag for tag in tags)


class SpecDocuments:
    """The contract's document, serialised on first request for each format and origin."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self._spec = spec
        self._served: OrderedDict[tuple[str, str], ServedDocument] = OrderedDict()

    def document(self, fmt: str, server: str) -> ServedDocument:
        """The document in `fmt` ("json" or "yaml") with `servers` naming `server`."""
        key = (fmt, server)
        served = self._served.get(key)
        if served is None:
            served = self._served[key] = self._serialise(fmt, server)
            if len(self._served) > MAX_SERVED_DOCUMENTS:
                self._served.popitem(last=False)
        else:
            self._served.move_to_end(key)
        return served

    def _serialise(self, fmt: str, server: str) -> ServedDocument:
        document = {
            **self._spec,
            "servers": [
                {"url": server, "description": "this service, at the address the request reached"}
            ],
        }
        if fmt == "json":
            text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        else:
            text = yaml.dump(
                document, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True, width=100
            )
        body = text.encode("utf-8")
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        return ServedDocument(body, etag, MEDIA_TYPES[fmt])


def origin_of(scheme: str, host: str) -> str:
    """The origin a request reached, for `servers`; `/` (relative) for a Host that is no host."""
    if scheme in ("http", "https") and _ORIGIN_HOST.fullmatch(host or ""):
        return f"{scheme}://{host}"
    return "/"


#: The root page's links: (path, what it is); the reference page's only when it is on.
ROOT_LINKS = (
    ("/api/v1/docs", "API reference: every operation, with “Try it out”"),
    ("/api/v1/openapi.json", "the contract as JSON"),
    ("/api/v1/openapi.yaml", "the contract as YAML"),
    ("/api/v1/health", "health check"),
)


def root_page(spec: dict[str, Any], *, page_enabled: bool) -> bytes:
    """The small page at `/` and `/api/v1`: the service's name and links to its documents."""
    info = spec.get("info", {})
    title = html.escape(f"{info.get('title', 'API')} {info.get('version', '')}".strip())
    links = "".join(
        f'<li><a href="{path}">{path}</a>: {html.escape(what)}</li>'
        for path, what in ROOT_LINKS
        if page_enabled or path != "/api/v1/docs"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body><h1>{title}</h1>"
        f"<p>The plugin's API lives under <code>/api/v1</code>.</p><ul>{links}</ul>"
        "</body></html>"
    ).encode()


@dataclass(frozen=True)
class ApiReference:
    """What the reference operations serve: the documents, the page (None: turned off) and
    the root page of links."""

    documents: SpecDocuments
    page: bytes | None
    root: bytes = b""

    @classmethod
    def for_spec(cls, spec: dict[str, Any], *, page_enabled: bool) -> ApiReference:
        page = (PAGE_DIR / "index.html").read_bytes() if page_enabled else None
        return cls(SpecDocuments(spec), page, root_page(spec, page_enabled=page_enabled))


def asset_files() -> dict[str, Path]:
    """The files the page loads, by name under ASSETS_PATH."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the docs page needs the swagger-ui-py package (API_DOCS=0 to go without it)"
        )
    # Only the static files are used; the package's own routes and template are not.
    swagger = Path(next(iter(spec.submodule_search_locations))) / "static"
    return {
        "swagger-ui.css": swagger / "swagger-ui.css",
        "swagger-ui-bundle.js": swagger / "swagger-ui-bundle.js",
        "favicon-32x32.png": swagger / "favicon-32x32.png",
        "docs.css": PAGE_DIR / "docs.css",
        "docs.js": PAGE_DIR / "docs.js",
    }


def mount_docs_assets(app: Sanic) -> None:
    """Serve the page's files as static routes beside the operations, outside the contract."""
    for name, path in asset_files().items():
        route_name = "docs_asset_" + re.sub(r"\W", "_", name)
        app.static(f"{ASSETS_PATH}/{name}", path, name=route_name)
