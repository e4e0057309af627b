"""Presence across server processes, through the Redis broker: what a client announces to one
`tandem serve` shows on the other, its leaving too, and the entries of a process killed with
SIGKILL vanish from the other within their lifetime (TANDEM_PRESENCE_TTL_SECONDS).

Each server is a real process (tests/processes.py) on the test's database, with a private
redis-server (tests/test_broker.py's), never the shared one.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from app.settings import Settings
from tests.client import Api
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin
from tests.processes import TANDEM, free_port, tandem_env, wait_until_healthy
from tests.test_broker import RedisServer
from tests.test_presence import announce, create_deal, drain, snapshot, subscribe, until, who

TTL_SECONDS = "4"


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = RedisServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


@asynccontextmanager
async def spawned(env: dict[str, str]) -> AsyncIterator[tuple[Api, asyncio.subprocess.Process]]:
    """`tandem serve` in a process of its own, which the test may kill."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        TANDEM,
        "serve",
        "--no-migrate",
        env={**env, "TANDEM_PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            await wait_until_healthy(http, process)
            yield Api(base_url, http), process
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), timeout=30)


async def test_presence_travels_between_processes_and_a_killed_ones_expires(
    settings: Settings, database_url: str, redis: RedisServer
) -> None:
    await create_admin(database_url)
    env = tandem_env(
        settings,
        database_url,
        TANDEM_BROADCAST_URL=redis.url,
        TANDEM_PRESENCE_TTL_SECONDS=TTL_SECONDS,
    )
    async with spawned(env) as (a, doomed), spawned(env) as (b, _):
        admin = await a.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        _, mia = await a.create_user(admin, "mia@example.com", name="Mia Keller")
        _, leo = await a.create_user(admin, "leo@example.com", name="Leo Brandt")
        deal = await create_deal(a, mia, "Two servers")
        async with b.subscriber(leo) as on_b:
            await subscribe(on_b, board=True)
            assert (await snapshot(on_b))["opportunities"] == []

            # Announced over HTTP to A, and left there: B hears both.
            await announce(a, mia, "mia-phone", "VIEWING", deal)
            here = await until(on_b, lambda s: bool(s["opportunities"]))
            assert who(here["opportunities"][0]["entries"]) == {
                ("Mia Keller", "mia-phone", "VIEWING")
            }
            await announce(a, mia, "mia-phone", None, deal)
            await until(on_b, lambda s: s["opportunities"] == [])

            # Heartbeats of one session spread over both servers (a load balancer): one
            # entry, and leaving through either ends it everywhere, well within a lifetime.
            await announce(a, mia, "mia-laptop", "VIEWING", deal)
            await announce(b, mia, "mia-laptop", "VIEWING", deal)
            here = await until(on_b, lambda s: bool(s["opportunities"]))
            assert [e["sessionId"] for e in here["opportunities"][0]["entries"]] == ["mia-laptop"]
            await on_b.expect_silence(1.0)  # B hearing A's copy changes nothing it shows
            await announce(a, mia, "mia-laptop", None, deal)
            await until(on_b, lambda s: s["opportunities"] == [], timeout=2)

            # Held by Mia's socket on A, which stays open; then A dies without a word.
            async with a.subscriber(mia) as on_a:
                await subscribe(on_a, deal, announce="EDITING", session="mia-tab")
                await snapshot(on_a)
                answering = asyncio.create_task(drain(on_a))  # its pings, as clients do
                here = await until(on_b, lambda s: bool(s["opportunities"]))
                assert who(here["opportunities"][0]["entries"]) == {
                    ("Mia Keller", "mia-tab", "EDITING")
                }
                # Kept alive by A's refreshes for longer than a lifetime.
                await on_b.expect_silence(float(TTL_SECONDS) * 2)

                doomed.send_signal(signal.SIGKILL)
                await doomed.wait()
                await until(on_b, lambda s: s["opportunities"] == [], timeout=10)
                answering.cancel()
                with suppress(asyncio.CancelledError, ConnectionClosed):
                    await answering
