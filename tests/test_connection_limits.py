"""Limits on WebSocket connections, on both subprotocols, as a client library meets them.

A socket that never sends connection_init is closed (4408) within the configured seconds;
a connection runs at most so many operations at once (`TOO_MANY_SUBSCRIPTIONS` for the one
past it, the socket stays); a user holds at most so many connections in one process (the one
past it is closed with 1008 and a reason that says so; other users are not affected).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.settings import Settings
from tests.client import Api
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin, serve
from tests.test_websocket_protocols import EVENTS, PROTOCOLS, SUBSCRIBE, frame, opened


@pytest.fixture
async def tight(settings: Settings, database_url: str) -> AsyncIterator[tuple[Api, str]]:
    await create_admin(database_url)
    limited = replace(
        settings,
        connection_init_seconds=1,
        max_subscriptions_per_connection=2,
        max_connections_per_user=2,
    )
    async with serve(limited, database_url) as (api, _):
        yield api, await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)


async def closed_with(ws: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    received = closed.value.rcvd
    assert received is not None, "closed without a close frame"
    return received.code, received.reason


@PROTOCOLS
async def test_a_socket_without_connection_init_is_closed_in_time(
    tight: tuple[Api, str], protocol: str
) -> None:
    api, _ = tight
    started = time.monotonic()
    async with connect(api.ws_url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
        code, reason = await closed_with(ws)
    assert (code, reason) == (4408, "Connection initialisation timeout")
    assert 0.9 < time.monotonic() - started < 5


@PROTOCOLS
async def test_operations_past_the_limit_of_a_connection_are_refused_with_a_code(
    tight: tuple[Api, str], protocol: str
) -> None:
    api, token = tight
    kind = SUBSCRIBE[protocol]
    stop = "complete" if protocol == "graphql-transport-ws" else "stop"
    ws = await opened(api, protocol, token)
    try:
        for operation_id in ("a", "b", "c"):
            payload = {"query": EVENTS}
            await ws.send(json.dumps({"id": operation_id, "type": kind, "payload": payload}))
        error = await frame(ws)
        assert (error["type"], error["id"]) == ("error", "c")
        payload = error["payload"][0] if isinstance(error["payload"], list) else error["payload"]
        assert payload["extensions"] == {"code": "TOO_MANY_SUBSCRIPTIONS", "limit": 2}
        # One ended, another may start: the socket is still open.
        await ws.send(json.dumps({"id": "a", "type": stop}))
        if protocol == "graphql-transport-ws":
            await asyncio.sleep(0.2)  # the client's complete gets no answer
        else:
            assert await frame(ws) == {"type": "complete", "id": "a"}
        await ws.send(json.dumps({"id": "d", "type": kind, "payload": {"query": "{ me { id } }"}}))
        answer = await frame(ws)
        assert (answer["id"], answer["type"]) == ("d", "next" if stop == "complete" else "data")
    finally:
        await ws.close()


@PROTOCOLS
async def test_a_users_connections_past_the_limit_are_closed_saying_why(
    tight: tuple[Api, str], protocol: str
) -> None:
    api, token = tight
    _, other_token = await api.create_user(token, "other@example.com")
    first = await opened(api, protocol, token)
    second = await opened(api, protocol, token)
    try:
        async with connect(api.ws_url, subprotocols=[protocol]) as third:  # type: ignore[list-item]
            await third.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
            code, reason = await closed_with(third)
        assert code == 1008
        assert reason == "too many connections for this user (at most 2)"
        # Another user is not affected; and once one connection ends, the user may open one.
        other = await opened(api, protocol, other_token)
        await other.close()
        await first.close()
        for _ in range(100):
            try:
                again = await opened(api, protocol, token)
                break
            except (ConnectionClosed, AssertionError):
                await asyncio.sleep(0.05)  # the server has not seen the close yet
        else:
            raise AssertionError("the user could not connect again")
        await again.close()
    finally:
        await first.close()
        await second.close()
