"""The one local HTTP endpoint of the tests: a server on 127.0.0.1 that records every request
as it was sent and answers from a script.

Header names are recorded in the sender's case and bodies as raw bytes, since the plugin
tests assert both (Werkzeug, under pytest-httpserver, rewrites header names). The server
also counts the connections it accepts, because a refused webhook must never open one.
Each request gets the answer scripted for its path (`answer`), else the handler's (a fake
that acts, such as a scripted dashboard), else `{"success": true}`.

`async with CaptureServer() as server` serves from the test's loop.
`with server.serving_in_thread()` serves from a loop of its own, for synchronous tests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from tests.support.service import LoopThread

__all__ = ["Answer", "CapturedRequest", "CaptureServer", "Handler"]


@dataclass(frozen=True)
class CapturedRequest:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in the case the sender wrote them
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON; None when there is no body."""
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class Answer:
    """A scripted answer: `text` with its content type when given, else `json`."""

    status: int = 200
    json: Any = None
    text: str | None = None
    content_type: str = "text/plain"

    def response(self) -> web.Response:
        """A fresh response (aiohttp sends a response object once)."""
        if self.text is not None:
            return web.Response(status=self.status, text=self.text, content_type=self.content_type)
        return web.json_response(self.json, status=self.status)


Handler = Callable[[CapturedRequest], Awaitable[web.StreamResponse]]
SUCCESS = Answer(json={"success": True})


class CaptureServer:
    """Records each request (`requests`), counts accepted connections (`connections`) and
    answers per path (`answer`), else through `handler`, else with `{"success": true}`."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler
        self.requests: list[CapturedRequest] = []
        self.answers: dict[str, Answer] = {}
        self.connections = 0
        self.url = ""
        self._server: web.Server | None = None
        self._listener: asyncio.Server | None = None

    def answer(
        self,
        path: str,
        status: int = 200,
        *,
        json: Any = None,
        text: str | None = None,
        content_type: str = "text/plain",
    ) -> None:
        """Answer every later request for `path` with this status and body."""
        self.answers[path] = Answer(status, json, text, content_type)

    @property
    def port(self) -> int:
        assert self._listener is not None, "the server is not started"
        return int(self._listener.sockets[0].getsockname()[1])

    @property
    def last(self) -> CapturedRequest:
        return self.requests[-1]

    def calls_to(self, path: str) -> list[CapturedRequest]:
        return [request for request in self.requests if request.path == path]

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        captured = CapturedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={
                name.decode("utf-8", "surrogateescape"): value.decode("utf-8", "surrogateescape")
                for name, value in request.raw_headers
            },
            body=await request.read(),
        )
        self.requests.append(captured)
        if captured.path in self.answers:
            return self.answers[captured.path].response()
        if self.handler is not None:
            return await self.handler(captured)
        return SUCCESS.response()

    def _accept(self) -> RequestHandler:
        # The listener calls this once per accepted connection, before any request is read.
        assert self._server is not None
        self.connections += 1
        return self._server()

    async def start(self) -> str:
        """Listen on a free port of 127.0.0.1; answers the server's URL."""
        self._server = web.Server(self._handle, access_log=None)
        self._listener = await asyncio.get_running_loop().create_server(
            self._accept, "127.0.0.1", 0
        )
        self.url = f"http://127.0.0.1:{self.port}"
        return self.url

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
        if self._server is not None:
            await self._server.shutdown(timeout=1)
        if self._listener is not None:
            await self._listener.wait_closed()

    async def __aenter__(self) -> CaptureServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @contextmanager
    def serving_in_thread(self) -> Iterator[CaptureServer]:
        """Serve from an event loop in a background thread while the block runs."""
        runner = LoopThread("capture-server")
        try:
            runner.call(self.start())
            yield self
        finally:
            try:
                runner.call(self.stop())
            finally:
                runner.stop()
