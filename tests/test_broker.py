"""Live-update invariant 6 (docs/architecture.md): events travel through the broker named by
TANDEM_BROADCAST_URL, and survive the broker going away.

Each scheme (memory://, postgres:// on the test database, redis:// on a private
redis-server started for the test) delivers events, also between two server processes. When
the Redis broker is killed, events keep arriving through the outbox poll; when it comes back
the server reconnects by itself, and a client that resumes from its last cursor misses
nothing. The shared Redis on 6379 is never used: its pub/sub channels are global.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, replace
from typing import Any

import pytest
from starlette.applications import Starlette

from app.settings import Settings, to_libpq_url
from tests.client import Api, Subscriber, metric, until_subscribed
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, DatabaseServer, create_admin, serve
from tests.processes import free_port

EVENTS = """
subscription Events($since: String) {
  opportunityEvents(since: $since) { cursor kind version opportunity { name nextStep } }
}
"""
CREATE = """mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) {
  opportunity { id version } userErrors { field code message } } }"""
UPDATE = """mutation($i: UpdateOpportunityInput!) { updateOpportunity(input: $i) {
  opportunity { id version } userErrors { field code message } } }"""

# In memory only, and only reachable from here.
REDIS_OPTIONS = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]


@dataclass
class RedisServer:
    """A private redis-server that a test may kill and restart on the same port."""

    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        executable = shutil.which("redis-server")
        assert executable, "redis-server is needed for the broker tests"
        self.process = subprocess.Popen(
            [executable, "--port", str(self.port), *REDIS_OPTIONS],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(500):
            with suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.1):
                return
            assert self.process.poll() is None, "redis-server exited at start-up"
            time.sleep(0.01)  # a few milliseconds, also when restarted during a test
        raise AssertionError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    redis = RedisServer(free_port())
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()


@asynccontextmanager
async def running(
    settings: Settings, database_url: str, broadcast_url: str
) -> AsyncIterator[tuple[Api, Starlette]]:
    async with serve(replace(settings, broadcast_url=broadcast_url), database_url) as (api, app):
        yield api, app


async def health(api: Api) -> dict[str, Any]:
    body: dict[str, Any] = (await api.http.get("/health")).json()
    return body


async def until_broker(api: Api, state: str) -> None:
    """Wait (up to a minute: reconnecting backs off) until /health reports `state`."""
    for _ in range(600):
        if (await health(api))["broker"] == state:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the broker never became {state!r}: {await health(api)}")


async def next_event(sub: Subscriber) -> dict[str, Any]:
    # Generous: while the broker is down, events come through the outbox poll.
    event: dict[str, Any] = (await sub.next(timeout=30))["opportunityEvents"]
    return event


async def collect(sub: Subscriber, count: int) -> list[dict[str, Any]]:
    return [await next_event(sub) for _ in range(count)]


async def create(api: Api, token: str, name: str) -> dict[str, Any]:
    values = {"name": name, "expectedValue": {"amount": "10.00", "currency": "EUR"}}
    opportunity: dict[str, Any] = (
        await api.mutate("createOpportunity", CREATE, {"i": values}, token)
    )["opportunity"]
    return opportunity


async def update(api: Api, token: str, opportunity: dict[str, Any], next_step: str) -> None:
    variables = {
        "i": {
            "id": opportunity["id"],
            "expectedVersion": opportunity["version"],
            "nextStep": next_step,
        }
    }
    payload = await api.mutate("updateOpportunity", UPDATE, variables, token)
    opportunity["version"] = payload["opportunity"]["version"]


async def without_outbox_poll(app: Starlette) -> None:
    """Stop the hub's periodic outbox read, so that only the broker can deliver events."""
    await app.state.runtime.hub._poller.stop()


def broadcast_url(scheme: str, database_url: str, redis: RedisServer) -> str:
    if scheme == "memory":
        return "memory://"
    if scheme == "postgres":
        return to_libpq_url(database_url)  # LISTEN/NOTIFY in the test's own database
    return redis.url


@pytest.fixture(params=["memory", "postgres", "redis"])
def broker_url(request: pytest.FixtureRequest, database_url: str, redis_server: RedisServer) -> str:
    return broadcast_url(request.param, database_url, redis_server)


async def test_each_broker_delivers_events_without_the_outbox_poll(
    settings: Settings, database_url: str, broker_url: str
) -> None:
    await create_admin(database_url)
    async with running(settings, database_url, broker_url) as (api, app):
        assert (await health(api))["broker"] == "connected"
        await without_outbox_poll(app)
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        async with api.subscriber(token) as sub:
            await sub.subscribe(EVENTS)
            await until_subscribed(api, 1)
            deal = await create(api, token, "Through the broker")
            await update(api, token, deal, "Next")
            received = await collect(sub, 2)
            # Delivered by the live link, not by the catch-up after a reconnect.
            assert await metric(api, "tandem_broker_reconnects_total") == 0
    assert [(e["cursor"], e["kind"]) for e in received] == [("1", "CREATED"), ("2", "UPDATED")]


@pytest.mark.parametrize("scheme", ["postgres", "redis"])
async def test_a_shared_broker_carries_events_between_two_servers(
    settings: Settings, database_url: str, redis_server: RedisServer, scheme: str
) -> None:
    url = broadcast_url(scheme, database_url, redis_server)
    await create_admin(database_url)
    async with (
        running(settings, database_url, url) as (a, _),
        running(settings, database_url, url) as (b, app_b),
    ):
        await without_outbox_poll(app_b)
        token = await a.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        async with b.subscriber(token) as on_b:
            await on_b.subscribe(EVENTS)
            await until_subscribed(b, 1)
            deal = await create(a, token, "Made on A")
            await update(a, token, deal, "Also on A")
            received = await collect(on_b, 2)
            assert await metric(b, "tandem_broker_reconnects_total") == 0
    assert [(e["cursor"], e["opportunity"]["name"]) for e in received] == [
        ("1", "Made on A"),
        ("2", "Made on A"),
    ]


async def test_events_survive_a_broker_outage_and_the_server_reconnects(
    settings: Settings, database_url: str, redis_server: RedisServer
) -> None:
    await create_admin(database_url)
    async with running(settings, database_url, redis_server.url) as (api, _):
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        deal = await create(api, token, "Deal")
        async with api.subscriber(token) as steady:
            await steady.subscribe(EVENTS, {"since": "1"})
            async with api.subscriber(token) as leaving:
                await leaving.subscribe(EVENTS, {"since": "1"})
                await update(api, token, deal, "before the outage")
                last_seen = (await next_event(leaving))["cursor"]
            assert [e["cursor"] for e in await collect(steady, 1)] == ["2"]
            assert await metric(api, "tandem_broker_reconnects_total") == 0

            redis_server.kill()
            # While the broker is away, the outbox poll delivers.
            for step in ("during 1", "during 2", "during 3"):
                await update(api, token, deal, step)
            during = await collect(steady, 3)
            await until_broker(api, "reconnecting")

            redis_server.start()
            await until_broker(api, "connected")
            assert await metric(api, "tandem_broker_reconnects_total") > 0
            await update(api, token, deal, "after the outage")
            after = await collect(steady, 1)

            async with api.subscriber(token) as returning:
                await returning.subscribe(EVENTS, {"since": last_seen})
                caught_up = await collect(returning, 4)

    steps = ["during 1", "during 2", "during 3", "after the outage"]
    assert [e["opportunity"]["nextStep"] for e in during + after] == steps
    assert [e["cursor"] for e in during + after] == ["3", "4", "5", "6"]
    assert [e["cursor"] for e in caught_up] == ["3", "4", "5", "6"]
    assert [e["version"] for e in caught_up] == [3, 4, 5, 6]


@asynccontextmanager
async def second_database(database_server: DatabaseServer, template: str) -> AsyncIterator[str]:
    name = f"tandem_test_{secrets.token_hex(6)}"
    await database_server.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield database_server.database_url(name)
    finally:
        await database_server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_deployments_sharing_a_redis_do_not_hear_each_other(
    settings: Settings,
    database_url: str,
    database_server: DatabaseServer,
    template_database: str,
    redis_server: RedisServer,
) -> None:
    # Redis pub/sub ignores the database index: two deployments (two databases) on one Redis
    # see the same channels. Their event numbers overlap, so a foreign event must never be
    # taken for one's own.
    async with second_database(database_server, template_database) as other_url:
        for url in (database_url, other_url):
            await create_admin(url)
        async with (
            running(settings, database_url, redis_server.url) as (ours, app),
            running(settings, other_url, redis_server.url) as (theirs, _),
        ):
            await without_outbox_poll(app)
            our_token = await ours.login(ADMIN_EMAIL, ADMIN_PASSWORD)
            their_token = await theirs.login(ADMIN_EMAIL, ADMIN_PASSWORD)
            async with ours.subscriber(our_token) as sub:
                await sub.subscribe(EVENTS)
                await until_subscribed(ours, 1)
                await create(theirs, their_token, "Their deal")
                await create(ours, our_token, "Our deal")
                first = await next_event(sub)
    assert (first["cursor"], first["opportunity"]["name"]) == ("1", "Our deal")
