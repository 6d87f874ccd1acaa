"""Delivering plugin webhooks from the durable outbox.

Webhooks are enqueued in the store inside the transaction that changed the data, so a
crash never loses one. Every worker runs a dispatcher; each claims due deliveries with a
lease, so several workers or machines never send the same attempt twice. Failures are
retried with the configured backoff (by default 8 attempts over about 21 hours); every
attempt is recorded. Delivered webhooks and their attempt records are deleted once they are
`WEBHOOK_RETENTION_DAYS` old (`prune_delivered`, every `PRUNE_EVERY_SECONDS`, besides MongoDB's
TTL index); pending and failed ones are kept.

A change made by this process can claim its webhook at birth (`claiming`): the outbox row is
written already leased to this dispatcher, in the change's own transaction, and handed to the
dispatcher in memory once committed (`deliver_claimed`), so delivering it costs no claim. A
webhook claimed at birth that waits past half its lease is left to the claims (after the
lease ends), so two dispatchers never send it; one this process ends without delivering is
claimed by any dispatcher once its lease ends.

Only public hosts receive webhooks (`service.domain.webhook_targets`): the URL's host is
checked once per round for the deliveries that share it, and every address a name resolves
to is checked by the guard resolver before a socket is opened, so a name that later resolves
to 127.0.0.1 is refused too. A refused attempt fails the delivery at once with its reason: no
retry would change the answer.

Deliveries go out through `service.outbound.webhook_http.WebhookClient` (kept-alive connections, the
answer parsed by httptools); through a proxy, or to a URL that client leaves alone, aiohttp
sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import secrets
import socket
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from ..domain.ids import new_delivery_id
from ..domain.models import (
    AttemptOutcome,
    Balances,
    LedgerEntry,
    NotifyFn,
    Site,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDraft,
)
from ..domain.plugin_webhooks import sign
from ..domain.webhook_targets import (
    WebhookTargetError,
    check_address,
    check_delivery_url,
    check_loopback,
    literal_address,
)
from ..settings import Settings
from ..store.cached import CachedStore
from .webhook_http import WebhookClient, simple_target

log = logging.getLogger("rakubun.webhooks")

LEASE_SECONDS = 60.0
BATCH_SIZE = 50
PRUNE_EVERY_SECONDS = 600.0
USER_AGENT = "Rakubun-Dashboard/1.0"


@dataclass(frozen=True)
class FlushResult:
    attempted: int
    delivered: int


class _Round:
    """What one dispatch round looked up once for all its deliveries, before any is sent:
    each site, and each URL's check (its proxy, or the refusal it raised)."""

    def __init__(self, sites: dict[str, Site | None]) -> None:
        self.sites = sites
        self._checks: dict[str, str | None | Exception] = {}

    async def check(
        self, urls: set[str], check: Callable[[str], Coroutine[Any, Any, str | None]]
    ) -> None:
        """Check each of `urls` (concurrently: a proxied name is resolved on the way)."""

        async def one(url: str) -> None:
            try:
                self._checks[url] = await check(url)
            except Exception as exc:  # the refusal, raised to each delivery to that URL
                self._checks[url] = exc

        await asyncio.gather(*(one(url) for url in urls))

    def proxy(self, url: str) -> str | None:
        """The proxy `url`'s check answered, or the refusal it raised."""
        found = self._checks[url]
        if isinstance(found, Exception):
            raise found
        return found


class ClaimedAtBirth:
    """A `NotifyFn` whose draft comes claimed by one dispatcher (see `WebhookDraft`): with one
    delivery id however often the store's transaction runs it, leased from the moment it is
    drafted. `draft` is the one the last run made (None when it made none)."""

    __slots__ = ("notify", "owner", "delivery_id", "draft")

    def __init__(self, notify: NotifyFn, owner: str) -> None:
        self.notify = notify
        self.owner = owner
        self.delivery_id = new_delivery_id()
        self.draft: WebhookDraft | None = None

    def __call__(self, entry: LedgerEntry, balances: Balances) -> WebhookDraft | None:
        self.draft = None
        draft = self.notify(entry, balances)
        if draft is not None:
            self.draft = WebhookDraft(
                draft.site_id,
                draft.url,
                draft.event,
                draft.body,
                self.delivery_id,
                self.owner,
                time.time() + LEASE_SECONDS,
            )
        return self.draft


class TargetGuardResolver(AbstractResolver):
    """A resolver that refuses names resolving to a non-public address, before any connect.

    `exempt` hosts (the configured proxies) are resolved unchecked: they are the operator's,
    not a site's.
    """

    def __init__(
        self,
        inner: AbstractResolver,
        *,
        allow_private: bool,
        loopback_only: bool = False,
        exempt: frozenset[str] = frozenset(),
    ) -> None:
        self.inner = inner
        self.allow_private = allow_private
        self.loopback_only = loopback_only
        self.exempt = exempt

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        if host.lower().rstrip(".") not in self.exempt:
            for result in results:
                address = ipaddress.ip_address(result["host"].split("%", 1)[0])
                try:
                    check_address(address, allow_private=self.allow_private)
                    if self.loopback_only:
                        check_loopback(address)
                except WebhookTargetError as exc:
                    raise WebhookTargetError(
                        exc.code, f"{host} resolves to {address}: " + exc.message
                    ) from None
        return results

    async def close(self) -> None:
        await self.inner.close()


class WebhookDispatcher:
    def __init__(
        self, store: CachedStore, settings: Settings, *, resolver: AbstractResolver | None = None
    ) -> None:
        """`resolver` answers names (aiohttp's default when None); the guard wraps it."""
        self.store = store
        self.settings = settings
        self.resolver = resolver
        self._guard: TargetGuardResolver | None = None
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._wake: asyncio.Event | None = None
        self._stopping = False
        # Claimed at birth and committed, not attempted yet (see `deliver_claimed`).
        self._claimed: deque[tuple[WebhookDelivery, float]] = deque()
        self._claim_wanted = True  # something may be due that nobody claimed yet
        # One round at a time per process: an admin flush waits for the background round's
        # in-flight attempts instead of answering while they still hold their leases.
        self._round = asyncio.Lock()
        self._client: aiohttp.ClientSession | None = None
        self._fast: WebhookClient | None = None
        self._proxies: dict[str, str] = {}

    def wake(self) -> None:
        """Deliver soon: something was just enqueued by this process (claims it)."""
        self._claim_wanted = True
        if self._wake is not None:
            self._wake.set()

    def claiming(self, notify: NotifyFn) -> NotifyFn:
        """`notify`, its webhook claimed at birth by this dispatcher while it runs; hand the
        answer to `deliver_claimed` once the change is committed. When it does not run (no
        dispatch, or stopping), `notify` itself: its webhook waits for a claim."""
        if self._wake is None or self._stopping:
            return notify
        return ClaimedAtBirth(notify, self.owner)

    def deliver_claimed(self, notify: NotifyFn) -> None:
        """Deliver soon the webhook that a committed change drafted through `notify` (an
        answer of `claiming`); for any other `notify`, `wake()`."""
        if not isinstance(notify, ClaimedAtBirth) or self._wake is None:
            self.wake()
            return
        draft = notify.draft
        if draft is None or draft.lease_until is None:
            return  # the change drafted no webhook
        # As the store wrote it, in what `_attempt` reads (never created_at, never stored).
        delivery = WebhookDelivery(
            notify.delivery_id,
            draft.site_id,
            draft.event,
            draft.url,
            draft.body,
            "pending",
            0,
            None,
            None,
            None,
            "",
        )
        self._claimed.append((delivery, draft.lease_until))
        self._wake.set()

    def _take_claimed(self, limit: int) -> list[tuple[WebhookDelivery, float]]:
        """Up to `limit` of the webhooks claimed at birth (with their leases' ends), oldest
        first; one whose lease is half gone is left to the claims once it ends."""
        taken: list[tuple[WebhookDelivery, float]] = []
        fresh_until = time.time() + LEASE_SECONDS / 2
        while self._claimed and len(taken) < limit:
            delivery, lease_until = self._claimed.popleft()
            if lease_until > fresh_until:
                taken.append((delivery, lease_until))
            else:
                log.warning(
                    "webhook %s waited past half its lease: left to a claim", delivery.delivery_id
                )
        return taken

    def stop(self) -> None:
        self._stopping = True
        self.wake()

    async def prune_delivered(self) -> int:
        """Delete the deliveries delivered more than the retention period ago (in small
        batches, see `Store.prune_webhooks`); answers how many."""
        retention = self.settings.webhook_retention_days * 24 * 3600
        return await self.store.prune_webhooks(time.time() - retention)

    async def _prune_every(self, seconds: float) -> None:
        while True:
            try:
                if pruned := await self.prune_delivered():
                    log.info("pruned %d delivered webhooks past their retention", pruned)
            except Exception:  # the next sweep tries again
                log.exception("pruning delivered webhooks failed")
            await asyncio.sleep(seconds)

    async def run(self) -> None:
        """Deliver due webhooks until stopped; woken by `wake()` or every poll interval.
        Prunes delivered ones past their retention meanwhile, in a task of its own."""
        self._wake = asyncio.Event()
        self._claim_wanted = True
        pruning = asyncio.create_task(self._prune_every(PRUNE_EVERY_SECONDS))
        try:
            while not self._stopping:
                more = False
                try:
                    async with self._round:
                        claim, self._claim_wanted = self._claim_wanted, False
                        _, more = await self._deliver_due(False, BATCH_SIZE, claim)
                except Exception:  # the loop must survive a bad round
                    log.exception("webhook dispatch round failed")
                if more:
                    self._claim_wanted = True
                if more or self._claimed:
                    continue  # a backlog: next batch now, with a flush free to go first
                try:
                    await asyncio.wait_for(self._wake.wait(), self.settings.webhook_poll_seconds)
                except TimeoutError:
                    self._claim_wanted = True  # retries come due, leases end
                self._wake.clear()
        finally:
            pruning.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pruning
            await self.close()

    async def close(self) -> None:
        """Close every client made so far, in this order (the guard's resolver too: the
        connector closes only resolvers it made), each even when another's close fails; the
        next delivery makes them again."""
        clients = (self._fast, self._client, self._guard)
        self._fast, self._client, self._guard = None, None, None
        async with contextlib.AsyncExitStack() as closing:
            for client in reversed(clients):  # the stack closes the last pushed first
                if client is not None:
                    closing.push_async_callback(client.close)

    async def deliver_due(
        self, *, include_scheduled: bool = False, limit: int = BATCH_SIZE
    ) -> FlushResult:
        """Attempt one batch: the webhooks claimed at birth, then due deliveries claimed now
        (scheduled retries too with include_scheduled). One batch per round keeps a flush's
        wait for the lock bounded."""
        async with self._round:
            result, _ = await self._deliver_due(include_scheduled, limit, True)
            return result

    async def _deliver_due(
        self, include_scheduled: bool, limit: int, claim: bool
    ) -> tuple[FlushResult, bool]:
        """The webhooks claimed at birth, then (with `claim`) as many due ones as the batch has
        room for; answers the result and whether a claim is still wanted (the batch had no
        room, or the claim filled it)."""
        taken = self._take_claimed(limit)
        batch = [delivery for delivery, _ in taken]
        room = limit - len(batch)
        more = claim and room == 0
        try:
            if claim and room > 0:
                claimed = await self.store.claim_due_webhooks(
                    self.owner,
                    now=time.time(),
                    lease_seconds=LEASE_SECONDS,
                    limit=room,
                    include_scheduled=include_scheduled,
                )
                more = len(claimed) == room
                batch += claimed
            if not batch:
                return FlushResult(0, 0), more
            # A round reads each site and checks each URL once, however many of its
            # deliveries share them (under load, one site's deductions fill whole rounds);
            # the site from the worker's cache, as authentication reads it.
            sites = {d.site_id for d in batch}
            round_ = _Round({site_id: await self.store.cached_site(site_id) for site_id in sites})
            self._webhook_client()  # first: the checks need its guard
            await round_.check({d.url for d in batch}, self._checked_target)
        except BaseException:
            # Nothing was sent: those claimed at birth wait in front for the next round
            # (the claimed ones keep their leases until those end).
            self._claimed.extendleft(reversed(taken))
            raise
        outcomes = await asyncio.gather(*(self._attempt(d, round_) for d in batch))
        # One write records the whole batch: per-attempt writes were most of the commits a
        # deduction's webhook cost.
        await self.store.record_webhook_attempts(self.owner, outcomes)
        for outcome in outcomes:
            if not outcome.delivered:
                log.info(
                    "webhook %s attempt %d failed: %s",
                    outcome.delivery_id,
                    outcome.attempt.attempt,
                    outcome.attempt.error,
                )
        return FlushResult(len(outcomes), sum(o.delivered for o in outcomes)), more

    async def _attempt(self, delivery: WebhookDelivery, round_: _Round) -> AttemptOutcome:
        """Send one delivery; its outcome is recorded with its batch's."""
        site = round_.sites.get(delivery.site_id)
        number = delivery.attempts + 1
        started = time.time()
        status_code: int | None = None
        error: str | None = None
        refused = False
        if site is None:
            error = "site no longer exists"
        else:
            body = delivery.body.encode("utf-8")
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Rakubun-Signature": sign(body, site.webhook_secret),
                "X-Rakubun-Event": delivery.event,
                "X-Rakubun-Delivery": delivery.delivery_id,
            }
            try:
                proxy = round_.proxy(delivery.url)
                target = simple_target(delivery.url) if proxy is None else None
                if target is not None:
                    status_code = await self._webhook_client().post(target, body, headers)
                else:
                    status_code = await self._post_with_aiohttp(delivery.url, body, headers, proxy)
                if not 200 <= status_code < 300:
                    error = f"HTTP {status_code}"
            except WebhookTargetError as exc:
                refused = True
                error = f"refused ({exc.code}): {exc.message}"[:300]
            # ValueError: a bad site_url fails only its own delivery.
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
        ok = error is None
        delays = self.settings.webhook_retry_delays
        next_at = None
        if not ok and site is not None and not refused and number <= len(delays):
            next_at = time.time() + delays[number - 1]
        duration_ms = round((time.time() - started) * 1000, 2)
        attempt = WebhookAttempt(number, started, status_code, error, duration_ms)
        return AttemptOutcome(delivery.delivery_id, attempt, ok, next_at)

    async def _post_with_aiohttp(
        self, url: str, body: bytes, headers: dict[str, str], proxy: str | None
    ) -> int:
        """Through a proxy, or to a URL the webhook client leaves alone (`simple_target`)."""
        async with self._http().post(
            url, data=body, headers=headers, allow_redirects=False, proxy=proxy
        ) as response:
            await response.read()  # read to the end so the connection is reused
            return response.status

    def _webhook_client(self) -> WebhookClient:
        if self._fast is None:
            self._http()  # the guard, and the environment's proxies, read once
            assert self._guard is not None
            guard = self._guard

            async def resolve(host: str, port: int) -> list[str]:
                results = await guard.resolve(host, port, socket.AF_UNSPEC)
                return [result["host"] for result in results]

            self._fast = WebhookClient(resolve, timeout=self.settings.webhook_timeout_seconds)
        return self._fast

    def _http(self) -> aiohttp.ClientSession:
        # aiohttp rather than httpx: with one delivery per deduction, httpx's per-request
        # cost is the largest cost of a deduction (`python -m bench --only deduct_spread`).
        if self._client is None:
            seconds = self.settings.webhook_timeout_seconds
            # Proxies come from the environment (HTTP(S)_PROXY, NO_PROXY), read once here:
            # aiohttp's trust_env re-reads it and ~/.netrc in a thread on every request.
            self._proxies = urllib.request.getproxies()
            exempt = frozenset(host for url in self._proxies.values() if (host := _hostname(url)))
            self._guard = TargetGuardResolver(
                self.resolver or aiohttp.DefaultResolver(),
                allow_private=self.settings.webhook_allow_private_targets,
                loopback_only=self.settings.webhook_loopback_only,
                exempt=exempt,
            )
            self._client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=self._guard),
                timeout=aiohttp.ClientTimeout(total=None, connect=seconds, sock_read=seconds),
                trust_env=False,
            )
        return self._client

    async def _checked_target(self, url: str) -> str | None:
        """Refuse a URL whose host is not public; answer the proxy to send it through.

        Sent directly, a name's addresses are checked by the connector's resolver. Through a
        proxy the proxy resolves it, so the name is resolved and checked here first.
        """
        allow_private = self.settings.webhook_allow_private_targets
        host = check_delivery_url(url, allow_private=allow_private)
        if self.settings.webhook_loopback_only:
            # A literal address never reaches the resolver: check it here.
            address = literal_address(host)
            if address is not None:
                check_loopback(address)
        if (
            self._guard is not None
            and host.lower().rstrip(".") in self._guard.exempt
            and not allow_private
        ):
            # The proxy's own name is resolved unchecked: a site may not name it.
            raise WebhookTargetError(
                "site_url_not_public", f"Webhooks may not be sent to {host}, the webhook proxy"
            )
        proxy = self._proxy_for(url)
        if proxy is not None and self._guard is not None and ":" not in host:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                port = urlsplit(url).port or 0
                await self._guard.resolve(host, port, socket.AF_UNSPEC)
        return proxy

    def _proxy_for(self, url: str) -> str | None:
        """The environment's proxy for `url`, or None (read by `_http()`)."""
        if not self._proxies:
            return None
        parts = urlsplit(url)
        if urllib.request.proxy_bypass(parts.hostname or ""):
            return None
        return self._proxies.get(parts.scheme)


def _hostname(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.rstrip(".") if host else None
