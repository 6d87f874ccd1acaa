"""The Stripe gateway's own HTTP behaviour, against a bare HTTP/1.1 server on 127.0.0.1 that
counts its connections: calls share kept-alive connections, an answer cut short is Stripe
unreachable (after the SDK's retries), and the SDK's per-call log lines stay at DEBUG."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from service.errors import StripeError, StripeUnreachable
from service.outbound.stripe_gateway import StripeGateway
from service.runtime import observability
from service.runtime.observability import configure_logging
from service.settings import Settings

SESSION = {"id": "cs_test_gateway", "object": "checkout.session", "url": "https://pay.example/x"}
PARAMS = {"mode": "payment", "success_url": "https://site.example/ok"}


@dataclass
class CountingStripe:
    """Answers every request with `answer` (or, when `cut` is set, the headers and half the
    body, then closes); counts the connections accepted and the requests read. With `hold`
    set, it answers only once that many requests wait, all at once: they were concurrent."""

    answer: bytes = json.dumps(SESSION).encode()
    status: bytes = b"200 OK"
    #: Header lines added to every answer, each ending in CRLF.
    extra_headers: bytes = b""
    cut: bool = False
    hold: int = 1
    connections: int = 0
    requests: int = 0
    server: asyncio.Server | None = field(default=None, repr=False)
    waiting: list[asyncio.Future[None]] = field(default_factory=list, repr=False)

    async def held(self) -> None:
        turn = asyncio.get_running_loop().create_future()
        self.waiting.append(turn)
        if len(self.waiting) >= self.hold:
            for waiting in self.waiting:
                waiting.set_result(None)
            self.waiting.clear()
        await turn

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in [*head.split(b"\r\n"), b"content-length: 0"]
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                self.requests += 1
                await self.held()
                status = b"HTTP/1.1 " + self.status + b"\r\nContent-Type: application/json\r\n"
                status += self.extra_headers
                size = f"Content-Length: {len(self.answer)}\r\n\r\n".encode()
                if self.cut:
                    writer.write(status + size + self.answer[: len(self.answer) // 2])
                    await writer.drain()
                    break
                writer.write(status + size + self.answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def counting_stripe() -> AsyncIterator[CountingStripe]:
    stripe = CountingStripe()
    stripe.server = await asyncio.start_server(stripe.serve, "127.0.0.1", 0)
    yield stripe
    stripe.server.close()
    await stripe.server.wait_closed()


@pytest.fixture
async def gateway(counting_stripe: CountingStripe) -> AsyncIterator[StripeGateway]:
    settings = Settings.from_env(
        {}, stripe_secret_key="sk_test_gateway", stripe_api_base=counting_stripe.url
    )
    gateway = StripeGateway(settings)
    yield gateway
    await gateway.close()


async def test_concurrent_calls_reuse_their_connections(
    gateway: StripeGateway, counting_stripe: CountingStripe
) -> None:
    """32 calls at once open 32 connections, and 32 more at once open none: the pool keeps
    every one of them (httpx kept 20 idle and opened the rest again)."""
    counting_stripe.hold = 32
    for _ in range(2):
        answers = await asyncio.gather(
            *(gateway.create_checkout_session(PARAMS) for _ in range(32))  # type: ignore[arg-type]
        )
        assert answers == [SESSION] * 32
    assert counting_stripe.requests == 64
    assert counting_stripe.connections == 32


async def test_an_answer_cut_short_is_stripe_unreachable(
    gateway: StripeGateway, counting_stripe: CountingStripe
) -> None:
    counting_stripe.cut = True
    with pytest.raises(StripeUnreachable):
        await gateway.retrieve_checkout_session("cs_test_gateway")
    assert counting_stripe.requests == 3  # the first try and the SDK's two retries


@pytest.mark.parametrize("name", [b"Stripe-Should-Retry", b"stripe-should-retry"])
async def test_the_sdk_reads_answer_headers_whatever_their_case(
    gateway: StripeGateway, counting_stripe: CountingStripe, name: bytes
) -> None:
    """A 500 is retried unless Stripe says not to; the SDK asks for the header in lower case."""
    counting_stripe.status = b"500 Internal Server Error"
    counting_stripe.answer = b'{"error": {"type": "api_error", "message": "down"}}'
    counting_stripe.extra_headers = name + b": false\r\n"
    with pytest.raises(StripeError):
        await gateway.retrieve_checkout_session("cs_test_gateway")
    assert counting_stripe.requests == 1


async def test_answers_are_plain_dicts(gateway: StripeGateway) -> None:
    session = await gateway.retrieve_checkout_session("cs_test_gateway")
    assert session == SESSION
    assert isinstance(session, dict)


@pytest.mark.parametrize(("level", "sdk_info"), [("INFO", False), ("DEBUG", True)])
def test_the_sdks_lines_per_call_show_only_at_debug(level: str, sdk_info: bool) -> None:
    """The SDK logs each call's request and answer at INFO; the access log has the request."""
    root = logging.getLogger()
    handlers, root_level = list(root.handlers), root.level
    try:
        configure_logging(Settings.from_env({}), level)
        assert logging.getLogger("stripe").isEnabledFor(logging.INFO) is sdk_info
        assert logging.getLogger("rakubun.access").isEnabledFor(logging.INFO)
    finally:
        observability._stop_listener()
        root.handlers[:] = handlers
        root.setLevel(root_level)
        logging.getLogger("stripe").setLevel(logging.NOTSET)
