"""Shutdown within a bound, whatever the broker does (app/shutdown.py).

A `tandem serve` process (tests/processes.py) on the test's database, with a private
redis-server as its broker (tests/test_broker.py's, never the shared one), gets SIGTERM:
its WebSocket clients get a close frame with 1012 (service restart: reconnect elsewhere and
resume), it exits by itself (143, not the forced exit of a shutdown past its bound), and
its output has no asyncio complaint about the Redis listener's task. Also when the broker
dies at that very moment, which used to hang the shutdown for good.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from app.settings import Settings
from tests.client import Api, Subscriber, until_subscribed
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin
from tests.processes import TANDEM, free_port, tandem_env, wait_until_healthy
from tests.test_broker import RedisServer, until_broker

EVENTS = "subscription { opportunityEvents { cursor kind } }"
CREATE = """mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) {
  opportunity { id } userErrors { field code message } } }"""
BEFORE = {"name": "Before", "expectedValue": {"amount": "10.00", "currency": "EUR"}}
SUBSCRIBERS = 20
EXIT_SECONDS = 30  # far beyond the bound (app/shutdown.py): only a hang exceeds it
ASYNCIO_COMPLAINTS = ("never retrieved", "destroyed but it is pending", "Traceback")


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = RedisServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


@asynccontextmanager
async def spawned(
    env: dict[str, str], output: Path
) -> AsyncIterator[tuple[Api, asyncio.subprocess.Process]]:
    """`tandem serve` in a process of its own, everything it prints into `output`."""
    port = free_port()
    with output.open("ab") as sink:
        process = await asyncio.create_subprocess_exec(
            TANDEM,
            "serve",
            "--no-migrate",
            env={**env, "TANDEM_PORT": str(port)},
            stdout=sink,
            stderr=sink,
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            await wait_until_healthy(http, process)
            yield Api(base_url, http), process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def close_code(subscriber: Subscriber) -> int | None:
    """The code of the close frame the server sent (None: dropped without one)."""
    try:
        while True:
            await asyncio.wait_for(subscriber.ws.recv(), EXIT_SECONDS)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else None


async def terminated(
    env: dict[str, str], output: Path, redis: RedisServer, *, kill_broker: bool
) -> list[int | None]:
    """Serve with subscribers, then SIGTERM (and the broker killed at the same moment):
    the subscribers' close codes, once the server exited by itself."""
    async with spawned(env, output) as (api, process), AsyncExitStack() as stack:
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        subscribers = [
            await stack.enter_async_context(api.subscriber(token)) for _ in range(SUBSCRIBERS)
        ]
        for subscriber in subscribers:
            await subscriber.subscribe(EVENTS)
        await until_subscribed(api, SUBSCRIBERS)
        # Live: an event went through the broker's listener to every subscriber.
        await api.mutate("createOpportunity", CREATE, {"i": BEFORE}, token)
        for subscriber in subscribers:
            assert (await subscriber.next())["opportunityEvents"]["kind"] == "CREATED"
        if kill_broker:
            redis.kill()
        process.send_signal(signal.SIGTERM)
        codes = await asyncio.gather(*(close_code(s) for s in subscribers))
        assert await asyncio.wait_for(process.wait(), EXIT_SECONDS) == 128 + signal.SIGTERM
    return codes


def complaints(output: Path) -> list[str]:
    lines = output.read_text(errors="replace").splitlines()
    return [line for line in lines if any(c in line for c in ASYNCIO_COMPLAINTS)]


async def test_sigterm_as_the_broker_dies_closes_every_socket_and_exits(
    settings: Settings, database_url: str, redis: RedisServer, tmp_path: Path
) -> None:
    await create_admin(database_url)
    env = tandem_env(settings, database_url, TANDEM_BROADCAST_URL=redis.url)
    output = tmp_path / "serve.log"
    codes = await terminated(env, output, redis, kill_broker=True)
    assert codes == [1012] * SUBSCRIBERS
    assert complaints(output) == []


async def test_a_clean_sigterm_closes_every_socket_and_leaves_no_task_behind(
    settings: Settings, database_url: str, redis: RedisServer, tmp_path: Path
) -> None:
    await create_admin(database_url)
    env = tandem_env(settings, database_url, TANDEM_BROADCAST_URL=redis.url)
    output = tmp_path / "serve.log"
    codes = await terminated(env, output, redis, kill_broker=False)
    assert codes == [1012] * SUBSCRIBERS
    assert complaints(output) == []


async def test_sigterm_after_a_broker_restart_leaves_no_task_behind(
    settings: Settings, database_url: str, redis: RedisServer, tmp_path: Path
) -> None:
    await create_admin(database_url)
    env = tandem_env(settings, database_url, TANDEM_BROADCAST_URL=redis.url)
    output = tmp_path / "serve.log"
    async with spawned(env, output) as (api, process):
        # A reconnect first: each used to leave the old listener's failure unretrieved.
        redis.kill()
        await until_broker(api, "reconnecting")
        redis.start()
        await until_broker(api, "connected")
        async with api.subscriber(await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)) as subscriber:
            await subscriber.subscribe(EVENTS)
            await until_subscribed(api, 1)
            process.send_signal(signal.SIGTERM)
            assert await close_code(subscriber) == 1012
        assert await asyncio.wait_for(process.wait(), EXIT_SECONDS) == 128 + signal.SIGTERM
    assert complaints(output) == []
    assert "event broker connection lost" in output.read_text()  # the reconnect happened
