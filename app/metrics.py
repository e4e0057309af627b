"""What /metrics tells Prometheus: the metric objects, and how they are read out.

Written with prometheus_client. With one process, each app has a registry of its own (several
servers may run in one test process, each telling only of itself). With `tandem serve
--workers N` the parent names a fresh directory in PROMETHEUS_MULTIPROC_DIR before the
workers start (`multiprocess_directory`); prometheus_client then keeps every value in a file
per worker there, and whichever worker answers /metrics sums them all (its multiprocess
mode): a scrape through the load balancer tells of the whole server, not of one worker.

What is counted on the hot path (an event to thousands of subscribers) is counted once per
event, not once per subscriber: each increment takes a lock, or in multiprocess mode writes
to a memory-mapped file.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""The text format every Prometheus reads (the names here need none of 1.0.0's escaping)."""

OPERATION_NAMES = 200
"""How many distinct operation names get a label of their own (the first seen); the rest are
counted as "other", so that clients naming operations at will cannot grow the label set."""

ANONYMOUS = "anonymous"
OTHER = "other"
BATCH = "batch"
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")

# `_created` samples (a timestamp per counter and label set) double the output and say
# nothing an operator of this server asks for; multiprocess mode has none either.
disable_created_metrics()  # type: ignore[no-untyped-call]


def multiprocess() -> bool:
    """Whether prometheus_client keeps its values in PROMETHEUS_MULTIPROC_DIR (chosen by it
    when first imported, from the same variable)."""
    return bool(os.environ.get(MULTIPROCESS_VARIABLE))


class OperationNames:
    """The label for an operation's name: bounded (see OPERATION_NAMES)."""

    def __init__(self, most: int = OPERATION_NAMES) -> None:
        self._most = most
        self._known: set[str] = set()

    def label(self, name: str | None) -> str:
        if not name:
            return ANONYMOUS
        if name in self._known:
            return name
        if len(self._known) >= self._most or not _NAME.fullmatch(name):
            return OTHER
        self._known.add(name)
        return name


class Metrics:
    """One app's metrics (app/web.py makes it; the hub, the broker link and the GraphQL
    endpoint count into it)."""

    def __init__(self) -> None:
        registry = self.registry = CollectorRegistry(auto_describe=True)
        self.operation_names = OperationNames()
        self.requests = Counter(
            "tandem_graphql_requests",
            "GraphQL operations answered, by operation name, type and outcome "
            "(ok, error: the answer carries errors, refused: no GraphQL answer)",
            ("operation", "type", "outcome"),
            registry=registry,
        )
        self.request_seconds = Histogram(
            "tandem_graphql_request_seconds",
            "Time to answer a GraphQL operation over HTTP, by operation name and type",
            ("operation", "type"),
            registry=registry,
        )
        self.connections = Gauge(
            "tandem_websocket_connections",
            "Open WebSocket connections",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.subscriptions = Gauge(
            "tandem_subscriptions",
            "Live event subscriptions",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.event_position = Gauge(
            "tandem_event_position",
            "The last event sequence number dispatched to this server's subscribers",
            registry=registry,
            multiprocess_mode="max",
        )
        self.events_published = Counter(
            "tandem_events_published",
            "Events committed by this server's mutations",
            registry=registry,
        )
        self.events_dispatched = Counter(
            "tandem_events_dispatched",
            "Events dispatched to this server's subscribers (each server process dispatches "
            "every event)",
            registry=registry,
        )
        self.events_delivered = Counter(
            "tandem_events_delivered",
            "Events handed to subscribers that take them, as they were dispatched "
            "(written at once or queued)",
            registry=registry,
        )
        self.written_at_once = Counter(
            "tandem_event_deliveries_written_at_once",
            "Of the events delivered, those written to the subscriber's socket in the "
            "dispatching turn",
            registry=registry,
        )
        self.events_replayed = Counter(
            "tandem_events_replayed",
            "Events delivered to subscribers from the outbox (resuming with since, or "
            "catching up after an overflow)",
            registry=registry,
        )
        self.events_dropped = Counter(
            "tandem_events_dropped",
            "Events dropped from the queue of a subscriber that fell behind (it reads them "
            "from the outbox instead)",
            registry=registry,
        )
        self.overflows = Counter(
            "tandem_subscriber_overflows",
            "Times a subscriber's queue was full and it went over to reading the outbox",
            registry=registry,
        )
        self.slow_clients_closed = Counter(
            "tandem_slow_clients_closed",
            "WebSockets closed with 4008 (too slow: resume with since)",
            registry=registry,
        )
        self.preparing_seconds = Counter(
            "tandem_event_preparing_seconds",
            "Time spent preparing events for their subscribers (shared results)",
            registry=registry,
        )
        self.dispatching_seconds = Counter(
            "tandem_event_dispatching_seconds",
            "Time spent handing events to their subscribers",
            registry=registry,
        )
        self.broker_reconnects = Counter(
            "tandem_broker_reconnects",
            "Times the event broker connection was lost and built again",
            registry=registry,
        )
        self.broker_connected = Gauge(
            "tandem_broker_connected",
            "1 when the event broker is connected (with several workers: every one of them)",
            registry=registry,
            multiprocess_mode="livemin",
        )
        registry.register(_Process())

    def exposition(self) -> bytes:
        """The text /metrics answers: in multiprocess mode, the sum over all workers."""
        if multiprocess():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)

    def answered(self, name: str | None, kind: str, outcome: str, seconds: float) -> None:
        """An operation answered over HTTP."""
        operation = self.operation_names.label(name)
        self.requests.labels(operation, kind, outcome).inc()
        self.request_seconds.labels(operation, kind).observe(seconds)

    def started(self, name: str | None, kind: str, outcome: str) -> None:
        """An operation started over a WebSocket (its latency is a stream's: not measured)."""
        self.requests.labels(self.operation_names.label(name), kind, outcome).inc()


# The plan executor is one per process (app/graphql/schema.py's), so its counts are too:
# every app of the process tells them.
_PLANS = CollectorRegistry(auto_describe=True)
planned_operations = Counter(
    "tandem_planned_operations",
    "Operations run through compiled plans",
    registry=_PLANS,
)
plan_fallbacks = Counter(
    "tandem_plan_fallbacks",
    "Operations the standard executor ran instead of a plan, by reason",
    ("reason",),
    registry=_PLANS,
)
event_results_built = Counter(
    "tandem_event_results_built",
    "Results built for live events (one per event and group of subscribers sharing it)",
    registry=_PLANS,
)


class _Process(Collector):
    """The process-wide metrics, in each app's registry."""

    def collect(self) -> Iterable:  # type: ignore[type-arg]
        return _PLANS.collect()


@contextmanager
def multiprocess_directory() -> Iterator[str]:
    """A fresh, empty PROMETHEUS_MULTIPROC_DIR for the workers about to start, removed when
    they have ended: values left from an earlier run would be summed in."""
    directory = tempfile.mkdtemp(prefix="tandem-metrics-")
    os.environ[MULTIPROCESS_VARIABLE] = directory
    try:
        yield directory
    finally:
        os.environ.pop(MULTIPROCESS_VARIABLE, None)
        shutil.rmtree(directory, ignore_errors=True)


def worker_ended(pid: int | None) -> None:
    """A worker is gone: its live gauges (connections, subscriptions) stop counting."""
    if pid is not None and multiprocess():
        mark_process_dead(pid)  # type: ignore[no-untyped-call]
