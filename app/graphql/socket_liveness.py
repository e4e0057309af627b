"""Whether a WebSocket's client is still there, for what lasts only while it is (presence).

A closed tab closes its socket, and what the socket held ends with it. A dropped network
closes nothing: uvicorn's keepalive (a ping frame every 20 s, 20 s to answer) notices only
after up to 40 s, and its pongs are not ours to see. graphql-transport-ws gives us our own:
either side may send `ping`, and the other must answer `pong` at once (the npm graphql-ws
client, gql and Tandem's pages do). So every message a client sends on that protocol is
noted as it arrives (`heard`), and whoever holds something for the socket pings it when it
has been quiet and lets go when it has not been heard within its lifetime. The legacy
`graphql-ws` protocol has no client answer: its sockets are held until they close.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

from starlette.websockets import WebSocket, WebSocketState

HEARD_AT = "tandem.heard_at"
"""The scope key of when a graphql-transport-ws client last sent anything (monotonic)."""
_PINGED_AT = "tandem.pinged_at"
_PING = '{"type":"ping"}'


def heard(scope: MutableMapping[str, Any]) -> None:
    scope[HEARD_AT] = time.monotonic()


def last_heard(websocket: WebSocket) -> float | None:
    """When the client last sent anything, or None when its protocol has no pongs."""
    found: float | None = websocket.scope.get(HEARD_AT)
    return found


async def ping_if_quiet(websocket: WebSocket, quiet: float) -> None:
    """Ask for a pong when nothing was heard or asked for `quiet` seconds (several holders on
    one socket ask once)."""
    heard_at = last_heard(websocket)
    if heard_at is None or websocket.application_state != WebSocketState.CONNECTED:
        return
    now = time.monotonic()
    if now - max(heard_at, websocket.scope.get(_PINGED_AT, 0.0)) < quiet:
        return
    websocket.scope[_PINGED_AT] = now
    try:
        await websocket.send_text(_PING)
    except Exception:  # closing: its operations end by themselves
        return
