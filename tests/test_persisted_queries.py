"""Persisted queries: Apollo's automatic persisted queries, the `off` mode, and the allow-list.

Every test drives a real server over HTTP and WebSocket the way Apollo Client's and urql's
persisted-query links do: a hash alone first, and on PersistedQueryNotFound the same request
with the text. Apollo Client itself is driven in test_persisted_query_client.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import parse, print_ast
from websockets.asyncio.client import ClientConnection, connect

from app.graphql.persisted.recent import RecentDocuments
from app.settings import Settings, SettingsError, load_settings, to_libpq_url
from app.web import create_app
from tests.client import CREATE_USER, LOGIN, Api, until_subscribed, without_cost
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, RunningServer, create_admin, serve
from tests.processes import tandem_env
from tests.test_cli import tandem

ME = "query Me { me { email } }"
STAGES = "{ stages { name } }"
EVENTS = "subscription Events { opportunityEvents { kind opportunity { name } } }"
CREATE = """
mutation Create($i: CreateOpportunityInput!) {
  createOpportunity(input: $i) { opportunity { id } userErrors { code } }
}"""
REGISTER = """
mutation Register($input: RegisterPersistedQueryInput!) {
  registerPersistedQuery(input: $input) {
    persistedQuery { hash name source document createdBy { email } createdAt }
    userErrors { field code message }
  }
}"""
REMOVE = """
mutation Remove($input: RemovePersistedQueryInput!) {
  removePersistedQuery(input: $input) { removedHash userErrors { field code message } }
}"""
LISTED = "{ persistedQueries { hash name source createdBy { email } } }"
INTROSPECTION = "{ __schema { queryType { name } } }"

SUBSCRIBE = {"graphql-transport-ws": "subscribe", "graphql-ws": "start"}
DATA = {"graphql-transport-ws": "next", "graphql-ws": "data"}
PROTOCOLS = pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(text_or_hash: str, version: Any = 1) -> dict[str, Any]:
    key = text_or_hash if len(text_or_hash) == 64 else sha(text_or_hash)
    return {"persistedQuery": {"version": version, "sha256Hash": key}}


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors") or []]


def user_error_codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["userErrors"]]


async def by_hash(api: Api, text: str, token: str | None = None, **body: Any) -> httpx.Response:
    """A request that names `text` by its hash only, as a persisted-query link sends first."""
    return await api.post({"extensions": persisted(text), **body}, token)


async def with_text(api: Api, text: str, token: str | None = None, **body: Any) -> httpx.Response:
    """The retry: the text with its hash."""
    return await api.post({"query": text, "extensions": persisted(text), **body}, token)


async def create_deal(api: Api, token: str, name: str) -> None:
    values = {"name": name, "expectedValue": {"amount": "1.00", "currency": "EUR"}}
    await api.mutate("createOpportunity", CREATE, {"i": values}, token)


@asynccontextmanager
async def running(
    settings: Settings, database_url: str, **changes: Any
) -> AsyncIterator[tuple[Api, str]]:
    """A server with other persisted-query settings, and an admin's token."""
    await create_admin(database_url)
    async with serve(replace(settings, **changes), database_url) as (api, _):
        yield api, await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)


def documents_dir(tmp_path: Path, **files: str) -> Path:
    directory = tmp_path / "documents"
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        path = directory / f"{name}.graphql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return directory


# What an application's clients send, registered for the allow-list: logging in, adding a
# user, reading, and a subscription (the mutation CREATE is left out on purpose).
CLIENT_DOCUMENTS = {"login": LOGIN, "create_user": CREATE_USER, "me": ME, "events": EVENTS}


@asynccontextmanager
async def allowlisted(
    settings: Settings, database_url: str, tmp_path: Path, **files: str
) -> AsyncIterator[tuple[Api, str]]:
    directory = documents_dir(tmp_path, **CLIENT_DOCUMENTS, **files)
    async with running(
        settings,
        database_url,
        persisted_queries="allowlist",
        persisted_queries_dir=directory,
    ) as started:
        yield started


async def opened(api: Api, protocol: str, token: str) -> ClientConnection:
    ws = await connect(api.ws_url, subprotocols=[protocol])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
    assert (await frame(ws))["type"] == "connection_ack"
    return ws


async def frame(ws: ClientConnection) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if message["type"] not in ("ka", "ping", "pong"):
            return message


async def subscribe(ws: ClientConnection, protocol: str, op_id: str, **payload: Any) -> None:
    await ws.send(json.dumps({"id": op_id, "type": SUBSCRIBE[protocol], "payload": payload}))


def error_code(message: dict[str, Any]) -> str:
    """The code of a WebSocket `error` message (a list of errors, or one in legacy)."""
    assert message["type"] == "error", message
    payload = message["payload"]
    first = payload[0] if isinstance(payload, list) else payload
    code: str = first["extensions"]["code"]
    return code


# --- automatic persisted queries (mode apq, the default) ------------------------------------


async def test_a_miss_then_the_retry_with_the_text_stores_it_and_the_hash_alone_runs(
    api: Api, admin_token: str
) -> None:
    miss = await by_hash(api, ME, admin_token, operationName="Me")
    # Exactly what Apollo Client's and urql's links look for, in a 200 so they retry.
    assert miss.status_code == 200, miss.text
    assert miss.json()["errors"] == [
        {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    ]
    retry = await with_text(api, ME, admin_token, operationName="Me")
    assert retry.status_code == 200
    assert without_cost(retry.json()) == {"data": {"me": {"email": ADMIN_EMAIL}}}
    for _ in range(2):
        again = await by_hash(api, ME, admin_token, operationName="Me")
        assert without_cost(again.json()) == {"data": {"me": {"email": ADMIN_EMAIL}}}
    # Stored per document, not per user: another client's hash-only request runs as itself.
    anonymous = await by_hash(api, ME)
    assert codes(anonymous.json()) == ["UNAUTHENTICATED"]


async def test_the_hash_is_of_the_text_exactly_as_sent(api: Api, admin_token: str) -> None:
    spaced = ME + "\n"
    assert (await with_text(api, spaced, admin_token)).json()["data"] is not None
    assert (await by_hash(api, spaced, admin_token)).json()["data"] is not None
    assert codes((await by_hash(api, ME, admin_token)).json()) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_a_text_that_does_not_match_its_hash_is_refused_and_nothing_is_stored(
    api: Api, admin_token: str
) -> None:
    wrong = {"query": ME, "extensions": persisted(STAGES)}
    response = await api.post(wrong, admin_token)
    assert response.status_code == 400, response.text
    assert codes(response.json()) == ["PERSISTED_QUERY_HASH_MISMATCH"]
    assert response.json()["data"] is None
    for text in (ME, STAGES):
        assert codes((await by_hash(api, text, admin_token)).json()) == [
            "PERSISTED_QUERY_NOT_FOUND"
        ]


async def test_malformed_persisted_query_extensions_are_refused_with_a_code(
    api: Api, admin_token: str
) -> None:
    for extensions, code in (
        (persisted(ME, version=2), "PERSISTED_QUERY_VERSION_NOT_SUPPORTED"),
        (persisted(ME, version=True), "PERSISTED_QUERY_VERSION_NOT_SUPPORTED"),
        ({"persistedQuery": {"version": 1}}, "PERSISTED_QUERY_INVALID"),
        ({"persistedQuery": {"version": 1, "sha256Hash": "abc"}}, "PERSISTED_QUERY_INVALID"),
        ({"persistedQuery": {"version": 1, "sha256Hash": 5}}, "PERSISTED_QUERY_INVALID"),
        ({"persistedQuery": "x"}, "PERSISTED_QUERY_INVALID"),
    ):
        for body in ({"extensions": extensions}, {"query": ME, "extensions": extensions}):
            response = await api.post(body, admin_token)
            assert response.status_code == 400, (body, response.text)
            assert codes(response.json()) == [code], (body, response.text)
    # Nothing of that stored ME.
    assert codes((await by_hash(api, ME, admin_token)).json()) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_a_hash_in_capitals_names_the_same_document(api: Api, admin_token: str) -> None:
    await with_text(api, ME, admin_token)
    shouted = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha(ME).upper()}}}
    assert without_cost((await api.post(shouted, admin_token)).json()) == {
        "data": {"me": {"email": ADMIN_EMAIL}}
    }


async def test_documents_that_cannot_run_are_answered_but_never_stored(
    api: Api, admin_token: str
) -> None:
    for broken, code in (
        ("{ me { email ", "GRAPHQL_PARSE_FAILED"),
        ("{ me { shoeSize } }", "GRAPHQL_VALIDATION_FAILED"),
    ):
        response = await with_text(api, broken, admin_token)
        assert codes(response.json()) == [code], response.text
        miss = await by_hash(api, broken, admin_token)
        assert codes(miss.json()) == ["PERSISTED_QUERY_NOT_FOUND"], broken


async def test_a_mutation_registered_by_its_text_runs_by_hash_over_post(
    api: Api, admin_token: str
) -> None:
    values = {"i": {"name": "Hashed", "expectedValue": {"amount": "5.00", "currency": "EUR"}}}
    first = await with_text(api, CREATE, admin_token, variables=values)
    assert first.json()["data"]["createOpportunity"]["userErrors"] == []
    second = await by_hash(api, CREATE, admin_token, variables=values)
    assert second.json()["data"]["createOpportunity"]["userErrors"] == []
    listed = await api.ok("{ opportunities(first: 5) { totalCount } }", token=admin_token)
    assert listed["opportunities"]["totalCount"] == 2


# --- GET -----------------------------------------------------------------------------------


async def test_get_runs_a_query_named_by_its_hash(api: Api, admin_token: str) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    params = {"extensions": json.dumps(persisted(ME)), "operationName": "Me", "variables": "{}"}
    # Apollo Client 3 sends `accept: */*`: a hashed GET must run, not open GraphiQL.
    headers = {**auth, "accept": "*/*"}
    miss = await api.http.get("/graphql", params=params, headers=headers)
    assert miss.status_code == 200, miss.text
    assert codes(miss.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    await with_text(api, ME, admin_token)  # Apollo's retry goes by POST
    hit = await api.http.get("/graphql", params=params, headers=headers)
    assert hit.status_code == 200, hit.text
    assert without_cost(hit.json()) == {"data": {"me": {"email": ADMIN_EMAIL}}}
    # urql's retry after a miss stays a GET, with the text and its hash.
    retry = {"query": STAGES, "extensions": json.dumps(persisted(STAGES))}
    stored = await api.http.get("/graphql", params=retry, headers=headers)
    assert stored.status_code == 200, stored.text
    assert stored.json()["data"]["stages"]
    named = {"extensions": json.dumps(persisted(STAGES))}
    assert (await api.http.get("/graphql", params=named, headers=headers)).json()["data"]


async def test_get_never_runs_a_bare_text_nor_a_mutation_and_still_opens_graphiql(
    api: Api, admin_token: str
) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    text = await api.http.get("/graphql", params={"query": ME}, headers=auth)
    assert text.status_code == 400
    assert codes(text.json()) == ["OPERATION_NOT_ALLOWED"]

    values = {"i": {"name": "Via GET", "expectedValue": {"amount": "1.00", "currency": "EUR"}}}
    await with_text(api, CREATE, admin_token, variables=values)  # stored, and one deal made
    mutation = {"extensions": json.dumps(persisted(CREATE)), "variables": json.dumps(values)}
    refused = await api.http.get("/graphql", params=mutation, headers=auth)
    assert refused.status_code == 400, refused.text
    assert codes(refused.json()) == ["OPERATION_NOT_ALLOWED"]
    with_its_text = {**mutation, "query": CREATE}
    refused = await api.http.get("/graphql", params=with_its_text, headers=auth)
    assert codes(refused.json()) == ["OPERATION_NOT_ALLOWED"]
    listed = await api.ok("{ opportunities(first: 5) { totalCount } }", token=admin_token)
    assert listed["opportunities"]["totalCount"] == 1

    page = await api.http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


async def test_a_get_with_bad_extensions_json_is_a_400_with_a_code(api: Api) -> None:
    response = await api.http.get("/graphql", params={"extensions": "{not json"})
    assert response.status_code == 400
    assert codes(response.json()) == ["INVALID_JSON"]


# --- batches -------------------------------------------------------------------------------


async def test_each_operation_of_a_batch_is_resolved_on_its_own(api: Api, admin_token: str) -> None:
    await with_text(api, STAGES, admin_token)
    batch = [
        {"extensions": persisted(ME)},  # unknown yet
        {"query": ME, "extensions": persisted(ME)},
        {"extensions": persisted(STAGES)},
        {"query": STAGES, "extensions": persisted(ME)},  # mismatch
        {"query": "{ me { name } }"},
    ]
    response = await api.post(batch, admin_token)
    # One refused operation does not refuse its batch: the others ran.
    assert response.status_code == 200, response.text
    miss, stored, known, mismatched, plain = response.json()
    assert codes(miss) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert without_cost(stored) == {"data": {"me": {"email": ADMIN_EMAIL}}}
    assert known["data"]["stages"]
    assert codes(mismatched) == ["PERSISTED_QUERY_HASH_MISMATCH"]
    assert without_cost(plain) == {"data": {"me": {"name": "Ada Admin"}}}
    assert without_cost((await by_hash(api, ME, admin_token)).json()) == {
        "data": {"me": {"email": ADMIN_EMAIL}}
    }


# --- WebSocket -----------------------------------------------------------------------------


@PROTOCOLS
async def test_a_subscription_named_by_its_hash_alone(
    api: Api, admin_token: str, protocol: str
) -> None:
    ws = await opened(api, protocol, admin_token)
    try:
        await subscribe(ws, protocol, "miss", extensions=persisted(EVENTS))
        miss = await frame(ws)
        assert miss["id"] == "miss"
        assert error_code(miss) == "PERSISTED_QUERY_NOT_FOUND"
        # The retry with the text stores it (and subscribes); the hash alone then suffices.
        await subscribe(ws, protocol, "text", query=EVENTS, extensions=persisted(EVENTS))
        await subscribe(ws, protocol, "hash", extensions=persisted(EVENTS))
        await until_subscribed(api, 2)
        await create_deal(api, admin_token, "Hashed live")
        events = [await frame(ws), await frame(ws)]
        assert sorted(e["id"] for e in events) == ["hash", "text"]
        for event in events:
            assert event["type"] == DATA[protocol]
            assert event["payload"]["data"]["opportunityEvents"]["opportunity"] == {
                "name": "Hashed live"
            }
        # A query by hash over the socket, as gql sends one.
        await with_text(api, ME, admin_token)
        await subscribe(ws, protocol, "me", extensions=persisted(ME))
        result = await frame(ws)
        assert (result["id"], result["payload"]["data"]) == ("me", {"me": {"email": ADMIN_EMAIL}})
    finally:
        await ws.close()


@PROTOCOLS
async def test_a_mismatched_hash_over_the_socket_is_an_error_and_the_socket_stays(
    api: Api, admin_token: str, protocol: str
) -> None:
    ws = await opened(api, protocol, admin_token)
    try:
        await subscribe(ws, protocol, "1", query=EVENTS, extensions=persisted(ME))
        assert error_code(await frame(ws)) == "PERSISTED_QUERY_HASH_MISMATCH"
        await subscribe(ws, protocol, "2", query="{ me { email } }")
        assert (await frame(ws))["payload"]["data"] == {"me": {"email": ADMIN_EMAIL}}
    finally:
        await ws.close()


# --- mode off ------------------------------------------------------------------------------


async def test_mode_off_says_not_supported_so_clients_send_the_text(
    settings: Settings, database_url: str
) -> None:
    async with running(settings, database_url, persisted_queries="off") as (api, token):
        for body in ({"extensions": persisted(ME)}, {"query": ME, "extensions": persisted(ME)}):
            response = await api.post(body, token)
            assert response.status_code == 200, response.text
            assert response.json()["errors"] == [
                {
                    "message": "PersistedQueryNotSupported",
                    "extensions": {"code": "PERSISTED_QUERY_NOT_SUPPORTED"},
                }
            ]
        assert await api.ok(ME, token=token) == {"me": {"email": ADMIN_EMAIL}}
        ws = await opened(api, "graphql-transport-ws", token)
        try:
            await subscribe(ws, "graphql-transport-ws", "1", extensions=persisted(EVENTS))
            assert error_code(await frame(ws)) == "PERSISTED_QUERY_NOT_SUPPORTED"
        finally:
            await ws.close()


# --- registering documents (admins) --------------------------------------------------------


async def test_an_admin_registers_a_document_that_then_runs_by_hash(
    api: Api, admin_token: str
) -> None:
    payload = await api.mutate(
        "registerPersistedQuery",
        REGISTER,
        {"input": {"document": STAGES, "name": "Stages"}},
        admin_token,
    )
    registered = payload["persistedQuery"]
    assert registered["hash"] == sha(STAGES)
    assert (registered["name"], registered["source"]) == ("Stages", "ADMIN")
    assert registered["document"] == STAGES
    assert registered["createdBy"] == {"email": ADMIN_EMAIL} and registered["createdAt"]
    assert (await by_hash(api, STAGES, admin_token)).json()["data"]["stages"]
    listed = await api.ok(LISTED, token=admin_token)
    assert listed["persistedQueries"] == [
        {
            "hash": sha(STAGES),
            "name": "Stages",
            "source": "ADMIN",
            "createdBy": {"email": ADMIN_EMAIL},
        }
    ]


async def test_documents_that_cannot_run_are_not_registered(api: Api, admin_token: str) -> None:
    for document, code in (
        ("{ me { shoeSize } }", "INVALID"),
        ("{ me { ", "INVALID"),
        ("   ", "REQUIRED"),
        ("{ me { id } }\x00", "INVALID"),
        ("{ " + "me { id } " * 3000 + "}", "INVALID"),  # over the token limit
    ):
        data = await api.ok(
            REGISTER, {"input": {"document": document, "name": "Broken"}}, admin_token
        )
        payload = data["registerPersistedQuery"]
        assert payload["persistedQuery"] is None
        assert user_error_codes(payload) == [code], (document[:40], payload)
        assert payload["userErrors"][0]["field"] == ["document"]
    shoe = await api.ok(
        REGISTER, {"input": {"document": "{ me { shoeSize } }", "name": "x"}}, admin_token
    )
    assert "shoeSize" in shoe["registerPersistedQuery"]["userErrors"][0]["message"]
    nameless = await api.ok(REGISTER, {"input": {"document": ME, "name": " "}}, admin_token)
    assert user_error_codes(nameless["registerPersistedQuery"]) == ["REQUIRED"]
    assert (await api.ok(LISTED, token=admin_token))["persistedQueries"] == []


async def test_registering_the_same_document_twice_is_a_duplicate(
    api: Api, admin_token: str
) -> None:
    variables = {"input": {"document": ME, "name": "Me"}}
    await api.mutate("registerPersistedQuery", REGISTER, variables, admin_token)
    again = await api.ok(REGISTER, {"input": {"document": ME, "name": "Again"}}, admin_token)
    assert user_error_codes(again["registerPersistedQuery"]) == ["DUPLICATE"]
    assert [q["name"] for q in (await api.ok(LISTED, token=admin_token))["persistedQueries"]] == [
        "Me"
    ]


async def test_members_may_not_register_remove_or_list(api: Api, admin_token: str) -> None:
    _, member = await api.create_user(admin_token, "mia@example.com")
    registered = await api.ok(REGISTER, {"input": {"document": ME, "name": "Me"}}, member)
    assert registered["registerPersistedQuery"]["persistedQuery"] is None
    assert user_error_codes(registered["registerPersistedQuery"]) == ["FORBIDDEN"]
    await api.mutate(
        "registerPersistedQuery",
        REGISTER,
        {"input": {"document": STAGES, "name": "S"}},
        admin_token,
    )
    removed = await api.ok(REMOVE, {"input": {"hash": sha(STAGES)}}, member)
    assert user_error_codes(removed["removePersistedQuery"]) == ["FORBIDDEN"]
    listed = await api.gql(LISTED, token=member)
    assert listed["data"] is None and codes(listed) == ["FORBIDDEN"]
    names = [q["name"] for q in (await api.ok(LISTED, token=admin_token))["persistedQueries"]]
    assert names == ["S"]


async def test_an_admin_removes_a_document(api: Api, admin_token: str) -> None:
    await api.mutate(
        "registerPersistedQuery",
        REGISTER,
        {"input": {"document": STAGES, "name": "S"}},
        admin_token,
    )
    removed = await api.mutate(
        "removePersistedQuery", REMOVE, {"input": {"hash": sha(STAGES)}}, admin_token
    )
    assert removed["removedHash"] == sha(STAGES)
    assert (await api.ok(LISTED, token=admin_token))["persistedQueries"] == []
    for bad, code in ((sha(STAGES), "NOT_FOUND"), ("nope", "INVALID")):
        again = await api.ok(REMOVE, {"input": {"hash": bad}}, admin_token)
        assert user_error_codes(again["removePersistedQuery"]) == [code]


# --- the allow-list ------------------------------------------------------------------------


async def test_allowlist_runs_registered_files_by_hash_and_by_text(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    async with allowlisted(settings, database_url, tmp_path) as (api, token):
        assert without_cost((await by_hash(api, ME, token)).json()) == {
            "data": {"me": {"email": ADMIN_EMAIL}}
        }
        assert await api.ok(ME, token=token) == {"me": {"email": ADMIN_EMAIL}}
        assert (await with_text(api, ME, token)).json()["data"] == {"me": {"email": ADMIN_EMAIL}}
        # The client's printed form of a file's document (graphql-js prints as graphql-core
        # does) matches too, by text and by hash.
        printed = print_ast(parse(ME))
        assert printed != ME
        assert (await by_hash(api, printed, token)).json()["data"] == {"me": {"email": ADMIN_EMAIL}}
        assert await api.ok(printed, token=token) == {"me": {"email": ADMIN_EMAIL}}
        listed = await api.ok(LISTED, token=token)
        files = {q["name"]: q for q in listed["persistedQueries"]}
        assert set(files) == set(CLIENT_DOCUMENTS)
        assert files["me"] == {
            "hash": sha(ME),
            "name": "me",
            "source": "DIRECTORY",
            "createdBy": None,
        }


async def test_allowlist_refuses_everything_else_and_stores_nothing(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    async with allowlisted(settings, database_url, tmp_path) as (api, admin):
        _, member = await api.create_user(admin, "mia@example.com")
        for token in (member, admin, None):
            for body in (
                {"query": STAGES},
                {"extensions": persisted(STAGES)},
                {"query": STAGES, "extensions": persisted(STAGES)},  # an APQ registration
                {"query": INTROSPECTION},
                {"query": "{ me { "},
            ):
                response = await api.post(body, token)
                assert response.status_code == 400, (body, response.text)
                assert codes(response.json()) == ["PERSISTED_QUERY_NOT_ALLOWED"], body
                assert response.json()["data"] is None
        # The attempted registration kept nothing.
        assert codes((await by_hash(api, STAGES, admin)).json()) == ["PERSISTED_QUERY_NOT_ALLOWED"]
        # Nor does a mutation run that is not registered.
        values = {"i": {"name": "Nope", "expectedValue": {"amount": "1.00", "currency": "EUR"}}}
        refused = await api.post({"query": CREATE, "variables": values}, member)
        assert codes(refused.json()) == ["PERSISTED_QUERY_NOT_ALLOWED"]
        # In a batch, each operation is judged alone.
        batch = await api.post([{"extensions": persisted(ME)}, {"query": STAGES}], member)
        assert batch.status_code == 200
        allowed, not_allowed = batch.json()
        assert without_cost(allowed) == {"data": {"me": {"email": "mia@example.com"}}}
        assert codes(not_allowed) == ["PERSISTED_QUERY_NOT_ALLOWED"]


@PROTOCOLS
async def test_allowlist_holds_on_the_websocket(
    settings: Settings, database_url: str, tmp_path: Path, protocol: str
) -> None:
    other_events = "subscription { opportunityEvents { kind } }"
    async with allowlisted(settings, database_url, tmp_path) as (api, admin):
        _, member = await api.create_user(admin, "mia@example.com")
        ws = await opened(api, protocol, member)
        try:
            await subscribe(ws, protocol, "text", query=other_events)
            assert error_code(await frame(ws)) == "PERSISTED_QUERY_NOT_ALLOWED"
            await subscribe(ws, protocol, "hash", extensions=persisted(other_events))
            assert error_code(await frame(ws)) == "PERSISTED_QUERY_NOT_ALLOWED"
            registering = {"query": other_events, "extensions": persisted(other_events)}
            await subscribe(ws, protocol, "apq", **registering)
            assert error_code(await frame(ws)) == "PERSISTED_QUERY_NOT_ALLOWED"
            await subscribe(ws, protocol, "query", query=STAGES)
            assert error_code(await frame(ws)) == "PERSISTED_QUERY_NOT_ALLOWED"
            # The registered subscription, by hash; the event is the only message that comes.
            await subscribe(ws, protocol, "events", extensions=persisted(EVENTS))
            await until_subscribed(api, 1)
            await api.mutate(
                "registerPersistedQuery",
                REGISTER,
                {"input": {"document": CREATE, "name": "Create"}},
                admin,
            )
            await create_deal(api, admin, "Allowed live")
            event = await frame(ws)
            assert (event["id"], event["type"]) == ("events", DATA[protocol])
            assert event["payload"]["data"]["opportunityEvents"]["opportunity"] == {
                "name": "Allowed live"
            }
        finally:
            await ws.close()


async def test_allowlist_admins_manage_the_list_over_graphql_and_it_applies_at_once(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    async with allowlisted(settings, database_url, tmp_path) as (api, admin):
        _, member = await api.create_user(admin, "mia@example.com")
        assert codes((await api.post({"query": STAGES}, member)).json()) == [
            "PERSISTED_QUERY_NOT_ALLOWED"
        ]
        # An unregistered document that only manages the list runs for an admin ...
        payload = await api.mutate(
            "registerPersistedQuery",
            REGISTER,
            {"input": {"document": STAGES, "name": "Stages"}},
            admin,
        )
        assert payload["persistedQuery"]["hash"] == sha(STAGES)
        # ... not for a member, who cannot even reach FORBIDDEN; nor does an admin's other
        # unregistered document run (introspection included).
        refused = await api.post(
            {"query": REGISTER, "variables": {"input": {"document": ME, "name": "x"}}}, member
        )
        assert codes(refused.json()) == ["PERSISTED_QUERY_NOT_ALLOWED"]
        for text in ("{ me { name } }", INTROSPECTION, "subscription { registerPersistedQuery }"):
            response = await api.post({"query": text}, admin)
            assert codes(response.json()) == ["PERSISTED_QUERY_NOT_ALLOWED"], text
        sneaky = "{ persistedQueries { hash } ...F } fragment F on Query { users { email } }"
        assert codes((await api.post({"query": sneaky}, admin)).json()) == [
            "PERSISTED_QUERY_NOT_ALLOWED"
        ]

        # Registered: it runs at once, by hash and by text, for everyone.
        assert (await by_hash(api, STAGES, member)).json()["data"]["stages"]
        assert (await api.ok(STAGES, token=member))["stages"]

        # A file's document is not the admins' to remove.
        from_file = await api.ok(REMOVE, {"input": {"hash": sha(ME)}}, admin)
        assert user_error_codes(from_file["removePersistedQuery"]) == ["NOT_EDITABLE"]
        await api.mutate("removePersistedQuery", REMOVE, {"input": {"hash": sha(STAGES)}}, admin)
        assert codes((await by_hash(api, STAGES, member)).json()) == ["PERSISTED_QUERY_NOT_ALLOWED"]
        assert codes((await api.post({"query": STAGES}, member)).json()) == [
            "PERSISTED_QUERY_NOT_ALLOWED"
        ]


async def test_a_document_registered_on_one_server_runs_on_another_within_seconds(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    directory = documents_dir(tmp_path, **CLIENT_DOCUMENTS)
    changes: dict[str, Any] = {
        "persisted_queries": "allowlist",
        "persisted_queries_dir": directory,
        # Two servers on one database share a broker (app/events/neighbours.py).
        "broadcast_url": to_libpq_url(database_url),
    }
    async with (
        running(settings, database_url, **changes) as (first, admin),
        serve(replace(settings, **changes), database_url) as (second, _),
    ):
        assert codes((await by_hash(second, STAGES, admin)).json()) == [
            "PERSISTED_QUERY_NOT_ALLOWED"
        ]
        await first.mutate(
            "registerPersistedQuery",
            REGISTER,
            {"input": {"document": STAGES, "name": "Stages"}},
            admin,
        )
        body = await until(second, STAGES, admin, lambda b: "data" in b and b["data"] is not None)
        assert body["data"]["stages"]
        await first.mutate("removePersistedQuery", REMOVE, {"input": {"hash": sha(STAGES)}}, admin)
        body = await until(second, STAGES, admin, lambda b: bool(b.get("errors")))
        assert codes(body) == ["PERSISTED_QUERY_NOT_ALLOWED"]


async def until(api: Api, text: str, token: str, done: Any) -> dict[str, Any]:
    """The first answer to `text` by hash that is `done`, asked every 100 ms (30 s at most)."""
    for _ in range(300):
        body: dict[str, Any] = (await by_hash(api, text, token)).json()
        if done(body):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"the other server never changed its answer: {body}")


# --- settings ------------------------------------------------------------------------------


def test_bad_settings_refuse_to_start_naming_the_variable(tmp_path: Path) -> None:
    base = {"TANDEM_DATA_DIR": str(tmp_path), "TANDEM_SECRET_KEY": "x" * 32}
    with pytest.raises(SettingsError, match="TANDEM_PERSISTED_QUERIES: expected one of"):
        load_settings({**base, "TANDEM_PERSISTED_QUERIES": "sometimes"})
    with pytest.raises(SettingsError, match="TANDEM_PERSISTED_QUERIES_DIR: expected a dir"):
        load_settings({**base, "TANDEM_PERSISTED_QUERIES_DIR": str(tmp_path / "missing")})
    loaded = load_settings(
        {**base, "TANDEM_PERSISTED_QUERIES": "ALLOWLIST", "TANDEM_PERSISTED_QUERIES_DIR": "."}
    )
    assert loaded.persisted_queries == "allowlist"
    assert loaded.persisted_queries_dir == Path(".").resolve()
    assert load_settings(base).persisted_queries == "apq"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("{ me { shoeSize } }", "shoeSize"),
        ("{ me { ", "Syntax Error"),
        ("", "Syntax Error"),
    ],
)
def test_a_directory_file_that_cannot_run_refuses_to_start(
    settings: Settings, tmp_path: Path, text: str, said: str
) -> None:
    directory = documents_dir(tmp_path, me=ME, **{"broken/one": text})
    changed = replace(settings, persisted_queries_dir=directory)
    with pytest.raises(SettingsError) as refused:
        create_app(changed, "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    message = str(refused.value)
    assert message.startswith("TANDEM_PERSISTED_QUERIES_DIR: broken/one.graphql"), message
    assert said in message


# --- the store of recent documents ---------------------------------------------------------


def test_documents_sent_once_do_not_push_out_the_ones_in_use() -> None:
    recent = RecentDocuments(max_documents=10)
    for name in ("a", "b", "c"):
        recent.keep(name, f"{{ {name} }}")
        assert recent.get(name) is not None  # asked for again: in use
    for junk in range(1000):
        recent.keep(f"junk{junk}", "{ junk }")
    assert len(recent) == 10
    assert [recent.get(name) for name in ("a", "b", "c")] == ["{ a }", "{ b }", "{ c }"]
    assert recent.get("junk0") is None and recent.get("junk999") == "{ junk }"


def test_the_store_bounds_its_characters() -> None:
    recent = RecentDocuments(max_documents=100, max_total_chars=1000)
    for index in range(10):
        recent.keep(str(index), "x" * 300)
    assert len(recent) == 3
    recent.keep("huge", "x" * 200_000)
    assert "huge" not in recent


# --- the command line ----------------------------------------------------------------------


async def test_the_command_registers_a_directory_once_and_all_or_nothing(
    server: RunningServer, api: Api, admin_token: str, tmp_path: Path
) -> None:
    env = tandem_env(server.settings, server.database_url)
    good = documents_dir(tmp_path, me=ME, **{"pipeline/stages": STAGES})
    result = await tandem(env, "persisted-queries", "register", str(good))
    assert result.code == 0, result.stderr
    assert "registered 2 documents; 0 were registered already" in result.stdout
    again = await tandem(env, "persisted-queries", "register", str(good))
    assert "registered 0 documents; 2 were registered already" in again.stdout, again.stdout

    listed = (await api.ok(LISTED, token=admin_token))["persistedQueries"]
    assert listed == [
        {"hash": sha(ME), "name": "me", "source": "ADMIN", "createdBy": None},
        {"hash": sha(STAGES), "name": "pipeline/stages", "source": "ADMIN", "createdBy": None},
    ]
    # The running server picks them up at its next refresh.
    body = await until(api, STAGES, admin_token, lambda b: b.get("data") is not None)
    assert body["data"]["stages"]

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a_users.graphql").write_text("{ users { email } }")
    (bad / "b_broken.graphql").write_text("{ me { shoeSize } }")
    refused = await tandem(env, "persisted-queries", "register", str(bad))
    assert refused.code == 2
    assert "b_broken.graphql" in refused.stderr and "shoeSize" in refused.stderr
    assert "nothing was registered" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert len((await api.ok(LISTED, token=admin_token))["persistedQueries"]) == 2
    missing = await tandem(env, "persisted-queries", "register", str(tmp_path / "nowhere"))
    assert missing.code == 2 and "is not a directory" in missing.stderr


async def test_serve_refuses_a_directory_file_that_cannot_run(
    settings: Settings, database_url: str, tmp_path: Path
) -> None:
    directory = documents_dir(tmp_path, broken="{ me { shoeSize } }")
    env = tandem_env(settings, database_url, TANDEM_PERSISTED_QUERIES_DIR=str(directory))
    result = await tandem(env, "serve", "--no-migrate")
    assert result.code == 2
    assert "TANDEM_PERSISTED_QUERIES_DIR: broken.graphql cannot run" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr
