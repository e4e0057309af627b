"""/health/live and /health/ready, the probes of a load balancer or an orchestrator.

live answers whenever the process does, and touches nothing. ready is 200 only when this
server can serve: its database answers, its schema is at the code's migration head, and its
broker link (other than memory://) is up; else a 503 with Retry-After and a JSON body saying
which check failed. /health stays as it was.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import asyncpg
import httpx

from app.readiness import code_heads
from app.settings import Settings, to_libpq_url
from tests.client import Api
from tests.conftest import serve
from tests.processes import free_port
from tests.test_broker import RedisServer
from tests.test_request_ids import database_gone


async def probes(api: Api) -> tuple[httpx.Response, httpx.Response]:
    return await api.http.get("/health/live"), await api.http.get("/health/ready")


def unready(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    body: dict[str, Any] = response.json()
    assert body["status"] == "unavailable", body
    checks: dict[str, Any] = body["checks"]
    return checks


async def test_a_serving_server_is_live_and_ready(settings: Settings, database_url: str) -> None:
    async with serve(settings, database_url) as (api, _):
        live, ready = await probes(api)
        assert live.status_code == 200 and live.json() == {"status": "alive"}
        assert ready.status_code == 200, ready.text
        # memory:// has no link to check.
        assert ready.json() == {
            "status": "ready",
            "checks": {"database": "ok", "migrations": "ok"},
        }
        old = (await api.http.get("/health")).json()
        assert old["status"] == "ok" and old["database"] == "ok"


async def test_without_its_database_a_server_is_live_but_not_ready(
    settings: Settings, database_url: str
) -> None:
    async with serve(settings, database_url) as (api, _):
        async with database_gone(database_url):
            live, ready = await probes(api)
            assert live.status_code == 200
            checks = unready(ready)
            assert checks["database"] == "unavailable", checks
            assert (await api.http.get("/health")).status_code == 503  # as it always was
        for _ in range(50):
            if (await api.http.get("/health/ready")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert (await api.http.get("/health/ready")).status_code == 200


async def test_a_database_behind_the_code_s_migrations_is_not_ready(
    settings: Settings, database_url: str
) -> None:
    [head] = code_heads()
    connection = await asyncpg.connect(to_libpq_url(database_url))
    try:
        async with serve(settings, database_url) as (api, _):
            await connection.execute("UPDATE alembic_version SET version_num = '0001'")
            live, ready = await probes(api)
            assert live.status_code == 200
            checks = unready(ready)
            assert checks["database"] == "ok", checks
            assert checks["migrations"] == (
                f"database at 0001, code expects {head} (run `tandem migrate`)"
            )
            await connection.execute("UPDATE alembic_version SET version_num = $1", head)
            assert (await api.http.get("/health/ready")).status_code == 200
    finally:
        await connection.close()


async def test_a_server_whose_broker_is_away_is_not_ready(
    settings: Settings, database_url: str
) -> None:
    redis = RedisServer(free_port())
    redis.start()
    try:
        async with serve(replace(settings, broadcast_url=redis.url), database_url) as (api, _):
            ready = await api.http.get("/health/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["broker"] == "ok"
            redis.kill()
            for _ in range(100):
                live, ready = await probes(api)
                if ready.status_code != 200:
                    break
                await asyncio.sleep(0.1)
            assert live.status_code == 200
            assert unready(ready) == {
                "database": "ok",
                "migrations": "ok",
                "broker": "reconnecting",
            }
            redis.start()
            for _ in range(300):  # reconnecting backs off
                if (await api.http.get("/health/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert (await api.http.get("/health/ready")).status_code == 200
    finally:
        redis.kill()
