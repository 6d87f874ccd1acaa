"""The plugin webhooks' HTTP client (`service.outbound.webhook_http`) against raw servers on 127.0.0.1
that answer byte for byte what each test scripts, and one TLS server with a certificate made
by the openssl binary."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import uvloop
from hypothesis import given
from hypothesis import strategies as st

from service.outbound.webhook_http import HTTPAnswerError, Target, WebhookClient, simple_target

Script = Callable[["RawServer", asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class RawServer:
    """A TCP server on 127.0.0.1 running `script(server, reader, writer, n)` for its n-th
    connection."""

    def __init__(self, script: Script, ssl_context: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.ssl_context = ssl_context
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    @classmethod
    def answering(
        cls, answer: bytes, forever: bool = False, ssl_context: ssl.SSLContext | None = None
    ) -> RawServer:
        """A server that reads a request and writes `answer` (on a connection: once, or for
        every request it reads while `forever`)."""

        async def script(server, reader, writer, n):
            while True:
                await server.read_request(reader)
                writer.write(answer)
                await writer.drain()
                if not forever:
                    return

        return cls(script, ssl_context)

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.script(self, reader, writer, self.connections)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        """One request, head and body (its Content-Length), recorded."""
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        request = head + await reader.readexactly(length)
        self.requests.append(request)
        return request


def target(port: int, host: str = "127.0.0.1", https: bool = False) -> Target:
    found = simple_target(f"{'https' if https else 'http'}://{host}:{port}/hook?x=1")
    assert found is not None
    return found


async def no_names(host: str, port: int) -> list[str]:
    raise AssertionError(f"resolved {host}: a literal address needs no resolver")


def client(resolve=no_names, timeout: float = 5.0, **kw) -> WebhookClient:
    return WebhookClient(resolve, timeout=timeout, **kw)


async def post_each(server: RawServer, *bodies: bytes) -> list[int]:
    """POST each body to the server in turn through one client; the statuses it answered."""
    http = client()
    try:
        return [await http.post(target(server.port), body, {}) for body in bodies]
    finally:
        await http.close()


async def test_one_post_sends_the_headers_and_body_and_answers_the_status():
    server = RawServer.answering(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
    async with server:
        http = client()
        status = await http.post(target(server.port), b'{"a":1}', {"X-Rakubun-Event": "e"})
        await http.close()
    assert status == 202
    request = server.requests[0]
    assert request.startswith(b"POST /hook?x=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{server.port}\r\n".encode() in request
    assert b"X-Rakubun-Event: e\r\n" in request and b"Content-Length: 7\r\n" in request
    assert request.endswith(b'\r\n\r\n{"a":1}')


async def kept_alive_posts(count: int) -> tuple[list[int], RawServer]:
    server = RawServer.answering(OK, forever=True)
    async with server:
        statuses = await post_each(server, *[b"{}"] * count)
    return statuses, server


async def test_a_kept_alive_connection_is_reused():
    statuses, server = await kept_alive_posts(5)
    assert statuses == [200] * 5
    assert server.connections == 1 and len(server.requests) == 5


def test_on_uvloop_as_in_the_service():
    # uvloop may return from create_connection before it calls connection_made.
    statuses, server = uvloop.run(kept_alive_posts(3))
    assert statuses == [200] * 3 and server.connections == 1


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody until the connection closes",
    ],
    ids=["connection-close", "http-1.0", "body-until-close"],
)
async def test_an_answer_that_ends_the_connection_is_not_reused(answer):
    async with RawServer.answering(answer) as server:
        assert await post_each(server, b"{}", b"{}") == [200, 200]
    assert server.connections == 2


async def test_chunked_and_informational_answers_are_read_to_their_end():
    server = RawServer.answering(
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
        forever=True,
    )
    async with server:
        assert await post_each(server, b"{}", b"{}", b"{}") == [201] * 3
    assert server.connections == 1


async def test_send_answers_the_header_lines_and_the_body_of_the_final_answer():
    """What the Stripe gateway reads: the 103's header lines are not the answer's, chunks are
    joined, and a GET without a body sends no Content-Length."""
    server = RawServer.answering(
        b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nRequest-Id: req_1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        forever=True,
    )
    async with server:
        http = client()
        answers = [await http.send("GET", target(server.port), None, {}) for _ in range(2)]
        await http.close()
    for answer in answers:
        assert (answer.status, answer.body, answer.whole) == (201, b"abcde", True)
        assert answer.headers == [(b"Request-Id", b"req_1"), (b"Transfer-Encoding", b"chunked")]
    assert server.requests[0].startswith(b"GET /hook?x=1 HTTP/1.1\r\n")
    assert b"content-length" not in server.requests[0].lower()


@pytest.mark.parametrize(
    ("answer", "whole"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", False),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nhalf", False),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it", True),
    ],
    ids=["content-length", "chunked", "body-until-close"],
)
async def test_an_answer_cut_before_its_declared_end_is_not_whole(answer, whole):
    """`post` keeps answering the status (a webhook's answer is its status), `send` says
    whether the body reached the end its head declared."""
    server = RawServer.answering(answer)
    async with server:
        http = client()
        sent = await http.send("POST", target(server.port), b"{}", {})
        await http.close()
    assert (sent.status, sent.whole) == (200, whole)


async def test_a_kept_alive_connection_the_server_dropped_unanswered_is_resent_once():

    async def script(server, reader, writer, n):
        await server.read_request(reader)
        if n == 1:
            writer.write(OK)  # answered, kept alive ...
            await writer.drain()
            await server.read_request(reader)  # ... then the next request goes unanswered
            return
        writer.write(OK)
        await writer.drain()

    async with RawServer(script) as server:
        assert await post_each(server, b"1", b"2") == [200, 200]
    assert server.connections == 2
    assert [r.rsplit(b"\r\n\r\n", 1)[1] for r in server.requests] == [b"1", b"2", b"2"]


async def test_a_new_connection_closed_unanswered_fails_without_a_resend():

    async def script(server, reader, writer, n):
        await server.read_request(reader)

    async with RawServer(script) as server:
        with pytest.raises(HTTPAnswerError, match="closed before an answer"):
            await post_each(server, b"{}")
    assert server.connections == 1


async def test_an_answer_that_is_not_http_fails():

    async def script(server, reader, writer, n):
        await server.read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n")
        await writer.drain()
        await reader.read()

    async with RawServer(script) as server:
        with pytest.raises(HTTPAnswerError, match="not an HTTP answer"):
            await post_each(server, b"{}")


async def test_a_server_that_never_answers_times_out_and_its_connection_is_dropped():
    dropped = asyncio.Event()

    async def script(server, reader, writer, n):
        await server.read_request(reader)
        await reader.read()  # until the client gives up
        dropped.set()

    async with RawServer(script) as server:
        http = client(timeout=0.2)
        with pytest.raises(TimeoutError):
            await http.post(target(server.port), b"{}", {})
        await asyncio.wait_for(dropped.wait(), 5)
        await http.close()


async def test_a_refused_connection_raises_oserror():
    async with RawServer(lambda s, r, w, n: asyncio.sleep(0)) as server:
        port = server.port  # closed below: nothing listens there any more
    http = client()
    with pytest.raises(OSError):
        await http.post(target(port), b"{}", {})


async def test_a_name_is_resolved_for_new_connections_only_and_its_addresses_tried_in_order():
    server = RawServer.answering(OK, forever=True)
    lookups: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.2", "127.0.0.1"]  # nothing listens on the first

    async with server:
        http = client(resolve)
        name = target(server.port, host="blog.example.com")
        assert [await http.post(name, b"{}", {}) for _ in range(3)] == [200] * 3
        await http.close()
    assert lookups == ["blog.example.com"]
    assert f"Host: blog.example.com:{server.port}".encode() in server.requests[0]


async def test_a_refusal_of_the_resolver_reaches_the_caller_before_any_connection():
    class Refused(ValueError):
        pass

    async def resolve(host: str, port: int) -> list[str]:
        raise Refused(host)

    with pytest.raises(Refused):
        await client(resolve).post(target(9, host="blog.example.com"), b"{}", {})


async def test_a_header_value_with_a_line_break_is_refused_before_sending():
    with pytest.raises(ValueError, match="line break"):
        await client().post(target(9), b"{}", {"X-Evil": "a\r\nInjected: 1"})


# ---------------------------------------------------------------- TLS
@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl binary is not installed: no certificate to test TLS with")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=blog.example.com", "-addext", "subjectAltName=DNS:blog.example.com"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@pytest.mark.parametrize("name, verified", [("blog.example.com", True), ("other.example", False)])
async def test_https_verifies_the_certificate_for_the_name(certificate, name, verified):
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    server = RawServer.answering(OK, ssl_context=server_context)

    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    async with server:
        http = client(resolve, ssl_context=client_context)
        if verified:
            assert await http.post(target(server.port, name, https=True), b"{}", {}) == 200
            assert len(server.requests) == 1
        else:
            with pytest.raises(ssl.SSLCertVerificationError):
                await http.post(target(server.port, name, https=True), b"{}", {})
            assert server.requests == []
        await http.close()


# ---------------------------------------------------------------- which URLs it takes
hosts = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,20}){0,3}", fullmatch=True)
paths = st.from_regex(r"(/[A-Za-z0-9._~%-]{0,12}){0,4}", fullmatch=True)


@given(
    https=st.booleans(),
    host=hosts,
    port=st.none() | st.integers(1, 65535),
    path=paths,
    query=st.from_regex(r"[a-z0-9=&_]{0,20}", fullmatch=True),
)
def test_a_plain_url_splits_into_what_is_sent(https, host, port, path, query):
    netloc = host if port is None else f"{host}:{port}"
    url = f"{'https' if https else 'http'}://{netloc}{path}" + (f"?{query}" if query else "")
    found = simple_target(url)
    assert found is not None
    assert found.https is https and found.host == host and found.host_header == netloc
    assert found.port == (port or (443 if https else 80))
    assert found.path == (path or "/") + (f"?{query}" if query else "")


@pytest.mark.parametrize(
    "url",
    [
        "http://user:pw@blog.example.com/",
        "http://blög.example.com/",
        "http://blog.example.com/pa th",
        "ftp://blog.example.com/",
        "http:///nohost",
        "http://blog.example.com:99999/",
    ],
)
def test_urls_it_leaves_to_aiohttp(url):
    assert simple_target(url) is None


def test_an_ipv6_literal_is_connected_to_without_brackets_and_named_with_them():
    found = simple_target("http://[::1]:8080/hook")
    assert found is not None and found.host == "::1" and found.host_header == "[::1]:8080"
