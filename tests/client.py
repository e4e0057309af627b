"""A small GraphQL client for the tests: HTTP via httpx, subscriptions via websockets."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { token userErrors { code message } }
}
"""

CREATE_USER = """
mutation CreateUser($input: CreateUserInput!) {
  createUser(input: $input) { user { id email role } userErrors { field code message } }
}
"""


class GraphQLFailure(AssertionError):
    pass


class Api:
    """The server under test, seen from a client."""

    def __init__(self, base_url: str, http: httpx.AsyncClient) -> None:
        self.base_url = base_url
        self.ws_url = base_url.replace("http://", "ws://") + "/graphql"
        self.http = http

    async def post(self, body: Any, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.http.post("/graphql", json=body, headers=headers, **kwargs)

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """The whole response body (data and errors); asserts the HTTP status is 200."""
        response = await self.post({"query": query, "variables": variables or {}}, token)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def ok(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """`data`, failing the test on any GraphQL error."""
        body = await self.gql(query, variables, token)
        if body.get("errors"):
            raise GraphQLFailure(json.dumps(body["errors"], indent=2))
        data: dict[str, Any] = body["data"]
        return data

    async def mutate(
        self, name: str, query: str, variables: dict[str, Any], token: str
    ) -> dict[str, Any]:
        """The payload of mutation `name`, failing the test on any userError."""
        payload: dict[str, Any] = (await self.ok(query, variables, token))[name]
        if payload.get("userErrors"):
            raise GraphQLFailure(json.dumps(payload["userErrors"], indent=2))
        return payload

    async def login(self, email: str, password: str) -> str:
        data = await self.ok(LOGIN, {"email": email, "password": password})
        assert data["login"]["userErrors"] == [], data
        token: str = data["login"]["token"]
        return token

    async def create_user(
        self, admin_token: str, email: str, *, role: str = "MEMBER", name: str | None = None
    ) -> tuple[str, str]:
        """(user ID, token) of a new user."""
        password = "correct horse battery"
        payload = await self.mutate(
            "createUser",
            CREATE_USER,
            {
                "input": {
                    "email": email,
                    "name": name or email.split("@")[0].title(),
                    "password": password,
                    "role": role,
                }
            },
            admin_token,
        )
        return payload["user"]["id"], await self.login(email, password)

    @asynccontextmanager
    async def subscribed(self, query: str, *tokens: str) -> AsyncIterator[list[Subscriber]]:
        """One socket per token, each with one subscription to `query`, registered on the
        server before the block runs (no other subscription may be open)."""
        async with AsyncExitStack() as stack:
            subscribers = [await stack.enter_async_context(self.subscriber(t)) for t in tokens]
            for subscriber in subscribers:
                await subscriber.subscribe(query)
            await until_subscribed(self, len(subscribers))
            yield subscribers

    @asynccontextmanager
    async def subscriber(
        self, token: str | None, protocol: str = "graphql-transport-ws"
    ) -> AsyncIterator[Subscriber]:
        async with connect(self.ws_url, subprotocols=[protocol]) as ws:  # type: ignore[list-item]
            subscriber = Subscriber(ws, protocol)
            await subscriber.init(token)
            yield subscriber


class Subscriber:
    """One WebSocket connection speaking graphql-transport-ws (or legacy graphql-ws)."""

    _ids = itertools.count(1)

    def __init__(self, ws: ClientConnection, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol
        self.acked: dict[str, Any] | None = None

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
            message: dict[str, Any] = json.loads(raw)
            if message.get("type") in ("ka", "ping", "pong"):
                if message["type"] == "ping":
                    await self.send({"type": "pong"})
                continue
            return message

    async def init(self, token: str | None) -> None:
        payload = {"token": token} if token else {}
        await self.send({"type": "connection_init", "payload": payload})
        if token is None:
            return
        message = await self.receive()
        assert message["type"] == "connection_ack", message
        self.acked = message.get("payload")

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        op_id = str(next(self._ids))
        kind = "subscribe" if self.protocol == "graphql-transport-ws" else "start"
        await self.send(
            {"id": op_id, "type": kind, "payload": {"query": query, "variables": variables or {}}}
        )
        return op_id

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next `next`/`data` payload's data; fails on an error message."""
        message = await self.receive(timeout)
        if message["type"] not in ("next", "data"):
            raise GraphQLFailure(f"expected data, got {message}")
        payload: dict[str, Any] = message["payload"]
        if payload.get("errors"):
            raise GraphQLFailure(json.dumps(payload["errors"]))
        data: dict[str, Any] = payload["data"]
        return data

    async def expect_silence(self, seconds: float = 0.5) -> None:
        try:
            message = await self.receive(timeout=seconds)
        except TimeoutError:
            return
        raise GraphQLFailure(f"expected nothing, got {message}")


async def metric(api: Api, name: str) -> int:
    """A sample from /metrics (a whole number: prometheus_client writes it as a float)."""
    text = (await api.http.get("/metrics")).text
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, text
    return int(float(found.group(1)))


async def until_subscribed(api: Api, count: int) -> None:
    """The server has registered `count` subscriptions: events from now on reach them."""
    for _ in range(1000):
        if await metric(api, "tandem_subscriptions") >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {count} subscriptions were registered")


def without_cost(body: dict[str, Any]) -> dict[str, Any]:
    """A response body without what every answer carries about its request's cost
    (`extensions.cost`), for comparing answers by what they say of the data."""
    extensions = {k: v for k, v in (body.get("extensions") or {}).items() if k != "cost"}
    bare = {k: v for k, v in body.items() if k != "extensions"}
    return {**bare, "extensions": extensions} if extensions else bare
