"""Prometheus metrics: per-process counters that add up across Sanic's worker processes, and
figures read from the store at scrape time (the same for every worker and machine).

Workers are processes, so per-process counters use prometheus_client's multiprocess mode when
`PROMETHEUS_MULTIPROC_DIR` is set before the worker imports it (`rakubun-service --workers N`
sets a fresh directory per run): every worker writes its values to files there and a scrape,
on any worker, sums them all. In one process (one worker, the tests) the values live in this
app's own registry.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

#: Latency buckets (seconds): the hot endpoints answer in milliseconds, Stripe calls in tenths.
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """One app's metrics; counters and the latency histogram are per process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # prometheus_client chooses files or memory once, when first imported: follow it.
        in_files = values.ValueClass is not values.MutexValue
        self.multiprocess_dir = os.environ.get(MULTIPROCESS_DIR) if in_files else None
        self.requests = Counter(
            "rakubun_http_requests",
            "HTTP requests answered, by operationId and status",
            ["operation", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "rakubun_http_request_duration_seconds",
            "Time to answer, by operationId and status",
            ["operation", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stripe_errors = Counter(
            "rakubun_stripe_api_errors",
            "Stripe API calls that failed, by our error code",
            ["code"],
            registry=self.registry,
        )

        #: The labelled children per (operation, status): `labels()` looks them up under a
        #: lock and builds a key on every call; a request only needs the dict lookup.
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}
        #: In one process, what requests added since the last scrape, per (operation, status):
        #: [count, seconds, one count per latency bucket] (`flush` hands them over).
        self._tallies: dict[tuple[str, int], list[Any]] = {}

    def _labelled(self, operation: str, status: int) -> tuple[Any, Any]:
        children = self._children.get((operation, status))
        if children is None:
            labels = (operation, str(status))
            children = self._children[(operation, status)] = (
                self.requests.labels(*labels),
                self.latency.labels(*labels),
            )
        return children

    def record_request(self, operation: str, status: int, seconds: float) -> None:
        """Count one answer. With several workers, straight into the shared files (a scrape on
        any worker sums them); in one process, into a plain tally that the next scrape hands
        to prometheus_client (`flush`): its counters take a lock per increment and its
        histogram walks the buckets in Python, about 10 µs of a 100 µs read
        (`python -m bench.default_cpu`)."""
        if self.multiprocess_dir:
            requests, latency = self._labelled(operation, status)
            requests.inc()
            latency.observe(seconds)
            return
        tally = self._tallies.get((operation, status))
        if tally is None:
            tally = self._tallies[(operation, status)] = [0, 0.0, [0] * (len(LATENCY_BUCKETS) + 1)]
        tally[0] += 1
        tally[1] += seconds
        tally[2][bisect_left(LATENCY_BUCKETS, seconds)] += 1  # `observe`'s bucket: le >= seconds

    def flush(self) -> None:
        """Hand the tallies to prometheus_client's counters and histogram (the histogram's
        per-bucket values are what `observe` increments, one increment per bucket here)."""
        tallies, self._tallies = self._tallies, {}
        for (operation, status), (count, seconds, buckets) in tallies.items():
            requests, latency = self._labelled(operation, status)
            requests.inc(count)
            latency._sum.inc(seconds)
            for index, found in enumerate(buckets):
                if found:
                    latency._buckets[index].inc(found)

    def exposition(self, store_figures: dict[str, Any]) -> bytes:
        """The text format: the process counters (summed over workers) and the store's figures."""
        self.flush()
        if self.multiprocess_dir:
            merged = CollectorRegistry()
            MultiProcessCollector(merged, path=self.multiprocess_dir)
            counters = generate_latest(merged)
        else:
            counters = generate_latest(self.registry)
        figures = CollectorRegistry()
        figures.register(StoreFigures(store_figures))
        return counters + generate_latest(figures)


class StoreFigures:
    """A collector over figures read from the store for one scrape."""

    def __init__(self, figures: dict[str, Any]) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        outbox = self.figures["outbox"]
        backlog = GaugeMetricFamily(
            "rakubun_webhook_outbox_deliveries",
            "Plugin webhook deliveries waiting or given up, by status",
            labels=["status"],
        )
        backlog.add_metric(["pending"], outbox["pending"])
        backlog.add_metric(["failed"], outbox["failed"])
        yield backlog
        yield GaugeMetricFamily(
            "rakubun_webhook_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending plugin webhook delivery (0: none)",
            value=pending_age(outbox.get("oldest_pending_at")),
        )
        ledger = CounterMetricFamily(
            "rakubun_ledger_entries",
            "Ledger entries ever written, by kind (purchase: grants, "
            "reversal: refunds and disputes, deduction: spent credits)",
            labels=["kind"],
        )
        counts = self.figures["ledger"]
        for kind in sorted({"purchase", "reversal", "deduction", *counts}):
            ledger.add_metric([kind], counts.get(kind, 0))
        yield ledger


def pending_age(oldest_iso: str | None, now: datetime | None = None) -> float:
    """Seconds since `oldest_iso` (an ISO time with `Z`), 0 when there is none."""
    if not oldest_iso:
        return 0.0
    then = datetime.fromisoformat(oldest_iso.replace("Z", "+00:00"))
    return max(0.0, ((now or datetime.now(UTC)) - then).total_seconds())
