"""Redis pub/sub for broadcaster, with a listener whose end is always ours to collect.

broadcaster 0.3's own Redis backend starts its listener task before it connects and wakes it
before redis-py records the channel, so the listener could miss its subscription (and hear
nothing until the next reconnect); its disconnect() closes the connection under the running
listener and only then cancels it, so the listener's "Connection closed by server" was left
in a task nobody awaited: "Task exception was never retrieved" at every shutdown and broker
reconnect, and a task left pending for each failed connect.

This backend is handed to `Broadcast(backend=...)` (app/events/broker.py), which keeps
everything else (its subscriber queues). Its listener starts once the channel is
subscribed; a lost connection ends it and is kept in `lost` (the broker link reconnects on
seeing it, not a ping later); disconnect() cancels and awaits it before closing the
connections. redis-py's own retries are off: the broker link reconnects with its own
backoff, and a command to a dead server must fail at once rather than retry into a shutdown.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

from broadcaster import BroadcastBackend, Event
from redis import asyncio as redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

CONNECT_TIMEOUT = 3.0


class RedisPubSub(BroadcastBackend):
    def __init__(self, url: str) -> None:  # no super(): the base refuses to be built
        self._url = url
        self._client: redis.Redis | None = None
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self.lost: BaseException | None = None
        """Why the listener ended (the connection lost), or None while it runs."""

    async def connect(self) -> None:
        self._client = redis.Redis.from_url(
            self._url,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=CONNECT_TIMEOUT,
        )
        self._pubsub = self._client.pubsub()
        try:
            await self._pubsub.connect()  # type: ignore[no-untyped-call]
        except BaseException:
            await self.disconnect()  # nothing of a failed connect is left open
            raise

    async def disconnect(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            # Its outcome collected here: cancelled, or the connection error it ended with.
            with suppress(asyncio.CancelledError, Exception):
                await listener
        if self._pubsub is not None:
            with suppress(Exception):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        if self._client is not None:
            with suppress(Exception):
                await self._client.aclose()

    async def subscribe(self, channel: str) -> None:
        assert self._pubsub is not None, "connect() first"
        await self._pubsub.subscribe(channel)
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="tandem-redis-listener")

    async def unsubscribe(self, channel: str) -> None:
        # Only while the connection lives: a lost one has no subscriptions left to end, and
        # the connection is closed next anyway.
        if self._pubsub is not None and self.lost is None:
            with suppress(Exception):
                await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: Any) -> None:
        assert self._client is not None, "connect() first"
        await self._client.publish(channel, message)

    async def next_published(self) -> Event:
        return await self._queue.get()

    async def _listen(self) -> None:
        assert self._pubsub is not None
        try:
            async for message in self._pubsub.listen():
                if message["type"] == "message":
                    self._queue.put_nowait(
                        Event(channel=message["channel"].decode(), message=message["data"].decode())
                    )
            raise ConnectionError("no longer subscribed to any channel")
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.lost = error
