"""The contract itself (JSON, YAML), the interactive reference page and the root page of
links, all public."""

from __future__ import annotations

from sanic.response import HTTPResponse

from ...errors import NotFound
from ..api_reference import DOCS_CSP, ROOT_CSP, ApiReference, origin_of
from .registry import Call, Operations, Reply

ops = Operations()


def _document(call: Call, fmt: str) -> HTTPResponse:
    reference: ApiReference = call.services.reference
    request = call.request
    served = reference.documents.document(fmt, origin_of(request.scheme, request.host))
    # `servers` follows the Host (and the forwarded headers Sanic is told to trust).
    headers = {"ETag": served.etag, "Cache-Control": "no-cache", "Vary": "Host"}
    if served.matches(request.headers.get("if-none-match")):
        return HTTPResponse(status=304, headers=headers)
    return HTTPResponse(
        served.body, headers=headers, content_type=f"{served.media_type}; charset=utf-8"
    )


@ops("getOpenApiJson")
async def get_openapi_json(call: Call) -> Reply:
    return _document(call, "json")


@ops("getOpenApiYaml")
async def get_openapi_yaml(call: Call) -> Reply:
    return _document(call, "yaml")


@ops("getApiDocs")
async def get_api_docs(call: Call) -> Reply:
    page = call.services.reference.page
    if page is None:
        raise NotFound("The API reference page is turned off on this deployment")
    return HTTPResponse(
        page,
        content_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": DOCS_CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


def _root_page(call: Call) -> Reply:
    return HTTPResponse(
        call.services.reference.root,
        content_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": ROOT_CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


@ops("getServiceRoot")
async def get_service_root(call: Call) -> Reply:
    return _root_page(call)


@ops("getApiRoot")
async def get_api_root(call: Call) -> Reply:
    return _root_page(call)
