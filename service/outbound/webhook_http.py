"""The plugin webhooks' HTTP client, which the Stripe gateway sends the SDK's calls through too:
a request over a kept-alive HTTP/1.1 connection, answered by its status code (`post`) or by its
whole `Answer` (`send`).

With one webhook per deduction, aiohttp's client (its request and response objects, header
multidicts, payload registry and timers) was a large share of a deduction's event-loop time
(`python -m bench --only deduct_spread` measures deductions, each webhook delivered). This
client does only what a webhook needs: it writes one request in one call, and httptools (the
HTTP parser Sanic already uses) reads the answer on a plain `asyncio.Protocol`.

- Connections are kept per (scheme, host, port) and reused while the server keeps them alive,
  for at most `IDLE_SECONDS` idle. A request on a reused connection that the server had
  closed before answering a byte is sent once more on a new connection.
- Names are resolved by `resolve`, which checks every address (the dispatcher's guard), only
  when a new connection is opened; a literal address is connected to as is (the dispatcher
  has checked it). The addresses are tried in order.
- `timeout` bounds the connection (TLS included) and, separately, the whole answer from the
  moment the request is written.
- Proxies, non-ASCII URLs and anything else unusual stay with aiohttp (`simple_target`).
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

#: Seconds an idle connection is kept for reuse (aiohttp's default keep-alive is 15).
IDLE_SECONDS = 15.0
#: Idle connections kept per origin; a busier moment opens more and closes the extra ones.
MAX_IDLE_PER_ORIGIN = 64

#: `resolve(host, port)`: the addresses to connect to, each already checked.
Resolve = Callable[[str, int], Awaitable[list[str]]]


class HTTPAnswerError(ConnectionError):
    """The server answered something that is not HTTP/1.x, or closed before answering."""


@dataclass(frozen=True)
class Answer:
    """An answer: its status, its header lines as received, its body; `whole` unless the
    connection closed before the end its Content-Length or chunking declared."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    whole: bool


@dataclass(frozen=True)
class Target:
    """Where one webhook goes, split once: `origin` keys the connection pool."""

    https: bool
    host: str  # as connected to: a name, or an address without brackets
    port: int
    host_header: str
    path: str  # path and query, as sent on the request line

    @property
    def origin(self) -> tuple[bool, str, int]:
        return (self.https, self.host, self.port)


@functools.lru_cache(maxsize=1024)  # a site's deliveries all go to the same URL
def simple_target(url: str) -> Target | None:
    """`url` as a Target when this client can send to it (http or https, ASCII, no userinfo),
    else None (aiohttp sends it)."""
    if not url.isascii() or any(c in url for c in "\r\n\t "):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    https = parts.scheme == "https"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(https, parts.hostname, port or (443 if https else 80), parts.netloc, path)


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection, one request at a time."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, forget: Callable[[_Connection], None]
    ) -> None:
        self.loop = loop
        self.forget = forget  # the client drops a closed connection from its pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[int] | None = None
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.complete = False
        self.keep_alive = False
        self.received = False  # a byte of the current answer arrived
        self.closed = False
        self.idle_since = 0.0
        self.origin: tuple[bool, str, int] | None = None

    # ---------------------------------------------------------------- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; they have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._finish(exc=HTTPAnswerError(f"not an HTTP answer: {exc}"))
            self.close()

    def eof_received(self) -> bool | None:
        return None  # close the transport: answers end with the connection at the latest

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.forget(self)
        if self.status is not None:  # an answer whose body ran until the connection closed
            self._finish(status=self.status)
        else:
            self._finish(exc=HTTPAnswerError("the connection closed before an answer"))

    # ---------------------------------------------------------------- httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_message_complete(self) -> None:
        if self.status is not None and 100 <= self.status < 200:
            self.status = None  # an informational answer: the real one follows
            self.headers, self.body = [], []
            return
        self.complete = True
        # Asked here: once the callback returns, the parser has moved on to the next message.
        self.keep_alive = self.parser.should_keep_alive()
        if self.status is not None:
            self._finish(status=self.status)

    # ---------------------------------------------------------------- the client's side
    def request(self, data: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self.status = None
        self.headers, self.body = [], []
        self.complete = self.keep_alive = self.received = False
        self.waiter = self.loop.create_future()
        self.transport.write(data)
        return self.waiter

    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.closed

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()

    def _finish(self, *, status: int | None = None, exc: Exception | None = None) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if exc is not None:
            waiter.set_exception(exc)
        else:
            waiter.set_result(status if status is not None else 0)


class WebhookClient:
    """Requests to plugin webhook URLs (and Stripe's); `post` answers the status code, `send`
    the whole answer, or they raise OSError (HTTPAnswerError among them) or TimeoutError."""

    def __init__(
        self,
        resolve: Resolve,
        *,
        timeout: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.resolve = resolve
        self.timeout = timeout
        self.ssl_context = ssl_context
        self._idle: dict[tuple[bool, str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()

    async def post(self, target: Target, body: bytes, headers: Mapping[str, str]) -> int:
        """Send `body` with `headers` (Host and Content-Length are added) and wait for the
        whole answer; answer its status."""
        return (await self.send("POST", target, body, headers)).status

    async def send(
        self, method: str, target: Target, body: bytes | None, headers: Mapping[str, str]
    ) -> Answer:
        """`method` to `target` with `headers` (Host added, and Content-Length with a `body`);
        the whole answer."""
        head = [f"{method} {target.path} HTTP/1.1", f"Host: {target.host_header}"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name} holds a line break")
            head.append(f"{name}: {value}")
        if body is not None:
            head.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b"")
        connection = self._take_idle(target.origin)
        if connection is not None:
            try:
                return await self._exchange(target, connection, data)
            except HTTPAnswerError:
                if connection.received:
                    raise
                # The server closed the kept-alive connection before reading this request
                # (its idle timeout): nothing was answered, so send it on a new one.
        return await self._exchange(target, await self._connect(target), data)

    async def close(self) -> None:
        for connection in list(self._open):
            connection.close()
        self._open.clear()
        self._idle.clear()

    # ---------------------------------------------------------------- connections
    async def _exchange(self, target: Target, connection: _Connection, data: bytes) -> Answer:
        waiter = connection.request(data)
        timer = connection.loop.call_later(self.timeout, _time_out, waiter)
        try:
            status = await waiter
        except BaseException:
            self._discard(connection)
            raise
        finally:
            timer.cancel()
        whole = connection.complete or not any(
            name.lower() in (b"content-length", b"transfer-encoding")
            for name, _ in connection.headers
        )
        answer = Answer(status, connection.headers, b"".join(connection.body), whole)
        if connection.reusable():
            self._put_idle(target.origin, connection)
        else:
            self._discard(connection)
        return answer

    def _take_idle(self, origin: tuple[bool, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < IDLE_SECONDS:
                return connection
            self._discard(connection)
        return None

    def _put_idle(self, origin: tuple[bool, str, int], connection: _Connection) -> None:
        idle = self._idle.setdefault(origin, [])
        if len(idle) >= MAX_IDLE_PER_ORIGIN:
            self._discard(connection)
            return
        connection.idle_since = time.monotonic()
        idle.append(connection)

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._forget(connection)

    def _forget(self, connection: _Connection) -> None:
        self._open.discard(connection)
        idle = self._idle.get(connection.origin) if connection.origin is not None else None
        if idle is not None and connection in idle:
            idle.remove(connection)

    async def _connect(self, target: Target) -> _Connection:
        loop = asyncio.get_running_loop()
        addresses = [target.host] if _is_address(target.host) else None
        if addresses is None:
            addresses = await self.resolve(target.host, target.port)
        context = None
        if target.https:
            context = self.ssl_context or _default_ssl_context()
        failure: OSError | TimeoutError = OSError(f"{target.host} has no address")
        for address in addresses:
            try:
                transport, connection = await asyncio.wait_for(
                    loop.create_connection(
                        lambda: _Connection(loop, self._forget),
                        address,
                        target.port,
                        ssl=context,
                        server_hostname=target.host if context is not None else None,
                    ),
                    self.timeout,
                )
            except (OSError, TimeoutError) as exc:
                failure = exc
                continue
            # uvloop may answer create_connection before it calls connection_made.
            connection.transport = transport
            connection.origin = target.origin
            self._open.add(connection)
            return connection
        raise failure


def _time_out(waiter: asyncio.Future[int]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("no whole answer in time"))


def _is_address(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True


_SSL_CONTEXT: ssl.SSLContext | None = None


def _default_ssl_context() -> ssl.SSLContext:
    """The system's trust store, verified (as aiohttp does), made once."""
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = ssl.create_default_context()
    return _SSL_CONTEXT
