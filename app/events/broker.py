"""The link between this process's hub and the other processes, through broadcaster.

broadcaster gives one listener per process but no reconnection: when the broker connection
drops, its listener dies or hangs silently. So this link pings itself through the broker and
rebuilds the connection when a ping does not come back; meanwhile the hub's outbox poll keeps
events flowing, and after a reconnect the hub catches up from the outbox.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Sequence
from contextlib import suppress

import orjson
from broadcaster import Broadcast

from app.events.envelope import ChangeEvent
from app.events.hub import EventHub
from app.events.presence import Presence
from app.events.redis_pubsub import RedisPubSub

log = logging.getLogger(__name__)

CHANNEL = "tandem_events"  # + a hash of the database's identity, see channel_for()
# PostgreSQL NOTIFY payloads stop at 8000 bytes; a bigger event travels as its number only,
# and each process reads it from the outbox once.
MAX_INLINE_BYTES = 7000
# How long stopping may take: the link's own connection is given up after it, whatever the
# broker does (a dead one must not hold the server's shutdown).
STOP_SECONDS = 3.0


class BrokerLink:
    def __init__(
        self,
        url: str,
        hub: EventHub,
        *,
        ping_interval: float = 2.0,
        ping_timeout: float = 3.0,
        presence: Presence | None = None,
    ) -> None:
        self._url = url
        self._hub = hub
        self._presence = presence
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._broadcast: Broadcast | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._pong = asyncio.Event()
        self._nonce = ""
        self._connected = asyncio.Event()
        self._stopping = False
        self._channel = CHANNEL
        self.reconnects = 0

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self) -> None:
        self._channel = channel_for(await self._hub.database_identity())
        self._supervisor = asyncio.create_task(self._supervise(), name="tandem-broker-link")
        # Start-up waits briefly for the broker; the server still starts without it.
        with suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout=5)

    async def stop(self) -> None:
        """Within STOP_SECONDS. Also a cancellation swallowed on the way (a wait_for that
        finished as it was cancelled, in Python 3.11) ends the loop: it checks `_stopping`."""
        self._stopping = True
        supervisor = self._supervisor
        if supervisor is None:
            return
        supervisor.cancel()
        done, _ = await asyncio.wait({supervisor}, timeout=STOP_SECONDS)
        if not done:
            log.warning("the event broker link did not stop within %s s; left behind", STOP_SECONDS)
            return
        if not supervisor.cancelled() and supervisor.exception() is not None:
            log.warning("the event broker link ended with %r", supervisor.exception())

    async def committed(self, events: Sequence[ChangeEvent]) -> None:
        """EventSink: called after a transaction committed."""
        self._hub.metrics.events_published.inc(len(events))
        broadcast = self._broadcast
        if broadcast is None or not self.connected:
            return  # the outbox poll of every process delivers them
        for event in events:
            payload = event.to_json()
            if len(payload) > MAX_INLINE_BYTES:
                payload = orjson.dumps({"seq": event.seq})
            # A hung broker must not hold the mutation's response: the outbox poll covers it.
            await asyncio.wait_for(broadcast.publish(self._channel, payload.decode()), timeout=1.0)

    async def publish(self, message: bytes) -> None:
        """Another kind of message on the same channel (presence): lost while disconnected,
        as its sender repeats it."""
        broadcast = self._broadcast
        if broadcast is not None and self.connected:
            await asyncio.wait_for(broadcast.publish(self._channel, message.decode()), timeout=1.0)

    async def _supervise(self) -> None:
        delay = 0.5
        while not self._stopping:
            try:
                await self._run_connection()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("event broker connection lost (%s); reconnecting", error)
            if self._connected.is_set():
                delay = 0.5  # it had worked: back off from scratch, not from the last outage
            self._connected.clear()
            self.reconnects += 1
            self._hub.metrics.broker_connected.set(0)
            self._hub.metrics.broker_reconnects.inc()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _run_connection(self) -> None:
        redis = RedisPubSub(self._url) if _is_redis(self._url) else None
        broadcast = Broadcast(backend=redis) if redis is not None else Broadcast(self._url)
        await broadcast.connect()
        try:
            async with broadcast.subscribe(self._channel) as subscriber:
                if self._stopping:
                    return
                self._broadcast = broadcast
                self._connected.set()
                self._hub.metrics.broker_connected.set(1)
                # Anything published while we were away is in the outbox.
                await self._hub.catch_up()
                listener = asyncio.create_task(self._listen(subscriber))
                try:
                    await self._watch(broadcast, listener, redis)
                finally:
                    listener.cancel()
                    with suppress(asyncio.CancelledError, Exception):
                        await listener
        finally:
            self._broadcast = None
            with suppress(Exception):
                await asyncio.wait_for(broadcast.disconnect(), timeout=2)

    async def _listen(self, subscriber: object) -> None:
        async for message in subscriber:  # type: ignore[attr-defined]
            await self._on_message(message.message)

    async def _on_message(self, raw: str) -> None:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            log.warning("ignoring a malformed broker message")
            return
        if "ping" in data:
            if data["ping"] == self._nonce:
                self._pong.set()
            return
        if "presence" in data:
            if self._presence is not None:
                self._presence.received(data["presence"])
            return
        event = ChangeEvent.from_json(raw) if "kind" in data else None
        await self._hub.receive(event, int(data["seq"]))

    async def _watch(
        self, broadcast: Broadcast, listener: asyncio.Task[None], redis: RedisPubSub | None
    ) -> None:
        """Return (to reconnect) when the listener dies or a ping is not echoed in time."""
        while not self._stopping:
            await asyncio.sleep(self._ping_interval)
            if listener.done():
                raise ConnectionError("the broker listener stopped")
            if redis is not None and redis.lost is not None:
                raise ConnectionError(f"the Redis connection was lost: {redis.lost}")
            self._nonce = secrets.token_hex(8)
            self._pong.clear()
            await asyncio.wait_for(
                broadcast.publish(self._channel, orjson.dumps({"ping": self._nonce}).decode()),
                timeout=self._ping_timeout,
            )
            try:
                await asyncio.wait_for(self._pong.wait(), timeout=self._ping_timeout)
            except TimeoutError:
                raise ConnectionError("the broker did not echo a ping") from None


def channel_for(database_identity: str) -> str:
    """One channel per database: a deployment never hears another's events on a shared broker."""
    return f"{CHANNEL}_{hashlib.sha256(database_identity.encode()).hexdigest()[:16]}"


def _is_redis(url: str) -> bool:
    """Redis pub/sub goes through our own backend (app/events/redis_pubsub.py)."""
    return url.startswith(("redis://", "rediss://"))
