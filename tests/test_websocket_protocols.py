"""What the server sends on a WebSocket, frame by frame, on both subprotocols.

The websockets library hands a text frame over as `str` and a binary one as `bytes`; the
protocols say text, and browsers, gql and the npm graphql-ws client refuse or misread binary
frames, so every message must arrive as `str`. Also: how each protocol refuses a bad token,
and that a connection whose user loses access is closed, not left open and silent.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.client import Api, until_subscribed
from tests.conftest import RunningServer

SUBSCRIBE = {"graphql-transport-ws": "subscribe", "graphql-ws": "start"}
EVENTS = "subscription { opportunityEvents { kind opportunity { name } } }"
CREATE = """
mutation($i: CreateOpportunityInput!) {
  createOpportunity(input: $i) { opportunity { id } userErrors { code } }
}"""
CHANGE_PASSWORD = """
mutation($i: ChangePasswordInput!) { changePassword(input: $i) { userErrors { code } } }"""
UPDATE_USER = """
mutation($i: UpdateUserInput!) { updateUser(input: $i) { userErrors { code } } }"""

PROTOCOLS = pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])


async def frame(ws: ClientConnection) -> dict[str, Any]:
    """The next message, which must have come as a text frame."""
    raw = await asyncio.wait_for(ws.recv(), 10)
    assert isinstance(raw, str), f"a binary frame: {raw!r}"
    message: dict[str, Any] = json.loads(raw)
    return message


async def opened(api: Api, protocol: str, token: str) -> ClientConnection:
    ws = await connect(api.ws_url, subprotocols=[protocol])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
    assert (await frame(ws))["type"] == "connection_ack"
    return ws


async def create(api: Api, token: str, name: str) -> None:
    values = {"name": name, "expectedValue": {"amount": "1.00", "currency": "EUR"}}
    await api.mutate("createOpportunity", CREATE, {"i": values}, token)


@PROTOCOLS
async def test_every_message_is_a_text_frame(api: Api, admin_token: str, protocol: str) -> None:
    ws = await opened(api, protocol, admin_token)
    try:
        kind = SUBSCRIBE[protocol]
        data = "next" if protocol == "graphql-transport-ws" else "data"
        # A query: its result and its completion.
        await ws.send(json.dumps({"id": "q", "type": kind, "payload": {"query": "{ me { id } }"}}))
        assert (await frame(ws))["type"] == data
        assert (await frame(ws))["type"] == "complete"
        # An operation the server refuses: its error.
        await ws.send(json.dumps({"id": "e", "type": kind, "payload": {"query": "{ me { x } }"}}))
        assert (await frame(ws))["type"] == "error"
        # A live event.
        await ws.send(json.dumps({"id": "s", "type": kind, "payload": {"query": EVENTS}}))
        await until_subscribed(api, 1)
        await create(api, admin_token, "Framed")
        event = await frame(ws)
        assert (event["type"], event["id"]) == (data, "s")
        assert event["payload"]["data"]["opportunityEvents"]["opportunity"] == {"name": "Framed"}
        if protocol == "graphql-transport-ws":
            await ws.send(json.dumps({"type": "ping"}))
            assert (await frame(ws))["type"] == "pong"
    finally:
        await ws.close()


@PROTOCOLS
async def test_a_bad_token_is_refused_with_4403(api: Api, protocol: str) -> None:
    async with connect(api.ws_url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"token": "forged"}}))
        if protocol == "graphql-ws":
            # The legacy protocol says why first, then closes.
            error = await frame(ws)
            assert error["type"] == "connection_error"
            assert error["payload"]["code"] == "UNAUTHENTICATED"
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


@PROTOCOLS
async def test_a_malformed_message_closes_with_4400(
    api: Api, admin_token: str, protocol: str
) -> None:
    for message in ({"type": 5}, {"id": "1", "type": SUBSCRIBE[protocol], "payload": "x"}):
        ws = await opened(api, protocol, admin_token)
        await ws.send(json.dumps(message))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400, message


async def closed_as_forbidden(ws: ClientConnection) -> None:
    with pytest.raises(ConnectionClosed) as closed:
        while True:  # a keep-alive could come first; an event must not
            message = await frame(ws)
            assert message["type"] in ("ka", "ping"), message
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


@PROTOCOLS
async def test_a_deactivated_users_connection_is_closed_within_seconds(
    server: RunningServer, api: Api, admin_token: str, protocol: str
) -> None:
    mia_id, mia = await api.create_user(admin_token, "mia@example.com")
    idle = await opened(api, protocol, mia)  # no subscription at all: closed too
    subscribed = await opened(api, protocol, mia)
    await subscribed.send(
        json.dumps({"id": "s", "type": SUBSCRIBE[protocol], "payload": {"query": EVENTS}})
    )
    await until_subscribed(api, 1)
    await api.mutate(
        "updateUser", UPDATE_USER, {"i": {"id": mia_id, "isActive": False}}, admin_token
    )
    await create(api, admin_token, "Mia must not see this")
    # This process follows the change at once (another would at its refresh, every 5 s):
    # the event made right after must not reach Mia, and her sockets close.
    await asyncio.wait_for(
        asyncio.gather(closed_as_forbidden(idle), closed_as_forbidden(subscribed)), 15
    )


async def test_changing_the_password_closes_the_connections_of_earlier_tokens(
    server: RunningServer, api: Api, admin_token: str
) -> None:
    _, mia = await api.create_user(admin_token, "mia@example.com")
    ws = await opened(api, "graphql-transport-ws", mia)
    await api.mutate(
        "changePassword",
        CHANGE_PASSWORD,
        {"i": {"currentPassword": "correct horse battery", "newPassword": "a new long secret"}},
        mia,
    )
    await server.runtime.directory.refresh()
    await asyncio.wait_for(closed_as_forbidden(ws), 10)
    # The new password's token connects as usual.
    fresh = await api.login("mia@example.com", "a new long secret")
    await (await opened(api, "graphql-transport-ws", fresh)).close()
