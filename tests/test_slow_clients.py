"""A client that stops reading is closed with 4008 and resumes; the others are not held.

A `tandem serve` process (tests/processes.py) has two subscribers of one user: one reads
everything at once; the other subscribes with a large selection (each event some hundreds
of KiB) and then stops reading, so that the server's writes to it fill its socket and wait.
Once they have waited for app/graphql/websocket.py's SLOW_CLIENT_SECONDS, the server closes
that socket with 4008; the client reads that close frame when it reads again (behind what it
had not read), and resumes with `since` from the last event it got. The reading subscriber
meanwhile received every event, in order.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from app.graphql.websocket import TOO_SLOW
from app.settings import Settings
from tests.client import Api, Subscriber, metric, until_subscribed
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_admin
from tests.processes import tandem_env, tandem_server

ALIASES = 20
LARGE = (
    "subscription($since: String) { opportunityEvents(since: $since) { cursor kind "
    "opportunity { " + " ".join(f"d{i}: description" for i in range(ALIASES)) + " } } }"
)
SMALL = "subscription($since: String) { opportunityEvents(since: $since) { cursor kind } }"
CREATE = """mutation($i: CreateOpportunityInput!) { createOpportunity(input: $i) {
  opportunity { id version } userErrors { field code message } } }"""
UPDATE = """mutation($i: UpdateOpportunityInput!) { updateOpportunity(input: $i) {
  opportunity { id version } userErrors { field code message } } }"""
CHANGES = 60  # each ~200 KiB to the slow client: far more than any socket buffers hold


async def stalled(api: Api, token: str, protocol: str) -> ClientConnection:
    """A graphql-transport-ws client with a small receive buffer, subscribed to LARGE; its
    library stops reading the socket once a message waits unread (max_queue=1)."""
    address = urlparse(api.ws_url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((address.hostname, address.port))
    sock.setblocking(False)
    ws = await connect(
        api.ws_url,
        sock=sock,
        subprotocols=[Subprotocol(protocol)],
        max_queue=1,
        ping_interval=None,  # its own keepalive would end the connection first
    )
    await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
    await ws.send(json.dumps({"id": "1", "type": kind, "payload": {"query": LARGE}}))
    return ws


async def read_until_closed(ws: ClientConnection) -> tuple[list[str], int | None]:
    """Everything left to read: the cursors of its events, and the close frame's code."""
    cursors = []
    try:
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if message["type"] in ("next", "data"):
                cursors.append(message["payload"]["data"]["opportunityEvents"]["cursor"])
    except ConnectionClosed as closed:
        return cursors, closed.rcvd.code if closed.rcvd is not None else None


async def until_subscriptions(api: Api, count: int) -> None:
    for _ in range(600):
        if await metric(api, "tandem_subscriptions") == count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the server still holds {await metric(api, 'tandem_subscriptions')}")


async def read(sub: Subscriber, count: int) -> list[str]:
    events = [(await sub.next(timeout=30))["opportunityEvents"] for _ in range(count)]
    return [event["cursor"] for event in events]


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_a_client_that_stops_reading_is_closed_with_4008_and_resumes(
    settings: Settings, database_url: str, tmp_path: Path, protocol: str
) -> None:
    await create_admin(database_url)
    output = tmp_path / "serve.log"
    async with tandem_server(tandem_env(settings, database_url), output=output) as api:
        token = await api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        values: dict[str, Any] = {
            "name": "Long read",
            "description": "x" * 10_000,
            "expectedValue": {"amount": "10.00", "currency": "EUR"},
        }
        deal = (await api.mutate("createOpportunity", CREATE, {"i": values}, token))["opportunity"]
        async with api.subscriber(token) as reader:
            await reader.subscribe(SMALL)
            slow = await stalled(api, token, protocol)
            await until_subscribed(api, 2)
            received = asyncio.create_task(read(reader, CHANGES))
            for step in range(CHANGES):
                change = {"id": deal["id"], "expectedVersion": deal["version"]}
                change["nextStep"] = f"step {step}"
                payload = await api.mutate("updateOpportunity", UPDATE, {"i": change}, token)
                deal = payload["opportunity"]
            # The reader had every event, in order, while the other client was stuck.
            cursors = await received
            first = int(cursors[0])
            assert cursors == [str(first + i) for i in range(CHANGES)]

            # The server let the stuck client go: its subscription ended.
            await until_subscriptions(api, 1)
            seen, code = await read_until_closed(slow)
            assert code == TOO_SLOW
            assert seen == cursors[: len(seen)]  # in order, up to where it stopped
            assert len(seen) < CHANGES

        # It resumes from the last event it got, with nothing missing.
        async with api.subscriber(token) as resumed:
            await resumed.subscribe(SMALL, {"since": seen[-1] if seen else str(first - 1)})
            rest = await read(resumed, CHANGES - len(seen))
        assert seen + rest == cursors
    assert "Traceback" not in output.read_text()
