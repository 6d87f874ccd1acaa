"""The service serves its own contract (JSON and YAML, with ETags) and a reference page."""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from service.http.api_reference import MAX_SERVED_DOCUMENTS, SpecDocuments, origin_of
from service.http.contract import Contract
from service.settings import Settings

REPO_SPEC = Path(__file__).resolve().parents[2] / "openapi.yaml"
DOCUMENTS = {"/api/v1/openapi.json": json.loads, "/api/v1/openapi.yaml": yaml.safe_load}


def without_servers(document: dict) -> dict:
    return {key: value for key, value in document.items() if key != "servers"}


@pytest.fixture(scope="module")
def repository_spec() -> dict:
    return yaml.safe_load(REPO_SPEC.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- the documents
@pytest.mark.parametrize("path", DOCUMENTS)
async def test_the_served_document_is_the_repositorys_apart_from_servers(
    service, repository_spec, path
) -> None:
    response = await service.http.get(service.url + path)

    assert response.status_code == 200, response.text
    served = DOCUMENTS[path](response.content.decode("utf-8"))
    assert without_servers(served) == without_servers(repository_spec)
    assert served["servers"][0]["url"] == service.url


async def test_the_media_types_are_json_and_yaml(service) -> None:
    as_json = await service.http.get(f"{service.url}/api/v1/openapi.json")
    as_yaml = await service.http.get(f"{service.url}/api/v1/openapi.yaml")

    assert as_json.headers["content-type"] == "application/json; charset=utf-8"
    assert as_yaml.headers["content-type"] == "application/yaml; charset=utf-8"
    assert as_yaml.text.startswith("openapi: 3.1")


async def test_the_document_is_the_contract_the_app_is_bound_to(make_service) -> None:
    """Not the file on disk: an app bound to another contract serves that one."""
    spec = copy.deepcopy(Contract.load().spec)
    spec["info"]["title"] = "A contract of its own"
    bound_to_it = Contract(spec)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Contract, "load", classmethod(lambda cls, *args: bound_to_it))
        service = await make_service()

    response = await service.http.get(f"{service.url}/api/v1/openapi.json")
    assert response.json()["info"]["title"] == "A contract of its own"


async def test_servers_names_the_host_the_request_came_to(service) -> None:
    for path, parse in DOCUMENTS.items():
        response = await service.http.get(
            service.url + path, headers={"Host": "api.example.test:8443"}
        )
        assert parse(response.text)["servers"] == [
            {
                "url": "http://api.example.test:8443",
                "description": "this service, at the address the request reached",
            }
        ]


async def test_servers_follows_the_forwarded_scheme_and_host_of_a_trusted_proxy(service) -> None:
    service.app.config.PROXIES_COUNT = 1
    service.app.config.REAL_IP_HEADER = None
    response = await service.http.get(
        f"{service.url}/api/v1/openapi.json",
        headers={
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "app.rakubun.example",
            "X-Forwarded-For": "203.0.113.9",
        },
    )

    assert response.json()["servers"][0]["url"] == "https://app.rakubun.example"


async def test_an_untrusted_forwarded_host_is_ignored(service) -> None:
    response = await service.http.get(
        f"{service.url}/api/v1/openapi.json",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"},
    )

    assert response.json()["servers"][0]["url"] == service.url


@given(st.text(max_size=80))
def test_an_origin_is_a_host_the_url_parser_reads_back_or_relative(host: str) -> None:
    origin = origin_of("http", host)
    if origin == "/":
        return
    parts = urlsplit(origin)
    assert (parts.scheme, parts.netloc, parts.path, parts.query) == ("http", host, "", "")
    assert re.fullmatch(r"[A-Za-z0-9.:\[\]-]+", host)


@pytest.mark.parametrize(
    "host", ["", "a b", "x/y", 'h"ost', "host:port", "[::1", "é.example", "host:٨٠", "[::1]:٨"]
)
def test_a_host_that_is_no_host_gives_a_relative_server(host: str) -> None:
    assert origin_of("http", host) == "/"


def test_only_http_and_https_make_an_origin() -> None:
    assert origin_of("https", "example.test") == "https://example.test"
    assert origin_of("ws", "example.test") == "/"


# ---------------------------------------------------------------- ETags
@pytest.mark.parametrize("path", DOCUMENTS)
async def test_the_etag_answers_304_without_a_body(service, path) -> None:
    first = await service.http.get(service.url + path)
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)

    for if_none_match in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = await service.http.get(service.url + path, headers={"If-None-Match": if_none_match})
        assert again.status_code == 304, if_none_match
        assert again.content == b""
        assert again.headers["etag"] == etag


@pytest.mark.parametrize("path", DOCUMENTS)
async def test_another_etag_gets_the_document(service, path) -> None:
    response = await service.http.get(
        service.url + path, headers={"If-None-Match": '"0123", W/"abc"'}
    )
    assert response.status_code == 200
    assert response.content


async def test_the_etag_changes_with_the_host_and_the_format(service) -> None:
    etags = set()
    for path in DOCUMENTS:
        for host in ("a.example.test", "b.example.test"):
            response = await service.http.get(service.url + path, headers={"Host": host})
            etags.add(response.headers["etag"])
    assert len(etags) == 4


async def test_the_etag_of_one_host_does_not_match_another(service) -> None:
    a = await service.http.get(f"{service.url}/api/v1/openapi.json", headers={"Host": "a.test"})
    b = await service.http.get(
        f"{service.url}/api/v1/openapi.json",
        headers={"Host": "b.test", "If-None-Match": a.headers["etag"]},
    )
    assert b.status_code == 200 and b.json()["servers"][0]["url"] == "http://b.test"


# ---------------------------------------------------------------- serialised once
def test_each_format_and_origin_is_serialised_once() -> None:
    documents = SpecDocuments(Contract.load().spec)

    first = documents.document("json", "http://a.test")
    assert documents.document("json", "http://a.test") is first
    assert documents.document("yaml", "http://a.test") is not first


def test_the_served_variants_are_bounded() -> None:
    documents = SpecDocuments(Contract.load().spec)
    kept = documents.document("json", "http://kept.test")
    for n in range(MAX_SERVED_DOCUMENTS * 2):
        documents.document("json", f"http://host{n}.test")
        documents.document("json", "http://kept.test")  # recently used: stays

    assert len(documents._served) == MAX_SERVED_DOCUMENTS
    assert documents.document("json", "http://kept.test") is kept


def test_the_contract_is_not_changed_by_serving_it() -> None:
    spec = copy.deepcopy(Contract.load().spec)
    SpecDocuments(spec).document("yaml", "http://a.test")
    assert spec == Contract.load().spec


# ---------------------------------------------------------------- the page
class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v]
        self.urls += [v for k, v in attrs if k.startswith("data-") and v and v.startswith("/")]
        self._in_script = tag == "script" and "src" not in values

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


async def test_the_page_loads_everything_from_this_service(service) -> None:
    response = await service.http.get(f"{service.url}/api/v1/docs")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe" not in csp and "http" not in csp
    links = _Links()
    links.feed(response.text)
    assert links.inline_scripts == 0
    assert links.urls and all(url.startswith("/api/v1/") for url in links.urls), links.urls
    for url in links.urls:
        asset = await service.http.get(service.url + url)
        assert asset.status_code == 200, url
    assert "/api/v1/openapi.json" in links.urls


@pytest.mark.parametrize(
    ("name", "media"),
    [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("docs.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("docs.css", "text/css"),
        ("favicon-32x32.png", "image/png"),
    ],
)
async def test_the_page_files_are_served_with_their_media_types(service, name, media) -> None:
    response = await service.http.get(f"{service.url}/api/v1/docs/assets/{name}")

    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media


async def test_an_unknown_page_file_is_a_404_envelope(service) -> None:
    response = await service.http.get(f"{service.url}/api/v1/docs/assets/swagger-editor.js")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_api_docs_0_turns_the_page_off_but_not_the_documents(make_service) -> None:
    service = await make_service(api_docs=False)

    page = await service.http.get(f"{service.url}/api/v1/docs")
    assert page.status_code == 404
    assert page.json() == {
        "success": False,
        "error": "not_found",
        "message": "The API reference page is turned off on this deployment",
    }
    asset = await service.http.get(f"{service.url}/api/v1/docs/assets/docs.js")
    assert asset.status_code == 404
    document = await service.http.get(f"{service.url}/api/v1/openapi.json")
    assert document.status_code == 200


# ---------------------------------------------------------------- the root page
@pytest.mark.parametrize("root", ["/", "/api/v1"])
async def test_the_roots_answer_a_page_of_links_that_all_answer(service, root) -> None:
    response = await service.http.get(service.url + root)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    links = _Links()
    links.feed(response.text)
    assert links.inline_scripts == 0
    assert set(links.urls) == {
        "/api/v1/docs",
        "/api/v1/openapi.json",
        "/api/v1/openapi.yaml",
        "/api/v1/health",
    }
    for url in links.urls:
        assert (await service.http.get(service.url + url)).status_code == 200, url


async def test_without_the_docs_page_the_root_does_not_link_to_it(make_service) -> None:
    service = await make_service(api_docs=False)

    page = await service.http.get(f"{service.url}/")

    links = _Links()
    links.feed(page.text)
    assert page.status_code == 200
    assert "/api/v1/docs" not in links.urls and "/api/v1/openapi.json" in links.urls


async def test_a_root_refuses_other_methods_in_the_envelope(service) -> None:
    response = await service.http.post(f"{service.url}/", content=b"x")

    assert response.status_code == 405
    assert response.json()["success"] is False


def test_the_page_is_on_unless_api_docs_is_0() -> None:
    assert Settings.from_env({}).api_docs is True
    assert Settings.from_env({"API_DOCS": "1"}).api_docs is True
    assert Settings.from_env({"API_DOCS": "0"}).api_docs is False


async def test_the_documents_need_no_credentials_and_ignore_wrong_ones(service) -> None:
    response = await service.http.get(
        f"{service.url}/api/v1/openapi.json",
        headers={"Authorization": "Bearer wrong", "X-Instance-ID": "nobody"},
    )
    assert response.status_code == 200


# ---------------------------------------------------------------- the response check
def test_a_whole_answer_must_have_a_documented_status_and_media_type() -> None:
    ops = Contract.load().operations
    yaml_op, docs_op = ops["getOpenApiYaml"], ops["getApiDocs"]

    assert yaml_op.media_errors(200, "application/yaml; charset=utf-8", b"openapi: 3.1.0") == []
    assert yaml_op.media_errors(304, None, b"") == []
    assert yaml_op.media_errors(304, None, b"body") != []
    assert yaml_op.media_errors(200, "text/plain", b"x") != []
    assert yaml_op.media_errors(418, "application/yaml", b"x") != []
    assert docs_op.media_errors(200, "text/html; charset=utf-8", b"<html>") == []
    assert docs_op.media_errors(200, "application/json", b"{}") != []


def test_a_json_whole_answer_is_checked_against_its_schema() -> None:
    op = Contract.load().operations["getOpenApiJson"]

    assert op.media_errors(200, "application/json", b'{"openapi": "3.1.0"}') != []
    good = SpecDocuments(Contract.load().spec).document("json", "http://a.test").body
    assert op.media_errors(200, "application/json; charset=utf-8", good) == []
