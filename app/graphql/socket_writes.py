"""A live event's message written straight to its WebSocket's socket, in the hub's turn.

One change watched by 1,000 dashboards is 1,000 text frames. Sent through the ASGI
interface, each went down five layers of coroutines and checks (Strawberry's adapter,
Starlette's WebSocket, uvicorn's protocol, the `websockets` frame) before the kernel's
`send`, and those layers cost as much as the `send` itself (bench/run.py, 1,000 subscribers).
uvicorn's WebSocket protocol (the websockets-sansio one `tandem serve` names) writes every
frame whole to its transport the moment it is sent, so a frame written to that transport
directly, while the connection is open and nothing is waiting to be written, goes out as
the protocol would send it: the same bytes, in their turn.

`SocketWriter.of` recognises that protocol behind an ASGI `send` and says None for anything
else (another server, another protocol implementation): those connections get their events
through the ASGI interface, as every other message.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from websockets.protocol import Protocol, State

SOCKET_WRITER = "tandem.socket_writer"
"""The scope key of a WebSocket connection's SocketWriter (None when it has none)."""

_SHORT = struct.Struct("!BB")
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")
_FIN_TEXT = 0x81  # a whole text frame (RFC 6455 5.2); a server's frames are not masked


class SocketWriter:
    """Writes whole text frames to one connection's transport, or says it cannot."""

    __slots__ = ("_connection", "_protocol", "_transport")

    def __init__(self, connection: Protocol, transport: Any, protocol: Any) -> None:
        self._connection = connection
        self._transport = transport
        self._protocol = protocol

    @classmethod
    def of(cls, send: Any) -> SocketWriter | None:
        """The writer of the connection an ASGI `send` sends to, when its server is uvicorn's
        websockets-sansio protocol (its `send` a method of the protocol, which holds the
        connection's `websockets` state machine and its transport); None otherwise."""
        protocol = getattr(send, "__self__", None)
        if type(protocol).__name__ != "WebSocketsSansIOProtocol":
            return None
        connection = getattr(protocol, "conn", None)
        transport = getattr(protocol, "transport", None)
        if not isinstance(connection, Protocol) or transport is None:
            return None
        if not callable(getattr(transport, "get_write_buffer_size", None)):
            return None
        if not isinstance(getattr(protocol, "writable", None), asyncio.Event):
            return None
        return cls(connection, transport, protocol)

    async def drained(self, seconds: float) -> bool:
        """Whether the client takes what was written to it within `seconds`: True at once
        while the transport accepts writes; False when its buffer stayed past its high-water
        mark (uvicorn's `send` waits for it to drain before writing anything) that long."""
        writable: asyncio.Event = self._protocol.writable
        if writable.is_set():
            return True
        try:
            await asyncio.wait_for(writable.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def close_now(self, code: int, reason: str, grace: float) -> None:
        """Close with `code` without waiting for the client to read what it has not: the
        close frame follows that in the transport, so a client that reads again learns why
        (as uvicorn's own close does, which would first wait for the buffer to drain); one
        that does not read within `grace` is dropped then."""
        connection = self._connection
        transport = self._transport
        protocol = self._protocol
        drop = asyncio.get_running_loop().call_later(grace, transport.abort)
        if connection.state is not State.OPEN or transport.is_closing():
            # Closed already, its close frame waiting behind the unread data too (uvicorn's
            # keepalive timeout, 1011): only the drop is missing, which ends the app's side.
            return
        connection.send_close(code, reason)
        transport.write(b"".join(connection.data_to_send()))
        protocol.close_sent = True
        protocol.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        # uvicorn cancels it when the client answers the close (then closing the transport)
        # or the connection is lost.
        protocol.close_timer = drop

    def write_text(self, head: bytes, tail: bytes) -> bool:
        """Write one text frame of `head` and `tail` (UTF-8) at once: True when written, False
        when it cannot go now (the connection closing or closed; earlier data still waiting
        in the transport, which a message sent before must not be overtaken by; an extension
        such as per-message deflate, which would have to transform the frame)."""
        transport = self._transport
        connection = self._connection
        if (
            connection.state is not State.OPEN
            or connection.extensions
            or transport.is_closing()
            or transport.get_write_buffer_size()
        ):
            return False
        length = len(head) + len(tail)
        if length < 126:
            frame = _SHORT.pack(_FIN_TEXT, length)
        elif length < 1 << 16:
            frame = _MEDIUM.pack(_FIN_TEXT, 126, length)
        else:
            frame = _LONG.pack(_FIN_TEXT, 127, length)
        transport.write(b"".join((frame, head, tail)))
        return True
