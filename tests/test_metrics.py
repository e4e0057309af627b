"""/metrics (app/metrics.py), read as Prometheus reads it: with prometheus_client's own parser.

Operations by name, type and outcome with their latency; the bound on operation names; the
WebSocket and subscription gauges; the event counters; and with `tandem serve --workers 2`,
every worker answering for all of them (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.metrics import OPERATION_NAMES
from app.settings import Settings
from tests.client import Api
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin
from tests.test_workers import (
    WORKERS,
    logged,
    serving,
    subscribers_on_every_worker,
    worker_of,
    workers_env,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

CREATE = """
mutation Open($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) { opportunity { id version } userErrors { field message } }
}
"""
EVENTS = "subscription Watch { opportunityEvents { cursor kind } }"


async def scrape(http: httpx.AsyncClient) -> tuple[Samples, dict[str, str]]:
    """Every sample of /metrics by (name, labels), and every family's type."""
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(response.text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, types


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def labelled(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(labels)[label] for found, labels in samples if found == name}


async def create(api: Api, token: str, name: str) -> dict[str, Any]:
    values = {"name": name, "expectedValue": {"amount": "1.00", "currency": "EUR"}}
    payload = await api.mutate("createOpportunity", CREATE, {"input": values}, token)
    opportunity: dict[str, Any] = payload["opportunity"]
    return opportunity


async def test_operations_are_counted_by_name_type_and_outcome(api: Api, admin_token: str) -> None:
    before, types = await scrape(api.http)
    assert types["tandem_graphql_requests"] == "counter"
    assert types["tandem_graphql_request_seconds"] == "histogram"
    for _ in range(3):
        await api.ok("query Whoami { me { id } }", token=admin_token)
    await create(api, admin_token, "Counted")
    await api.ok("{ me { id } }", token=admin_token)
    body = await api.gql("query Broken { me { nothingHere } }", token=admin_token)
    assert body["errors"]
    unparsed = await api.post({"query": "query {"}, admin_token)
    assert unparsed.json()["errors"]
    after, _ = await scrape(api.http)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "tandem_graphql_requests_total"
    assert grew(requests, operation="Whoami", type="query", outcome="ok") == 3
    assert grew(requests, operation="Open", type="mutation", outcome="ok") == 1
    assert grew(requests, operation="anonymous", type="query", outcome="ok") == 1
    assert grew(requests, operation="Broken", type="query", outcome="error") == 1
    # A text that does not parse names no operation, nor its type.
    assert grew(requests, operation="anonymous", type="unknown", outcome="error") == 1
    seconds = "tandem_graphql_request_seconds"
    assert grew(f"{seconds}_count", operation="Whoami", type="query") == 3
    assert grew(f"{seconds}_count", operation="Open", type="mutation") == 1
    assert grew(f"{seconds}_bucket", operation="Whoami", type="query", le="+Inf") == 3
    buckets = [
        labels
        for name, labels in after
        if name == f"{seconds}_bucket" and ("operation", "Open") in labels
    ]
    assert len(buckets) > 5  # the default buckets, each with its `le`
    assert value(after, f"{seconds}_sum", operation="Open", type="mutation") > 0


async def test_operation_names_are_bounded(api: Api, admin_token: str) -> None:
    for number in range(OPERATION_NAMES + 100):
        await api.ok(f"query Q{number} {{ me {{ id }} }}", token=admin_token)
    samples, _ = await scrape(api.http)
    names = labelled(samples, "tandem_graphql_requests_total", "operation")
    assert "other" in names
    assert len(names - {"other"}) <= OPERATION_NAMES
    # Those past the bound are still counted, together.
    assert (
        value(
            samples, "tandem_graphql_requests_total", operation="other", type="query", outcome="ok"
        )
        >= 100
    )


async def test_a_hostile_operation_name_is_not_a_label(api: Api, admin_token: str) -> None:
    body = await api.post(
        {"query": "query A { me { id } }", "operationName": 'x"} 1\nfake_metric 1'},
        admin_token,
    )
    assert body.status_code in (200, 400)
    samples, _ = await scrape(api.http)
    assert not any(name.startswith("fake_metric") for name, _ in samples)
    assert 'x"} 1\nfake_metric 1' not in labelled(
        samples, "tandem_graphql_requests_total", "operation"
    )


async def test_connection_and_subscription_gauges_follow_a_socket(
    api: Api, admin_token: str
) -> None:
    before, types = await scrape(api.http)
    assert types["tandem_websocket_connections"] == "gauge"
    assert types["tandem_subscriptions"] == "gauge"
    connections = value(before, "tandem_websocket_connections")
    subscriptions = value(before, "tandem_subscriptions")
    async with api.subscriber(admin_token) as subscriber:
        await subscriber.subscribe(EVENTS)
        during = await until(
            api.http,
            lambda s: value(s, "tandem_subscriptions") == subscriptions + 1,
        )
        assert value(during, "tandem_websocket_connections") == connections + 1
        published = value(during, "tandem_events_published_total")
        delivered = value(during, "tandem_events_delivered_total")
        await create(api, admin_token, "Watched")
        assert (await subscriber.next())["opportunityEvents"]["kind"] == "CREATED"
        moved = await until(
            api.http, lambda s: value(s, "tandem_events_delivered_total") >= delivered + 1
        )
        assert value(moved, "tandem_events_published_total") == published + 1
        assert value(moved, "tandem_events_dispatched_total") >= 1
        assert (
            value(
                moved,
                "tandem_graphql_requests_total",
                operation="Watch",
                type="subscription",
                outcome="ok",
            )
            >= 1
        )
    after = await until(
        api.http,
        lambda s: (
            value(s, "tandem_websocket_connections") == connections
            and value(s, "tandem_subscriptions") == subscriptions
        ),
    )
    assert value(after, "tandem_subscriptions") == subscriptions


async def until(http: httpx.AsyncClient, holds: Any) -> Samples:
    """The first scrape where `holds(samples)` (the server counts as its tasks run)."""
    for _ in range(500):
        samples, _ = await scrape(http)
        if holds(samples):
            return samples
        await asyncio.sleep(0.02)
    raise AssertionError(f"never held; last scrape: {samples}")


async def test_every_worker_answers_for_all_of_them(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    await create_admin(database_url)
    log = tmp_path / "serve.log"
    async with serving(workers_env(settings, database_url), log) as served:
        token = await served.api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        answered_by: dict[int, int] = {}
        # New connections, so that the kernel spreads them over the workers.
        for _ in range(200):
            async with httpx.AsyncClient(base_url=served.api.base_url, timeout=30) as http:
                response = await http.post(
                    "/graphql",
                    json={"query": "query Spread { me { id } }"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert response.status_code == 200, response.text
                pid = worker_of(response)
                answered_by[pid] = answered_by.get(pid, 0) + 1
            if len(answered_by) == WORKERS and min(answered_by.values()) >= 3:
                break
        assert len(answered_by) == WORKERS, answered_by
        total = sum(answered_by.values())
        scraped_by: set[int] = set()
        async with AsyncExitStack() as stack:
            for _ in range(200):
                http = await stack.enter_async_context(
                    httpx.AsyncClient(base_url=served.api.base_url, timeout=30)
                )
                response = await http.get("/metrics")
                pid = worker_of(response)
                if pid in scraped_by:
                    continue
                scraped_by.add(pid)
                samples = {
                    (s.name, frozenset(s.labels.items())): s.value
                    for f in text_string_to_metric_families(response.text)
                    for s in f.samples
                }
                counted = value(
                    samples,
                    "tandem_graphql_requests_total",
                    operation="Spread",
                    type="query",
                    outcome="ok",
                )
                assert counted == total, (pid, counted, answered_by, logged(log)[-2000:])
                assert (
                    value(
                        samples,
                        "tandem_graphql_request_seconds_count",
                        operation="Spread",
                        type="query",
                    )
                    == total
                )
                if len(scraped_by) == WORKERS:
                    break
        assert scraped_by == set(answered_by)
        # A subscription on each worker: either one tells of both (their live sum).
        async with AsyncExitStack() as stack:
            await subscribers_on_every_worker(stack, served, token, None, 1)
            # (Sockets opened on a worker that had one already are closed meanwhile.)
            await until(
                served.api.http,
                lambda s: (
                    value(s, "tandem_subscriptions") == WORKERS
                    and value(s, "tandem_websocket_connections") == WORKERS
                ),
            )
        await until(served.api.http, lambda s: value(s, "tandem_subscriptions") == 0)
