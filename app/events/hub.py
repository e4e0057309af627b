"""The per-process event hub: one ordered stream in, one bounded queue per subscriber out.

Events reach the hub from the broker in whatever order the broker delivers them, possibly with
some missing (a publish lost while the broker was down). The hub hands them on strictly in
sequence order: an event beyond the next expected one makes it read the gap from the outbox
first, and a periodic check reads anything the broker never delivered. So every subscriber
sees each committed event exactly once, in commit order (docs/architecture.md, live-update
invariant 2).

A subscriber never slows the hub or the others: the hub only appends to its bounded queue.
When that queue is full the subscriber is switched to reading the outbox at its own pace,
and the queue is emptied, so its memory stays bounded (invariant 5).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.events import outbox
from app.events.envelope import ChangeEvent
from app.periodic import Periodic

Accept = Callable[[ChangeEvent], bool]

REPLAY_BATCH = 500


class Subscription:
    def __init__(
        self, hub: EventHub, accept: Accept, cursor: int, *, replay: bool, max_queue: int
    ) -> None:
        self._hub = hub
        self._accept = accept
        self._queue: deque[ChangeEvent] = deque()
        self._max_queue = max_queue
        self._wakeup = asyncio.Event()
        # The last sequence number this subscriber has been given or has skipped.
        self.cursor = cursor
        self._replaying = replay
        self.closed = False

    def offer(self, event: ChangeEvent) -> None:
        """Called by the hub for every event in order; never blocks."""
        if self._replaying:
            return  # the replay reads it from the outbox
        if len(self._queue) >= self._max_queue:
            self._queue.clear()
            self._replaying = True
            self._hub.overflows += 1
        else:
            self._queue.append(event)
        self._wakeup.set()

    async def _replay(self) -> AsyncIterator[ChangeEvent]:
        # Replay until caught up with the hub; the hub's position only holds committed events.
        while self.cursor < self._hub.position:
            events = await self._hub.read_outbox(self.cursor, self._hub.position)
            if not events:
                break
            for event in events:
                self.cursor = event.seq
                if self._accept(event):
                    yield event
        self._replaying = False

    async def __aiter__(self) -> AsyncIterator[ChangeEvent]:
        while not self.closed:
            if self._replaying:
                async for event in self._replay():
                    yield event
                continue
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            event = self._queue.popleft()
            if event.seq <= self.cursor:
                continue
            self.cursor = event.seq
            if self._accept(event):
                yield event

    def close(self) -> None:
        self.closed = True
        self._hub.subscriptions.discard(self)
        self._wakeup.set()


class EventHub:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        poll_interval: float = 1.0,
        max_queue: int = 1000,
    ) -> None:
        self._sessions = sessions
        self._max_queue = max_queue
        self._lock = asyncio.Lock()
        # Whatever the broker lost (a publish while it was down, a dropped connection) is
        # picked up within one interval: one cheap query per process, not per subscriber.
        self._poller = Periodic("reading the outbox", poll_interval, self.catch_up)
        self.position = 0
        self.subscriptions: set[Subscription] = set()
        self.overflows = 0
        self.dispatched = 0

    async def start(self) -> None:
        async with self._sessions() as session:
            self.position = await outbox.last_seq(session)
        await self._poller.start()

    async def stop(self) -> None:
        await self._poller.stop()
        for subscription in list(self.subscriptions):
            subscription.close()

    async def database_identity(self) -> str:
        async with self._sessions() as session:
            return await outbox.database_identity(session)

    async def latest_committed(self) -> int:
        async with self._sessions() as session:
            return await outbox.last_seq(session)

    async def read_outbox(self, after: int, up_to: int) -> list[ChangeEvent]:
        async with self._sessions() as session:
            return await outbox.read_after(session, after, up_to=up_to, limit=REPLAY_BATCH)

    def subscribe(self, accept: Accept, since: int | None = None) -> Subscription:
        """Live events from now on, or every event after `since` first when it is given."""
        start = self.position if since is None else since
        subscription = Subscription(
            self, accept, start, replay=start < self.position, max_queue=self._max_queue
        )
        self.subscriptions.add(subscription)
        return subscription

    async def receive(self, event: ChangeEvent | None, seq: int) -> None:
        """An event (or just its number, when too big for the broker) arrived from the broker."""
        if seq <= self.position:
            return  # already delivered through a gap fill
        if event is not None and seq == self.position + 1 and not self._lock.locked():
            self._dispatch(event)
            return
        await self.catch_up(seq)

    async def catch_up(self, up_to: int | None = None) -> None:
        """Read from the outbox whatever this process has not dispatched yet."""
        async with self._lock:
            target = up_to if up_to is not None else await self.latest_committed()
            while self.position < target:
                before = self.position
                for event in await self.read_outbox(self.position, target):
                    if event.seq == self.position + 1:
                        self._dispatch(event)
                if self.position == before:
                    break  # nothing newer is committed yet

    def _dispatch(self, event: ChangeEvent) -> None:
        self.position = event.seq
        self.dispatched += 1
        for subscription in list(self.subscriptions):
            subscription.offer(event)
