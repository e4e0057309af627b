"""Many graphql-transport-ws subscribers in one process, cheaply: the bench's WebSocket client.

A change to 1,000 subscribers is 1,000 messages for the bench to read, on the same two
cores as the server. The `websockets` library spends about 60 µs of CPU on each (its
reader task, its frame parser, a queue, an `async for` step), so reading them took as much
CPU as the server took to send them, and the time to the last receipt measured the client
as much as the server. Here each socket is an asyncio Protocol: the bytes are split into
frames where they arrive, and the time of arrival is taken there, before anything else.

Only what the bench needs of RFC 6455 and of the graphql-transport-ws protocol: the
opening handshake (its accept key checked), masked text frames out, unmasked text frames
in (the server never fragments them), ping answered with pong at both levels, close seen.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import time
from collections.abc import Callable
from typing import Any

import orjson

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _CLOSE, _PING, _PONG = 0x1, 0x8, 0x9, 0xA
_MEDIUM = struct.Struct("!H")
_LONG = struct.Struct("!Q")

OnMessage = Callable[[dict[str, Any], float], None]
"""Called with each message the server sends and the time (perf_counter) it arrived."""


class Subscriber(asyncio.Protocol):
    def __init__(self, host: str, port: int, path: str, on_message: OnMessage) -> None:
        self._key = base64.b64encode(os.urandom(16))
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {self._key.decode()}\r\n"
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
        ).encode()
        self._on_message = on_message
        self._buffer = bytearray()
        self._open = False
        self._transport: Any = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()

    # --- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        # (uvloop's transports are not asyncio.Transport subclasses.)
        self._transport = transport
        transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        at = time.perf_counter()
        if not self._open:
            self._buffer += data
            if not self._handshake():
                return
            data, self._buffer = bytes(self._buffer), bytearray()
        elif self._buffer:
            self._buffer += data
            data, self._buffer = bytes(self._buffer), bytearray()
        # Nearly always whole frames, read where they lie; an incomplete one waits.
        end = len(data)
        start = 0
        while end - start >= 2:
            first, second = data[start], data[start + 1]
            length = second & 0x7F
            at_payload = start + 2
            if length == 126:
                if end - start < 4:
                    break
                (length,) = _MEDIUM.unpack_from(data, start + 2)
                at_payload = start + 4
            elif length == 127:
                if end - start < 10:
                    break
                (length,) = _LONG.unpack_from(data, start + 2)
                at_payload = start + 10
            if end < at_payload + length:
                break
            self._frame(first & 0x0F, data[at_payload : at_payload + length], at)
            start = at_payload + length
        if start < end:
            self._buffer += data[start:]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(f"connection lost: {exc}"))
        if not self.closed.done():
            self.closed.set_result(None)

    # --- the protocol ----------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        self._send_frame(_TEXT, orjson.dumps(message))

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._send_frame(_CLOSE, struct.pack("!H", 1000))
            self._transport.close()

    def _handshake(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[: end + 4]
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in head[1:])
        }
        accept = base64.b64encode(hashlib.sha1(self._key + _GUID).digest()).decode()
        if not head[0].startswith("HTTP/1.1 101") or headers.get("sec-websocket-accept") != accept:
            self.opened.set_exception(ConnectionError(f"handshake refused: {head[0]}"))
            assert self._transport is not None
            self._transport.close()
            return False
        self._open = True
        self.opened.set_result(None)
        return True

    def _frame(self, opcode: int, payload: bytes, at: float) -> None:
        if opcode == _TEXT:
            message = orjson.loads(payload)
            if message.get("type") == "ping":
                self.send({"type": "pong"})
            self._on_message(message, at)
        elif opcode == _PING:
            self._send_frame(_PONG, payload)
        elif opcode == _CLOSE:
            code = struct.unpack_from("!H", payload)[0] if len(payload) >= 2 else None
            if not self.closed.done():
                self.closed.set_result(code)
            if self._transport is not None:
                self._transport.close()

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        # A client's frames are masked (RFC 6455 5.3); these are few and small.
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self._transport is not None
        self._transport.write(head + mask + masked)


async def subscribe(
    host: str, port: int, token: str, query: str, on_message: OnMessage, timeout: float = 30
) -> Subscriber:
    """A socket that has sent connection_init (with the token), been acknowledged, and sent
    one subscribe message (id "1") for `query`; every later message goes to `on_message`."""
    acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def first(message: dict[str, Any], at: float) -> None:
        if acknowledged.done():
            on_message(message, at)
        elif message.get("type") == "connection_ack":
            acknowledged.set_result(None)
        else:
            acknowledged.set_exception(RuntimeError(f"not acknowledged: {message}"))

    loop = asyncio.get_running_loop()
    _, subscriber = await loop.create_connection(
        lambda: Subscriber(host, port, "/graphql", first), host, port
    )
    await asyncio.wait_for(subscriber.opened, timeout)
    subscriber.send({"type": "connection_init", "payload": {"token": token}})
    await asyncio.wait_for(acknowledged, timeout)
    subscriber.send({"id": "1", "type": "subscribe", "payload": {"query": query}})
    return subscriber
