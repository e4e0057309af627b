"""What an operation costs, said in every answer and held to limits before it runs.

The cost is the number of objects an operation may ask for, page sizes multiplied through
nesting (a field's default page size when none is asked, a variable's value or default when
one is): `extensions.cost` says it with what the user has left this minute. Past the limit
of one operation it is refused before anything runs (a mutation changes nothing); past the
user's budget, refused with when to retry, while cheaper operations and other users go on.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from app.settings import Settings
from tests.client import Api
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin, serve
from tests.test_websocket_protocols import frame, opened

ME = "{ me { id } }"
PAGE = "{ opportunities(first: 10) { nodes { id timeline(first: 5) { nodes { kind } } } } }"
BY_VARIABLE = """query($n: Int = 7) { opportunities(first: $n) { nodes { id } } }"""
DEFAULTS = """{ companies { nodes { id activities { nodes { id } } } } }"""
IN_FRAGMENTS = """query { ...Q }
fragment Q on Query { opportunities(first: 4) { nodes { ...O } } }
fragment O on Opportunity { history(first: 3) { nodes { kind } } timeline { nodes { kind } } }"""
CUBE = """{ opportunities(first: 100) { nodes { history(first: 100) { nodes {
  opportunity { timeline(first: 100) { nodes { kind } } } } } } } }"""
COSTLY_CREATE = """mutation { createCompany(input: {name: "Costly"}) {
  company { activities(first: 100) { nodes { id } } } } }"""
COMPANIES = "{ companies { totalCount } }"


async def post(api: Api, query: str, token: str, **variables: Any) -> httpx.Response:
    return await api.http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )


def cost_of(response: httpx.Response) -> dict[str, int]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    cost: dict[str, int] = body["extensions"]["cost"]
    return cost


def refused(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body.get("data") is None, body
    [error] = body["errors"]
    extensions: dict[str, Any] = error["extensions"]
    return extensions


@pytest.fixture
async def admin(settings: Settings, database_url: str) -> AsyncIterator[tuple[Api, str]]:
    await create_admin(database_url)
    async with serve(settings, database_url) as (api, _):
        yield api, await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)


async def test_every_answer_says_what_it_cost(admin: tuple[Api, str]) -> None:
    api, token = admin
    first = cost_of(await post(api, ME, token))
    assert first == {"requested": 1, "limit": 50_000, "perMinute": 1_000_000, "remaining": 999_999}
    assert cost_of(await post(api, PAGE, token))["requested"] == 1 + 10 + 10 * 5
    assert cost_of(await post(api, BY_VARIABLE, token))["requested"] == 1 + 7
    assert cost_of(await post(api, BY_VARIABLE, token, n=3))["requested"] == 1 + 3
    # No page size asked: the fields' own defaults (50 companies, 20 activities each).
    assert cost_of(await post(api, DEFAULTS, token))["requested"] == 1 + 50 + 50 * 20
    # Through fragments: 4 deals, each with 3 history entries and 20 timeline entries.
    assert cost_of(await post(api, IN_FRAGMENTS, token))["requested"] == 1 + 4 + 4 * 3 + 4 * 20
    # What is left went down by what each cost (and refilled meanwhile, at most to the top).
    left = cost_of(await post(api, ME, token))["remaining"]
    assert 1_000_000 - (1 + 61 + 8 + 4 + 1051 + 97 + 1) <= left < 1_000_000


async def test_an_operation_past_the_limit_is_refused_before_it_runs(
    settings: Settings, database_url: str
) -> None:
    await create_admin(database_url)
    async with serve(settings, database_url) as (api, _):
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        cube = refused(await post(api, CUBE, token), 200)
        assert cube == {
            "code": "QUERY_TOO_COSTLY",
            "cost": 1 + 100 + 100**2 + 100**3,
            "limit": 50_000,
        }
        # Within the default limit, a mutation whose answer asks for 100 activities runs...
        assert cost_of(await post(api, COSTLY_CREATE, token))["requested"] == 1 + 100
    async with serve(replace(settings, max_query_cost=100), database_url) as (tight, _):
        token = await tight.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        # ... and past a tighter one it is refused, and creates nothing.
        extensions = refused(await post(tight, COSTLY_CREATE, token), 200)
        assert extensions == {"code": "QUERY_TOO_COSTLY", "cost": 101, "limit": 100}
        assert await tight.ok(COMPANIES, token=token) == {"companies": {"totalCount": 1}}


async def test_a_spent_budget_refuses_until_it_refills_and_is_each_users_own(
    settings: Settings, database_url: str
) -> None:
    await create_admin(database_url)
    async with serve(replace(settings, cost_budget_per_minute=100), database_url) as (api, _):
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        _, other = await api.create_user(token, "other@example.com")
        before = cost_of(await post(api, ME, token))["remaining"]  # creating a user cost some
        after = cost_of(await post(api, PAGE, token))["remaining"]
        assert after in (before - 61, before - 60)  # refilled meanwhile: a fraction at most
        response = await post(api, PAGE, token)
        extensions = refused(response, 429)
        assert extensions["code"] == "RATE_LIMITED"
        # 61 are needed, `after` are left, and the budget refills at 100 a minute.
        soonest, latest = math.ceil((60 - after) * 0.6), math.ceil((61 - after) * 0.6)
        assert soonest <= extensions["retryAfterSeconds"] <= latest
        assert response.headers["retry-after"] == str(extensions["retryAfterSeconds"])
        assert "retry in" in response.json()["errors"][0]["message"]
        # What the budget still holds is spent on what fits in it.
        assert cost_of(await post(api, ME, token))["requested"] == 1
        # Another user has a budget of their own (who just logged in: a query or two spent).
        assert cost_of(await post(api, PAGE, other))["remaining"] >= 100 - 61 - 2


LIVE = (
    "subscription { opportunityEvents { opportunity { timeline(first: 5) { nodes { kind } } } } }"
)


async def test_a_subscription_pays_when_it_starts(settings: Settings, database_url: str) -> None:
    await create_admin(database_url)
    async with serve(replace(settings, max_query_cost=5), database_url) as (api, _):
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        ws = await opened(api, "graphql-transport-ws", token)
        try:
            await ws.send(json.dumps({"id": "s", "type": "subscribe", "payload": {"query": LIVE}}))
            error = await frame(ws)
            assert (error["type"], error["id"]) == ("error", "s")
            [refusal] = error["payload"]
            assert refusal["extensions"] == {"code": "QUERY_TOO_COSTLY", "cost": 6, "limit": 5}
        finally:
            await ws.close()
