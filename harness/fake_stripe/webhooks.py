"""Signed webhook delivery: a queue and worker per endpoint, retries with backoff, faults."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from .faults import DeliveryFaults, Faults
from .resources import EVENT
from .signature import new_webhook_secret, stripe_signature
from .state import StripeState

log = logging.getLogger(__name__)

STALE_BY = 3600  # seconds a stale_timestamp fault backdates `t` (Stripe's tolerance is 300)
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


@dataclasses.dataclass
class EventDelivery:
    """One attempt-to-be at sending a Stripe event to a webhook endpoint."""

    event: dict[str, Any]
    endpoint_id: str
    url: str
    secret: str
    faults: DeliveryFaults
    fault_label: str | None
    attempt: int = 1
    settles_event: bool = True  # the original delivery decides the event's pending_webhooks


def failure_reason(exc: BaseException) -> str:
    """An attempt's failure in one line: the exception's type and text (a timeout has none)."""
    return f"{type(exc).__name__}: {exc}"[:300] if str(exc) else type(exc).__name__


class WebhookDispatcher:
    """Sends every event to every subscribed endpoint, in order per endpoint.

    Retries (after `retry_delays`) and `delay_ms` faults leave the line and rejoin it when
    due, so one failing delivery does not hold back the next events, as with Stripe.
    """

    def __init__(
        self,
        state: StripeState,
        retry_delays: Sequence[float],
        *,
        attempt_timeout: float = 10.0,
        hold_timeout: float = 5.0,
    ) -> None:
        self.state = state
        self.retry_delays = tuple(retry_delays)
        self.attempt_timeout = attempt_timeout
        self.hold_timeout = hold_timeout
        self.faults = Faults()
        self.attempts: list[dict[str, Any]] = []
        # Called with each attempt as it is recorded (`rakubun-harness up` prints them live).
        self.observers: list[Callable[[dict[str, Any]], None]] = []
        self._queues: dict[str, asyncio.Queue[EventDelivery]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._pending = 0
        self._held: dict[str, Any] | None = None
        self._held_timer: asyncio.TimerHandle | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the HTTP client used for deliveries."""
        timeout = aiohttp.ClientTimeout(total=self.attempt_timeout)
        self._http = aiohttp.ClientSession(timeout=timeout)

    async def stop(self) -> None:
        """Abandon queued and delayed deliveries and close the HTTP client."""
        for timer in [*self._timers, self._held_timer]:
            if timer is not None:
                timer.cancel()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        self._queues.clear()
        if self._http is not None:
            await self._http.close()

    @property
    def pending(self) -> int:
        """Deliveries queued, delayed or in flight (plus a held event, if any)."""
        return self._pending + (self._held is not None)

    def publish(self, event: dict[str, Any]) -> None:
        """Queue a new event for its endpoints (the state calls this on every emit)."""
        event = copy.deepcopy(event)  # payloads stay as they were when the event happened
        if self._held is not None and self.faults.matches(event):
            held = self._held
            self._forget_held()
            self._fan_out(event, "reverse_pairs")
            self._fan_out(held, "reverse_pairs")
            self._maybe_idle()  # the pair may have had no endpoint to go to
        elif self.faults.take_reverse(event):
            self._held = event
            self._idle.clear()
            loop = asyncio.get_running_loop()
            self._held_timer = loop.call_later(self.hold_timeout, self.release_held)
        else:
            self._fan_out(event)

    def resend(self, event: dict[str, Any]) -> None:
        """Send a stored event again to its endpoints (faults apply)."""
        self._fan_out(copy.deepcopy(event), settles_event=False)

    def release_held(self) -> None:
        """Send an event held by `reverse_pairs` that never got a partner."""
        held = self._held
        if held is not None:
            self._forget_held()
            self._fan_out(held, "reverse_pairs")
            self._maybe_idle()

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until nothing is queued, delayed or in flight; raise TimeoutError otherwise."""
        self.release_held()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(
                f"webhook deliveries still pending after {timeout}s: {self.pending}"
            ) from None

    def _forget_held(self) -> None:
        self._held = None
        if self._held_timer is not None:
            self._held_timer.cancel()
            self._held_timer = None

    def _fan_out(
        self, event: dict[str, Any], label: str | None = None, *, settles_event: bool = True
    ) -> None:
        for endpoint in self.state.subscribed_endpoints(event["type"]):
            taken = self.faults.take_for_delivery(event)
            secret = self.state.webhook_secrets.get(endpoint["id"], "")
            labels = [label] if label else []
            delivery = EventDelivery(
                event=event,
                endpoint_id=endpoint["id"],
                url=endpoint["url"],
                secret=secret,
                faults=taken,
                fault_label=taken.label(*labels),
                settles_event=settles_event,
            )
            if taken.dropped:
                self._record(delivery, None, fault="dropped")
                self._settle(delivery)
                continue
            self._schedule(delivery, taken.delay)
            for _ in range(taken.extra_copies):
                duplicate = dataclasses.replace(
                    delivery, fault_label=taken.label(*labels, "duplicate"), settles_event=False
                )
                self._schedule(duplicate, taken.delay)

    def _schedule(self, delivery: EventDelivery, delay: float) -> None:
        self._pending += 1
        self._idle.clear()
        if delay <= 0:
            self._enqueue(delivery)
            return

        def fire() -> None:
            self._timers.discard(timer)
            self._enqueue(delivery)

        timer = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(timer)

    def _enqueue(self, delivery: EventDelivery) -> None:
        queue = self._queues.get(delivery.endpoint_id)
        if queue is None:
            queue = self._queues[delivery.endpoint_id] = asyncio.Queue()
            self._workers.append(asyncio.get_running_loop().create_task(self._work(queue)))
        queue.put_nowait(delivery)

    async def _work(self, queue: asyncio.Queue[EventDelivery]) -> None:
        while True:
            delivery = await queue.get()
            try:
                await self._attempt(delivery)
            except Exception:  # a bug in one delivery must not stop the endpoint's worker
                log.exception("webhook delivery of %s failed", delivery.event["id"])
            finally:
                self._pending -= 1
                self._maybe_idle()

    async def _attempt(self, delivery: EventDelivery) -> None:
        faults = delivery.faults
        timestamp = int(time.time()) - (STALE_BY if faults.stale_timestamp else 0)
        secret = new_webhook_secret() if faults.bad_signature else delivery.secret
        payload = json.dumps(delivery.event, indent=2)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Stripe-Signature": stripe_signature(payload, secret, timestamp),
        }
        started = time.time()
        status: int | None = None
        error: str | None = None
        try:
            assert self._http is not None, "WebhookDispatcher.start() was not awaited"
            async with self._http.post(delivery.url, data=payload.encode(), headers=headers) as r:
                status = r.status
                await r.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            status, error = None, failure_reason(exc)
        self._record(delivery, status, at=started, error=error)
        if status is not None and 200 <= status < 300:
            self._settle(delivery)
        elif delivery.attempt <= len(self.retry_delays):
            retry = dataclasses.replace(
                delivery, attempt=delivery.attempt + 1, faults=DeliveryFaults(), fault_label=None
            )
            self._schedule(retry, self.retry_delays[delivery.attempt - 1])
        else:
            self._settle(delivery)  # Stripe gives up after the last retry

    def _record(
        self,
        delivery: EventDelivery,
        status: int | None,
        *,
        fault: str | None = None,
        at: float | None = None,
        error: str | None = None,
    ) -> None:
        if error is None and status is not None and not 200 <= status < 300:
            error = f"HTTP {status}"
        attempt = {
            "event_id": delivery.event["id"],
            "type": delivery.event["type"],
            "url": delivery.url,
            "endpoint_id": delivery.endpoint_id,
            "status_code": status,
            "attempt": delivery.attempt,
            "at": at if at is not None else time.time(),
            "fault": fault or delivery.fault_label,
            "error": error,  # why the endpoint did not take it, as the service's attempts say
        }
        self.attempts.append(attempt)
        for observer in self.observers:
            try:
                observer(attempt)
            except Exception:  # a broken observer must not stop deliveries
                log.exception("webhook attempt observer failed")

    def _settle(self, delivery: EventDelivery) -> None:
        # The stored event counts endpoints still owed a delivery, like Stripe's pending_webhooks.
        if not delivery.settles_event:
            return
        event = self.state.find(EVENT, delivery.event["id"])
        if event is not None and event["pending_webhooks"] > 0:
            event["pending_webhooks"] -= 1
            self.state.flush()

    def _maybe_idle(self) -> None:
        if self._pending == 0 and self._held is None:
            self._idle.set()
