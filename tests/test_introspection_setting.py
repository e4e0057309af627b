"""Introspection can be turned off (TANDEM_INTROSPECTION), and is off by default on a server
marked production (TANDEM_PRODUCTION): then no document may ask for the schema, however it
hides the question, GraphiQL is not served, and everything else runs as before."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from app.settings import Settings
from tests.client import Api
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin, serve
from tests.processes import tandem_env, tandem_server

SCHEMA = "{ __schema { queryType { name } } }"
TYPE = '{ __type(name: "Opportunity") { fields { name } } }'
HIDDEN = (
    "query { ...Q } fragment Q on Query { me { id } ... on Query { __schema { types { name } } } }"
)
ALIASED = "{ s: __schema { queryType { name } } }"


def turned_off(body: dict[str, Any]) -> None:
    assert body.get("data") is None, body
    codes = {error["extensions"]["code"] for error in body["errors"]}
    assert codes == {"INTROSPECTION_DISABLED"}, body
    assert "TANDEM_INTROSPECTION" in body["errors"][0]["message"]


async def graphiql_served(api: Api) -> bool:
    response = await api.http.get("/graphql", headers={"Accept": "text/html"})
    return response.status_code == 200 and "graphiql" in response.text.lower()


async def test_without_introspection_no_document_reads_the_schema(
    settings: Settings, database_url: str
) -> None:
    await create_admin(database_url)
    async with serve(replace(settings, introspection=False), database_url) as (api, _):
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        for document in (SCHEMA, TYPE, HIDDEN, ALIASED):
            turned_off(await api.gql(document, token=token))
        # Not even before logging in: nothing is told to whoever knows the URL.
        turned_off(await api.gql(SCHEMA))
        data = await api.ok("{ __typename me { __typename email } }", token=token)
        assert data == {"__typename": "Query", "me": {"__typename": "User", "email": ADMIN_EMAIL}}
        assert not await graphiql_served(api)
    # Turned on (the default here), the same documents read the schema.
    async with serve(settings, database_url) as (api, _):
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        assert (await api.ok(SCHEMA, token=token))["__schema"]["queryType"] == {"name": "Query"}
        assert (await api.ok(TYPE, token=token))["__type"]["fields"]
        assert await graphiql_served(api)


async def test_a_production_server_has_introspection_off_unless_asked(
    settings: Settings, database_url: str
) -> None:
    await create_admin(database_url)
    async with tandem_server(tandem_env(settings, database_url, TANDEM_PRODUCTION="true")) as api:
        turned_off(await api.gql(SCHEMA))
    on = tandem_env(settings, database_url, TANDEM_PRODUCTION="true", TANDEM_INTROSPECTION="true")
    async with tandem_server(on) as api:
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        assert (await api.ok(SCHEMA, token=token))["__schema"]["queryType"] == {"name": "Query"}
