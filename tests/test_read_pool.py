"""Reads run on a pool of connections of their own (app/db.py ReadPool): more requests at once
than it holds wait their turn, and a connection the database ended is replaced, unseen."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy.engine import make_url

from tests.client import Api
from tests.conftest import DatabaseServer, RunningServer

PAGE = "{ opportunities(first: 5) { nodes { name owner { name } stage { name } } } }"
CREATE = """
mutation($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) { opportunity { id } userErrors { message } }
}
"""


async def seed(api: Api, token: str, count: int) -> None:
    for n in range(count):
        variables = {
            "input": {"name": f"Deal {n}", "expectedValue": {"amount": "10", "currency": "EUR"}}
        }
        await api.mutate("createOpportunity", CREATE, variables, token)


async def test_more_requests_at_once_than_connections_all_get_their_answer(
    server: RunningServer, api: Api, admin_token: str
) -> None:
    await seed(api, admin_token, 6)
    expected = await api.ok(PAGE, token=admin_token)
    # The pool holds 20 connections: 80 pages at once make most of them wait for one.
    answers = await asyncio.gather(*(api.ok(PAGE, token=admin_token) for _ in range(80)))
    assert all(answer == expected for answer in answers)
    assert len(expected["opportunities"]["nodes"]) == 5


async def test_a_read_connection_the_database_ended_is_replaced(
    server: RunningServer, database_server: DatabaseServer, api: Api, admin_token: str
) -> None:
    await seed(api, admin_token, 3)
    expected = await api.ok(PAGE, token=admin_token)
    name = make_url(server.database_url).database
    connection = await asyncpg.connect(**database_server.connect_args())
    try:
        # Every connection of the server's to its database, the read pool's among them, as a
        # restart or an administrator would end them.
        ended = await connection.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await connection.close()
    assert ended >= 1
    await asyncio.sleep(0.2)  # the server's side of each socket sees it closed
    assert await api.ok(PAGE, token=admin_token) == expected
