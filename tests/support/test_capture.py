"""The capture server keeps what the suites assert on: header names in the sender's case, raw
body bytes, every accepted connection, and the scripted answers."""

from __future__ import annotations

import asyncio

import httpx
from aiohttp import web

from tests.support.capture import CapturedRequest, CaptureServer


async def raw_request(server: CaptureServer, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    await writer.wait_closed()
    return head


async def test_header_names_and_body_are_recorded_as_sent():
    async with CaptureServer() as server:
        head = await raw_request(
            server,
            b"POST /api/v1/x?user_id=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"X-Instance-ID: abc\r\nx-lower-case: yes\r\nContent-Length: 11\r\n\r\n"
            b'{"a":"\\/"}\n',
        )

    assert head.startswith(b"HTTP/1.1 200 ")
    assert server.last == CapturedRequest(
        method="POST",
        path="/api/v1/x",
        query={"user_id": "1"},
        headers={
            "Host": "127.0.0.1",
            "X-Instance-ID": "abc",
            "x-lower-case": "yes",
            "Content-Length": "11",
        },
        body=b'{"a":"\\/"}\n',
    )


async def test_a_connection_that_sends_nothing_is_counted():
    async with CaptureServer() as server:
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.close()
        await writer.wait_closed()

        assert (server.connections, server.requests) == (1, [])


async def test_scripted_answers_then_the_handler_then_success():
    async def handler(request: CapturedRequest) -> web.Response:
        return web.json_response({"echo": request.json()}, status=201)

    async with CaptureServer(handler) as server, httpx.AsyncClient(base_url=server.url) as http:
        server.answer("/down", 502, text="Bad Gateway")
        answers = [
            await http.get("/down"),
            await http.get("/down"),
            await http.post("/other", json={"n": 1}),
        ]
        plain = CaptureServer()
        async with plain:
            default = await http.get(plain.url + "/anything")

    assert [(a.status_code, a.text) for a in answers[:2]] == [(502, "Bad Gateway")] * 2
    assert (answers[2].status_code, answers[2].json()) == (201, {"echo": {"n": 1}})
    assert (default.status_code, default.json()) == (200, {"success": True})
    assert [r.path for r in server.calls_to("/down")] == ["/down", "/down"]


def test_serving_in_thread_answers_synchronous_callers():
    server = CaptureServer()
    with server.serving_in_thread():
        answer = httpx.post(server.url + "/webhook", content=b"raw")

    assert answer.status_code == 200
    assert server.last.body == b"raw"
