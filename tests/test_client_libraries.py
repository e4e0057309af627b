"""Tandem through Python's `gql`, the way a client application talks to it.

gql brings its own reading of the protocols: HTTP (one operation and batches), multipart file
uploads, and subscriptions over both WebSocket subprotocols. It refuses binary WebSocket frames
("Binary data received in the websocket"), so these tests fail if the server sends any; the
npm `graphql-ws` client, which Apollo Client and urql use, is exercised in
test_graphql_ws_client.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError
from gql.transport.file_upload import FileVar
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport

from tests.client import Api
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { token user { name } userErrors { code } }
}"""
CREATE = """
mutation Create($input: CreateOpportunityInput!) {
  createOpportunity(input: $input) { opportunity { id version } userErrors { code } }
}"""
UPDATE = """
mutation Update($input: UpdateOpportunityInput!) {
  updateOpportunity(input: $input) { opportunity { version nextStep } userErrors { code } }
}"""
EVENTS = """
subscription Events($id: ID, $since: String) {
  opportunityEvents(opportunityId: $id, since: $since) {
    cursor kind version changes { field new } opportunity { nextStep } actor { name }
  }
}"""
UPLOAD = """
mutation Upload($input: UploadDocumentInput!) {
  uploadDocument(input: $input) {
    activity { ... on Document { name size sha256 downloadUrl } }
    userErrors { field code }
  }
}"""

PROTOCOLS = [
    pytest.param(WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL, id="graphql-transport-ws"),
    pytest.param(WebsocketsTransport.APOLLO_SUBPROTOCOL, id="legacy-graphql-ws"),
]


def request(query: str, **variables: Any) -> GraphQLRequest:
    return GraphQLRequest(query, variable_values=variables)


@asynccontextmanager
async def http_session(api: Api, token: str | None = None) -> AsyncIterator[AsyncClientSession]:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    transport = HTTPXAsyncTransport(url=api.base_url + "/graphql", headers=headers, timeout=30)
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        yield session


@asynccontextmanager
async def ws_session(api: Api, token: str, protocol: str) -> AsyncIterator[AsyncClientSession]:
    transport = WebsocketsTransport(
        url=api.ws_url, init_payload={"token": token}, subprotocols=[protocol]
    )
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        yield session


async def log_in(api: Api, email: str, password: str) -> str:
    async with http_session(api) as session:
        result = await session.execute(request(LOGIN, email=email, password=password))
    assert result["login"]["userErrors"] == [], result
    token: str = result["login"]["token"]
    return token


async def new_deal(session: AsyncClientSession) -> dict[str, Any]:
    result = await session.execute(
        request(
            CREATE,
            input={
                "name": "gql deal",
                "visibility": "PUBLIC",
                "expectedValue": {"amount": "1200.00", "currency": "EUR"},
            },
        )
    )
    assert result["createOpportunity"]["userErrors"] == [], result
    deal: dict[str, Any] = result["createOpportunity"]["opportunity"]
    return deal


async def set_next_step(
    session: AsyncClientSession, deal: dict[str, Any], step: str
) -> dict[str, Any]:
    result = await session.execute(
        request(
            UPDATE, input={"id": deal["id"], "expectedVersion": deal["version"], "nextStep": step}
        )
    )
    assert result["updateOpportunity"]["userErrors"] == [], result
    changed: dict[str, Any] = result["updateOpportunity"]["opportunity"]
    deal["version"] = changed["version"]
    return changed


async def test_gql_logs_in_and_queries_over_http(api: Api) -> None:
    token = await log_in(api, ADMIN_EMAIL, ADMIN_PASSWORD)
    async with http_session(api, token) as session:
        result = await session.execute(request("{ me { email role } }"))
    assert result == {"me": {"email": ADMIN_EMAIL, "role": "ADMIN"}}


async def test_gql_sees_graphql_errors_as_errors(api: Api, admin_token: str) -> None:
    async with http_session(api, admin_token) as session:
        with pytest.raises(TransportQueryError) as raised:
            await session.execute(request("{ me { shoeSize } }"))
    assert raised.value.errors is not None
    assert raised.value.errors[0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_gql_sends_a_batch_and_gets_each_answer(api: Api, admin_token: str) -> None:
    async with http_session(api, admin_token) as session:
        answers = await session.execute_batch(
            [request("{ me { email } }"), request("{ stages { name } }")]
        )
    assert answers[0] == {"me": {"email": ADMIN_EMAIL}}
    assert answers[1]["stages"], answers


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_gql_subscriber_receives_a_teammates_change_and_resumes_with_since(
    api: Api, admin_token: str, protocol: str
) -> None:
    _, teammate = await api.create_user(admin_token, "mia@example.com", name="Mia")
    async with http_session(api, teammate) as writer:
        deal = await new_deal(writer)
        received: list[dict[str, Any]] = []
        async with ws_session(api, admin_token, protocol) as reader:

            async def first_two() -> None:
                # Closed once done, as a client that stops listening does: gql waits for
                # every open subscription to end before it closes the socket.
                async with aclosing(reader.subscribe(request(EVENTS, id=deal["id"]))) as events:
                    async for event in events:
                        received.append(event["opportunityEvents"])
                        if len(received) == 2:
                            return

            listening = asyncio.create_task(first_two())
            await asyncio.sleep(0.3)  # the subscription is registered before the change
            await set_next_step(writer, deal, "Call the CFO")
            await set_next_step(writer, deal, "Send the offer")
            await asyncio.wait_for(listening, 10)
        assert [e["opportunity"]["nextStep"] for e in received] == [
            "Call the CFO",
            "Send the offer",
        ]
        assert {e["actor"]["name"] for e in received} == {"Mia"}
        assert [c for c in received[0]["changes"] if c["field"] == "nextStep"] == [
            {"field": "nextStep", "new": "Call the CFO"}
        ]

        # Offline: one more change; back online from the first event's cursor.
        await set_next_step(writer, deal, "Sign")
        async with ws_session(api, admin_token, protocol) as reader:
            resumed: list[dict[str, Any]] = []
            async for event in reader.subscribe(
                request(EVENTS, id=deal["id"], since=received[0]["cursor"])
            ):
                resumed.append(event["opportunityEvents"])
                if len(resumed) == 2:
                    break
    assert [e["opportunity"]["nextStep"] for e in resumed] == ["Send the offer", "Sign"]
    assert resumed[0]["cursor"] == received[1]["cursor"]
    assert [e["version"] for e in resumed] == [received[1]["version"], received[1]["version"] + 1]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_gql_runs_queries_over_the_websocket_too(
    api: Api, admin_token: str, protocol: str
) -> None:
    async with ws_session(api, admin_token, protocol) as session:
        result = await session.execute(request("{ me { email } }"))
    assert result == {"me": {"email": ADMIN_EMAIL}}


async def test_gql_uploads_a_document_and_it_downloads_the_same(api: Api, admin_token: str) -> None:
    content = b"%PDF-1.7\n" + bytes(range(256)) * 40
    async with http_session(api, admin_token) as session:
        deal = await new_deal(session)
        upload = FileVar(io.BytesIO(content), filename="offer.pdf", content_type="application/pdf")
        result = await session.execute(
            request(UPLOAD, input={"opportunityId": deal["id"], "file": upload}),
            upload_files=True,
        )
    payload = result["uploadDocument"]
    assert payload["userErrors"] == []
    document = payload["activity"]
    assert (document["name"], document["size"]) == ("offer.pdf", len(content))
    assert document["sha256"] == hashlib.sha256(content).hexdigest()
    response = await api.http.get(
        document["downloadUrl"], headers={"Authorization": f"Bearer {admin_token}"}
    )
    assert response.status_code == 200
    assert response.content == content


PAGE = "{ opportunities(first: 10) { nodes { id timeline(first: 5) { nodes { kind } } } } }"
CUBE = """{ opportunities(first: 100) { nodes { history(first: 100) { nodes {
  opportunity { timeline(first: 100) { nodes { kind } } } } } } } }"""


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_gql_reads_what_an_operation_cost_and_why_one_is_refused(
    api: Api, protocol: str
) -> None:
    """The cost every answer carries (`extensions.cost`) and the refusal of one that asks for
    too much, as Python's gql hands them to its caller, over HTTP and both WebSocket
    subprotocols."""
    token = await log_in(api, ADMIN_EMAIL, ADMIN_PASSWORD)
    async with http_session(api, token) as session:
        result = await session.execute(request(PAGE), get_execution_result=True)
        assert result.extensions is not None
        assert result.extensions["cost"]["requested"] == 1 + 10 + 10 * 5
        with pytest.raises(TransportQueryError) as refused:
            await session.execute(request(CUBE))
        assert refused.value.errors is not None
        assert refused.value.errors[0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    async with ws_session(api, token, protocol) as session:
        with pytest.raises(TransportQueryError) as refused:
            await session.execute(request(CUBE))
        assert refused.value.errors is not None
        assert refused.value.errors[0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
