"""Servers on one database whose brokers cannot reach each other are refused, with the fix.

`memory://` reaches only its own process: a second server on the same database, or a server
with a shared broker beside one in memory, would hear the other's changes only from the
outbox poll. The second to start is refused (the CLI says why and exits); a server that lost
its place while the database restarted and finds it taken says so on /health.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import asyncpg

from app.events.neighbours import LOCK_KEY
from app.settings import Settings, to_libpq_url
from tests.client import Api
from tests.conftest import serve
from tests.processes import TANDEM, free_port, tandem_env


async def refused_start(settings: Settings, database_url: str, broadcast_url: str) -> str:
    """Start `tandem serve` and expect it to exit at once: what it said on stderr."""
    env = tandem_env(
        settings,
        database_url,
        TANDEM_BROADCAST_URL=broadcast_url,
        TANDEM_PORT=str(free_port()),
    )
    process = await asyncio.create_subprocess_exec(
        TANDEM,
        "serve",
        "--no-migrate",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 2, stderr.decode()
    said = stderr.decode()
    assert "Traceback" not in said, said
    return said


async def health(api: Api) -> dict[str, Any]:
    response = await api.http.get("/health")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_second_server_in_memory_on_one_database_is_refused(
    settings: Settings, database_url: str
) -> None:
    async with serve(settings, database_url) as (first, _):
        said = await refused_start(settings, database_url, "memory://")
        assert "another Tandem server is running on this database" in said
        assert "TANDEM_BROADCAST_URL=redis://" in said  # the fix, in the message
        assert (await health(first))["status"] == "ok"  # the first goes on as it was
    # Alone again, a server in memory starts.
    async with serve(settings, database_url) as (alone, _):
        assert (await health(alone))["status"] == "ok"


async def test_servers_with_a_shared_broker_and_one_in_memory_are_refused_either_way(
    settings: Settings, database_url: str
) -> None:
    shared = replace(settings, broadcast_url=to_libpq_url(database_url))
    async with (
        serve(shared, database_url) as (first, _),
        serve(shared, database_url) as (second, _),
    ):
        # Two servers with one shared broker: what it is for.
        assert (await health(first))["status"] == "ok"
        assert (await health(second))["status"] == "ok"
        said = await refused_start(settings, database_url, "memory://")
        assert "this one's TANDEM_BROADCAST_URL is memory://" in said
    async with serve(settings, database_url):
        said = await refused_start(settings, database_url, to_libpq_url(database_url))
        assert "a Tandem server with TANDEM_BROADCAST_URL=memory:// is running" in said
        assert "restart that server" in said


async def _lock_backends(connection: asyncpg.Connection) -> list[int]:
    rows = await connection.fetch(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND ((classid::bigint << 32) | objid::bigint) = $1 AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())",
        LOCK_KEY,
    )
    return [row["pid"] for row in rows]


async def until_health(api: Api, status: str) -> dict[str, Any]:
    for _ in range(200):  # the place is looked after every 5 s
        body = await health(api)
        if body["status"] == status:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"/health did not become {status!r}: {body}")


async def test_a_server_that_finds_its_place_taken_after_losing_it_says_so_on_health(
    settings: Settings, database_url: str
) -> None:
    async with serve(settings, database_url) as (api, _):
        other = await asyncpg.connect(to_libpq_url(database_url))
        try:
            # The server's lock goes with its connection, as in a database restart; another
            # server in memory takes the place meanwhile.
            pids = await _lock_backends(other)
            assert len(pids) == 1
            await other.execute("SELECT pg_terminate_backend($1)", pids[0])
            for _ in range(100):
                if await other.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("the server's lock was not released")
            body = await until_health(api, "degraded")
            assert body["database"] == "ok"
            assert "another Tandem server is running on this database" in body["problem"]
        finally:
            await other.close()
        # The other gone, the server takes its place again.
        body = await until_health(api, "ok")
        assert "problem" not in body
